//! Taking an operation over without running a new attempt of it — to cancel it before it
//! starts, give it up after its workers were lost, or queue it again for a retry — so that
//! each of those ends through the engine's one finish path.

use chrono::{DateTime, Utc};

use super::retry::with_retry;
use super::{Db, with_db};

/// Whose operation [`take_over`] may take without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOver {
    /// A queued operation (to cancel it before it starts).
    Queued,
    /// A running operation whose worker's lease ran out (to give it up).
    Expired,
    /// An operation that ended in error or was cancelled (to run it again).
    Ended,
}

/// Makes `worker` the holder of `id` without starting a new attempt, so that it can end it
/// through the one finish path. Returns the operation's attempt, or None when it was not in
/// the state `from` names (another worker got there first).
pub async fn take_over(
    db: &Db,
    id: i64,
    from: TakeOver,
    worker: &str,
    lease_until: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let now = Utc::now();
    let condition = match from {
        TakeOver::Queued => "status = 'queued'",
        TakeOver::Expired => "status = 'running' AND lease_until < $4",
        TakeOver::Ended => "status IN ('error', 'cancelled')",
    };
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "UPDATE operations SET status = 'running', worker_id = $2, lease_until = $3, \
                   updated_at = $4 WHERE id = $1 AND {condition} RETURNING attempt"
            )))
            .bind(id)
            .bind(worker)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(pool)
            .await
        })
    })
}

/// Puts a finished operation held by `worker` (see [`take_over`] from `Ended`) back in the
/// queue as a new attempt with `more` attempts to go. False when it was no longer held.
pub async fn requeue(db: &Db, id: i64, worker: &str, more: i64) -> sqlx::Result<bool> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE operations SET status = 'queued', max_attempts = attempt + $3, \
                   result = NULL, error = NULL, finished_at = NULL, cancel_requested = FALSE, \
                   worker_id = NULL, lease_until = NULL, enqueued_at = NULL, status_detail = '', \
                   updated_at = $4 \
                 WHERE id = $1 AND worker_id = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(worker)
            .bind(more)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
    })
}
