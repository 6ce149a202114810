//! The `operations` table: durable remote actions, their claims, leases and locks.
//!
//! Locks are not a table of their own: an operation may start only when no unfinished
//! operation with a smaller id conflicts with it (same client, or same server where either is
//! server-wide). That makes every lock queue first-in first-out, needs no separate release
//! (finishing is releasing), and a dead worker's claim frees itself when its lease runs out.
//! A fan-out's child is blocked only by operations older than its parent: the parent holds
//! the server lock for it, and everything queued after the parent waits for the parent anyway
//! (a client's reboot asked during a migrate_all must not hold that client's child back).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::retry::with_retry;
use super::{Db, with_db};

pub use super::ending::{Closing, Outcome, finish};
pub use super::handover::{TakeOver, requeue, take_over};
pub use super::operation_list::{OperationQuery, children, children_summary, list};

/// Which operations exclude each other while running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockScope {
    /// Excludes other operations on the same client (and server-wide ones on its server).
    Client,
    /// Excludes every operation on the server and on the server's clients.
    Server,
    /// Excludes nothing (reads, coordinators of fan-outs).
    None,
}

impl LockScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::None => "none",
        }
    }
}

impl std::str::FromStr for LockScope {
    type Err = anyhow::Error;

    /// The stored spelling back ([`LockScope::as_str`]).
    fn from_str(s: &str) -> anyhow::Result<Self> {
        [Self::Client, Self::Server, Self::None]
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown lock scope {s:?} stored"))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperationRow {
    pub id: i64,
    pub kind: String,
    pub server_id: Option<i64>,
    pub client_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub lock_scope: String,
    pub status: String,
    pub status_detail: String,
    pub requested_by: String,
    pub params: String,
    pub attempt: i64,
    pub max_attempts: i64,
    pub result: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub worker_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub enqueued_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl OperationRow {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "ok" | "error" | "cancelled")
    }
}

pub(super) const COLUMNS: &str = "id, kind, server_id, client_id, parent_id, lock_scope, status, \
    status_detail, requested_by, params, attempt, max_attempts, result, error, cancel_requested, \
    worker_id, lease_until, enqueued_at, created_at, started_at, finished_at, updated_at";

/// An operation to create. `params` must already have its secrets removed.
#[derive(Debug, Clone)]
pub struct NewOperation {
    pub kind: &'static str,
    pub server_id: Option<i64>,
    pub client_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub lock_scope: LockScope,
    pub requested_by: String,
    pub params: Value,
    pub max_attempts: i64,
}

/// The insert shared by [`insert`] and the client creation transaction ($10: `enqueued_at`,
/// set only when the operation is handed to a runner in the same breath).
pub(super) const INSERT: &str = "INSERT INTO operations (kind, server_id, client_id, parent_id, \
    lock_scope, status, requested_by, params, max_attempts, created_at, updated_at, enqueued_at) \
    VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $9, $10) RETURNING id";

pub async fn insert(db: &Db, op: &NewOperation) -> sqlx::Result<i64> {
    insert_as(db, op, false).await
}

/// Inserts an operation already handed to a runner (`enqueued_at` set): one statement for
/// what [`insert`] and [`mark_enqueued`] do, for a fan-out's children, which their parent
/// runs itself.
pub async fn insert_handed(db: &Db, op: &NewOperation) -> sqlx::Result<i64> {
    insert_as(db, op, true).await
}

async fn insert_as(db: &Db, op: &NewOperation, handed: bool) -> sqlx::Result<i64> {
    let now = Utc::now();
    let enqueued_at = handed.then_some(now);
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_scalar(INSERT)
                .bind(op.kind)
                .bind(op.server_id)
                .bind(op.client_id)
                .bind(op.parent_id)
                .bind(op.lock_scope.as_str())
                .bind(&op.requested_by)
                .bind(op.params.to_string())
                .bind(op.max_attempts)
                .bind(now)
                .bind(enqueued_at)
                .fetch_one(pool)
                .await
        })
    })
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<OperationRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM operations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
    })
}

/// Claims `id` for `worker` until `lease_until`: a queued operation, or a running one whose
/// worker's lease ran out. Refused (None) while an earlier conflicting operation is unfinished,
/// or when the operation is finished, cancelled or held by a live worker. Returns the claimed
/// row (its attempt counted).
pub async fn claim(
    db: &Db,
    id: i64,
    worker: &str,
    lease_until: DateTime<Utc>,
) -> sqlx::Result<Option<OperationRow>> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE operations SET status = 'running', attempt = attempt + 1, worker_id = $2, \
                   lease_until = $3, started_at = COALESCE(started_at, $4), status_detail = '', \
                   updated_at = $4 \
                 WHERE id = $1 AND NOT cancel_requested \
                   AND (status = 'queued' OR (status = 'running' AND lease_until < $4)) \
                   AND NOT EXISTS (SELECT 1 FROM operations o \
                     WHERE o.id < operations.id AND o.status IN ('queued', 'running') \
                       AND operations.lock_scope <> 'none' AND o.lock_scope <> 'none' \
                       AND o.server_id = operations.server_id \
                       AND (operations.lock_scope = 'server' OR o.lock_scope = 'server' \
                            OR o.client_id = operations.client_id) \
                       AND (operations.parent_id IS NULL OR o.id < operations.parent_id)) \
                 RETURNING {COLUMNS}"
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

