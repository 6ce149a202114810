//! Idempotency keys: the first answer to a POST, kept 24 hours to replay to its retries.

use chrono::{Duration, Utc};

use super::retry::with_retry;
use super::{Db, with_db};

/// How long a key is remembered.
pub const WINDOW: Duration = Duration::hours(24);

/// What a key found.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyState {
    /// First use: the caller runs the request and then calls [`finish`].
    New,
    /// The first request with this key is still running.
    InProgress,
    /// The first request's answer, to replay.
    Done { status: u16, body: String },
    /// The key was first used for another request (another method, path or body).
    Mismatch,
}

/// Reserves `key` for the request whose hash is `request_hash`, or reports what the first
/// request with it did.
pub async fn begin(db: &Db, key: &str, request_hash: &str) -> sqlx::Result<KeyState> {
    let now = Utc::now();
    let expired = now - WINDOW;
    let inserted = with_retry!(async {
        with_db!(db, |pool| {
            // An expired key is replaced by this request, in the same statement that reserves
            // it, so two requests racing for a fresh key cannot both win.
            sqlx::query(
                "INSERT INTO idempotency_keys (key, request_hash, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET request_hash = $2, created_at = $3, \
                   status = NULL, body = NULL \
                 WHERE idempotency_keys.created_at < $4",
            )
            .bind(key)
            .bind(request_hash)
            .bind(now)
            .bind(expired)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
    })?;
    if inserted > 0 {
        return Ok(KeyState::New);
    }
    let row: Option<(Option<i64>, Option<String>, Option<String>)> = with_db!(db, |pool| {
        sqlx::query_as("SELECT status, body, request_hash FROM idempotency_keys WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await
    })?;
    Ok(match row {
        Some((_, _, Some(stored))) if stored != request_hash => KeyState::Mismatch,
        Some((Some(status), Some(body), _)) => KeyState::Done {
            status: u16::try_from(status).unwrap_or(500),
            body,
        },
        _ => KeyState::InProgress,
    })
}

/// Records the answer to replay for `key`; `None` forgets the key (the request may be retried).
pub async fn finish(db: &Db, key: &str, answer: Option<(u16, &str)>) -> sqlx::Result<()> {
    with_retry!(async {
        with_db!(db, |pool| match answer {
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
        })
    })
}
