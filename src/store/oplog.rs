//! Operation logs: ordered, append-only lines.

use chrono::{DateTime, Utc};

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
    with_db!(db, |pool| append_on(pool, operation_id, lines).await)
}

/// [`append`] on `conn` (a pool, or a transaction's connection); `lines` not empty.
pub(super) async fn append_on<'c, DB, E>(
    conn: E,
    operation_id: i64,
    lines: &[NewLine],
) -> sqlx::Result<()>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let mut sql = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO operation_logs (operation_id, seq, at, stream, line) ",
    );
    sql.push_values(lines, |mut row, line| {
        row.push_bind(operation_id)
            .push_bind(line.seq)
            .push_bind(line.at)
            .push_bind(line.stream.as_str())
            .push_bind(line.line.clone());
    });
    sql.build().execute(conn).await.map(drop)
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
