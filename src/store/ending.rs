//! How an operation ends: its outcome, and the one transaction that stores the end with the
//! log's last lines, the last step's end and the webhook event.

use chrono::Utc;
use serde_json::Value;

use super::operations::{COLUMNS, OperationRow};
use super::oplog::{self, NewLine};
use super::retry::{WritePool as _, with_retry};
use super::{Db, steps, webhooks, with_db};

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }
}

/// What the transaction that ends an operation stores with the end.
#[derive(Debug, Default)]
pub struct Closing<'a> {
    /// The log's last lines, not stored yet.
    pub lines: &'a [NewLine],
    /// The attempt whose running step ends with the operation's outcome, if a step began.
    pub step_of: Option<i64>,
}

/// Ends a running operation held by `worker`, in one transaction with `closing`'s lines and
/// step; returns the ended row, or None when it was no longer ours (the lines and the step are
/// stored all the same: they are what this worker saw). With `webhook`, the event of this
/// ending is recorded in the same transaction (see [`super::webhooks`]): an ending is never
/// committed without its event, nor twice.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    db: &Db,
    id: i64,
    worker: &str,
    outcome: Outcome,
    result: Option<&Value>,
    error: Option<&str>,
    webhook: bool,
    closing: Closing<'_>,
) -> sqlx::Result<Option<OperationRow>> {
    let now = Utc::now();
    let update = format!(
        "UPDATE operations SET status = $3, result = $4, error = $5, finished_at = $6, \
          updated_at = $6, lease_until = NULL \
        WHERE id = $1 AND worker_id = $2 AND status = 'running' \
        RETURNING {COLUMNS}"
    );
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            if !closing.lines.is_empty() {
                oplog::append_on(&mut *tx, id, closing.lines).await?;
            }
            if let Some(attempt) = closing.step_of {
                sqlx::query(steps::END_RUNNING)
                    .bind(id)
                    .bind(attempt)
                    .bind(outcome.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            let ended: Option<OperationRow> = sqlx::query_as(sqlx::AssertSqlSafe(update.as_str()))
                .bind(id)
                .bind(worker)
                .bind(outcome.as_str())
                .bind(result.map(Value::to_string))
                .bind(error)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if webhook && let Some(row) = &ended {
                let event = webhooks::Ended {
                    kind: row.kind.clone(),
                    server_id: row.server_id,
                    client_id: row.client_id,
                    attempt: row.attempt,
                    // As stored (PostgreSQL keeps microseconds), as the API shows it.
                    finished_at: row.finished_at.unwrap_or(now),
                };
                sqlx::query(webhooks::INSERT)
                    .bind(id)
                    .bind(row.attempt)
                    .bind(event.body(id, outcome, error))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(ended)
        })
    })
}
