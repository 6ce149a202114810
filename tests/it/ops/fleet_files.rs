//! What the fleet tests (deploy, reconfigurate) look at on the test hosts: a lab's files and
//! their bytes and times, the stand-ins' calls since a mark, edits of the app's own database.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::lifecycle::*;
use super::*;

/// A file of a lab's folder on its host.
pub fn lab_file(lab: &Lab, name: &str) -> PathBuf {
    PathBuf::from(&lab.host.base_dir)
        .join("docker/clients")
        .join(&lab.subdomain)
        .join(name)
}

/// The lab's live vhost.
pub fn vhost_file(lab: &Lab) -> PathBuf {
    PathBuf::from(&lab.host.base_dir)
        .join("nginx")
        .join(format!("{}.conf", lab.subdomain))
}

/// Bytes and modification time of each file, to prove a file was not written.
pub fn snapshot(paths: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let mtime = std::fs::metadata(p).unwrap().modified().unwrap();
            (p.clone(), bytes, mtime)
        })
        .collect()
}

#[track_caller]
pub fn assert_untouched(before: &[(PathBuf, Vec<u8>, SystemTime)]) {
    for (path, bytes, mtime) in before {
        let now = std::fs::read(path).unwrap();
        assert!(now == *bytes, "{} changed", path.display());
        assert_eq!(
            std::fs::metadata(path).unwrap().modified().unwrap(),
            *mtime,
            "{} was written",
            path.display()
        );
    }
}

/// Every file deploy renders for `lab`.
pub fn lab_files(lab: &Lab) -> Vec<PathBuf> {
    [
        ".env",
        "docker-compose.yml",
        "php/add_vars.ini",
        "maintenance/index.html",
    ]
    .iter()
    .map(|n| lab_file(lab, n))
    .chain([vhost_file(lab)])
    .collect()
}

/// Runs `sql` on the app's own database (a change made behind the API's back, as an operator's
/// edit of a template-visible datum would be).
pub async fn app_sql(app: &TestApp, sql: &str) {
    use sqlx::Connection as _;
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// The calls recorded on `host` after the first `mark` ones.
pub fn calls_since(host: &Host, mark: usize) -> Vec<String> {
    host.calls().iter().skip(mark).map(testbed::argv).collect()
}

/// Deletes the labs (container, vhost, certificate, folder, database), so their fake apps
/// stop holding ports of the shared loopback.
pub async fn remove_labs(app: &TestApp, labs: &[&Lab]) {
    let mut ops = Vec::new();
    for lab in labs {
        let path = format!("/clients/{}?drop_database=1", lab.id);
        let reply = app
            .call(reqwest::Method::DELETE, &path, support::Body::None)
            .await
            .expect(202)
            .json();
        ops.push(reply["operation_id"].as_i64().unwrap());
    }
    for op in ops {
        let done = wait_op(app, op, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "ok", "{:#?}", log_text(app, op).await);
    }
}

/// nginx reloads among `calls` (not certbot's deploy hook, which only names one).
pub fn reloads(calls: &[String]) -> usize {
    calls
        .iter()
        .filter(|c| c.starts_with("nginx ") && c.contains("-s reload"))
        .count()
}

/// `nginx -t` runs among `calls` (a job changing nginx's configuration tests it first; certbot's
/// deploy hook only reloads).
pub fn nginx_tests(calls: &[String]) -> usize {
    calls
        .iter()
        .filter(|c| c.starts_with("nginx ") && c.split(' ').any(|w| w == "-t"))
        .count()
}

/// Whether other tests' labs on the host had calls among `calls` (their vhost installs and
/// certificates reload nginx too).
pub fn others_busy(calls: &[String], labs: &[&Lab]) -> bool {
    let ours: Vec<String> = labs
        .iter()
        .map(|l| format!("alfa_{} ", l.subdomain))
        .collect();
    calls.iter().any(|c| {
        c.starts_with("certbot ") || (c.contains("alfa_") && !ours.iter().any(|o| c.contains(o)))
    })
}
