//! `deploy` of a server: a dry run reports what would change (masked) and writes nothing; the
//! real one rewrites only what differs, keeps every secret and the keys a `.env` gained,
//! reloads nginx once for all vhosts, recreates only the containers whose files changed, and
//! the labs still answer through nginx.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::creation::https_get;
use super::fleet_files::*;
use super::lifecycle::*;
use super::*;

/// The report of `lab` in a deploy's result (its child's result).
pub fn report<'a>(done: &'a Value, lab: &Lab) -> &'a Value {
    &done["result"]["children"]
        .as_array()
        .unwrap_or_else(|| panic!("children in {done}"))
        .iter()
        .find(|c| c["client_id"] == lab.id)
        .unwrap_or_else(|| panic!("lab {} in {done}", lab.id))["result"]
}

/// The changed file `name` in a client's report.
fn changed<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_reports_then_rewrites_only_what_changed_keeping_secrets_and_reloading_nginx_once() {
    let app = ops_app(Backend::Sqlite, false).await;
    let host = testbed::get().host(1);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let (a, b, c) = tokio::join!(
        lab_on_server(&app, server, host, "mariadb"),
        lab_on_server(&app, server, host, "mariadb"),
        lab_on_server(&app, server, host, "mariadb"),
    );
    let env_a = env_file(host, &a.subdomain);
    let (app_key, db_password, token) = (
        env_value(&env_a, "APP_KEY"),
        env_value(&env_a, "DB_PASSWORD"),
        env_value(&env_a, "ALFA_CLOUD_TOKEN"),
    );
    for secret in [&app_key, &db_password, &token] {
        app.secret(secret);
    }

    // Nothing changed since creation: a dry run (POSTed as a form) finds every file as rendered.
    let reply = app
        .post(
            &format!("/server/{server}/deploy"),
            support::form(&[("dry_run", "1")]),
        )
        .await
        .expect(202)
        .json();
    let op = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    for lab in [&a, &b, &c] {
        assert_eq!(
            report(&done, lab)["changed"],
            serde_json::json!([]),
            "{done}"
        );
    }

    // a's time zone and the allowed addresses of a and b change in our database; a's .env on
    // the host drifted (a password edited by hand) and gained a key of its own.
    app_sql(
        &app,
        &format!(
            "UPDATE clients SET timezone = 'Asia/Tokyo' WHERE id = {}",
            a.id
        ),
    )
    .await;
    app_sql(
        &app,
        &format!(
            "UPDATE clients SET allowed_ips = '[\"127.0.0.0/8\"]' WHERE id IN ({}, {})",
            a.id, b.id
        ),
    )
    .await;
    let env_path = lab_file(&a, ".env");
    let text = std::fs::read_to_string(&env_path).unwrap();
    let drifted = text.replace(&db_password, "edited-by-hand") + "FEATURE_FLAG=on\n";
    std::fs::write(&env_path, drifted).unwrap();

    // The dry run names a's .env (masked) and php settings and both vhosts; writes nothing.
    let all: Vec<PathBuf> = [&a, &b, &c].iter().flat_map(|l| lab_files(l)).collect();
    let before = snapshot(&all);
    let mark = host.calls().len();
    let op = start(&app, &format!("/servers/{server}/deploy?dry_run=1")).await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    let ra = report(&done, &a);
    let env = changed(ra, ".env").unwrap_or_else(|| panic!("{ra}"));
    let keys = &env["keys"]["changed"];
    assert!(
        keys.as_array().unwrap().contains(&serde_json::json!(
            {"key": "APP_TIMEZONE", "from": "Europe/Moscow", "to": "Asia/Tokyo"}
        )),
        "{env}"
    );
    assert!(
        keys.as_array()
            .unwrap()
            .contains(&serde_json::json!({"key": "DB_PASSWORD", "from": "***", "to": "***"})),
        "{env}"
    );
    assert_eq!(env["keys"]["removed"], serde_json::json!([]), "kept: {env}");
    let ini = changed(ra, "php/add_vars.ini").unwrap_or_else(|| panic!("{ra}"));
    assert!(
        ini["diff"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("+date.timezone = Asia/Tokyo")),
        "{ini}"
    );
    assert!(changed(ra, "vhost").is_some(), "{ra}");
    assert_eq!(ra["would_recreate"], true);
    let rb = report(&done, &b);
    assert_eq!(
        rb["changed"].as_array().unwrap().len(),
        1,
        "only b's vhost: {rb}"
    );
    assert!(
        changed(rb, "vhost").unwrap()["diff"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("+        allow 127.0.0.0/8;"))
    );
    assert_eq!(report(&done, &c)["changed"], serde_json::json!([]));
    assert_untouched(&before);
    let since = calls_since(host, mark);
    for lab in [&a, &b, &c] {
        let project = format!("alfa_{}", lab.subdomain);
        assert!(
            !since.iter().any(|call| call.contains(&project)),
            "no docker call about {project} in a dry run: {since:#?}"
        );
    }
    for lab in [&a, &b] {
        assert!(
            !vhost_file(lab).with_extension("conf.new").exists(),
            "nothing staged"
        );
    }
    // nginx untouched: no test of its configuration (a reload of certbot's deploy hook for
    // another test's lab may still show up, without one).
    let log = log_text(&app, op).await;
    assert!(!log.iter().any(|l| l == "step: vhosts"), "{log:#?}");
    if !others_busy(&since, &[&a, &b, &c]) {
        assert_eq!(nginx_tests(&since), 0, "{since:#?}");
    }

    // The deploy: a's files and both vhosts; one reload; only a recreated.
    let untouched_c = snapshot(&lab_files(&c));
    let untouched_b = snapshot(&lab_files(&b)[..4]);
    let mark = host.calls().len();
    let op = start(&app, &format!("/server/{server}/deploy")).await;
    let done = wait_op(&app, op, Duration::from_secs(180)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["result"]["counts"]["ok"], 3, "{done}");
    assert_eq!(report(&done, &a)["recreated"], true, "{done}");
    assert_eq!(report(&done, &b)["recreated"], false, "{done}");
    let env_a = env_file(host, &a.subdomain);
    assert_eq!(env_value(&env_a, "APP_TIMEZONE"), "Asia/Tokyo");
    assert_eq!(env_value(&env_a, "APP_KEY"), app_key);
    assert_eq!(
        env_value(&env_a, "DB_PASSWORD"),
        db_password,
        "the sealed one again"
    );
    assert_eq!(env_value(&env_a, "ALFA_CLOUD_TOKEN"), token);
    assert_eq!(
        env_value(&env_a, "FEATURE_FLAG"),
        "on",
        "a key of its own survives"
    );
    assert!(
        std::fs::read_to_string(lab_file(&a, "php/add_vars.ini"))
            .unwrap()
            .contains("date.timezone = Asia/Tokyo")
    );
    for lab in [&a, &b] {
        assert!(
            std::fs::read_to_string(vhost_file(lab))
                .unwrap()
                .contains("allow 127.0.0.0/8;")
        );
    }
    assert_untouched(&untouched_c);
    assert_untouched(&untouched_b);
    let since = calls_since(host, mark);
    let recreated = |since: &[String], lab: &Lab| {
        since
            .iter()
            .any(|c| c.contains(&format!("alfa_{} ", lab.subdomain)) && c.contains(" up "))
    };
    assert!(recreated(&since, &a), "{since:#?}");
    assert!(
        !recreated(&since, &b) && !recreated(&since, &c),
        "{since:#?}"
    );
    // One test and one reload for both vhosts. Other tests' labs on this host test and reload
    // nginx too: when their calls share the window, the log says it for us.
    assert!(reloads(&since) >= 1, "{since:#?}");
    if !others_busy(&since, &[&a, &b, &c]) {
        assert_eq!(
            nginx_tests(&since),
            1,
            "one nginx -t for both vhosts: {since:#?}"
        );
    }
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("vhost(s) replaced") && l.contains("reloaded once"))
            .count(),
        1,
        "{log:#?}"
    );
    for lab in [&a, &b, &c] {
        let reply = https_get(host, &lab.fqdn, "/up").await;
        assert_eq!(reply.status(), 200, "{} through nginx", lab.subdomain);
    }

    // Again: nothing left to change, nothing written, restarted or reloaded.
    let all_now = snapshot(&all);
    let mark = host.calls().len();
    let op = start(&app, &format!("/server/{server}/deploy")).await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert!(!log.iter().any(|l| l == "step: vhosts"), "{log:#?}");
    assert_untouched(&all_now);
    let since = calls_since(host, mark);
    for lab in [&a, &b, &c] {
        assert!(!recreated(&since, lab), "{since:#?}");
    }
    if !others_busy(&since, &[&a, &b, &c]) {
        assert_eq!(nginx_tests(&since), 0, "{since:#?}");
    }

    // nginx refuses b's new vhost: every previous vhost stays and serves, the error names b.
    app_sql(
        &app,
        &format!(
            "UPDATE clients SET allowed_ips = '[\"999.1.1.1\"]' WHERE id = {}",
            b.id
        ),
    )
    .await;
    let live_b = std::fs::read(vhost_file(&b)).unwrap();
    let op = start(&app, &format!("/server/{server}/deploy")).await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("refused the new vhost of {}", b.subdomain))
            && error.contains(&format!("{} is client {}", b.subdomain, b.id)),
        "{error}"
    );
    assert_eq!(
        std::fs::read(vhost_file(&b)).unwrap(),
        live_b,
        "the previous vhost"
    );
    for leftover in ["conf.new", "conf.prev"] {
        assert!(
            !vhost_file(&b).with_extension(leftover).exists(),
            "{leftover}"
        );
    }
    for lab in [&a, &b, &c] {
        let reply = https_get(host, &lab.fqdn, "/up").await;
        assert_eq!(reply.status(), 200, "{} through nginx", lab.subdomain);
    }

    app.get(&format!("/server/{server}/deploy?dry_run=maybe"))
        .await
        .expect(422);
    app.get(&format!("/server/{server}/deploy?remove_stale=1"))
        .await
        .expect(422);
    app.get("/server/999999/deploy").await.expect(404);
    remove_labs(&app, &[&a, &b, &c]).await;
}
