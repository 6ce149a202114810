//! Fan-out: a parent operation that runs one child operation per target (a client, or a
//! server) and ends with their results. Every server at once; on each server at most
//! `parallel` children at a time; the first child alone when `canary` (the rest only if it
//! succeeds); none started after a failure when `stop_on_error`. The parent waits for every
//! child it started, then ends `ok` only when all of them ended `ok`, else `error` listing the
//! failed ones and those it never started.
//!
//! The parent runs its children itself, in its own process, each through the same claim and
//! finish path as a queued operation ([`Engine::run`]): a child starts the moment a slot frees,
//! and a fan-out never waits for a free worker slot (parents holding every slot of a worker
//! while their children sat in the queue would be a dead-lock). A child that another worker
//! holds, or that waits for a lock, is followed in the database until it ends. A parent run
//! again (its worker was lost) adopts the children of its earlier attempt instead of starting
//! them twice. The parent of a server-wide fan-out holds the server lock; its own children
//! pass it, other operations on the server wait behind it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{Engine, FailedWith, Kind, On, OpContext, new_operation};
use crate::store::operations::{self, OperationRow};
use crate::store::servers::ServerRow;
use crate::store::{Db, probes};

mod retry;
pub use retry::Retry;

/// How a fan-out runs its children (the request's `?parallel=&canary=&stop_on_error=`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct FanOut {
    /// Children running at once on one server.
    pub parallel: usize,
    /// One child first; the rest only if it ends `ok`.
    pub canary: bool,
    /// No new child after one failed.
    pub stop_on_error: bool,
}

/// One child to run: the client it is about, or the server itself (`client_id` none).
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub server_id: i64,
    pub client_id: Option<i64>,
    /// What the log and the result call it: the client's subdomain, or the server's name.
    pub name: String,
}

impl Target {
    fn key(&self) -> (i64, Option<i64>) {
        (self.server_id, self.client_id)
    }

    /// A server itself as a target (a build, a reconfigurate of each server).
    pub fn server(server: &ServerRow) -> Self {
        Self {
            server_id: server.id,
            client_id: None,
            name: server.name.clone(),
        }
    }
}

/// The active clients of server `server_id`, one target each.
pub async fn clients_of(db: &Db, server_id: i64) -> anyhow::Result<Vec<Target>> {
    Ok(probes::targets(db)
        .await?
        .into_iter()
        .filter(|t| t.server_id == server_id)
        .map(|t| Target {
            server_id: t.server_id,
            client_id: Some(t.id),
            name: t.subdomain,
        })
        .collect())
}

/// How one child ended.
#[derive(Debug, Clone, Serialize)]
pub struct ChildResult {
    pub server_id: i64,
    pub client_id: Option<i64>,
    pub name: String,
    pub operation_id: i64,
    pub status: String,
    pub error: Option<String>,
    /// The child's own result (what it changed, reported, built…).
    pub result: Option<Value>,
}

/// How often the parent looks for a cancel request while its children run.
const CANCEL_CHECK: Duration = Duration::from_millis(250);
/// How often a child this process does not run is looked up in the database.
const FOLLOW: Duration = Duration::from_millis(200);

/// Runs one child of kind `K` per target, with `params` for each; returns the parent's
/// result, or an error listing the failed and unstarted children.
pub async fn run<K: Kind>(
    ctx: &OpContext,
    targets: Vec<Target>,
    how: FanOut,
    params: impl Fn(&Target) -> Value,
) -> anyhow::Result<Value> {
    let engine = ctx.engine().clone();
    let retry = serde_json::from_str::<Retry>(&ctx.op.params).unwrap_or_default();
    let skip: HashSet<(i64, Option<i64>)> = retry.skip.into_iter().collect();
    let before = targets.len();
    let targets: Vec<Target> = targets
        .into_iter()
        .filter(|t| !skip.contains(&t.key()))
        .collect();
    if let Some(of) = retry.retry_of {
        ctx.info(format!(
            "a retry of operation {of}: {} of {before} target(s) left out, they ended ok there",
            before - targets.len()
        ));
    }
    let total = targets.len();
    let servers: HashSet<i64> = targets.iter().map(|t| t.server_id).collect();
    ctx.info(format!(
        "{total} target(s) on {} server(s), {} at a time per server{}{}",
        servers.len(),
        how.parallel.max(1),
        if how.canary {
            ", the first alone (canary)"
        } else {
            ""
        },
        if how.stop_on_error {
            ", none started after a failure"
        } else {
            ""
        }
    ));
    // An earlier attempt of this parent may have started some already.
    let mut earlier: HashMap<(i64, Option<i64>), OperationRow> =
        operations::children(&engine.db, ctx.op.id)
            .await?
            .into_iter()
            .map(|row| ((row.server_id.unwrap_or_default(), row.client_id), row))
            .collect();
    let mut pending: VecDeque<Target> = targets.into();
    let mut running: JoinSet<(Target, i64, anyhow::Result<OperationRow>)> = JoinSet::new();
    let mut running_ids: HashSet<i64> = HashSet::new();
    let mut busy: HashMap<i64, usize> = HashMap::new();
    let mut ended: Vec<ChildResult> = Vec::new();
    let mut stop: Option<String> = None;
    let mut canary_left = how.canary;
    loop {
        if stop.is_none() {
            let mut later = VecDeque::new();
            while let Some(target) = pending.pop_front() {
                if canary_left && !running.is_empty() {
                    later.push_back(target);
                    continue;
                }
                let on_server = busy.entry(target.server_id).or_default();
                if *on_server >= how.parallel.max(1) {
                    later.push_back(target);
                    continue;
                }
                let id = match earlier.remove(&target.key()) {
                    Some(row) if row.is_finished() => {
                        ctx.info(format!(
                            "{}: operation {} of an earlier attempt ended {}",
                            target.name, row.id, row.status
                        ));
                        let failed = row.status != "ok";
                        settle(&mut ended, &mut stop, &mut canary_left, how, target, row);
                        if failed && stop.is_some() {
                            break;
                        }
                        continue;
                    }
                    Some(row) => {
                        ctx.info(format!(
                            "{}: operation {} of an earlier attempt adopted",
                            target.name, row.id
                        ));
                        row.id
                    }
                    None => {
                        let id = create::<K>(ctx, &target, params(&target)).await?;
                        ctx.info(format!(
                            "{}: operation {id} started{}",
                            target.name,
                            if canary_left { " (canary)" } else { "" }
                        ));
                        id
                    }
                };
                *on_server += 1;
                running_ids.insert(id);
                let engine = engine.clone();
                running.spawn(async move {
                    let row = child(&engine, id).await;
                    (target, id, row)
                });
            }
            later.extend(pending);
            pending = later;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let (target, id, row) = joined
                    .context("a child operation's task is missing")?
                    .context("a child operation's task panicked")?;
                running_ids.remove(&id);
                if let Some(n) = busy.get_mut(&target.server_id) {
                    *n = n.saturating_sub(1);
                }
                let row = row.with_context(|| format!("cannot follow operation {id} ({})", target.name))?;
                ctx.info(format!(
                    "{}: {}{}",
                    target.name,
                    row.status,
                    row.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                ));
                settle(&mut ended, &mut stop, &mut canary_left, how, target, row);
            }
            () = tokio::time::sleep(CANCEL_CHECK) => {}
        }
        if ctx.is_cancelled() && stop.is_none() {
            stop = Some("the operation was cancelled".into());
            for id in &running_ids {
                if let Err(err) = engine.cancel(*id).await {
                    ctx.info(format!("operation {id} could not be cancelled: {err:#}"));
                }
            }
        }
    }
    conclude(ctx, total, &ended, &pending, stop.as_deref())
}

