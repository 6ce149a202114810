//! Fan-out: a parent operation that runs one child operation per client and ends with their
//! results. The parent starts children at most `parallel` at a time (per server), the first
//! alone when `canary` (the rest only if it succeeds), and none after a failure when
//! `stop_on_error`; it waits for every child it started, then ends `ok` only when all of them
//! ended `ok`, else `error` listing the failed ones and those it never started. The parent of
//! a server-wide fan-out holds the server lock; its own children pass it (the lock check
//! skips an operation's parent), other operations on the server wait behind it.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Kind, On, OpContext};
use crate::store::operations;

/// How a fan-out runs its children (the request's `?parallel=&canary=&stop_on_error=`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct FanOut {
    /// Children running at once (per server).
    pub parallel: usize,
    /// One child first; the rest only if it ends `ok`.
    pub canary: bool,
    /// No new child after one failed.
    pub stop_on_error: bool,
}

/// One child to run: the client it is about.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub server_id: i64,
    pub client_id: i64,
    pub subdomain: String,
}

/// How one child ended.
#[derive(Debug, Clone, Serialize)]
pub struct ChildResult {
    pub client_id: i64,
    pub subdomain: String,
    pub operation_id: i64,
    pub status: String,
    pub error: Option<String>,
}

/// How often the parent looks at its running children.
const POLL: Duration = Duration::from_millis(100);

/// Runs one child of kind `K` per target, with `params` for each; returns the parent's
/// result, or an error listing the failed and unstarted children.
pub async fn run<K: Kind>(
    ctx: &OpContext,
    targets: Vec<Target>,
    how: FanOut,
    params: impl Fn(&Target) -> Value,
) -> anyhow::Result<Value> {
    let engine = ctx.engine().clone();
    let total = targets.len();
    ctx.info(format!(
        "{total} client(s), {} at a time{}{}",
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
    let mut pending: VecDeque<Target> = targets.into();
    let mut running: Vec<(i64, Target)> = Vec::new();
    let mut ended: Vec<ChildResult> = Vec::new();
    let mut stop: Option<String> = None;
    let mut canary_left = how.canary;
    loop {
        let room = if canary_left { 1 } else { how.parallel.max(1) };
        while stop.is_none() && running.len() < room {
            let Some(target) = pending.pop_front() else {
                break;
            };
            let on = On {
                server_id: Some(target.server_id),
                client_id: Some(target.client_id),
                parent_id: Some(ctx.op.id),
            };
            let id = engine
                .submit::<K>(on, params(&target), &ctx.op.requested_by)
                .await?;
            ctx.info(format!(
                "{}: operation {id} started{}",
                target.subdomain,
                if canary_left { " (canary)" } else { "" }
            ));
            running.push((id, target));
        }
        if running.is_empty() {
            break;
        }
        if ctx.is_cancelled() && stop.is_none() {
            stop = Some("the operation was cancelled".into());
            for (id, _) in &running {
                if let Err(err) = engine.cancel(*id).await {
                    ctx.info(format!("operation {id} could not be cancelled: {err:#}"));
                }
            }
        }
        tokio::time::sleep(POLL).await;
        let mut still = Vec::with_capacity(running.len());
        for (id, target) in running {
            let row = operations::get(&engine.db, id).await?;
            match row {
                Some(row) if matches!(row.status.as_str(), "ok" | "error" | "cancelled") => {
                    let failed = row.status != "ok";
                    ctx.info(format!(
                        "{}: {}{}",
                        target.subdomain,
                        row.status,
                        row.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ));
                    if canary_left {
                        canary_left = false;
                        if failed && stop.is_none() {
                            stop = Some(format!(
                                "the canary {} ended {}",
                                target.subdomain, row.status
                            ));
                        }
                    }
                    if failed && how.stop_on_error && stop.is_none() {
                        stop = Some(format!("{} ended {}", target.subdomain, row.status));
                    }
                    ended.push(ChildResult {
                        client_id: target.client_id,
                        subdomain: target.subdomain,
                        operation_id: id,
                        status: row.status,
                        error: row.error,
                    });
                }
                _ => still.push((id, target)),
            }
        }
        running = still;
    }
    let ok = ended.iter().filter(|c| c.status == "ok").count();
    let failed: Vec<&ChildResult> = ended.iter().filter(|c| c.status != "ok").collect();
    let skipped: Vec<String> = pending.iter().map(|t| t.subdomain.clone()).collect();
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
        ctx.info(format!("all {total} client(s) ok"));
        return Ok(result);
    }
    let mut why = Vec::new();
    if !failed.is_empty() {
        why.push(format!(
            "{} of {total} failed: {}",
            failed.len(),
            failed
                .iter()
                .map(|c| format!(
                    "{} (operation {}, {})",
                    c.subdomain, c.operation_id, c.status
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !skipped.is_empty() {
        why.push(format!(
            "{} not started because {}: {}",
            skipped.len(),
            stop.as_deref().unwrap_or("the fan-out stopped"),
            skipped.join(", ")
        ));
    }
    anyhow::bail!(
        "{}; {ok} ok. POST /operations/{}/retry_failed runs the failed and unstarted ones again",
        why.join("; "),
        ctx.op.id
    )
}
