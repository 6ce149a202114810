//! Storage: one code path over SQLite (the embedded default) and PostgreSQL (production).
//!
//! Every query is written once, in SQL both engines accept (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT`), and [`with_db!`] instantiates it for whichever pool is live, so the two
//! backends can never drift apart query by query. Only the DDL differs, in
//! `migrations/sqlite` and `migrations/postgres`.

pub mod admin;
pub mod audit;
mod client_json;
mod client_list;
pub mod clients;
mod ending;
mod handover;
pub mod idempotency;
pub mod images;
pub mod leases;
mod lifecycle;
pub mod mails;
mod operation_list;
pub mod operations;
pub mod oplog;
pub mod probes;
pub mod retry;
pub mod schedule;
mod server_status;
pub mod servers;
mod sqlite_busy;
pub mod steps;
pub mod transfer;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Runs `$body` with `$pool` bound to the live backend's pool. The body is compiled once per
/// backend, so a query that one of them cannot bind or decode fails to build.
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_db;

/// A connection pool on one of the two supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which engine a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!(
                "ALFA_DATABASE_URL must start with sqlite: or postgres:// (got {:?})",
                url.split(':').next().unwrap_or_default()
            )
        }
    }
}

impl Db {
    /// Connects to `url`, creating the SQLite file and its folder when they do not exist yet.
    /// `max_connections` defaults per backend (SQLite 8: each connection is a thread with its
    /// own page cache, and more than 8 gained nothing in scripts/bench-api.sh).
    pub async fn connect(url: &str, max_connections: Option<u32>) -> anyhow::Result<Self> {
        match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .with_context(|| "ALFA_DATABASE_URL is not a valid SQLite URL")?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // Replaced on each connection by sqlite_busy's handler (same 10 s).
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // 1 MB of page cache per connection (SQLite's default is 2 MB): the OS
                    // caches the file once for all of them anyway.
                    .pragma("cache_size", "-1024");
                if let Some(folder) = options.get_filename().parent()
                    && !folder.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(folder).with_context(|| {
                        format!("cannot create the database folder {}", folder.display())
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections.unwrap_or(8))
                    .min_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlite_busy::install(conn.lock_handle().await?.as_raw_handle());
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .context("cannot open the SQLite database")?;
                Ok(Self::Sqlite(pool))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)
                    .context("ALFA_DATABASE_URL is not a valid PostgreSQL URL")?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections.unwrap_or(10))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Applies the migrations of this backend that the database has not seen yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        // The queue's tables (apalis) are migrated through the same bookkeeping table, so
        // each migrator ignores the other's entries.
        match self {
            Self::Sqlite(pool) => {
                let mut migrator = sqlx::migrate!("./migrations/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await
            }
            Self::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("./migrations/postgres");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await
            }
        }
        .context("applying database migrations failed")
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        with_db!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .is_ok())
    }

    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}

/// True when `err` is a violation of a unique constraint (on either backend).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// A page of rows plus the total number of rows matching the same filters.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}
