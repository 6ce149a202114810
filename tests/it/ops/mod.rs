//! Operations engine tests: real workers, real SSH to the testbed hosts, on the embedded
//! queue (SQLite) and on Redis (with PostgreSQL), the production pairing.

mod actions;
mod build_release;
mod builds;
mod creation;
mod creation_faults;
mod deploy;
mod engine;
mod fanout;
mod fanout_post;
mod faults;
mod fleet;
mod fleet_files;
mod fleet_wide;
mod lab_updates;
mod lifecycle;
mod mail;
mod mail_failures;
mod probes;
mod prune;
mod queue;
mod reconfigurate;
mod schedule;
mod seams;
mod switch;
mod transfer;
mod update_to;
mod webhooks;

use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::support::eventually::{eventually, within};
use crate::support::testbed::{self, Host};
use crate::support::{self, Backend, Options, TestApp, form};

/// Generates one test per queue from one body.
#[macro_export]
macro_rules! on_both_queues {
    ($(async fn $name:ident($app:ident, $slot:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    let $slot = 0usize;
                    let $app = $crate::ops::ops_app($crate::support::Backend::Sqlite, false).await;
                    $body
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn redis() {
                    let $slot = 1usize;
                    let $app = $crate::ops::ops_app($crate::support::Backend::Postgres, true).await;
                    $body
                }
            }
        )*
    };
}

/// Settings that keep failure tests short: a 3 s connect timeout and a 3 s lease.
pub fn fast_env() -> Vec<(String, String)> {
    let key = testbed::get().key.display().to_string();
    // Every app names its clients' databases apart: the test apps share the SQL servers.
    let prefix = format!(
        "t{}_c",
        &ulid::Ulid::generate().to_string().to_lowercase()[18..]
    );
    [
        ("ALFA_SSH_KEY", key.as_str()),
        ("ALFA_SSH_CONNECT_TIMEOUT", "3s"),
        ("ALFA_OPERATION_LEASE", "3s"),
        ("ALFA_COMMAND_TIMEOUT", "60s"),
        ("ALFA_SHUTDOWN_GRACE", "10s"),
        ("ALFA_CLIENT_DB_PREFIX", prefix.as_str()),
        // The probe loop's calls (docker ps) would mix into the calls other tests count;
        // tests/it/ops/probes.rs turns it on.
        ("ALFA_PROBE_INTERVAL", "off"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An app with a worker in the same process.
pub async fn ops_app(backend: Backend, redis: bool) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            redis,
            worker: true,
            env: fast_env(),
            kinds: None,
        },
    )
    .await
}

/// A unique lower-case name for subdomains and server names.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        ulid::Ulid::generate().to_string().to_lowercase()[18..].to_owned()
    )
}

/// Registers a testbed host as a server; returns its id.
pub async fn register(app: &TestApp, host: &Host) -> i64 {
    let name = unique(&format!("{}-", host.name));
    let domain = format!("{name}.test");
    app.create_server(&[
        ("name", &name),
        ("host", &host.addr),
        ("domain", &domain),
        ("ssh_port", &testbed::get().ssh_port.to_string()),
        ("ssh_user", &testbed::get().user),
        ("base_dir", &host.base_dir),
    ])
    .await
}

/// Waits until an operation ends; fails with its log after `limit`.
pub async fn wait_op(app: &TestApp, id: i64, limit: Duration) -> Value {
    let ended = within(limit, || async {
        let op = app
            .get(&format!("/operations/{id}"))
            .await
            .expect(200)
            .json();
        match op["status"].as_str().unwrap() {
            "ok" | "error" | "cancelled" => Ok(op),
            _ => Err(op["status_text"].to_string()),
        }
    })
    .await;
    match ended {
        Ok(op) => op,
        Err(status) => panic!(
            "operation {id} still {status} after {limit:?}; log: {:?}",
            log_text(app, id).await
        ),
    }
}

/// Waits until the operation reaches `status` (e.g. running).
#[track_caller]
pub fn wait_status<'a>(
    app: &'a TestApp,
    id: i64,
    status: &'a str,
    limit: Duration,
) -> impl std::future::Future<Output = Value> + 'a {
    eventually(
        limit,
        format!("operation {id} to be {status}"),
        move || async move {
            let op = app
                .get(&format!("/operations/{id}"))
                .await
                .expect(200)
                .json();
            if op["status"] == status {
                Ok(op)
            } else {
                Err(op["status_text"].to_string())
            }
        },
    )
}

/// The whole log as `stream: line` strings.
pub async fn log_text(app: &TestApp, id: i64) -> Vec<String> {
    let page = app
        .get(&format!("/operations/{id}/log"))
        .await
        .expect(200)
        .json();
    page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}: {}",
                l["stream"].as_str().unwrap(),
                l["line"].as_str().unwrap()
            )
        })
        .collect()
}

/// Starts an operation with a GET action endpoint; returns its id.
pub async fn start(app: &TestApp, path: &str) -> i64 {
    let reply = app.get(path).await.expect(202).json();
    assert_eq!(reply["status"], "queued");
    reply["operation_id"].as_i64().unwrap()
}

/// Creates a client on `server` through the API; returns (client id, creation operation id).
pub async fn create_client(
    app: &TestApp,
    server: i64,
    subdomain: &str,
    version: &str,
) -> (i64, i64) {
    let reply = app
        .post(
            "/clients/",
            form(&[
                ("server_id", &server.to_string()),
                ("name", "Lab"),
                ("admin_login", "admin"),
                ("email", "admin@lab.example"),
                ("subdomain", subdomain),
                ("version_tag", version),
            ]),
        )
        .await
        .expect(202)
        .json();
    (
        reply["id"].as_i64().unwrap(),
        reply["operation_id"].as_i64().unwrap(),
    )
}
