//! Queue figures for scripts/bench-ssh.sh (`cargo bench --bench queue`): enqueue-to-start
//! latency of an idle worker, and no-op operations per second through 4 workers, on the
//! embedded queue (SQLite) and on Redis (with PostgreSQL).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alfa_cloud::config::Settings;
use alfa_cloud::crypto::Cipher;
use alfa_cloud::ops::{Engine, Kind, On, OpContext, kinds};
use alfa_cloud::store::Db;
use alfa_cloud::store::operations::{self, LockScope};

/// Does nothing: measures the engine itself.
struct Noop;

#[async_trait::async_trait]
impl Kind for Noop {
    const NAME: &'static str = "noop";
    const LOCK: LockScope = LockScope::None;

    async fn run(&self, _ctx: &mut OpContext) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
}

async fn submit(engine: &Engine) -> i64 {
    engine
        .submit::<Noop>(On::default(), serde_json::json!({}), "bench")
        .await
        .unwrap()
}

async fn engine(url: &str, redis: Option<&str>, dir: &std::path::Path) -> Engine {
    let mut vars = vec![
        ("ALFA_DATABASE_URL".to_owned(), url.to_owned()),
        ("ALFA_DATA_DIR".to_owned(), dir.display().to_string()),
        ("ALFA_WORKER_CONCURRENCY".to_owned(), "4".to_owned()),
        (
            "ALFA_QUEUE_NAMESPACE".to_owned(),
            format!("bench-{}", ulid::Ulid::generate()),
        ),
        ("ALFA_LOG".to_owned(), "warn".to_owned()),
    ];
    if let Some(redis) = redis {
        vars.push(("ALFA_REDIS_URL".to_owned(), redis.to_owned()));
    }
    let settings = Settings::from_vars(vars).unwrap();
    let db = Db::connect(url, None).await.unwrap();
    db.migrate().await.unwrap();
    let cipher = Cipher::from_key(&[1; 32]);
    Engine::new(db, cipher, Arc::new(settings), kinds::registry().with(Noop))
        .await
        .unwrap()
}

async fn wait_done(engine: &Engine, ids: &[i64]) {
    for &id in ids {
        loop {
            let op = operations::get(&engine.db, id).await.unwrap().unwrap();
            if op.is_finished() {
                assert_eq!(op.status, "ok");
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(name: &str, url: &str, redis: Option<&str>) {
    let dir = std::env::temp_dir().join(format!("alfa-bench-{}", ulid::Ulid::generate()));
    let engine = engine(url, redis, &dir).await;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let worker = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .run_worker(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Enqueue-to-start with an idle worker: one at a time.
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let asked = chrono::Utc::now();
        let id = submit(&engine).await;
        wait_done(&engine, &[id]).await;
        let op = operations::get(&engine.db, id).await.unwrap().unwrap();
        latencies
            .push((op.started_at.unwrap() - asked).num_microseconds().unwrap() as f64 / 1000.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    latencies.sort_by(f64::total_cmp);

    // Throughput: 1,000 no-op operations through 4 workers, submitted by 8 concurrent
    // producers (as API requests would).
    let n = 1000;
    let started = Instant::now();
    let producers: Vec<_> = (0..8)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(n / 8);
                for _ in 0..n / 8 {
                    ids.push(submit(&engine).await);
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for producer in producers {
        ids.extend(producer.await.unwrap());
    }
    wait_done(&engine, &ids).await;
    let per_second = n as f64 / started.elapsed().as_secs_f64();

    let _ = stop_tx.send(true);
    let _ = worker.await;
    println!(
        "queue {name:<26} enqueue-to-start p50 {:>7.2} ms  p99 {:>7.2} ms   no-op operations/s (4 workers) {:>7.0}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        per_second
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("alfa-bench-db-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    measure(
        "embedded (SQLite)",
        &format!("sqlite://{}/bench.db", dir.display()),
        None,
    )
    .await;

    let name = format!(
        "alfa_bench_{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    measure(
        "Redis (PostgreSQL state)",
        &format!("postgres://postgres@127.0.0.1:5432/{name}"),
        Some("redis://127.0.0.1:6379"),
    )
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
