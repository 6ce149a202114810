//! The admin account and the failed-login counters behind the lockout.

use chrono::{DateTime, Duration, Utc};

use super::retry::with_retry;
use super::{Db, with_db};

/// Failed logins from one address within this window...
pub const FAILURE_WINDOW: Duration = Duration::minutes(5);
/// ...this many times...
pub const MAX_FAILURES: i64 = 10;
/// ...lock that address out for this long.
pub const LOCKOUT: Duration = Duration::minutes(15);

/// What one request needs to authenticate: the admin's credentials and the caller's lockout.
#[derive(Debug, sqlx::FromRow)]
pub struct AuthSnapshot {
    pub username: String,
    pub password_hash: String,
    pub failures: Option<i64>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Reads the admin account and `ip`'s lockout in one round trip.
pub async fn auth_snapshot(db: &Db, ip: &str) -> sqlx::Result<Option<AuthSnapshot>> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT a.username, a.password_hash, f.failures, f.locked_until \
             FROM admin_users a LEFT JOIN auth_failures f ON f.ip = $1 \
             ORDER BY a.id LIMIT 1",
        )
        .bind(ip)
        .fetch_optional(pool)
        .await
    })
}

pub async fn admin_exists(db: &Db) -> sqlx::Result<bool> {
    with_db!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM admin_users")
            .fetch_one(pool)
            .await
            .map(|n| n > 0)
    })
}

/// Creates the admin unless one exists (two processes starting at once create one).
pub async fn create_admin(db: &Db, username: &str, password_hash: &str) -> sqlx::Result<bool> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "INSERT INTO admin_users (username, password_hash, created_at, updated_at) \
             SELECT $1, $2, $3, $3 WHERE NOT EXISTS (SELECT 1 FROM admin_users) \
             ON CONFLICT (username) DO NOTHING",
            )
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
    })
}

pub async fn current_hash(db: &Db) -> sqlx::Result<Option<String>> {
    with_db!(db, |pool| {
        sqlx::query_scalar("SELECT password_hash FROM admin_users ORDER BY id LIMIT 1")
            .fetch_optional(pool)
            .await
    })
}

/// Replaces the admin's password hash; every session using the old one fails from now on.
pub async fn set_password_hash(db: &Db, password_hash: &str) -> sqlx::Result<bool> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE admin_users SET password_hash = $1, updated_at = $2 \
             WHERE id = (SELECT MIN(id) FROM admin_users)",
            )
            .bind(password_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
    })
}

/// What one failed login amounts to, decided by the statement that counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// One of the first [`MAX_FAILURES`] in the window (answer 401); `Some` when this one
    /// started the lockout.
    Counted(Option<DateTime<Utc>>),
    /// Beyond the limit: the address is locked out until then (answer 429).
    LockedOut(DateTime<Utc>),
}

/// Counts a failed login from `ip` and says whether it was still within the limit.
///
/// One statement counts and answers (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so
/// failures arriving at once, in one process or several, each get their own number: exactly
/// [`MAX_FAILURES`] of them are `Counted`, whatever the interleaving.
pub async fn record_failure(db: &Db, ip: &str) -> sqlx::Result<Failure> {
    let now = Utc::now();
    let window_opened_after = now - FAILURE_WINDOW;
    let lock_until = now + LOCKOUT;
    // A window starts afresh once it is over, unless a lockout is running: failures during a
    // lockout keep counting, so none of them is ever answered 401.
    let row: (i64, Option<DateTime<Utc>>) = with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_as(
                "INSERT INTO auth_failures (ip, failures, window_start, locked_until) \
                 VALUES ($1, 1, $2, NULL) \
                 ON CONFLICT (ip) DO UPDATE SET \
                   failures = CASE WHEN auth_failures.window_start < $3 \
                                    AND (auth_failures.locked_until IS NULL \
                                         OR auth_failures.locked_until <= $2) THEN 1 \
                                   ELSE auth_failures.failures + 1 END, \
                   window_start = CASE WHEN auth_failures.window_start < $3 \
                                        AND (auth_failures.locked_until IS NULL \
                                             OR auth_failures.locked_until <= $2) THEN $2 \
                                       ELSE auth_failures.window_start END, \
                   locked_until = CASE \
                       WHEN auth_failures.locked_until > $2 THEN auth_failures.locked_until \
                       WHEN auth_failures.window_start >= $3 \
                            AND auth_failures.failures + 1 >= $4 THEN $5 \
                       ELSE auth_failures.locked_until END \
                 RETURNING failures, locked_until",
            )
            .bind(ip)
            .bind(now)
            .bind(window_opened_after)
            .bind(MAX_FAILURES)
            .bind(lock_until)
            .fetch_one(pool)
            .await
        })
    })?;
    Ok(match row {
        (failures, Some(until)) if failures > MAX_FAILURES && until > now => {
            Failure::LockedOut(until)
        }
        (failures, Some(until)) if failures == MAX_FAILURES && until > now => {
            Failure::Counted(Some(until))
        }
        _ => Failure::Counted(None),
    })
}

/// Forgets `ip`'s failures after a successful login.
pub async fn clear_failures(db: &Db, ip: &str) -> sqlx::Result<()> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("DELETE FROM auth_failures WHERE ip = $1")
                .bind(ip)
                .execute(pool)
                .await
                .map(drop)
        })
    })
}
