//! Writes that do not fail because another connection is writing at the same moment.
//!
//! SQLite has one writer at a time. Its busy timeout makes a connection wait for the write
//! lock, but not in every case: a deferred transaction (`BEGIN`) that has read and then wants
//! to write is refused at once with `SQLITE_BUSY` when another connection got the lock first,
//! because waiting could deadlock. Two things cure it, and every write in the store uses both:
//!
//! - [`WritePool::begin_write`] opens a transaction that will write with `BEGIN IMMEDIATE` on
//!   SQLite: it takes the write lock up front, where the busy handler does wait for it.
//! - [`with_retry!`] runs the whole transaction again, after a short pause, when the database
//!   still answers busy or locked on SQLite, or detects a deadlock or a serialization failure
//!   on PostgreSQL (both tell the client to retry the transaction), a bounded number of times.
//!
//! ```ignore
//! use crate::store::retry::{WritePool as _, with_retry};
//! with_retry!(async {
//!     with_db!(db, |pool| {
//!         let mut tx = pool.begin_write().await?;
//!         // … queries on &mut *tx; `?` and `return` leave this attempt only …
//!         tx.commit().await?;
//!         Ok::<_, sqlx::Error>(())
//!     })
//! })
//! ```
//!
//! The body is an `async` block so that `?` and `return` end one attempt, not the function;
//! it must be safe to run twice (a failed attempt rolled back everything it did).

use std::time::Duration;

use rand::Rng as _;
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// Attempts of one write before its error is returned. With SQLite's busy timeout waiting for
/// the lock inside each attempt, running out means the database is stuck, not merely busy.
pub const MAX_ATTEMPTS: u32 = 10;

/// An error that may mean "the same transaction would succeed if run again".
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for sqlx::Error {
    fn is_retryable(&self) -> bool {
        let Self::Database(err) = self else {
            return false;
        };
        let Some(code) = err.code() else {
            return false;
        };
        if let Ok(sqlite_code) = code.parse::<i32>() {
            // Extended result codes carry the primary one in their low byte:
            // SQLITE_BUSY (5: BUSY_SNAPSHOT, BUSY_RECOVERY, BUSY_TIMEOUT) and SQLITE_LOCKED (6).
            matches!(sqlite_code & 0xff, 5 | 6)
        } else {
            // PostgreSQL: deadlock_detected, serialization_failure.
            matches!(code.as_ref(), "40P01" | "40001")
        }
    }
}

/// Whether attempt number `attempt` (from 1) that failed with `err` should run again; logs it.
pub fn should_retry<E: Retryable>(err: &E, attempt: u32) -> bool {
    let again = attempt < MAX_ATTEMPTS && err.is_retryable();
    if again {
        tracing::debug!(attempt, "the database was busy: running the write again");
    } else if err.is_retryable() {
        tracing::warn!(
            attempts = attempt,
            "the database stayed busy: giving up on this write"
        );
    }
    again
}

/// The pause before attempt `attempt + 1`: growing from a few milliseconds, jittered so that
/// writers that collided do not collide again in step.
pub async fn pause(attempt: u32) {
    let base_ms = 4u64 << attempt.min(6);
    let jitter = rand::thread_rng().gen_range(0..=base_ms);
    tokio::time::sleep(Duration::from_millis(base_ms + jitter)).await;
}

/// Runs a write (an `async` block yielding `Result<_, E: Retryable>`) until it succeeds,
/// fails for a reason a retry cannot mend, or ran [`MAX_ATTEMPTS`] times. See the module doc.
macro_rules! with_retry {
    ($attempt:expr) => {{
        let mut attempt: u32 = 1;
        loop {
            match $attempt.await {
                Err(err) if $crate::store::retry::should_retry(&err, attempt) => {
                    $crate::store::retry::pause(attempt).await;
                    attempt += 1;
                }
                done => break done,
            }
        }
    }};
}
pub(crate) use with_retry;

/// Opening a transaction that will write.
pub trait WritePool {
    type Database: sqlx::Database;

    /// SQLite: `BEGIN IMMEDIATE`, taking the write lock now (waiting up to the busy timeout)
    /// rather than failing at the first write. PostgreSQL: a plain `BEGIN`; row locks and
    /// [`with_retry!`] handle its conflicts.
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::Database>>> + Send;
}

impl WritePool for SqlitePool {
    type Database = Sqlite;

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Database = Postgres;

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.begin().await
    }
}
