//! Creation figures for scripts/bench-create.sh (`cargo bench --bench create`), on the test
//! hosts with the stand-ins' delays at 0, in one run:
//! - the creation's own overhead: a creation's wall time minus the time its remote commands,
//!   uploads and SQL took (p50 of 5 creations one after another; target <= 1.5 s);
//! - 20 clients created at once on 2 test hosts, against the bound "twice one creation's time
//!   plus the certificates", which each server issues one at a time (10 per host).

#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports, unused_macros)]
mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use support::testbed::{self, Host};
use support::{Backend, Options, TestApp, multipart};

static NEXT: AtomicI64 = AtomicI64::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &ulid::Ulid::generate().to_string().to_lowercase()[18..]
    )
}

async fn server(app: &TestApp, host: &Host, first_port: i64) -> i64 {
    testbed::testbed(&["nginx-start", &host.name]);
    let bed = testbed::get();
    let env = std::fs::read_to_string(host.dir.join("sql.env")).unwrap();
    let get = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_owned()
    };
    let name = unique(&format!("{}-", host.name));
    app.create_server(&[
        ("name", &name),
        ("host", &host.addr),
        ("domain", &format!("{name}.test")),
        ("ssh_port", &bed.ssh_port.to_string()),
        ("ssh_user", &bed.user),
        ("base_dir", &host.base_dir),
        ("sql_kind", "mariadb"),
        ("sql_port", "3306"),
        ("sql_user", &get("MARIADB_USER")),
        ("sql_password", &get("MARIADB_PASSWORD")),
        ("http_port", &bed.http_port.to_string()),
        ("https_port", "8443"),
        ("listen_address", &host.addr),
        (
            "letsencrypt_dir",
            &host.dir.join("letsencrypt/config").display().to_string(),
        ),
        ("db_host_for_clients", "127.0.0.1"),
        ("client_ports", &format!("{first_port}-{}", first_port + 49)),
    ])
    .await
}

/// Creates a lab; returns its creation operation's id.
async fn create(app: &TestApp, server: i64) -> i64 {
    let sub = unique("b");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let fields = [
        ("server_id", server.to_string()),
        ("name", format!("Bench lab {n}")),
        ("admin_login", "admin".to_owned()),
        ("password", "Bench-pass-0001".to_owned()),
        ("subdomain", sub.clone()),
        ("email", format!("admin@{sub}.example")),
        ("version_tag", "1.0-master".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post("/clients/", multipart(&pairs))
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap()
}

async fn finished(app: &TestApp, op: i64) -> Value {
    loop {
        let row = app.get(&format!("/operations/{op}")).await.json();
        match row["status"].as_str().unwrap() {
            "ok" => return row,
            "error" | "cancelled" => panic!("creation {op} failed: {row}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// Wall time (created to finished), remote time and the certificate step's time, in seconds.
fn parts(op: &Value) -> (f64, f64, f64) {
    let wall = (at(&op["finished_at"]) - at(&op["created_at"])).as_seconds_f64();
    let remote = op["result"]["remote_ms"].as_f64().unwrap() / 1000.0;
    let cert = op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "certificate")
        .map(|s| (at(&s["ended_at"]) - at(&s["started_at"])).as_seconds_f64())
        .unwrap_or_default();
    (wall, remote, cert)
}

fn p50(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bed = testbed::get();
    let key = bed.key.display().to_string();
    let prefix = format!(
        "bench{}_c",
        &ulid::Ulid::generate().to_string().to_lowercase()[20..]
    );
    let env = [
        ("ALFA_CLIENT_DB_PREFIX", prefix.as_str()),
        ("ALFA_SSH_KEY", key.as_str()),
        ("ALFA_WORKER_CONCURRENCY", "24"),
        ("ALFA_LOG", "warn"),
    ];
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            redis: false,
            worker: true,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            kinds: None,
        },
    )
    .await;
    let base = 24000 + i64::from(std::process::id() as u16 % 20) * 100;
    let (h1, h2) = (bed.host(1), bed.host(2));
    let s1 = server(&app, h1, base).await;
    let s2 = server(&app, h2, base + 50).await;

    // One at a time: the creation's own overhead.
    let mut one = Vec::new();
    let mut overhead = Vec::new();
    let mut certs = Vec::new();
    for _ in 0..5 {
        let op = create(&app, s1).await;
        let (wall, remote, cert) = parts(&finished(&app, op).await);
        one.push(wall);
        overhead.push(wall - remote);
        certs.push(cert);
    }
    let (one, overhead, cert) = (p50(one), p50(overhead), p50(certs));

    // 20 at once on 2 hosts.
    let started = Instant::now();
    let mut ops = Vec::new();
    for i in 0..20 {
        ops.push(create(&app, if i % 2 == 0 { s1 } else { s2 }).await);
    }
    for op in &ops {
        finished(&app, *op).await;
    }
    let twenty = started.elapsed().as_secs_f64();
    let bound = 2.0 * one + 10.0 * cert;

    println!(
        "create one at a time (5, p50): wall {one:.2} s, of it our overhead {overhead:.2} s (target <= 1.50 s), certificate {cert:.2} s"
    );
    println!(
        "create 20 at once on 2 hosts: {twenty:.2} s; bound 2 x one creation + 10 certificates per host one at a time = 2 x {one:.2} + 10 x {cert:.2} = {bound:.2} s; ratio {:.2} (target <= 1.00)",
        twenty / bound
    );
}
