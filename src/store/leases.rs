//! Named leases in the shared database: at most one holder at a time across every process,
//! for work that must not run twice at once (the client probe loop; the mail scheduler). A
//! holder renews its lease while it works; one that dies loses it when it expires, and another
//! process takes it over. Clocks of the processes are assumed to agree within a second or two.

use std::time::Duration;

use chrono::Utc;

use super::retry::{WritePool as _, with_retry};
use super::{Db, with_db};

fn until(ttl: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

/// Takes lease `name` for `holder` for `ttl` when it is free, expired, or already `holder`'s
/// (then it is renewed). Returns whether `holder` holds it now.
pub async fn try_acquire(db: &Db, name: &str, holder: &str, ttl: Duration) -> sqlx::Result<bool> {
    let now = Utc::now();
    let expires_at = until(ttl);
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            // Inserted when absent; taken over only when expired or ours. One statement, so two
            // processes racing for it cannot both win.
            let taken = sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(taken > 0)
        })
    })
}

/// Extends `holder`'s lease `name` by `ttl` from now. Returns false when it is no longer
/// `holder`'s (it expired and another process took it): the caller must stop its work.
pub async fn renew(db: &Db, name: &str, holder: &str, ttl: Duration) -> sqlx::Result<bool> {
    let expires_at = until(ttl);
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .bind(expires_at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    })
}

/// Gives lease `name` up when `holder` holds it, so another process need not wait for it to
/// expire (a worker shutting down).
pub async fn release(db: &Db, name: &str, holder: &str) -> sqlx::Result<()> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(drop)
        })
    })
}

/// Who holds lease `name` now (an unexpired one), if anyone.
pub async fn holder(db: &Db, name: &str) -> sqlx::Result<Option<String>> {
    with_db!(db, |pool| {
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1 AND expires_at >= $2")
            .bind(name)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await
    })
}
