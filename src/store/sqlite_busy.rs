//! How a SQLite connection waits for the write lock another connection holds.
//!
//! SQLite's own busy handler (the one `busy_timeout` sets) sleeps 1, 2, 5, 10, 15, 20… ms
//! between tries. A write lock is held for well under a millisecond here (WAL, synchronous =
//! NORMAL), so a write that met another of this process's writes waited 3–18 ms for a lock
//! free long before: on a fan-out, whose children each write a dozen times, that was most of
//! the time between one child's end and the next one's start. This handler looks again after
//! 0.1 ms (20 times), then 0.5 ms (40 times), then every 2 ms, and gives up after about 10 s, as
//! the timeout it replaces did. It runs on the connection's own thread (sqlx gives each SQLite
//! connection one), so its sleeps block nothing else.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::time::Duration;

use libsqlite3_sys::{sqlite3, sqlite3_busy_handler};

/// Tries at each pace: (tries up to, pause).
const PACE: [(c_int, Duration); 3] = [
    (20, Duration::from_micros(100)),
    (60, Duration::from_micros(500)),
    (60 + 5_000, Duration::from_millis(2)),
];

/// The pause before try `tries + 1`, or None when it is time to give up (SQLITE_BUSY).
fn pause(tries: c_int) -> Option<Duration> {
    PACE.iter()
        .find(|(upto, _)| tries < *upto)
        .map(|(_, pause)| *pause)
}

extern "C" fn busy(_: *mut c_void, tries: c_int) -> c_int {
    match pause(tries) {
        Some(pause) => {
            std::thread::sleep(pause);
            1
        }
        None => 0,
    }
}

/// Makes `db` wait for locks with [`busy`] (replacing its busy timeout).
pub(super) fn install(db: NonNull<sqlite3>) {
    // SAFETY: `db` is the live handle of a connection sqlx locked for us; the handler takes no
    // state (a null argument) and only sleeps.
    unsafe {
        sqlite3_busy_handler(db.as_ptr(), Some(busy), std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_looks_again_soon_at_first_and_gives_up_after_about_ten_seconds() {
        assert_eq!(pause(0), Some(Duration::from_micros(100)));
        assert_eq!(pause(30), Some(Duration::from_micros(500)));
        let waited: Duration = (0..).map_while(pause).sum();
        assert!(
            (Duration::from_secs(9)..Duration::from_secs(11)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_waits_for_the_lock_another_connection_holds_then_goes_through() {
        use crate::store::Db;
        use crate::store::retry::WritePool as _;

        let dir = std::env::temp_dir().join(format!("alfa-busy-{}", ulid::Ulid::generate()));
        let url = format!("sqlite:{}", dir.join("db.sqlite").display());
        let Db::Sqlite(pool) = Db::connect(&url, Some(2)).await.unwrap() else {
            unreachable!("a sqlite: URL")
        };
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        let mut holder = pool.begin_write().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *holder)
            .await
            .unwrap();
        let writer = tokio::spawn({
            let pool = pool.clone();
            async move {
                sqlx::query("INSERT INTO t VALUES (2)")
                    .execute(&pool)
                    .await
                    .map(|done| done.rows_affected())
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!writer.is_finished(), "the second write waits for the lock");
        holder.commit().await.unwrap();
        assert_eq!(writer.await.unwrap().unwrap(), 1, "then it goes through");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 2);
        pool.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
