//! `operation_steps`: the named steps of each attempt of an operation, with their status and
//! times. A step begins when the kind says `ctx.step(name)` and ends when the next begins or
//! the operation finishes.

use chrono::{DateTime, Utc};

use super::{Db, with_db};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct StepRow {
    pub attempt: i64,
    pub seq: i64,
    pub name: String,
    /// running, ok, error or cancelled.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Ends the running step of `attempt` (if any, unless `first`: the attempt began none) with
/// `ok`, then begins step `name`. Returns the new step's number.
pub async fn begin(
    db: &Db,
    operation_id: i64,
    attempt: i64,
    name: &str,
    first: bool,
) -> sqlx::Result<i64> {
    if !first {
        end_running(db, operation_id, attempt, "ok").await?;
    }
    let now = Utc::now();
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO operation_steps (operation_id, attempt, seq, name, status, started_at) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, 'running', $4 FROM operation_steps \
             WHERE operation_id = $1 AND attempt = $2 RETURNING seq",
        )
        .bind(operation_id)
        .bind(attempt)
        .bind(name)
        .bind(now)
        .fetch_one(pool)
        .await
    })
}

/// Ends the running step of an attempt: $1 operation, $2 attempt, $3 status, $4 time.
pub(super) const END_RUNNING: &str = "UPDATE operation_steps SET status = $3, ended_at = $4 \
     WHERE operation_id = $1 AND attempt = $2 AND status = 'running'";

/// Ends the running step of `attempt`, if there is one, with `status`.
pub async fn end_running(
    db: &Db,
    operation_id: i64,
    attempt: i64,
    status: &str,
) -> sqlx::Result<()> {
    let now = Utc::now();
    with_db!(db, |pool| {
        sqlx::query(END_RUNNING)
            .bind(operation_id)
            .bind(attempt)
            .bind(status)
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
    })
}

/// Every step of every attempt, in order.
pub async fn list(db: &Db, operation_id: i64) -> sqlx::Result<Vec<StepRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT attempt, seq, name, status, started_at, ended_at FROM operation_steps \
             WHERE operation_id = $1 ORDER BY attempt, seq",
        )
        .bind(operation_id)
        .fetch_all(pool)
        .await
    })
}
