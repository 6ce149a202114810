//! The schedule, looked at every minute by one worker at a time (the `scheduler` lease):
//! - once a day (UTC) from `ALFA_CERT_CHECK_AT`, a `cert_check` operation on every active
//!   server, recorded per day in `schedule_runs` before it starts;
//! - the licence reminders: from `ALFA_REMINDER_AT` in each client's time zone, the licence
//!   mail (`client_mail` expire) when its licence ends in 30, 7 or 1 days, or ends today, for
//!   the billing types of `ALFA_REMINDER_BILLING_TYPES`; each (client, end date, threshold)
//!   recorded in `reminders_sent` before its mail is queued, so it is sent once even across
//!   restarts and several workers, and a renewed licence gets its reminders again. A reminder
//!   missed (the workers were down that day) still goes out within a week; an older one is not
//!   sent late, and only the most urgent due one is sent.
//!
//! Each is recorded before it starts, so it runs once even across restarts and lease
//! hand-overs. `ALFA_SCHEDULE=off` turns the schedule off.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;
use tokio::sync::watch;

use super::{Engine, On, kinds};
use crate::store::{leases, schedule, servers};

/// The lease the scheduling worker holds.
pub const LEASE: &str = "scheduler";

/// How often the scheduler looks at the clock.
const TICK: Duration = Duration::from_secs(60);

/// Days before a licence ends when its reminder goes out (0: the day it ends).
pub const REMINDER_DAYS: [i64; 4] = [30, 7, 1, 0];

/// How late a missed reminder may still go out.
const REMINDER_GRACE_DAYS: i64 = 7;

/// Which reminder is due for a licence ending in `days_left` days: the most urgent threshold
/// reached, unless it was reached a week or more ago.
pub fn due_reminder(days_left: i64) -> Option<i64> {
    REMINDER_DAYS
        .iter()
        .copied()
        .filter(|t| days_left <= *t)
        .min()
        .filter(|t| days_left > t - REMINDER_GRACE_DAYS)
}

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
    started.extend(reminders(engine, now).await?);
    Ok(Tick {
        holds: true,
        started,
    })
}

/// Queues the licence reminders due at `now` that were not sent yet.
async fn reminders(engine: &Engine, now: DateTime<Utc>) -> anyhow::Result<Vec<i64>> {
    let settings = &engine.settings;
    if engine.mailer.is_none() {
        return Ok(Vec::new());
    }
    let db = &engine.db;
    let mut started = Vec::new();
    // A licence that ended over a week ago (in any time zone) is past its last reminder.
    let recorded =
        schedule::reminders_recorded(db, now.date_naive() - chrono::Days::new(9)).await?;
    for client in schedule::reminder_candidates(db).await? {
        if !settings
            .reminder_billing_types
            .contains(&client.billing_type)
        {
            continue;
        }
        let tz: Tz = client.timezone.parse().unwrap_or(chrono_tz::UTC);
        if now.with_timezone(&tz).time() < settings.reminder_at {
            continue;
        }
        let (ends_on, days_left) =
            crate::mail::licence_end(&client.timezone, client.license_expires_at, now);
        let Some(threshold) = due_reminder(days_left) else {
            continue;
        };
        let key = (client.id, ends_on.format("%Y-%m-%d").to_string(), threshold);
        if recorded.contains(&key) {
            continue;
        }
        if !schedule::claim_reminder(db, client.id, ends_on, threshold, now).await? {
            continue;
        }
        let op = crate::mail::enqueue_expire(engine, client.id, REQUESTED_BY).await?;
        schedule::set_reminder_operation(db, client.id, ends_on, threshold, op).await?;
        tracing::info!(
            client.id = client.id,
            op.id = op,
            days_left,
            threshold,
            "licence reminder queued"
        );
        started.push(op);
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::due_reminder;

    #[test]
    fn the_most_urgent_reminder_reached_within_a_week_is_due() {
        let due: Vec<_> = [45, 31, 30, 24, 23, 8, 7, 2, 1, 0, -1, -6, -7, -30]
            .iter()
            .map(|d| (*d, due_reminder(*d)))
            .collect();
        assert_eq!(
            due,
            [
                (45, None),
                (31, None),
                (30, Some(30)),
                (24, Some(30)),
                (23, None),
                (8, None),
                (7, Some(7)),
                (2, Some(7)),
                (1, Some(1)),
                (0, Some(0)),
                (-1, Some(0)),
                (-6, Some(0)),
                (-7, None),
                (-30, None),
            ]
        );
    }
}
