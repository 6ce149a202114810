//! Operation logs (ordered, append-only lines) and idempotency keys.

use chrono::{DateTime, Duration, Utc};

use super::{Db, with_db};

/// Where a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The remote command's standard output.
    Out,
    /// The remote command's standard error.
    Err,
    /// A progress marker (`::step name`).
    Step,
    /// What the engine itself says (attempts, waits, results).
    Info,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Out => "out",
            Self::Err => "err",
            Self::Step => "step",
            Self::Info => "info",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct LogLine {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// out, err, step or info.
    pub stream: String,
    pub line: String,
}

/// A line waiting to be written, numbered by the writer.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub stream: Stream,
    pub line: String,
}

/// Appends lines in one statement (one transaction), so a reader sees all of a batch or none.
pub async fn append(db: &Db, operation_id: i64, lines: &[NewLine]) -> sqlx::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    with_db!(db, |pool| {
        let mut sql = sqlx::QueryBuilder::new(
            "INSERT INTO operation_logs (operation_id, seq, at, stream, line) ",
        );
        sql.push_values(lines, |mut row, line| {
            row.push_bind(operation_id)
                .push_bind(line.seq)
                .push_bind(line.at)
                .push_bind(line.stream.as_str())
                .push_bind(line.line.clone());
        });
        sql.build().execute(pool).await.map(drop)
    })
}

/// The highest sequence number written so far (0 when none).
pub async fn last_seq(db: &Db, operation_id: i64) -> sqlx::Result<i64> {
    with_db!(db, |pool| {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(seq) FROM operation_logs WHERE operation_id = $1",
        )
        .bind(operation_id)
        .fetch_one(pool)
        .await
        .map(Option::unwrap_or_default)
    })
}

/// Lines after `after`, in order, at most `limit`.
pub async fn after(
    db: &Db,
    operation_id: i64,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<LogLine>> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT seq, at, stream, line FROM operation_logs \
             WHERE operation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(operation_id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })
}

/// How long a key is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// What a key found.
pub enum KeyState {
    /// First use: the caller runs the request and then calls [`idempotency_store`].
    New,
    /// The first request with this key is still running.
    InProgress,
    /// The first request's answer, to replay.
    Done { status: u16, body: String },
}

/// Reserves `key`, or reports what the first request with it did.
pub async fn idempotency_begin(db: &Db, key: &str) -> sqlx::Result<KeyState> {
    let now = Utc::now();
    let expired = now - IDEMPOTENCY_WINDOW;
    with_db!(db, |pool| {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND created_at < $2")
            .bind(key)
            .bind(expired)
            .execute(pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (key, created_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
        if inserted > 0 {
            return Ok(KeyState::New);
        }
        let row: Option<(Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT status, body FROM idempotency_keys WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?;
        Ok(match row {
            Some((Some(status), Some(body))) => KeyState::Done {
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
            _ => KeyState::InProgress,
        })
    })
}

/// Records the answer to replay for `key`; `None` forgets the key (the request may be retried).
pub async fn idempotency_finish(
    db: &Db,
    key: &str,
    answer: Option<(u16, &str)>,
) -> sqlx::Result<()> {
    with_db!(db, |pool| {
        match answer {
            Some((status, body)) => {
                sqlx::query("UPDATE idempotency_keys SET status = $2, body = $3 WHERE key = $1")
                    .bind(key)
                    .bind(i64::from(status))
                    .bind(body)
                    .execute(pool)
                    .await
                    .map(drop)
            }
            None => sqlx::query("DELETE FROM idempotency_keys WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(drop),
        }
    })
}
