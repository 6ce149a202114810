//! What the fleet learns about a server over SSH: its host key (trust on first use), the last
//! check_host result and whether it answered.

use chrono::Utc;

use super::retry::with_retry;
use super::servers::{COLUMNS, ServerRow};
use super::{Db, with_db};

/// Records the host key seen at the first connection (trust on first use); a key already
/// recorded is never replaced here (see [`forget_host_key`]).
pub async fn set_host_key(db: &Db, id: i64, key: &str) -> sqlx::Result<()> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("UPDATE servers SET host_key = $2 WHERE id = $1 AND host_key IS NULL")
                .bind(id)
                .bind(key)
                .execute(pool)
                .await
                .map(drop)
        })
    })
}

/// Forgets the recorded host key: the next connection records a new one.
pub async fn forget_host_key(db: &Db, id: i64) -> sqlx::Result<bool> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("UPDATE servers SET host_key = NULL WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    })
}

/// Stores a check_host result and the reachability it found.
pub async fn set_check(
    db: &Db,
    id: i64,
    check: &serde_json::Value,
    reachable: bool,
) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
            "UPDATE servers SET last_check = $2, reachable = $3, reachable_checked_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(check.to_string())
        .bind(reachable)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
        })
    })
}

/// The registered server at `host:port`, if any (for check_host's host key).
pub async fn find_by_address(db: &Db, host: &str, port: i64) -> sqlx::Result<Option<ServerRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM servers WHERE host = $1 AND ssh_port = $2 ORDER BY id LIMIT 1"
        )))
        .bind(host)
        .bind(port)
        .fetch_optional(pool)
        .await
    })
}

/// Records whether the server answered over SSH just now.
pub async fn set_reachable(db: &Db, id: i64, reachable: bool) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE servers SET reachable = $2, reachable_checked_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(reachable)
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}
