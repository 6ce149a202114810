//! Running one operation: claim it, keep the claim alive, do the work, finish, wake whoever
//! waited for it.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::kinds::{self, OpContext};
use super::{Engine, LogWriter};
use crate::store::operations::{self, Outcome, Renewal};

/// How often a running operation renews its lease and looks for a cancel request.
const RENEW_EVERY: Duration = Duration::from_millis(500);

impl Engine {
    /// The worker's handler for one queue message. Never fails: what goes wrong is recorded on
    /// the operation, or logged when even that is impossible.
    pub async fn run(&self, id: i64) {
        if let Err(err) = self.try_run(id).await {
            tracing::error!(
                op.id = id,
                error = format!("{err:#}"),
                "running the operation failed"
            );
        }
    }

    fn lease_until(&self) -> chrono::DateTime<Utc> {
        Utc::now()
            + chrono::Duration::from_std(self.settings.operation_lease)
                .unwrap_or(chrono::Duration::seconds(30))
    }

    async fn try_run(&self, id: i64) -> anyhow::Result<()> {
        let db = &self.db;
        let Some(claim) = operations::claim(db, id, &self.worker_id, self.lease_until()).await?
        else {
            // Finished, cancelled, held by a live worker, or waiting for an earlier operation.
            if let Some(blocker) = operations::blocker(db, id).await? {
                operations::set_waiting(db, id, &format!("waiting for operation {blocker}"))
                    .await?;
            }
            return Ok(());
        };
        let op = operations::get(db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("operation {id} vanished after it was claimed"))?;
        let writer = LogWriter::open(db.clone(), id).await?;
        let log = writer.log().clone();
        tracing::info!(op.id = id, op.kind = %op.kind, attempt = claim.attempt, "operation started");

        if claim.attempt > claim.max_attempts {
            let why = format!("gave up after {} attempts", claim.max_attempts);
            log.info(&why);
            writer.close().await?;
            operations::finish(db, id, &self.worker_id, Outcome::Error, None, Some(&why)).await?;
            return self.after_finish(&op).await;
        }
        if claim.attempt > 1 {
            log.info(format!("attempt {} after a lost worker", claim.attempt));
        } else {
            log.info(format!("{} started", op.kind));
        }

        let cancel = CancellationToken::new();
        let lost = CancellationToken::new();
        let keeper = tokio::spawn(keep_lease(self.clone(), id, cancel.clone(), lost.clone()));
        let mut ctx = OpContext::new(self.clone(), op.clone(), log.clone(), cancel.clone());
        let outcome = kinds::execute(&mut ctx).await;
        keeper.abort();

        if lost.is_cancelled() {
            // Another worker owns it now; whatever we found is not ours to record.
            log.info("this worker lost its claim on the operation; another attempt takes over");
            writer.close().await?;
            return Ok(());
        }
        let (status, result, error) = match outcome {
            Ok(result) => {
                log.info("completed: ok");
                (Outcome::Ok, Some(result), None)
            }
            Err(_) if cancel.is_cancelled() => {
                log.info("cancelled");
                (
                    Outcome::Cancelled,
                    None,
                    Some("cancelled on request".to_owned()),
                )
            }
            Err(err) => {
                let message = format!("{err:#}");
                log.info(format!("completed: error: {message}"));
                (Outcome::Error, None, Some(message))
            }
        };
        // Every line is stored before the status says the operation ended, so a poller that
        // sees `completed` already has the whole log.
        writer.close().await?;
        operations::finish(
            db,
            id,
            &self.worker_id,
            status,
            result.as_ref(),
            error.as_deref(),
        )
        .await?;
        tracing::info!(op.id = id, status = status.as_str(), "operation finished");
        kinds::after_finish(self, &op, status).await?;
        self.after_finish(&op).await
    }

    /// Wakes the operations that may have waited for this one.
    async fn after_finish(&self, op: &operations::OperationRow) -> anyhow::Result<()> {
        if let Some(server_id) = op.server_id {
            let waiting = operations::waiting_on_server(&self.db, server_id).await?;
            if !waiting.is_empty() {
                self.push(&waiting).await;
            }
        }
        Ok(())
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
