//! A creation that fails — certbot refusing, an app that never answers `/up`, SQL refusing the
//! server's login, its worker killed mid-way — ends `error` naming the step (or goes on after
//! the lost worker), is undone, and succeeds when retried.

use std::time::Duration;

use serde_json::json;

use super::creation::https_get;
use super::faults::spawn_worker;
use super::lifecycle::*;
use super::*;

/// The creation's operation id after posting a lab on `server`, and its subdomain.
async fn start_lab(app: &TestApp, server: i64) -> (i64, i64, String) {
    let sub = unique("f");
    let (client, op) = post_lab(app, &lab_fields(server, &sub)).await;
    (client, op, sub)
}

/// The failed step's name and the operation's error.
async fn failed(app: &TestApp, op: i64) -> (String, String) {
    let row = wait_op(app, op, Duration::from_secs(120)).await;
    assert_eq!(row["status"], "error", "{:#?}", log_text(app, op).await);
    let step = row["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "error")
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .unwrap_or_default();
    (step, row["error"].as_str().unwrap().to_owned())
}

async fn retried_ok(app: &TestApp, client: i64, op: i64) {
    app.post(&format!("/operations/{op}/retry"), support::Body::None)
        .await
        .expect(202);
    let row = wait_op(app, op, Duration::from_secs(120)).await;
    assert_eq!(row["status"], "ok", "{:#?}", log_text(app, op).await);
    assert_eq!(
        app.get(&format!("/clients/{client}")).await.json()["state"],
        "active"
    );
}

fn domain_of(app_server: &serde_json::Value) -> String {
    app_server["domain"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certbot_failing_ends_the_creation_at_its_certificate_and_a_retry_gets_one() {
    let app = ops_app(Backend::Sqlite, false).await;
    let host = testbed::get().host(1);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let domain = domain_of(&app.get(&format!("/servers/{server}")).await.json());
    let sub = unique("f");
    let fqdn = format!("{sub}.{domain}");
    // What certbot 2.1 on Python 3.11 prints with --debug when the ACME server refuses: the
    // server's error is only in the traceback.
    let refused = "Requesting a certificate for X\nExiting abnormally:\nTraceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/acme/client.py\", line 1, in _post\n    raise messages.Error.from_json(jobj)\nacme.messages.Error: urn:ietf:params:acme:error:rateLimited :: Your account has too many new orders\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"x\", line 2\nAttributeError: can't set attribute\nAn unexpected error occurred:\nAttributeError: can't set attribute";
    host.add_faults(
        "fail",
        json!({"match": format!("certonly {fqdn}"), "times": 1, "exit": 1, "stderr": refused}),
    );
    let (client, op) = post_lab(&app, &lab_fields(server, &sub)).await;
    let (step, error) = failed(&app, op).await;
    assert_eq!(step, "certificate", "{error}");
    assert!(error.contains("certificate.sh failed"), "{error}");
    assert!(
        error.contains(
            "the ACME server answered rateLimited :: Your account has too many new orders"
        ) && error.contains("retry after the time it names"),
        "the operator reads the ACME server's own error, not certbot's crash: {error}"
    );
    let log = log_text(&app, op).await;
    assert!(
        !log.iter().any(|l| l.contains("File \"")),
        "tracebacks stay out of the log: {log:#?}"
    );
    assert_eq!(
        app.get(&format!("/clients/{client}")).await.json()["state"],
        "error"
    );
    assert!(
        !std::path::Path::new(&host.base_dir)
            .join(format!("nginx/{sub}.conf"))
            .exists(),
        "undone"
    );
    // A badNonce is the ACME server's passing trouble: the retry's certbot meets one and tries
    // once more by itself.
    let bad_nonce = refused.replace(
        "rateLimited :: Your account has too many new orders",
        "badNonce :: JWS has an invalid anti-replay nonce",
    );
    host.add_faults(
        "fail",
        json!({"match": format!("certonly {fqdn}"), "times": 1, "exit": 1, "stderr": bad_nonce}),
    );
    retried_ok(&app, client, op).await;
    let log = log_text(&app, op).await;
    assert!(
        log.iter().any(|l| l.contains("the ACME server answered badNonce :: JWS has an invalid anti-replay nonce: trying once more")),
        "{log:#?}"
    );
    assert_eq!(https_get(host, &fqdn, "/up").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_that_never_answers_up_fails_the_container_step_and_a_retry_succeeds() {
    let mut env = fast_env();
    env.push(("ALFA_APP_READY_TIMEOUT".into(), "3s".into()));
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis: true,
            worker: true,
            env,
            kinds: None,
        },
    )
    .await;
    let host = testbed::get().host(2);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let sub = unique("f");
    let project = format!("alfa_{sub}");
    host.add_faults("unhealthy", json!(project));
    let (client, op) = post_lab(&app, &lab_fields(server, &sub)).await;
    let (step, error) = failed(&app, op).await;
    assert_eq!(step, "container", "{error}");
    assert!(
        error.contains("/up"),
        "the error says the app did not answer /up: {error}"
    );
    let folder = std::path::Path::new(&host.base_dir).join(format!("docker/clients/{sub}"));
    assert!(!folder.exists(), "undone");
    host.remove_faults("unhealthy", &json!(project));
    retried_ok(&app, client, op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sql_refusing_the_servers_login_fails_the_database_step_and_a_retry_after_the_fix_succeeds()
{
    let app = ops_app(Backend::Sqlite, false).await;
    let host = testbed::get().host(3);
    let server = lifecycle_server(&app, host, "mariadb").await;
    app.post(
        "/servers/",
        support::form(&[
            ("id", &server.to_string()),
            ("sql_password", "not-the-password"),
        ]),
    )
    .await
    .expect(200);
    let (client, op, _) = start_lab(&app, server).await;
    let (step, error) = failed(&app, op).await;
    assert_eq!(step, "database", "{error}");
    assert!(error.contains("cannot log in"), "{error}");
    let (_, password) = sql_login(host);
    app.post(
        "/servers/",
        support::form(&[("id", &server.to_string()), ("sql_password", &password)]),
    )
    .await
    .expect(200);
    retried_ok(&app, client, op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_creation_is_replaced_and_the_creation_completes() {
    let mut env = fast_env();
    env.push(("ALFA_WORKER_CONCURRENCY".into(), "4".into()));
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            redis: false,
            worker: false,
            env,
            kinds: None,
        },
    )
    .await;
    let mut first = spawn_worker(&app);
    let host = testbed::get().host(4);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let (client, op, _) = start_lab(&app, server).await;
    eventually(
        Duration::from_secs(60),
        "the creation to reach its vhost step",
        || async {
            let row = app.get(&format!("/operations/{op}")).await.json();
            let at_vhost = row["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "vhost");
            if at_vhost {
                Ok(())
            } else {
                Err(row["status_text"].to_string())
            }
        },
    )
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let _second = spawn_worker(&app);
    let row = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(row["status"], "ok", "{:#?}", log_text(&app, op).await);
    assert_eq!(row["attempt"], 2);
    assert_eq!(
        app.get(&format!("/clients/{client}")).await.json()["state"],
        "active"
    );
}
