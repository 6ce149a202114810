//! The verbs a kind is written with — step, script, upload, render, sql — through a kind that
//! exists only in this test, registered the way every kind is.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use alfa_cloud::ops::{Kind, OpContext, kinds};
use alfa_cloud::store::operations::LockScope;
use serde_json::{Value, json};

use super::*;

/// Renders the PHP settings into the server's base_dir, then asks the server's SQL its version.
struct Seams;

#[derive(serde::Serialize)]
struct Php {
    timezone: String,
}

#[async_trait::async_trait]
impl Kind for Seams {
    const NAME: &'static str = "test_seams";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        ctx.step("render").await?;
        let text = ctx.render(
            "client/add_vars.ini",
            &Php {
                timezone: "Asia/Omsk".into(),
            },
        )?;
        // Named apart per app (its own client-database prefix): the two seams tests share a
        // host, and both number their operations from 1.
        let path = format!(
            "{}/docker/clients/seams-{}.ini",
            ctx.server()?.base_dir,
            ctx.client_db_name(ctx.op.id)
        );
        ctx.upload(&path, text.as_bytes(), 0o640).await?;
        ctx.step("sql").await?;
        let version = ctx.sql().await?.version().await?;
        ctx.info(format!("SQL server: {version}"));
        Ok(json!({ "path": path, "sql_version": version }))
    }
}

async fn seams_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            redis: backend == Backend::Postgres,
            worker: true,
            env: fast_env(),
            kinds: Some(kinds::registry().with(Seams)),
        },
    )
    .await
}

/// The SQL login scripts/testbed made for `host` (`MARIADB_USER`, … in its sql.env).
fn sql_login(host: &Host) -> (String, String) {
    let env = std::fs::read_to_string(host.dir.join("sql.env")).expect("the host has SQL logins");
    let get = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in sql.env"))
            .to_owned()
    };
    (get("MARIADB_USER"), get("MARIADB_PASSWORD"))
}

async fn run_seams(backend: Backend, sql_kind: &str, sql_port: &str) {
    let app = seams_app(backend).await;
    let host = testbed::get().host(3);
    let (user, password) = sql_login(host);
    let name = unique("seams-");
    let server = app
        .create_server(&[
            ("name", &name),
            ("host", &host.addr),
            ("domain", &format!("{name}.test")),
            ("ssh_port", &testbed::get().ssh_port.to_string()),
            ("ssh_user", &testbed::get().user),
            ("base_dir", &host.base_dir),
            ("sql_kind", sql_kind),
            ("sql_port", sql_port),
            ("sql_user", &user),
            ("sql_password", &password),
        ])
        .await;
    let id = app
        .engine_submit::<Seams>(alfa_cloud::ops::On::server(server))
        .await;
    let op = wait_op(&app, id, Duration::from_secs(30)).await;
    assert_eq!(op["status"], "ok", "{op} {:?}", log_text(&app, id).await);
    let path = op["result"]["path"].as_str().unwrap();
    let written = std::fs::read_to_string(path).unwrap();
    assert!(written.contains("date.timezone = Asia/Omsk"), "{written}");
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "uploaded with the asked mode");
    let version = op["result"]["sql_version"].as_str().unwrap().to_lowercase();
    let expected = if sql_kind == "mariadb" {
        "mariadb"
    } else {
        "postgresql"
    };
    assert!(version.contains(expected), "{version}");
    let log = log_text(&app, id).await;
    let steps: Vec<&String> = log.iter().filter(|l| l.starts_with("step: ")).collect();
    assert_eq!(steps, ["step: render", "step: sql"], "{log:?}");
    let records: Vec<(i64, &str, &str)> = op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["attempt"].as_i64().unwrap(),
                s["name"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [(1, "render", "ok"), (1, "sql", "ok")],
        "step records: {op}"
    );
    assert!(
        !log.iter().any(|l| l.contains(&password)),
        "the SQL password never reaches the log"
    );
    std::fs::remove_file(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kind_renders_uploads_and_reaches_mariadb_through_the_ssh_connection() {
    run_seams(Backend::Sqlite, "mariadb", "3306").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kind_reaches_postgresql_through_the_ssh_connection() {
    run_seams(Backend::Postgres, "postgres", "5432").await;
}
