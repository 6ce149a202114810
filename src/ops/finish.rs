//! The one way an operation ends. Success, failure, a cancel (queued or running), a give-up
//! after lost workers, the sweeper's give-up: each goes through [`Engine::finish`], which
//! runs the kind's `on_finish` hook (first, so whoever sees the end sees the state that follows
//! it), writes the last line, ends the open step, closes the log, records the outcome (with its
//! webhook event, in the same transaction, when `ALFA_WEBHOOK_URL` is set), and wakes the
//! operations that waited for this one's locks.

use anyhow::Context as _;
use serde_json::Value;

use super::{Engine, LogWriter};
use crate::store::operations::{self, Closing, OperationRow, Outcome, TakeOver};

/// A running operation this worker holds, with its open log.
pub(super) struct Held {
    pub op: OperationRow,
    pub attempt: i64,
    pub writer: LogWriter,
    /// Whether a step may still be open (false when the kind began none: no write to end it).
    pub steps: bool,
}

/// How an operation ends.
#[derive(Debug)]
pub struct Ending {
    pub outcome: Outcome,
    pub result: Option<Value>,
    /// Why it did not succeed (error or cancel), for the operation's `error`.
    pub error: Option<String>,
}

impl Ending {
    pub fn ok(result: Value) -> Self {
        Self {
            outcome: Outcome::Ok,
            result: Some(result),
            error: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Error,
            result: None,
            error: Some(message.into()),
        }
    }

    pub fn cancelled(why: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Cancelled,
            result: None,
            error: Some(why.into()),
        }
    }

    /// The operation's last log line.
    /// The operation's last log line; after a first attempt it says which attempt ended.
    fn line(&self, attempt: i64) -> String {
        let why = self.error.as_deref().unwrap_or_default();
        let which = if attempt > 1 {
            format!(" (attempt {attempt})")
        } else {
            String::new()
        };
        match self.outcome {
            Outcome::Ok => format!("completed: ok{which}"),
            Outcome::Error => format!("completed: error{which}: {why}"),
            Outcome::Cancelled => format!("cancelled{which}: {why}"),
        }
    }
}

/// An error that keeps a result: a kind returns it (`Err(FailedWith { .. }.into())`) to end
/// `error` with `message` and still store `result` (a fan-out's per-target results).
#[derive(Debug)]
pub struct FailedWith {
    pub message: String,
    pub result: Value,
}

impl std::fmt::Display for FailedWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FailedWith {}

/// What a cancel request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancel {
    /// It had not started, and now never will.
    Cancelled,
    /// It runs; its remote command is being stopped.
    Cancelling,
    /// It had already ended with this status.
    AlreadyEnded(String),
}

impl Engine {
    /// Ends `held` with `ending`; returns the ended row. Every line is stored with the status
    /// that says the operation ended, so a poller that sees it ended already has the whole
    /// log. None when the operation was no longer ours (another worker took it over): then
    /// nothing else happens.
    pub(super) async fn finish(
        &self,
        held: Held,
        ending: Ending,
    ) -> anyhow::Result<Option<OperationRow>> {
        let Held {
            op,
            attempt,
            writer,
            steps,
        } = held;
        // What follows the end (a client's state: active, deleted, error) is written before the
        // end is: a poller that sees the operation (or its createlog) ended reads the client's
        // new state too. The operation is ours here (held, or just taken over), and the state
        // each hook writes is true of the work done whether or not this ending takes.
        match self.kinds.get(&op.kind) {
            Some(kind) => {
                if let Err(err) = kind.on_finish(self, &op, ending.outcome).await {
                    tracing::error!(
                        op.id = op.id,
                        op.kind = %op.kind,
                        error = format!("{err:#}"),
                        "what follows the operation's end failed"
                    );
                }
            }
            None => {
                tracing::warn!(op.id = op.id, op.kind = %op.kind, "no such kind here: its end hook did not run")
            }
        }
        writer.log().info(ending.line(attempt));
        // The last lines, the last step's end and the operation's end go in one transaction.
        let lines = writer.drain().await?;
        let ended = operations::finish(
            &self.db,
            op.id,
            &self.worker_id,
            ending.outcome,
            ending.result.as_ref(),
            ending.error.as_deref(),
            self.settings.webhook.is_some(),
            Closing {
                lines: &lines,
                step_of: steps.then_some(attempt),
            },
        )
        .await?;
        let Some(ended) = ended else {
            tracing::warn!(
                op.id = op.id,
                "the operation was taken over before it could end here"
            );
            return Ok(None);
        };
        tracing::info!(op.id = op.id, op.kind = %op.kind, attempt, status = ending.outcome.as_str(), "operation finished");
        // Not on the way of whoever waits for this end (a fan-out's next child): a lost wake
        // is the sweeper's to push.
        let engine = self.clone();
        tokio::spawn(async move { engine.wake_waiters(&op).await });
        Ok(Some(ended))
    }

    /// Ends an operation no live worker runs — a queued one being cancelled, or one whose
    /// workers were lost — through [`Engine::finish`]. False when it was not in that state.
    pub(super) async fn finish_unheld(
        &self,
        id: i64,
        from: TakeOver,
        ending: Ending,
    ) -> anyhow::Result<bool> {
        let Some(attempt) =
            operations::take_over(&self.db, id, from, &self.worker_id, self.lease_until()).await?
        else {
            return Ok(false);
        };
        let op = operations::get(&self.db, id)
            .await?
            .with_context(|| format!("operation {id} vanished"))?;
        let writer = LogWriter::open(self.db.clone(), id).await?;
        self.finish(
            Held {
                op,
                attempt,
                writer,
                steps: true,
            },
            ending,
        )
        .await
        .map(|ended| ended.is_some())
    }

    /// Cancels operation `id`: a queued one ends at once and never starts; a running one is
    /// asked to stop (its worker sees the request at its next lease renewal and kills the
    /// remote command).
    pub async fn cancel(&self, id: i64) -> anyhow::Result<Cancel> {
        if self
            .finish_unheld(
                id,
                TakeOver::Queued,
                Ending::cancelled("cancelled before it started"),
            )
            .await?
        {
            return Ok(Cancel::Cancelled);
        }
        if operations::request_cancel(&self.db, id).await? {
            return Ok(Cancel::Cancelling);
        }
        let status = operations::get(&self.db, id)
            .await?
            .map_or_else(|| "gone".to_owned(), |op| op.status);
        Ok(Cancel::AlreadyEnded(status))
    }

    /// Pushes the operations that may have waited for `op`'s locks.
    async fn wake_waiters(&self, op: &OperationRow) {
        let Some(server_id) = op.server_id else {
            return;
        };
        match operations::waiting_on_server(&self.db, server_id).await {
            Ok(waiting) if !waiting.is_empty() => self.push(&waiting).await,
            Ok(_) => {}
            // The sweeper pushes them later.
            Err(err) => {
                tracing::warn!(server.id = server_id, error = %err, "could not wake waiting operations")
            }
        }
    }
}
