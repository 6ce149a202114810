//! The job queue: the only module that names apalis types.
//!
//! A message carries nothing but an operation's id; the operation itself (its state, attempts
//! and log) lives in our database. So the queue only has to wake a worker quickly, and the
//! engine copes with a queue that loses or repeats messages (it re-pushes from the database,
//! and a worker only runs what it can claim). Hence the handler always "succeeds" here: apalis
//! never retries anything by itself (apalis-redis would ignore an attempt limit anyway).
//!
//! Backends: Redis (`ALFA_REDIS_URL`, for many API and worker processes), else the database
//! we already use — apalis-sqlite on SQLite, apalis-postgres on PostgreSQL — sharing our pool.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};

use crate::store::Db;

/// How often an idle worker asks for work. apalis's default heartbeat-only pickup takes up to
/// 30 s; 20 ms keeps push-to-start well under 50 ms at a negligible idle cost.
const POLL: Duration = Duration::from_millis(20);
/// How long a worker restarted after a queue failure waits before it asks the queue again.
const RESTART_PAUSE: Duration = Duration::from_millis(500);
/// A push that cannot reach the queue gives up after this (the sweeper pushes it later).
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The first poll's delay of the `run`-th start of a worker (0: the first start).
fn pause(run: usize) -> Duration {
    if run == 0 {
        Duration::ZERO
    } else {
        RESTART_PAUSE
    }
}

/// What travels through the queue: only the id of an operation row.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobMessage {
    pub operation_id: i64,
}

/// Wakes an idle worker every `period` so it asks the queue for work.
///
/// apalis 1.0's `IntervalStrategy` re-arms its timer without polling it, so a worker whose
/// fetch finishes within the same wake-up never hears from the timer again and sleeps until
/// its next 30 s heartbeat (seen here as a job started 30 s after its push). This strategy
/// always leaves its timer polled, so a wake-up is registered whenever it says Pending.
struct Tick {
    period: Duration,
    /// Before the first poll: a worker restarted after the queue went away gives it a moment
    /// before asking again (a timer, not a sleep that would block the runtime's thread).
    first_after: Duration,
    interval: Option<tokio::time::Interval>,
}

impl Tick {
    fn new(period: Duration, first_after: Duration) -> Self {
        Self {
            period,
            first_after,
            interval: None,
        }
    }
}