/// Records a child's end; a failed canary, or any failure under `stop_on_error`, stops the rest.
fn settle(
    ended: &mut Vec<ChildResult>,
    stop: &mut Option<String>,
    canary_left: &mut bool,
    how: FanOut,
    target: Target,
    row: OperationRow,
) {
    let failed = row.status != "ok";
    if *canary_left {
        *canary_left = false;
        if failed && stop.is_none() {
            *stop = Some(format!("the canary {} ended {}", target.name, row.status));
        }
    }
    if failed && how.stop_on_error && stop.is_none() {
        *stop = Some(format!("{} ended {}", target.name, row.status));
    }
    ended.push(ChildResult {
        server_id: target.server_id,
        client_id: target.client_id,
        name: target.name,
        operation_id: row.id,
        status: row.status,
        error: row.error,
        result: row
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
    });
}

/// Commits the child's row, marked as handed to the queue: this process runs it now, and the
/// sweeper pushes it only if it stays queued (this process died first).
async fn create<K: Kind>(ctx: &OpContext, target: &Target, params: Value) -> anyhow::Result<i64> {
    let on = On {
        server_id: Some(target.server_id),
        client_id: target.client_id,
        parent_id: Some(ctx.op.id),
    };
    let db = &ctx.engine().db;
    Ok(
        operations::insert_handed(db, &new_operation::<K>(on, params, &ctx.op.requested_by))
            .await?,
    )
}

/// Runs child `id` here (the claim decides: another worker may hold it, or it waits for a
/// lock and the queue hands it on), then follows it until it ends.
async fn child(engine: &Engine, id: i64) -> anyhow::Result<OperationRow> {
    if let Some(ended) = engine.run(id).await {
        return Ok(ended);
    }
    loop {
        let row = operations::get(&engine.db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("operation {id} vanished"))?;
        if row.is_finished() {
            return Ok(row);
        }
        tokio::time::sleep(FOLLOW).await;
    }
}

/// The parent's result when every child ended `ok`; else the error naming the failed and the
/// unstarted ones, which keeps the result (counts, each child's end) for `GET /operations/{id}`.
fn conclude(
    ctx: &OpContext,
    total: usize,
    ended: &[ChildResult],
    pending: &VecDeque<Target>,
    stop: Option<&str>,
) -> anyhow::Result<Value> {
    let ok = ended.iter().filter(|c| c.status == "ok").count();
    let failed: Vec<&ChildResult> = ended.iter().filter(|c| c.status != "ok").collect();
    let skipped: Vec<&str> = pending.iter().map(|t| t.name.as_str()).collect();
    let result = json!({
        "counts": {
            "total": total,
            "ok": ok,
            "error": failed.iter().filter(|c| c.status == "error").count(),
            "cancelled": failed.iter().filter(|c| c.status == "cancelled").count(),
            "not_started": skipped.len(),
        },
        "children": ended,
        "not_started": skipped,
    });
    if failed.is_empty() && skipped.is_empty() {
        ctx.info(format!("all {total} ok"));
        return Ok(result);
    }
    let mut why = Vec::new();
    if !failed.is_empty() {
        why.push(format!(
            "{} of {total} failed: {}",
            failed.len(),
            failed
                .iter()
                .map(|c| format!("{} (operation {}, {})", c.name, c.operation_id, c.status))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !skipped.is_empty() {
        why.push(format!(
            "{} not started because {}: {}",
            skipped.len(),
            stop.unwrap_or("the fan-out stopped"),
            skipped.join(", ")
        ));
    }
    Err(FailedWith {
        message: format!(
            "{}; {ok} ok. POST /operations/{}/retry_failed runs the failed and unstarted ones again",
            why.join("; "),
            ctx.op.id
        ),
        result,
    }
    .into())
}
