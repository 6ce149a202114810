//! Client creation end to end, on a MariaDB server and on a PostgreSQL server; a creation that
//! fails at nginx, undone and retried; DELETE with and without its database.

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::Connection as _;

use super::lifecycle::*;
use super::*;

/// The steps of a creation, in order.
const STEPS: [&str; 8] = [
    "preflight",
    "database",
    "files",
    "vhost",
    "container",
    "lab data",
    "certificate",
    "probe",
];

/// Pebble's current root (it changes at every start), to trust nothing else.
async fn pebble_root() -> reqwest::Certificate {
    let pem = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get("https://127.0.0.1:15000/roots/0")
        .send()
        .await
        .expect("Pebble's management port answers")
        .bytes()
        .await
        .unwrap();
    reqwest::Certificate::from_pem(&pem).expect("a PEM root")
}

/// `GET https://{fqdn}:8443{path}` through the host's nginx, trusting Pebble's root only, so a
/// certificate for any other name would fail the request.
pub async fn https_get(host: &Host, fqdn: &str, path: &str) -> reqwest::Response {
    let addr: SocketAddr = format!("{}:{HTTPS_PORT}", host.addr).parse().unwrap();
    reqwest::Client::builder()
        .add_root_certificate(pebble_root().await)
        .resolve(fqdn, addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("https://{fqdn}:{HTTPS_PORT}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("https://{fqdn}:{HTTPS_PORT}{path} through nginx: {e:?}"))
}

/// The admin's hash and the lab's name as the client's database holds them.
async fn lab_rows(sql_kind: &str, db: &str, email: &str) -> (String, String) {
    if sql_kind == "mariadb" {
        let mut conn = sqlx::MySqlConnection::connect(&format!("mysql://root@127.0.0.1:3306/{db}"))
            .await
            .expect("the client's database exists");
        let hash: String = sqlx::query_scalar("SELECT password FROM users WHERE email = ?")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .expect("the admin is a row of users");
        let name: String =
            sqlx::query_scalar("SELECT `value` FROM cloud_settings WHERE `key` = 'lab_name'")
                .fetch_one(&mut conn)
                .await
                .expect("cloud_settings holds the lab's name");
        (hash, name)
    } else {
        let mut conn =
            sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:5432/{db}"))
                .await
                .expect("the client's database exists");
        let hash: String = sqlx::query_scalar("SELECT password::text FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .expect("the admin is a row of users");
        let name: String =
            sqlx::query_scalar("SELECT value FROM cloud_settings WHERE key = 'lab_name'")
                .fetch_one(&mut conn)
                .await
                .expect("cloud_settings holds the lab's name");
        (hash, name)
    }
}

/// Creates a lab on host `i` with `sql_kind` and checks everything a user would see.
async fn create_and_check(app: &TestApp, i: usize, sql_kind: &str) {
    let host = testbed::get().host(i);
    let server = lifecycle_server(app, host, sql_kind).await;
    let sub = unique("lab");
    let fields = lab_fields(server, &sub);
    let (client, op) = post_lab(app, &fields).await;
    let (page, running) = follow_createlog(app, client).await;
    let log = log_text(app, op).await;
    assert_eq!(page["completed"], "ok", "{log:#?}");
    assert!(
        running.iter().any(|l| l == "preflight"),
        "steps appear while the creation runs: {running:?}"
    );
    let steps: Vec<&str> = log
        .iter()
        .filter_map(|l| l.strip_prefix("step: "))
        .collect();
    for step in STEPS {
        assert!(steps.contains(&step), "step {step} in {steps:?}");
    }
    let view = app
        .get(&format!("/clients/{client}"))
        .await
        .expect(200)
        .json();
    assert_eq!(view["state"], "active", "{view}");

    // The secrets the host holds never reach a log line, a recorded command line or an answer.
    let env = env_file(host, &sub);
    let password = &fields.iter().find(|(k, _)| k == "password").unwrap().1;
    let mut secrets = vec![password.clone()];
    for key in ["APP_KEY", "DB_PASSWORD", "ALFA_CLOUD_TOKEN"] {
        secrets.push(env_value(&env, key));
    }
    let calls = std::fs::read_to_string(host.dir.join("calls.jsonl")).unwrap_or_default();
    for secret in &secrets {
        app.secret(secret);
        assert!(
            !log.iter().any(|l| l.contains(secret.as_str())),
            "a secret in the log"
        );
        assert!(
            !calls.contains(secret.as_str()),
            "a secret in a recorded command line"
        );
    }
    app.get(&format!("/clients/{client}")).await.expect(200);
    assert_eq!(env_value(&env, "DB_DATABASE"), client_db(app, client));
    assert_eq!(env_value(&env, "ALFA_CLIENT_ID"), client.to_string());

    // The lab's database holds its admin (the hash verifies) and its settings.
    let email = format!("admin@{sub}.example");
    let (hash, lab_name) = lab_rows(sql_kind, &client_db(app, client), &email).await;
    assert!(hash.starts_with("$2y$"), "a Laravel bcrypt hash: {hash}");
    assert!(
        bcrypt::verify(password, &hash).unwrap(),
        "the admin's password verifies"
    );
    assert_eq!(lab_name, "Центральная лаборатория");

    // nginx accepts what we rendered, and serves the lab over https with its certificate.
    testbed::testbed(&["ssh", &host.name, "sudo", "-n", "nginx", "-t"]);
    let fqdn = view["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let up = https_get(host, &fqdn, "/up").await;
    assert_eq!(up.status(), 200, "the lab answers through nginx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lab_created_on_a_mariadb_server_answers_https_through_nginx() {
    let app = ops_app(Backend::Sqlite, false).await;
    create_and_check(&app, 3, "mariadb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lab_created_on_a_postgresql_server_answers_https_through_nginx() {
    let app = ops_app(Backend::Postgres, true).await;
    create_and_check(&app, 4, "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_creation_nginx_refuses_is_undone_the_others_still_served_and_a_retry_succeeds() {
    let app = ops_app(Backend::Sqlite, false).await;
    let host = testbed::get().host(9);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let first_sub = unique("ok");
    let (first, _) = post_lab(&app, &lab_fields(server, &first_sub)).await;
    assert_eq!(follow_createlog(&app, first).await.0["completed"], "ok");
    let first_fqdn = format!(
        "{first_sub}.{}",
        app.get(&format!("/servers/{server}")).await.json()["domain"]
            .as_str()
            .unwrap()
    );

    // Someone's broken file: every `nginx -t` on this server fails while it is there.
    let broken = std::path::Path::new(&host.base_dir).join("nginx/zz-broken.conf");
    std::fs::write(&broken, "server { this is not nginx\n").unwrap();
    let sub = unique("nx");
    let (client, op) = post_lab(&app, &lab_fields(server, &sub)).await;
    let (page, _) = follow_createlog(&app, client).await;
    std::fs::remove_file(&broken).unwrap();
    let log = log_text(&app, op).await;
    assert_eq!(page["completed"], "error", "{log:#?}");
    let error = app.get(&format!("/operations/{op}")).await.json()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("nginx"),
        "the error says nginx refused: {error}"
    );
    assert!(log.iter().any(|l| l == "step: undo"), "undone: {log:#?}");
    assert_eq!(
        app.get(&format!("/clients/{client}")).await.json()["state"],
        "error"
    );
    let folder = std::path::Path::new(&host.base_dir).join(format!("docker/clients/{sub}"));
    assert!(!folder.exists(), "the undo removed the client's folder");
    assert!(
        !std::path::Path::new(&host.base_dir)
            .join(format!("nginx/{sub}.conf"))
            .exists()
    );
    assert_eq!(
        https_get(host, &first_fqdn, "/up").await.status(),
        200,
        "the other lab is still served"
    );

    let reply = app
        .post(&format!("/operations/{op}/retry"), support::Body::None)
        .await
        .expect(202)
        .json();
    assert_eq!(reply["status"], "queued");
    let (page, _) = follow_createlog(&app, client).await;
    assert_eq!(page["completed"], "ok", "{:#?}", log_text(&app, op).await);
    assert_eq!(
        app.get(&format!("/clients/{client}")).await.json()["state"],
        "active"
    );
    let log = log_text(&app, op).await;
    assert!(
        log.iter()
            .any(|l| l.starts_with("info: retry requested by admin")),
        "{log:#?}"
    );
    app.post(&format!("/operations/{op}/retry"), support::Body::None)
        .await
        .expect(409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_removes_the_lab_and_with_drop_database_its_database_after_a_dump() {
    let app = ops_app(Backend::Postgres, true).await;
    let host = testbed::get().host(10);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let sub = unique("del");
    let (client, _) = post_lab(&app, &lab_fields(server, &sub)).await;
    assert_eq!(follow_createlog(&app, client).await.0["completed"], "ok");

    let op = delete(&app, &format!("/clients/{client}?drop_database=1")).await;
    let done = wait_op(&app, op, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    assert_eq!(
        app.get(&format!("/clients/{client}")).await.json()["state"],
        "deleted"
    );
    let base = std::path::Path::new(&host.base_dir);
    assert!(!base.join(format!("docker/clients/{sub}")).exists());
    assert!(!base.join(format!("nginx/{sub}.conf")).exists());
    let dump = done["result"]["dump"]["path"]
        .as_str()
        .expect("the dump's path");
    assert!(
        std::path::Path::new(dump).starts_with(base.join(format!("backups/c{client}"))),
        "{dump}"
    );
    assert!(std::fs::metadata(dump).unwrap().len() > 0);
    let dropped = sqlx::MySqlConnection::connect(&format!(
        "mysql://root@127.0.0.1:3306/{}",
        client_db(&app, client)
    ))
    .await;
    assert!(dropped.is_err(), "the database was dropped");

    // The subdomain is free again.
    let (again, _) = post_lab(&app, &lab_fields(server, &sub)).await;
    assert_eq!(follow_createlog(&app, again).await.0["completed"], "ok");
    // Without drop_database the database stays.
    let op = delete(&app, &format!("/clients/{again}")).await;
    assert_eq!(
        wait_op(&app, op, Duration::from_secs(60)).await["status"],
        "ok"
    );
    let kept = sqlx::MySqlConnection::connect(&format!(
        "mysql://root@127.0.0.1:3306/{}",
        client_db(&app, again)
    ))
    .await;
    assert!(kept.is_ok(), "the database is kept without drop_database");
}

/// Sends `DELETE path`; returns the deletion's operation id.
async fn delete(app: &TestApp, path: &str) -> i64 {
    app.call(reqwest::Method::DELETE, path, support::Body::None)
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap()
}
