//! The `webhook_deliveries` table: each operation ending to POST to `ALFA_WEBHOOK_URL`, its
//! tries and their outcome. Rows are written with the ending (see [`super::operations::finish`]),
//! claimed by one worker process at a time for each try, and listed for
//! `GET /webhooks/deliveries`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::operations::Outcome;
use super::retry::with_retry;
use super::{Db, Page, with_db};

/// The body of one event, exactly as it is sent and signed.
#[derive(Debug, Serialize)]
pub struct OperationEvent<'a> {
    pub operation_id: i64,
    /// The attempt that ended (0: cancelled before it ever started).
    pub attempt: i64,
    pub kind: &'a str,
    /// ok, error or cancelled.
    pub status: &'a str,
    pub client_id: Option<i64>,
    pub server_id: Option<i64>,
    pub finished_at: DateTime<Utc>,
    /// Why it did not succeed; null when ok.
    pub error: Option<&'a str>,
}

/// What the finishing UPDATE returns: the fields of the event not known before it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Ended {
    pub kind: String,
    pub server_id: Option<i64>,
    pub client_id: Option<i64>,
    pub attempt: i64,
    pub finished_at: DateTime<Utc>,
}

impl Ended {
    /// The event's body for operation `id` that ended so.
    pub(super) fn body(&self, id: i64, outcome: Outcome, error: Option<&str>) -> String {
        let event = OperationEvent {
            operation_id: id,
            attempt: self.attempt,
            kind: &self.kind,
            status: outcome.as_str(),
            client_id: self.client_id,
            server_id: self.server_id,
            finished_at: self.finished_at,
            error,
        };
        serde_json::to_string(&event).expect("an event serialises")
    }
}

/// The insert the finishing transaction runs: due at once.
pub(super) const INSERT: &str = "INSERT INTO webhook_deliveries \
    (operation_id, attempt, body, status, tries, next_try_at, created_at) \
    VALUES ($1, $2, $3, 'pending', 0, $4, $4)";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub operation_id: i64,
    pub attempt: i64,
    pub body: String,
    pub status: String,
    pub tries: i64,
    pub next_try_at: DateTime<Utc>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, operation_id, attempt, body, status, tries, next_try_at, \
    last_status_code, last_error, created_at, delivered_at";

/// Pending deliveries due now, oldest first.
pub async fn due(db: &Db, limit: i64) -> sqlx::Result<Vec<i64>> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_try_at <= $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(Utc::now())
        .bind(limit)
        .fetch_all(pool)
        .await
    })
}

/// A delivery claimed for one try.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub operation_id: i64,
    pub body: String,
    /// Tries so far, this one included.
    pub tries: i64,
}

/// Claims due delivery `id` for one try: counts the try and moves `next_try_at` to `until`,
/// so no other process takes it while this one sends it (and one that dies mid-try leaves it
/// due again then). None when it is no longer due (another process claimed it).
pub async fn claim(db: &Db, id: i64, until: DateTime<Utc>) -> sqlx::Result<Option<Claimed>> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_as(
                "UPDATE webhook_deliveries SET tries = tries + 1, next_try_at = $2 \
                 WHERE id = $1 AND status = 'pending' AND next_try_at <= $3 \
                 RETURNING id, operation_id, body, tries",
            )
            .bind(id)
            .bind(until)
            .bind(now)
            .fetch_optional(pool)
            .await
        })
    })
}

/// How one try went, and what follows.
#[derive(Debug)]
pub enum TryOutcome {
    /// The receiver answered 2xx with this status.
    Delivered { code: u16 },
    /// It did not: try again at `next`, or never (`None`: tries used up).
    Failed {
        code: Option<u16>,
        error: String,
        next: Option<DateTime<Utc>>,
    },
}

/// Records the try of claimed delivery `id`.
pub async fn record(db: &Db, id: i64, outcome: &TryOutcome) -> sqlx::Result<()> {
    let now = Utc::now();
    let (status, code, error, next, delivered_at) = match outcome {
        TryOutcome::Delivered { code } => ("delivered", Some(*code), None, now, Some(now)),
        TryOutcome::Failed { code, error, next } => (
            if next.is_some() { "pending" } else { "failed" },
            *code,
            Some(error.as_str()),
            next.unwrap_or(now),
            None,
        ),
    };
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $2, last_status_code = $3, \
                   last_error = $4, next_try_at = $5, delivered_at = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(code.map(i64::from))
            .bind(error)
            .bind(next)
            .bind(delivered_at)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}

/// Filters of `GET /webhooks/deliveries`.
#[derive(Debug, Default, Clone)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub operation_id: Option<i64>,
    pub page: u32,
    pub per_page: u32,
}

/// Deliveries, newest first.
pub async fn list(db: &Db, q: &DeliveryQuery) -> sqlx::Result<Page<DeliveryRow>> {
    let offset = i64::from(q.page.saturating_sub(1)) * i64::from(q.per_page);
    with_db!(db, |pool| {
        let mut count =
            sqlx::QueryBuilder::new("SELECT COUNT(*) FROM webhook_deliveries WHERE TRUE");
        push_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
        let mut sql = sqlx::QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM webhook_deliveries WHERE TRUE"
        ));
        push_filters(&mut sql, q);
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.per_page));
        sql.push(" OFFSET ").push_bind(offset);
        let items = sql.build_query_as().fetch_all(pool).await?;
        Ok(Page { items, total })
    })
}

fn push_filters<DB>(sql: &mut sqlx::QueryBuilder<DB>, q: &DeliveryQuery)
where
    DB: sqlx::Database,
    for<'e> i64: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> String: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    if let Some(status) = &q.status {
        sql.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(id) = q.operation_id {
        sql.push(" AND operation_id = ").push_bind(id);
    }
}
