//! Running one operation: claim it, keep the claim alive, run its kind, and end it through
//! the one finish path.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::context::OpContext;
use super::finish::{Ending, Held};
use super::{Engine, LogWriter};
use crate::store::operations::{self, OperationRow, Renewal};

/// How often a running operation renews its lease and looks for a cancel request.
const RENEW_EVERY: Duration = Duration::from_millis(500);

impl Engine {
    /// The worker's handler for one queue message. Never fails: what goes wrong is recorded on
    /// the operation, or logged when even that is impossible. Returns the operation's row as
    /// this call ended it; None when it did not end it here (not claimed, or lost).
    pub async fn run(&self, id: i64) -> Option<OperationRow> {
        match self.try_run(id).await {
            Ok(ended) => ended,
            Err(err) => {
                tracing::error!(
                    op.id = id,
                    error = format!("{err:#}"),
                    "running the operation failed"
                );
                None
            }
        }
    }

    pub(super) fn lease_until(&self) -> chrono::DateTime<Utc> {
        Utc::now()
            + chrono::Duration::from_std(self.settings.operation_lease)
                .unwrap_or(chrono::Duration::seconds(30))
    }

    async fn try_run(&self, id: i64) -> anyhow::Result<Option<OperationRow>> {
        let db = &self.db;
        let claimed = match operations::claim(db, id, &self.worker_id, self.lease_until()).await? {
            Some(op) => Some(op),
            // Finished, cancelled, held by a live worker, or waiting for an earlier operation.
            // A waiting one is marked so (the end of what it waits for wakes only marked ones,
            // see operations::waiting_on_server); then it is claimed once more, since what
            // refused it may have ended before the mark, waking nobody.
            None => {
                if let Some(blocker) = operations::blocker(db, id).await? {
                    operations::set_waiting(db, id, &format!("waiting for operation {blocker}"))
                        .await?;
                }
                operations::claim(db, id, &self.worker_id, self.lease_until()).await?
            }
        };
        let Some(op) = claimed else {
            return Ok(None);
        };
        let writer = LogWriter::open(db.clone(), id).await?;
        let log = writer.log().clone();
        let held = |op: OperationRow, steps| Held {
            attempt: op.attempt,
            op,
            writer,
            steps,
        };
        tracing::info!(op.id = id, op.kind = %op.kind, attempt = op.attempt, "operation started");

        if op.attempt > op.max_attempts {
            let why = format!(
                "gave up after {} attempts: the workers running it were lost",
                op.max_attempts
            );
            return self.finish(held(op, true), Ending::error(why)).await;
        }
        let Some(kind) = self.kinds.get(&op.kind) else {
            let why = format!(
                "unknown operation kind {:?}: is this worker older than the API?",
                op.kind
            );
            return self.finish(held(op, true), Ending::error(why)).await;
        };
        if op.attempt > 1 {
            log.info(format!("attempt {} after a lost worker", op.attempt));
        } else {
            log.info(format!("{} started", op.kind));
        }

        let cancel = CancellationToken::new();
        let lost = CancellationToken::new();
        let keeper = tokio::spawn(keep_lease(self.clone(), id, cancel.clone(), lost.clone()));
        let mut stepped = false;
        let outcome = match OpContext::load(
            self.clone(),
            op.clone(),
            op.attempt,
            log.clone(),
            (cancel.clone(), lost.clone()),
            kind.command_timeout(),
        )
        .await
        {
            Ok(mut ctx) => {
                let outcome = kind.run(&mut ctx).await;
                stepped = ctx.stepped();
                outcome
            }
            Err(err) => Err(err),
        };
        keeper.abort();

        if lost.is_cancelled() {
            // Another worker owns it now; whatever we found is not ours to record.
            log.info("this worker lost its claim on the operation; another attempt takes over");
            let Held { writer, .. } = held(op, false);
            writer.close().await?;
            return Ok(None);
        }
        let ending = match outcome {
            Ok(result) => Ending::ok(result),
            Err(_) if cancel.is_cancelled() => Ending::cancelled("cancelled on request"),
            Err(err) => Ending {
                result: err
                    .downcast_ref::<super::finish::FailedWith>()
                    .map(|failed| failed.result.clone()),
                ..Ending::error(format!("{err:#}"))
            },
        };
        self.finish(held(op, stepped), ending).await
    }
}

/// Renews the lease while the operation runs; cancels the work when asked to, or when the
/// claim was lost.
async fn keep_lease(engine: Engine, id: i64, cancel: CancellationToken, lost: CancellationToken) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let renewal =
            operations::renew(&engine.db, id, &engine.worker_id, engine.lease_until()).await;
        tracing::debug!(op.id = id, ?renewal, "lease renewal");
        match renewal {
            Ok(Renewal::Held { cancel: true }) => cancel.cancel(),
            Ok(Renewal::Held { cancel: false }) => {}
            Ok(Renewal::Lost) => {
                lost.cancel();
                cancel.cancel();
                return;
            }
            Err(err) => {
                tracing::warn!(op.id = id, error = %err, "could not renew the operation's lease")
            }
        }
    }
}
