//! The probe loop: every `ALFA_PROBE_INTERVAL`, what each active client looks like from its
//! server — whether its app answers `/up` through nginx, its maintenance flag, the version its
//! container runs, and its users — stored in `client_probes` for `GET /clients` to join.
//!
//! Not an operation (nothing changes on a server, nothing to log for a person): one worker
//! process at a time probes, holding the `client_probe` lease in the shared database. Each
//! pass runs one command per server over its pooled SSH connection (`jobs/probe_clients.sh`,
//! curls in parallel, bounded), and reads the users through one port forward per server, a
//! few clients at a time. Servers are probed concurrently and each one's results are stored
//! as soon as it answers: a server that is down makes only its own clients unavailable (with
//! the reason), and one that still answers its previous pass is skipped, never waited for.

mod server;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Engine;
use crate::store::{leases, probes, servers};

/// The lease naming the one process that probes.
pub const LEASE: &str = "client_probe";

/// This process's probe figures (for tests and benchmarks).
#[derive(Debug, Default)]
pub struct ProbeStats {
    /// Passes this process ran (ticks at which it held the lease).
    pub passes: AtomicU64,
}

/// What one full pass did.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub servers: usize,
    pub clients: usize,
    /// Clients found available.
    pub available: usize,
    pub elapsed: Duration,
}

/// How long the lease lasts without renewal: two intervals and some, so a slow tick never
/// loses it, and a dead prober is replaced within that.
fn lease_ttl(interval: Duration) -> Duration {
    interval * 2 + Duration::from_secs(10)
}

/// The active clients of each server with any, and the servers themselves.
async fn plan(engine: &Engine) -> anyhow::Result<Vec<(servers::ServerRow, Vec<probes::Target>)>> {
    let mut by_server: BTreeMap<i64, Vec<probes::Target>> = BTreeMap::new();
    for target in probes::targets(&engine.db).await? {
        by_server.entry(target.server_id).or_default().push(target);
    }
    if by_server.is_empty() {
        return Ok(Vec::new());
    }
    let mut plan = Vec::with_capacity(by_server.len());
    for server in servers::list(&engine.db, true).await? {
        if let Some(clients) = by_server.remove(&server.id) {
            plan.push((server, clients));
        }
    }
    Ok(plan)
}

impl Engine {
    /// Probes every active client once, every server at once, and waits for all of them
    /// (benchmarks and tests; the loop does not wait for slow servers).
    pub async fn probe_pass(&self) -> anyhow::Result<PassReport> {
        let started = Instant::now();
        probes::forget_inactive(&self.db).await?;
        let plan = plan(self).await?;
        let servers = plan.len();
        let mut tasks = JoinSet::new();
        for (server, clients) in plan {
            let engine = self.clone();
            tasks.spawn(async move { server::probe(&engine, &server, &clients).await });
        }
        let (mut clients, mut available) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            let outcomes = done?;
            clients += outcomes.len();
            available += outcomes.iter().filter(|o| o.available).count();
        }
        Ok(PassReport {
            servers,
            clients,
            available,
            elapsed: started.elapsed(),
        })
    }
}

/// Runs the probe loop until `stop`: every `interval`, when this process holds (or takes)
/// the lease, starts the probe of each server that is not still being probed.
pub async fn run(engine: Engine, interval: Duration, mut stop: watch::Receiver<bool>) {
    let busy: Arc<crate::sync::Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let mut held = false;
    loop {
        while tasks.try_join_next().is_some() {}
        match tick(&engine, &busy, &mut tasks, interval).await {
            Ok(holds) => {
                if holds != held {
                    tracing::info!(
                        worker = %engine.worker_id,
                        "{}",
                        if holds {
                            "this worker probes the clients now"
                        } else {
                            "another worker probes the clients now"
                        }
                    );
                }
                held = holds;
            }
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "the client probe pass could not start; trying again at the next interval"
            ),
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
    // Probes only read servers: what did not finish is simply not stored.
    tasks.abort_all();
    if held && let Err(err) = leases::release(&engine.db, LEASE, &engine.worker_id).await {
        tracing::warn!(error = %err, "could not release the probe lease; it expires by itself");
    }
}

/// One tick: takes or renews the lease; when held, starts the servers' probes. Returns whether
/// this process holds the lease.
async fn tick(
    engine: &Engine,
    busy: &Arc<crate::sync::Mutex<HashSet<i64>>>,
    tasks: &mut JoinSet<()>,
    interval: Duration,
) -> anyhow::Result<bool> {
    if !leases::try_acquire(&engine.db, LEASE, &engine.worker_id, lease_ttl(interval)).await? {
        return Ok(false);
    }
    engine.probe_stats.passes.fetch_add(1, Ordering::Relaxed);
    probes::forget_inactive(&engine.db).await?;
    for (server, clients) in plan(engine).await? {
        if !busy.lock().insert(server.id) {
            tracing::debug!(
                server.id = server.id,
                "the server still answers its previous probe: skipped this time"
            );
            continue;
        }
        let (engine, busy) = (engine.clone(), busy.clone());
        tasks.spawn(async move {
            server::probe(&engine, &server, &clients).await;
            busy.lock().remove(&server.id);
        });
    }
    Ok(true)
}
