//! `copy_to` and `move_to` on the test hosts (h13 and h14), each checked where a user would
//! look: the lab's database, its files and `.env` on the host, its vhost, its compose project,
//! and https through the host's nginx. The test hosts share one MariaDB, so a move between them
//! keeps the database where it is (the shared-SQL path).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::creation::https_get;
use super::lifecycle::{Lab, active_lab, db_rows, env_file, env_value, lifecycle_server};
use super::*;

/// Runs one statement in `db` as root (the test's own rows in a lab's database).
async fn root_sql(db: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::MySqlConnection::connect(&format!("mysql://root@127.0.0.1:3306/{db}"))
        .await
        .unwrap_or_else(|e| panic!("database {db}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql} in {db}: {e}"));
}

fn client_dir(host: &Host, subdomain: &str) -> PathBuf {
    Path::new(&host.base_dir).join(format!("docker/clients/{subdomain}"))
}

/// Whether the docker stand-in of `host` knows the compose project `alfa_{subdomain}`.
fn has_project(host: &Host, subdomain: &str) -> bool {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(host.dir.join("docker-state.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    state["projects"].get(format!("alfa_{subdomain}")).is_some()
}

/// Nothing of the lab under `subdomain` on `host`: folder, staging folder, vhost, project.
fn assert_nothing_on(host: &Host, subdomain: &str) {
    let base = Path::new(&host.base_dir);
    assert!(
        !client_dir(host, subdomain).exists(),
        "no folder on {}",
        host.name
    );
    assert!(
        !base
            .join(format!("docker/clients/.incoming-{subdomain}"))
            .exists(),
        "no staging folder on {}",
        host.name
    );
    assert!(
        !base.join(format!("nginx/{subdomain}.conf")).exists(),
        "no vhost on {}",
        host.name
    );
    assert!(!has_project(host, subdomain), "no project on {}", host.name);
}

async fn set_field(app: &TestApp, path: &str, fields: &[(&str, &str)]) {
    let reply = app.post(path, form(fields)).await;
    assert!(
        matches!(reply.status.as_u16(), 200 | 201),
        "{path} {fields:?}: {} {}",
        reply.status,
        reply.text
    );
}

async fn conflict(app: &TestApp, path: &str) -> String {
    let reply = app.get(path).await.expect(409).json();
    reply["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_to_is_refused_off_stage_and_on_stage_puts_the_source_rows_under_the_target_admin() {
    let app = ops_app(Backend::Sqlite, false).await;
    let (source, target) = tokio::join!(
        active_lab(&app, 3, "mariadb"),
        active_lab(&app, 4, "mariadb")
    );
    let path = format!("/clients/{}/copy_to/{}", source.id, target.id);

    // Production servers: refused, naming the rule.
    let message = conflict(&app, &path).await;
    assert!(
        message.contains("stage servers") && message.contains("production"),
        "{message}"
    );
    for lab in [&source, &target] {
        let id = lab.server.to_string();
        set_field(&app, "/servers/", &[("id", &id), ("environment", "stage")]).await;
    }
    // A TRIAL target: refused, naming the rule.
    let message = conflict(&app, &path).await;
    assert!(
        message.contains("DEMO or TEST") && message.contains("TRIAL"),
        "{message}"
    );
    let target_id = target.id.to_string();
    set_field(
        &app,
        "/clients/",
        &[("id", &target_id), ("billing_type", "TEST")],
    )
    .await;

    // The source's own data, and what the target had before.
    let marker = unique("from-source-");
    root_sql(
        &source.db(&app),
        &format!(
            "CREATE TABLE copy_probe (v VARCHAR(64)); INSERT INTO copy_probe VALUES ('{marker}')"
        ),
    )
    .await;
    let target_email = format!("admin@{}.example", target.subdomain);
    let source_email = format!("admin@{}.example", source.subdomain);
    let admin_hash = |lab: &Lab, email: &str| {
        let db = lab.db(&app);
        let sql = format!("SELECT password FROM users WHERE email = '{email}'");
        async move { db_rows("mariadb", &db, &sql).await }
    };
    let target_hash = admin_hash(&target, &target_email).await;
    assert_eq!(target_hash.len(), 1);

    let op = start(&app, &path).await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "ok", "{log:#?}");

    let tdb = target.db(&app);
    assert_eq!(
        db_rows("mariadb", &tdb, "SELECT v FROM copy_probe").await,
        vec![marker],
        "the target's database holds the source's rows"
    );
    assert_eq!(
        admin_hash(&target, &target_email).await,
        target_hash,
        "the target's administrator keeps its own password hash"
    );
    assert!(
        admin_hash(&target, &source_email).await.is_empty(),
        "the source's administrator row became the target's"
    );
    assert_eq!(
        db_rows(
            "mariadb",
            &tdb,
            "SELECT `value` FROM cloud_settings WHERE `key` = 'admin_email'"
        )
        .await,
        vec![target_email.clone()],
        "the target's own settings are back"
    );
    // The source is untouched; the target was restarted and answers through nginx.
    assert_eq!(admin_hash(&source, &source_email).await.len(), 1);
    assert!(
        !target
            .host
            .calls_matching(&format!("compose alfa_{} restart", target.subdomain))
            .is_empty(),
        "the target was restarted"
    );
    let page = https_get(&target.host, &target.fqdn, "/").await;
    assert_eq!(page.status(), 200);
    assert!(log.iter().any(|l| l.contains("transfer")), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn move_to_another_test_host_takes_the_lab_there_under_the_new_domain() {
    let app = ops_app(Backend::Sqlite, false).await;
    let beds = testbed::get();
    let (to_host, from_host) = (beds.host(3), beds.host(4));
    let (lab, target) = tokio::join!(
        active_lab(&app, 4, "mariadb"),
        lifecycle_server(&app, to_host, "mariadb")
    );
    // A file the lab keeps in public/, and a row in its database.
    let folder = client_dir(from_host, &lab.subdomain);
    let upload = folder.join("public/uploads/report.txt");
    std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
    std::fs::write(&upload, "протокол 42\n").unwrap();
    // The app's files belong to the deploy user, as the folder does (the test runs as root).
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&folder).unwrap());
    let group = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&folder).unwrap());
    for path in [upload.parent().unwrap(), upload.as_path()] {
        std::os::unix::fs::chown(path, Some(owner), Some(group)).unwrap();
    }
    let marker = unique("row-");
    root_sql(
        &lab.db(&app),
        &format!(
            "CREATE TABLE move_probe (v VARCHAR(64)); INSERT INTO move_probe VALUES ('{marker}')"
        ),
    )
    .await;

    let op = start(&app, &format!("/clients/{}/move_to/{target}", lab.id)).await;
    let done = wait_op(&app, op, Duration::from_secs(180)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "ok", "{log:#?}");

    let view = app
        .get(&format!("/clients/{}", lab.id))
        .await
        .expect(200)
        .json();
    let domain = app.get(&format!("/servers/{target}")).await.json()["domain"]
        .as_str()
        .unwrap()
        .to_owned();
    let fqdn = format!("{}.{domain}", lab.subdomain);
    assert_eq!(view["server_id"], target);
    assert_eq!(view["url"], format!("https://{fqdn}"));
    assert_eq!(view["state"], "active");
    // On the target: .env for the new name, the lab's file, no maintenance flag.
    let env = env_file(to_host, &lab.subdomain);
    assert!(env_value(&env, "APP_URL").contains(&fqdn), "{env:?}");
    let dir = client_dir(to_host, &lab.subdomain);
    assert_eq!(
        std::fs::read_to_string(dir.join("public/uploads/report.txt")).unwrap(),
        "протокол 42\n"
    );
    assert!(!dir.join("maintenance.on").exists());
    // Its database stayed where it was (one MariaDB behind both hosts), with its rows.
    assert_eq!(
        db_rows("mariadb", &lab.db(&app), "SELECT v FROM move_probe").await,
        vec![marker]
    );
    // It answers through the target's nginx at the new name, from the target's app.
    let page = https_get(to_host, &fqdn, "/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(&format!("host {}", to_host.name))
    );
    // Nothing is left on the source.
    assert_nothing_on(from_host, &lab.subdomain);
    for needle in ["shares server", "the lab's name changed", "now on server"] {
        assert!(log.iter().any(|l| l.contains(needle)), "{needle}: {log:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_that_fails_on_the_target_leaves_the_lab_serving_on_its_source() {
    let app = ops_app(Backend::Sqlite, false).await;
    let beds = testbed::get();
    let (to_host, from_host) = (beds.host(3), beds.host(4));
    let (lab, target, other_kind) = tokio::join!(
        active_lab(&app, 4, "mariadb"),
        lifecycle_server(&app, to_host, "mariadb"),
        lifecycle_server(&app, to_host, "postgres")
    );
    let message = conflict(&app, &format!("/clients/{}/move_to/{other_kind}", lab.id)).await;
    assert!(message.contains("sql_kind"), "{message}");
    let message = conflict(&app, &format!("/clients/{}/move_to/{}", lab.id, lab.server)).await;
    assert!(message.contains("already on server"), "{message}");

    // `compose up` of this lab's project fails on the target host.
    let rule = json!({
        "match": "compose up",
        "regex": format!("alfa_{}( |$)", lab.subdomain),
        "exit": 1,
        "stderr": "Error response from daemon: driver failed programming external connectivity",
    });
    to_host.add_faults("fail", rule.clone());
    let op = start(&app, &format!("/clients/{}/move_to/{target}", lab.id)).await;
    let done = wait_op(&app, op, Duration::from_secs(180)).await;
    to_host.remove_faults("fail", &rule);
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "error", "{log:#?}");
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("container_up.sh"),
        "{done:#?}"
    );
    assert!(log.iter().any(|l| l.contains("undone")), "{log:#?}");

    let view = app
        .get(&format!("/clients/{}", lab.id))
        .await
        .expect(200)
        .json();
    assert_eq!(
        view["server_id"], lab.server,
        "server_id changes only on success"
    );
    assert_eq!(view["state"], "active");
    // The source serves again, out of maintenance, with its database intact.
    assert!(
        !client_dir(from_host, &lab.subdomain)
            .join("maintenance.on")
            .exists()
    );
    let page = https_get(from_host, &lab.fqdn, "/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(&format!("host {}", from_host.name))
    );
    assert_eq!(
        db_rows(
            "mariadb",
            &lab.db(&app),
            &format!(
                "SELECT email FROM users WHERE email = 'admin@{}.example'",
                lab.subdomain
            )
        )
        .await
        .len(),
        1,
        "the shared database was not dropped by the undo"
    );
    // Nothing is left on the target.
    assert_nothing_on(to_host, &lab.subdomain);

    // A move cancelled while the target's container starts is undone the same way.
    let rule = json!({
        "match": "compose up",
        "regex": format!("alfa_{}( |$)", lab.subdomain),
    });
    to_host.add_faults("hang", rule.clone());
    let op = start(&app, &format!("/clients/{}/move_to/{target}", lab.id)).await;
    eventually(
        Duration::from_secs(120),
        "the move to reach compose up",
        || async {
            let hung = to_host.calls_matching("compose up").iter().any(|c| {
                c["fault"] == "hang"
                    && testbed::argv(c).contains(&format!("alfa_{}", lab.subdomain))
            });
            if hung {
                Ok(())
            } else {
                // What the move is doing, for a failure's message.
                let log = log_text(&app, op).await;
                Err(format!(
                    "not yet; its log ends {:?}",
                    &log[log.len().saturating_sub(6)..]
                ))
            }
        },
    )
    .await;
    to_host.remove_faults("hang", &rule);
    app.post(&format!("/operations/{op}/cancel"), support::Body::None)
        .await
        .expect(202);
    let done = wait_op(&app, op, Duration::from_secs(180)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "cancelled", "{log:#?}");
    assert!(log.iter().any(|l| l.contains("undone")), "{log:#?}");
    assert!(
        !client_dir(from_host, &lab.subdomain)
            .join("maintenance.on")
            .exists(),
        "a cancelled move ends the source's maintenance: {log:#?}"
    );
    assert_eq!(https_get(from_host, &lab.fqdn, "/").await.status(), 200);
    assert_nothing_on(to_host, &lab.subdomain);
}
