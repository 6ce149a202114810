//! Per-client actions on active labs, over real SSH: each checked where a user would see it.

use std::time::Duration;

use reqwest::Method;

use super::lifecycle::{Lab, active_lab, db_rows};
use super::*;

/// The migrations table of the lab's database.
async fn migrations(app: &TestApp, lab: &Lab) -> Vec<String> {
    db_rows(
        &lab.sql_kind,
        &lab.db(app),
        "SELECT migration FROM migrations ORDER BY migration",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_runs_artisan_in_the_lab_and_streams_its_output() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 2, "mariadb").await;
    // Someone removed the version's migration row: migrate puts it back.
    let db = lab.db(&app);
    let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(&format!(
        "mysql://root@127.0.0.1:3306/{db}"
    ))
    .await
    .unwrap();
    sqlx::query("DELETE FROM migrations WHERE migration LIKE '9999_version_%'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(
        !migrations(&app, &lab)
            .await
            .iter()
            .any(|m| m.starts_with("9999_version_"))
    );

    let op = start(&app, &format!("/clients/{}/migrate", lab.id)).await;
    let done = wait_op(&app, op, Duration::from_secs(60)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("9999_version_1.0-master") && l.contains("DONE")),
        "artisan's own output is in the log: {log:#?}"
    );
    assert!(
        migrations(&app, &lab)
            .await
            .contains(&"9999_version_1.0-master".to_owned()),
        "the migration is applied in the lab's database"
    );
    // A lab whose app is stopped: artisan cannot run, and the error says why and what to do.
    let compose = |verb: &str| {
        let file = format!(
            "{}/docker/clients/{}/docker-compose.yml",
            lab.host.base_dir, lab.subdomain
        );
        testbed::testbed(&[
            "ssh",
            &lab.host.name,
            &format!("docker compose -p alfa_{} -f {file} {verb}", lab.subdomain),
        ]);
    };
    compose("stop");
    let op = start(&app, &format!("/clients/{}/migrate", lab.id)).await;
    let done = wait_op(&app, op, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "error", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "the app service of alfa_{} is not running, so artisan cannot run in it",
            lab.subdomain
        )) && error.contains("reboot"),
        "{error}"
    );
    compose("start");
    // The lab still answers through nginx, on the server and at the name it had.
    let view = app
        .get(&format!("/clients/{}", lab.id))
        .await
        .expect(200)
        .json();
    assert_eq!(view["server_id"], lab.server);
    let env = super::lifecycle::env_file(&lab.host, &lab.subdomain);
    assert!(super::lifecycle::env_value(&env, "APP_URL").contains(&lab.fqdn));
    let up = super::creation::https_get(&lab.host, &lab.fqdn, "/up").await;
    assert_eq!(up.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_action_on_a_client_that_is_not_active_answers_409_with_its_state() {
    // No worker: the new client stays pending.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            redis: false,
            worker: false,
            env: fast_env(),
            kinds: None,
        },
    )
    .await;
    let host = testbed::get().host(2);
    let server = super::lifecycle::lifecycle_server(&app, host, "mariadb").await;
    let (id, _op) =
        super::lifecycle::post_lab(&app, &super::lifecycle::lab_fields(server, &unique("pend")))
            .await;
    for path in [
        "migrate",
        "reboot",
        "demo_enable",
        "demo_disable",
        "maintain/1",
    ] {
        let reply = app
            .get(&format!("/clients/{id}/{path}"))
            .await
            .expect(409)
            .json();
        let message = reply["message"].as_str().unwrap();
        assert!(
            message.contains("is pending, not active") && message.contains("createlog"),
            "{path}: {message}"
        );
    }
    let reply = app
        .post(
            &format!("/clients/{id}/admin_password"),
            form(&[
                ("password", "Pending-pass-1"),
                ("confirm_password", "Pending-pass-1"),
            ]),
        )
        .await
        .expect(409)
        .json();
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("is pending, not active")
    );
    // A change of a pending client is its creation's to apply: no operation of its own.
    let reply = app
        .call(
            Method::PUT,
            &format!("/clients/{id}"),
            form(&[("allowed_ips", r#"["10.0.0.0/8"]"#)]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(reply["allowed_ips"], serde_json::json!(["10.0.0.0/8"]));
    assert!(reply["operation_id"].is_null(), "{reply}");
}

/// Waits for operation `op` and asserts it ended ok; returns its log.
pub(super) async fn ok_op(app: &TestApp, op: i64) -> Vec<String> {
    let done = wait_op(app, op, Duration::from_secs(90)).await;
    let log = log_text(app, op).await;
    assert_eq!(done["status"], "ok", "{:?}: {log:#?}", done["error"]);
    log
}

/// The value of `key` in the lab's `cloud_settings`.
pub(super) async fn setting(app: &TestApp, lab: &Lab, key: &str) -> String {
    let column = if lab.sql_kind == "mariadb" {
        "`value`"
    } else {
        "value"
    };
    let key_column = if lab.sql_kind == "mariadb" {
        "`key`"
    } else {
        "key"
    };
    let rows = db_rows(
        &lab.sql_kind,
        &lab.db(app),
        &format!("SELECT {column} FROM cloud_settings WHERE {key_column} = '{key}'"),
    )
    .await;
    rows.into_iter()
        .next()
        .unwrap_or_else(|| panic!("{key} in cloud_settings"))
}

/// The admin's (name, password hash) in the lab's `users`, found by e-mail.
pub(super) async fn admin_row(app: &TestApp, lab: &Lab, email: &str) -> (String, String) {
    let select = |column: &str| {
        format!(
            "SELECT {column} FROM users WHERE email = '{email}'",
            column = if lab.sql_kind == "mariadb" {
                column.to_owned()
            } else {
                format!("{column}::text")
            }
        )
    };
    let name = db_rows(&lab.sql_kind, &lab.db(app), &select("name")).await;
    let hash = db_rows(&lab.sql_kind, &lab.db(app), &select("password")).await;
    assert_eq!(name.len(), 1, "one users row for {email}");
    (name[0].clone(), hash[0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_data_maintenance_and_the_admin_password_reach_the_lab() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 2, "mariadb").await;
    let demo_rows = || async {
        db_rows(
            &lab.sql_kind,
            &lab.db(&app),
            "SELECT COUNT(*) FROM demo_records",
        )
        .await[0]
            .clone()
    };

    // Demo data: the seeder, then its inverse, as artisan runs them in the lab.
    let log = ok_op(
        &app,
        start(&app, &format!("/clients/{}/demo_enable", lab.id)).await,
    )
    .await;
    assert!(log.iter().any(|l| l.contains("DemoSeeder")), "{log:#?}");
    assert_eq!(demo_rows().await, "3");
    let log = ok_op(
        &app,
        start(&app, &format!("/clients/{}/demo_disable", lab.id)).await,
    )
    .await;
    assert!(
        log.iter().any(|l| l.contains("DemoInverseSeeder")),
        "{log:#?}"
    );
    assert_eq!(demo_rows().await, "0");

    // Maintenance: the lab's users get the page with 503, the probe's /up does not.
    let reply = app
        .get(&format!("/clients/{}/maintain/2", lab.id))
        .await
        .expect(422);
    assert!(!reply.field_problems("flag").is_empty());
    ok_op(
        &app,
        start(&app, &format!("/clients/{}/maintain/1", lab.id)).await,
    )
    .await;
    let page = super::creation::https_get(&lab.host, &lab.fqdn, "/").await;
    assert_eq!(page.status(), 503);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Центральная лаборатория") && text.contains("Maintenance in progress"),
        "the maintenance page with the lab's name: {text}"
    );
    let up = super::creation::https_get(&lab.host, &lab.fqdn, "/up").await;
    assert_eq!(up.status(), 200);
    assert_eq!(setting(&app, &lab, "maintenance").await, "1");
    ok_op(
        &app,
        start(&app, &format!("/clients/{}/maintain/0", lab.id)).await,
    )
    .await;
    let app_page = super::creation::https_get(&lab.host, &lab.fqdn, "/").await;
    assert_eq!(app_page.status(), 200);
    assert_eq!(setting(&app, &lab, "maintenance").await, "0");

    // The admin password: one rule, confirmed, then in the lab's users table.
    let path = format!("/clients/{}/admin_password", lab.id);
    let reply = app
        .post(
            &path,
            form(&[
                ("password", "New-admin-pass-1"),
                ("confirm_password", "Other-pass-22"),
            ]),
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("confirm_password").is_empty());
    let reply = app
        .post(
            &path,
            form(&[("password", "short"), ("confirm_password", "short")]),
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("password").is_empty());
    let password = "New-admin-pass-1";
    app.secret(password);
    let reply = app
        .post(
            &path,
            form(&[("password", password), ("confirm_password", password)]),
        )
        .await
        .expect(202)
        .json();
    let op = reply["operation_id"].as_i64().unwrap();
    let log = ok_op(&app, op).await;
    assert!(!log.iter().any(|l| l.contains(password)), "{log:#?}");
    let email = format!("admin@{}.example", lab.subdomain);
    let (_, hash) = admin_row(&app, &lab, &email).await;
    assert!(hash.starts_with("$2y$"), "{hash}");
    assert!(
        bcrypt::verify(password, &hash).unwrap(),
        "the lab's hash verifies the new password"
    );
    let view = app
        .get(&format!("/clients/{}", lab.id))
        .await
        .expect(200)
        .json();
    assert_eq!(view["password_set"], true);
}
