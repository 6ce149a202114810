//! The daily schedule: once a day (UTC) from `ALFA_CERT_CHECK_AT`, a `cert_check` operation on
//! every active server. One worker at a time runs it (the `scheduler` lease); each task is
//! recorded per day in `schedule_runs` before it starts, so it runs once a day even across
//! restarts and lease hand-overs. `ALFA_SCHEDULE=off` turns it off.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::watch;

use super::{Engine, On, kinds};
use crate::store::{leases, schedule, servers};

/// The lease the scheduling worker holds.
pub const LEASE: &str = "scheduler";

/// How often the scheduler looks at the clock.
const TICK: Duration = Duration::from_secs(60);

/// Who the scheduler's operations are requested by (the operations list and the audit say so).
pub const REQUESTED_BY: &str = "scheduler";

/// Runs the schedule until `stop`.
pub async fn run(engine: Engine, mut stop: watch::Receiver<bool>) {
    let mut held = false;
    loop {
        match tick(&engine, Utc::now()).await {
            Ok(Tick { holds, .. }) => {
                if holds && !held {
                    tracing::info!(worker = %engine.worker_id, "this worker runs the daily schedule now");
                }
                held = holds;
            }
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "the daily schedule could not run; trying again in a minute"
            ),
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(TICK) => {}
        }
    }
    if held && let Err(err) = leases::release(&engine.db, LEASE, &engine.worker_id).await {
        tracing::warn!(error = %err, "could not release the scheduler lease; it expires by itself");
    }
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct Tick {
    /// This process holds the scheduler lease.
    pub holds: bool,
    /// The operations it started.
    pub started: Vec<i64>,
}

/// One look at the clock at `now` (tests pass their own): takes or renews the lease; when
/// held, starts what is due and not yet recorded for today.
pub async fn tick(engine: &Engine, now: DateTime<Utc>) -> anyhow::Result<Tick> {
    let db = &engine.db;
    if !leases::try_acquire(db, LEASE, &engine.worker_id, TICK * 3).await? {
        return Ok(Tick::default());
    }
    let mut started = Vec::new();
    if now.time() >= engine.settings.cert_check_at
        && schedule::claim(
            db,
            <kinds::cert_check::CertCheck as super::Kind>::NAME,
            now.date_naive(),
            now,
        )
        .await?
    {
        let servers = servers::list(db, false).await?;
        tracing::info!(
            servers = servers.len(),
            "the daily certificate check starts"
        );
        for server in servers {
            started.push(
                engine
                    .submit::<kinds::cert_check::CertCheck>(
                        On::server(server.id),
                        json!({}),
                        REQUESTED_BY,
                    )
                    .await?,
            );
        }
    }
    Ok(Tick {
        holds: true,
        started,
    })
}
