//! What the tests need of the machine: PostgreSQL databases, logs, processes.

use super::PG_ADMIN_URL;

async fn admin_pg() -> sqlx::PgConnection {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL runs on 127.0.0.1:5432 (scripts/test.sh starts it)")
}

pub async fn create_pg_database(name: &str) {
    let mut conn = admin_pg().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("create the test database");
}

pub async fn drop_pg_database(name: &str) {
    let mut conn = admin_pg().await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
}

pub fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .with_test_writer()
            .try_init();
    }
}

/// The processes whose command line contains `needle`: (pid, command line).
pub fn processes_showing(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push((pid, cmdline));
            }
        }
    }
    found
}
