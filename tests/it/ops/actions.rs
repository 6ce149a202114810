//! Per-client actions on active labs, over real SSH: each checked where a user would see it.

use std::time::Duration;

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
    for path in ["migrate", "reboot"] {
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
}