impl apalis_core::backend::ext::poll_strategy::PollStrategy for Tick {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _snapshot: &apalis_core::backend::ext::poll_strategy::PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let (period, first_after) = (self.period, self.first_after);
        let interval = self.interval.get_or_insert_with(|| {
            let start = tokio::time::Instant::now() + first_after;
            let mut interval = tokio::time::interval_at(start, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let mut ticked = false;
        // Drain due ticks until the timer is pending, i.e. has our waker.
        while interval.poll_tick(cx).is_ready() {
            ticked = true;
        }
        if ticked {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

/// The queue backend.
#[derive(Clone)]
pub enum Queue {
    Redis {
        storage: RedisStorage<JobMessage>,
        conn: redis::aio::ConnectionManager,
    },
    Sqlite {
        pool: sqlx::SqlitePool,
        config: apalis_sqlite::Config,
    },
    Postgres {
        pool: sqlx::PgPool,
        config: apalis_postgres::Config,
    },
}

impl Queue {
    /// Redis when `redis_url` is given, else the database behind `db`. `namespace` keeps
    /// queues sharing one Redis or database apart.
    pub async fn connect(
        redis_url: Option<&str>,
        db: &Db,
        namespace: &str,
    ) -> anyhow::Result<Self> {
        let name = format!("{namespace}:operations");
        Ok(match (redis_url, db) {
            (Some(url), _) => {
                let client =
                    redis::Client::open(url).context("ALFA_REDIS_URL is not a valid Redis URL")?;
                let conn =
                    tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
                        .await
                        .context("Redis did not answer within 10 s")?
                        .context("cannot connect to Redis (ALFA_REDIS_URL)")?;
                let config = apalis_redis::Config::default()
                    .queue(&name)
                    .persist_results(false);
                let storage = RedisStorage::new(conn.clone()).with_config(config);
                Self::Redis { storage, conn }
            }
            (None, Db::Sqlite(pool)) => Self::Sqlite {
                pool: pool.clone(),
                config: apalis_sqlite::Config::default()
                    .queue(&name)
                    .persist_results(false),
            },
            (None, Db::Postgres(pool)) => Self::Postgres {
                pool: pool.clone(),
                config: apalis_postgres::Config::default()
                    .queue(&name)
                    .persist_results(false),
            },
        })
    }

    /// Creates apalis's tables in our database (idempotent; nothing to do on Redis).
    ///
    /// apalis's own `setup` is not used: on SQLite it would switch our database to
    /// `synchronous = OFF`, and its migrations share sqlx's bookkeeping table with ours, so
    /// each side must ignore the other's entries.
    pub async fn setup(&self) -> anyhow::Result<()> {
        match self {
            Self::Redis { .. } => Ok(()),
            Self::Sqlite { pool, .. } => {
                let mut migrator = SqliteStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator
                    .run(pool)
                    .await
                    .context("creating the queue's tables")
            }
            Self::Postgres { pool, .. } => {
                let mut migrator = PostgresStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator
                    .run(pool)
                    .await
                    .context("creating the queue's tables")
            }
        }
    }

    /// Hands one message to the queue; fails within 2 s when the queue is unreachable.
    pub async fn push(&self, msg: JobMessage) -> anyhow::Result<()> {
        let push = async {
            match self {
                Self::Redis { storage, .. } => storage
                    .clone()
                    .push(msg)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}")),
                Self::Sqlite { pool, config } => SqliteStorage::<JobMessage>::new(pool)
                    .with_config(config.clone())
                    .push(msg)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}")),
                Self::Postgres { pool, config } => PostgresStorage::<JobMessage>::new(pool)
                    .with_config(config.clone())
                    .push(msg)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}")),
            }
        };
        tokio::time::timeout(PUSH_TIMEOUT, push)
            .await
            .context("the queue did not answer within 2 s")?
            .context("pushing to the queue failed")
    }

    /// True when the queue answers.
    pub async fn is_up(&self) -> bool {
        let check = async {
            match self {
                Self::Redis { conn, .. } => redis::cmd("PING")
                    .query_async::<String>(&mut conn.clone())
                    .await
                    .is_ok(),
                Self::Sqlite { pool, .. } => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
                Self::Postgres { pool, .. } => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            }
        };
        tokio::time::timeout(Duration::from_secs(1), check)
            .await
            .unwrap_or(false)
    }

    /// Takes messages until `shutdown`, at most `concurrency` handlers at once; then lets
    /// running handlers finish for up to `grace`. A worker that fails (Redis went away) is
    /// restarted, so it resumes when the queue is back.
    pub async fn run_workers<H, F>(
        &self,
        name: &str,
        concurrency: usize,
        grace: Duration,
        handler: H,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()>
    where
        H: Fn(JobMessage) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let task = move |msg: JobMessage| {
            let handler = handler.clone();
            async move {
                handler(msg).await;
                Ok::<(), BoxDynError>(())
            }
        };
        let signal = async move {
            shutdown.await;
            Ok(())
        };
        let name = name.to_owned();
        // One macro instead of spelling out apalis's backend bounds three times.
        macro_rules! monitor {
            (|$run:ident| $backend:expr) => {
                Monitor::new()
                    .register(move |$run| {
                        if $run > 0 {
                            tracing::warn!(worker = %name, run = $run, "queue worker restarted (was the queue unreachable?)");
                        }
                        WorkerBuilder::new(format!("{name}-{}", $run))
                            .backend($backend)
                            .concurrency(concurrency)
                            .parallelize(tokio::spawn)
                            .build(task.clone())
                    })
                    // A restarted worker waits RESTART_PAUSE before its first poll (see Tick).
                    .should_restart(|_, _| true)
                    .shutdown_timeout(grace)
                    .run_with_signal(signal)
                    .await
            };
        }
        let result = match self {
            Self::Redis { conn, storage } => {
                let config = storage.get_config().clone();
                let conn = conn.clone();
                monitor!(|run| RedisStorage::<JobMessage>::new(conn.clone())
                    .with_config(config.clone())
                    .poll_with_strategy(Tick::new(POLL, pause(run))))
            }
            Self::Sqlite { pool, config } => {
                let (pool, config) = (pool.clone(), config.clone());
                monitor!(|run| SqliteStorage::<JobMessage>::new(&pool)
                    .with_config(config.clone())
                    .poll_with_strategy(Tick::new(POLL, pause(run))))
            }
            Self::Postgres { pool, config } => {
                let (pool, config) = (pool.clone(), config.clone());
                monitor!(|run| PostgresStorage::<JobMessage>::new(&pool)
                    .with_config(config.clone())
                    .poll_with_strategy(Tick::new(POLL, pause(run))))
            }
        };
        result.map_err(|e| anyhow::anyhow!("the queue workers stopped: {e}"))
    }
}
