//! The safety net under the queue. Every worker process, every couple of seconds:
//! - pushes operations still `queued` that the queue never got (it was down at the time, or
//!   the process died between the commit and the push) or lost (Redis restarted without
//!   persistence);
//! - takes back operations whose worker stopped renewing its lease (killed), pushing them for
//!   another attempt, or failing them once they used up their attempts.
//!
//! Pushing twice is harmless: a worker only runs what it can claim.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::Engine;
use crate::store::operations::{self, TakeOver};

const EVERY: Duration = Duration::from_secs(2);
/// A queued operation pushed longer ago than this and still not started is pushed again.
const REPUSH_AFTER: chrono::Duration = chrono::Duration::seconds(10);

pub async fn run(engine: Engine, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(err) = sweep(&engine).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "operation sweep failed; retrying"
            );
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn sweep(engine: &Engine) -> anyhow::Result<()> {
    for (id, attempt, max_attempts) in operations::lost(&engine.db, 100).await? {
        if attempt >= max_attempts {
            let why = format!("gave up after {attempt} attempts: the worker running it was lost");
            let ending = super::finish::Ending::error(why.clone());
            if engine.finish_unheld(id, TakeOver::Expired, ending).await? {
                tracing::warn!(op.id = id, "{why}");
            }
        } else {
            tracing::warn!(
                op.id = id,
                attempt,
                "worker lost: queueing the operation again"
            );
            engine.push(&[id]).await;
        }
    }
    if !engine.queue.is_up().await {
        return Ok(());
    }
    let stale = operations::needing_push(&engine.db, Utc::now() - REPUSH_AFTER, 500).await?;
    if !stale.is_empty() {
        tracing::info!(
            count = stale.len(),
            "pushing queued operations the queue does not hold"
        );
        engine.push(&stale).await;
    }
    Ok(())
}
