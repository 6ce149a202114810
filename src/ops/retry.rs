//! Running a failed (or cancelled) operation again: `POST /operations/{id}/retry`. The same
//! operation gets a new attempt with a fresh budget of attempts; its log keeps the earlier
//! lines and goes on after a marker line; its kind runs from the start, each step skipping
//! what is already done.

use anyhow::Context as _;

use super::{Engine, LogWriter};
use crate::store::operations::{self, TakeOver};

/// What a retry request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Retry {
    /// Queued again as attempt `attempt`.
    Queued { attempt: i64 },
    /// It has not ended, or ended ok: there is nothing to retry. Its status.
    NotRetryable(String),
}

impl Engine {
    /// Queues operation `id` again when it ended in error or was cancelled.
    pub async fn retry(&self, id: i64, requested_by: &str) -> anyhow::Result<Retry> {
        // Held for a moment (as a worker would), so that the marker line is written by us
        // alone and no worker starts before it.
        let Some(attempt) = operations::take_over(
            &self.db,
            id,
            TakeOver::Ended,
            &self.worker_id,
            self.lease_until(),
        )
        .await?
        else {
            let status = operations::get(&self.db, id)
                .await?
                .map_or_else(|| "gone".to_owned(), |op| op.status);
            return Ok(Retry::NotRetryable(status));
        };
        let op = operations::get(&self.db, id)
            .await?
            .with_context(|| format!("operation {id} vanished"))?;
        let more = self
            .kinds
            .get(&op.kind)
            .map_or(3, |kind| kind.max_attempts());
        let writer = LogWriter::open(self.db.clone(), id).await?;
        writer.log().info(format!(
            "retry requested by {requested_by}: attempt {} starts from the beginning, skipping what is already done",
            attempt + 1
        ));
        writer.close().await?;
        anyhow::ensure!(
            operations::requeue(&self.db, id, &self.worker_id, more).await?,
            "operation {id} was taken over while it was being queued again"
        );
        tracing::info!(
            op.id = id,
            attempt = attempt + 1,
            by = requested_by,
            "operation retried"
        );
        self.push(&[id]).await;
        Ok(Retry::Queued {
            attempt: attempt + 1,
        })
    }
}