/// The earliest unfinished operation that keeps queued `id` from starting, if any.
pub async fn blocker(db: &Db, id: i64) -> sqlx::Result<Option<i64>> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT o.id FROM operations x JOIN operations o \
               ON o.id < x.id AND o.status IN ('queued', 'running') \
              AND x.lock_scope <> 'none' AND o.lock_scope <> 'none' \
              AND o.server_id = x.server_id \
              AND (x.lock_scope = 'server' OR o.lock_scope = 'server' OR o.client_id = x.client_id) \
              AND (x.parent_id IS NULL OR o.id < x.parent_id) \
             WHERE x.id = $1 ORDER BY o.id LIMIT 1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
    })
}

/// Says why a queued operation waits (shown as `queued: <detail>`).
pub async fn set_waiting(db: &Db, id: i64, detail: &str) -> sqlx::Result<()> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE operations SET status_detail = $2 WHERE id = $1 AND status = 'queued'",
            )
            .bind(id)
            .bind(detail)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}

/// The state of a lease renewal.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours; `cancel` says whether someone asked to cancel.
    Held { cancel: bool },
    /// Another worker took it over, or it was finished: stop working on it.
    Lost,
}

pub async fn renew(
    db: &Db,
    id: i64,
    worker: &str,
    lease_until: DateTime<Utc>,
) -> sqlx::Result<Renewal> {
    let row: Option<bool> = with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_scalar(
                "UPDATE operations SET lease_until = $3 \
                 WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING cancel_requested",
            )
            .bind(id)
            .bind(worker)
            .bind(lease_until)
            .fetch_optional(pool)
            .await
        })
    })?;
    Ok(match row {
        Some(cancel) => Renewal::Held { cancel },
        None => Renewal::Lost,
    })
}

/// Asks a running operation to stop; its worker sees the flag at its next lease renewal.
pub async fn request_cancel(db: &Db, id: i64) -> sqlx::Result<bool> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE operations SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'",
            )
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
    })
}

pub async fn mark_enqueued(db: &Db, ids: &[i64]) -> sqlx::Result<()> {
    let now = Utc::now();
    with_db!(db, |pool| {
        for id in ids {
            sqlx::query("UPDATE operations SET enqueued_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        }
        Ok(())
    })
}

/// Queued operations not handed to the queue since `pushed_before` (never, or a queue that
/// lost them: Redis restarted without persistence), oldest first.
pub async fn needing_push(
    db: &Db,
    pushed_before: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT id FROM operations WHERE status = 'queued' \
               AND (enqueued_at IS NULL OR enqueued_at < $1) ORDER BY id LIMIT $2",
        )
        .bind(pushed_before)
        .bind(limit)
        .fetch_all(pool)
        .await
    })
}

/// Running operations whose worker stopped renewing its lease (killed, or cut off).
pub async fn lost(db: &Db, limit: i64) -> sqlx::Result<Vec<(i64, i64, i64)>> {
    let now = Utc::now();
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, attempt, max_attempts FROM operations \
             WHERE status = 'running' AND lease_until < $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await
    })
}

/// Queued operations on `server_id` that a claim refused for an earlier one (marked by
/// [`set_waiting`]): the ones the end of an operation there may let start. An unmarked queued
/// one is still on its way to its first claim (in the queue, or run by a fan-out's parent);
/// pushing it again would only make a second claim try.
pub async fn waiting_on_server(db: &Db, server_id: i64) -> sqlx::Result<Vec<i64>> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT id FROM operations WHERE status = 'queued' AND server_id = $1 \
               AND status_detail <> '' ORDER BY id LIMIT 100",
        )
        .bind(server_id)
        .fetch_all(pool)
        .await
    })
}

/// When the newest operation of `kind` on `client_id` asked by someone whose name starts with
/// `requested_by_prefix` (`lab:`) was submitted: a rate limit that holds across API processes.
pub async fn last_requested(
    db: &Db,
    client_id: i64,
    kind: &str,
    requested_by_prefix: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let pattern = format!("{}%", requested_by_prefix.replace(['%', '_'], ""));
    with_db!(db, |pool| {
        sqlx::query_scalar::<_, DateTime<Utc>>(
            "SELECT created_at FROM operations WHERE client_id = $1 AND kind = $2 \
             AND requested_by LIKE $3 ORDER BY id DESC LIMIT 1",
        )
        .bind(client_id)
        .bind(kind)
        .bind(pattern)
        .fetch_optional(pool)
        .await
    })
}
