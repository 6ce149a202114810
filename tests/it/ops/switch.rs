//! The safe switch of a lab to another image version, over real SSH on the test hosts:
//! `GET /clients/{id}/switch/{image_name}` (the lab's own `update_to` is in update_to.rs). Each outcome checked where a user would see
//! it: the compose file, the project the stand-in runs, the page through nginx, the lab's
//! database, the dump on the server, the client's record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::lifecycle::{Lab, active_lab, db_rows};
use super::*;
use crate::support::Body;

/// The migrations table of the lab's database.
async fn migrations(app: &TestApp, lab: &Lab) -> Vec<String> {
    db_rows(
        &lab.sql_kind,
        &lab.db(app),
        "SELECT migration FROM migrations ORDER BY migration",
    )
    .await
}

/// The `version` the lab's own `cloud_settings` holds.
async fn lab_version(app: &TestApp, lab: &Lab) -> Vec<String> {
    let sql = if lab.sql_kind == "mariadb" {
        "SELECT `value` FROM cloud_settings WHERE `key` = 'version'"
    } else {
        "SELECT value FROM cloud_settings WHERE key = 'version'"
    };
    db_rows(&lab.sql_kind, &lab.db(app), sql).await
}

/// The image the stand-in's project of the lab runs, as `docker compose ps` says.
pub(super) fn running_image(lab: &Lab) -> String {
    testbed::testbed(&[
        "ssh",
        &lab.host.name,
        "docker",
        "compose",
        "-p",
        &format!("alfa_{}", lab.subdomain),
        "ps",
        "--format",
        "{{.Image}}",
    ])
    .trim()
    .to_owned()
}

fn compose_file(lab: &Lab) -> String {
    let path = Path::new(&lab.host.base_dir).join(format!(
        "docker/clients/{}/docker-compose.yml",
        lab.subdomain
    ));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dumps under the lab's backups folder (`backups/c{id}`: test apps number their clients
/// from 1, so a host's folder holds earlier runs' dumps too — compare before and after).
fn dumps(lab: &Lab) -> Vec<PathBuf> {
    let dir = Path::new(&lab.host.base_dir).join(format!("backups/c{}", lab.id));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".sql.gz"))
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The lab serves through nginx, and its page names `image`.
pub(super) async fn serves(lab: &Lab, image: &str) {
    let up = super::creation::https_get(&lab.host, &lab.fqdn, "/up").await;
    assert_eq!(up.status(), 200, "/up through nginx");
    let page = super::creation::https_get(&lab.host, &lab.fqdn, "/")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(image), "the page names {image}: {page}");
}

pub(super) async fn version_tag(app: &TestApp, lab: &Lab) -> Value {
    app.get(&format!("/clients/{}", lab.id))
        .await
        .expect(200)
        .json()["version_tag"]
        .clone()
}

/// Takes the lab off its host (container, vhost, certificate, folder, database), so the fake
/// apps of finished tests do not hold the hosts' ports.
pub(super) async fn remove(app: &TestApp, lab: &Lab) {
    let reply = app
        .call(
            Method::DELETE,
            &format!("/clients/{}?drop_database=1", lab.id),
            Body::None,
        )
        .await
        .expect(202)
        .json();
    let op = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(app, op, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(app, op).await);
}

/// Runs a switch to `version`; returns the ended operation and its log.
async fn switch(app: &TestApp, lab: &Lab, version: &str) -> (Value, Vec<String>) {
    let op = start(app, &format!("/clients/{}/switch/{version}", lab.id)).await;
    let done = wait_op(app, op, Duration::from_secs(120)).await;
    (done, log_text(app, op).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_runs_the_new_image_migrated_and_a_missing_image_changes_nothing() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 5, "mariadb").await;
    assert_eq!(running_image(&lab), "alfa-lims:1.0-master");
    let earlier = dumps(&lab);

    let (done, log) = switch(&app, &lab, "1.1-dev").await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    for step in ["image", "dump", "switch", "migrate", "version", "probe"] {
        assert!(
            log.contains(&format!("step: {step}")),
            "step {step}: {log:#?}"
        );
    }
    assert!(compose_file(&lab).contains("image: \"alfa-lims:1.1-dev\""));
    assert_eq!(running_image(&lab), "alfa-lims:1.1-dev");
    serves(&lab, "alfa-lims:1.1-dev").await;
    let applied = migrations(&app, &lab).await;
    assert!(
        applied.contains(&"9999_version_1.1-dev".to_owned()),
        "the new version's migration ran: {applied:?} {log:#?}"
    );
    assert_eq!(lab_version(&app, &lab).await, ["1.1-dev"]);
    let made = dumps(&lab);
    let new: Vec<_> = made.iter().filter(|d| !earlier.contains(d)).collect();
    assert_eq!(new.len(), 1, "one dump: {made:?}");
    assert_eq!(
        done["result"]["dump"]["path"].as_str().unwrap(),
        new[0].to_string_lossy()
    );
    assert_eq!(version_tag(&app, &lab).await, "1.1-dev");

    // An image the server does not have: an error naming the ones it has, before anything
    // changed (no dump, the compose file and the record as they were).
    let (done, log) = switch(&app, &lab, "9.9-absent").await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("alfa-lims:9.9-absent is not on server")
            && error.contains("1.0-master")
            && error.contains("1.1-dev")
            && error.contains("nothing was changed"),
        "{error}"
    );
    assert_eq!(dumps(&lab), made, "no new dump");
    assert!(compose_file(&lab).contains("image: \"alfa-lims:1.1-dev\""));
    assert_eq!(running_image(&lab), "alfa-lims:1.1-dev");
    assert_eq!(version_tag(&app, &lab).await, "1.1-dev");

    // A name that is no version tag is refused at the door.
    let reply = app
        .get(&format!("/clients/{}/switch/-bad", lab.id))
        .await
        .expect(422);
    assert!(!reply.field_problems("image_name").is_empty());
    remove(&app, &lab).await;
}

/// A migrate that changes the database and then fails: the lab is put back on its image with
/// its database as it was, and the operation says so.
async fn rollback_after_a_failing_migrate(app: &TestApp, lab: &Lab) {
    let before = migrations(app, lab).await;
    assert!(!before.contains(&"9999_version_1.1-dev".to_owned()));
    let earlier = dumps(lab);
    let rule = json!({
        "match": "exec app php artisan migrate",
        "regex": format!("alfa_{}( |$)", lab.subdomain),
        "after": true,
        "times": 1,
        "exit": 1,
        "stderr": "SQLSTATE[42S01]: the new version's migration broke halfway",
    });
    lab.host.add_faults("fail", rule.clone());
    let (done, log) = switch(app, lab, "1.1-dev").await;
    lab.host.remove_faults("fail", &rule);

    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    // The switch's own dump: new, and named in the error (other tests' apps share the host
    // and number their clients from 1 too, so their dumps may land in the same folder).
    let dump: Vec<_> = dumps(lab)
        .into_iter()
        .filter(|d| !earlier.contains(d) && error.contains(&*d.to_string_lossy()))
        .collect();
    assert_eq!(dump.len(), 1, "{dump:?} {error}");
    assert!(
        error.contains("rolled back to 1.0-master")
            && error.contains(&*dump[0].to_string_lossy())
            && error.contains("failed at step migrate"),
        "the error names the step, the rollback and the dump: {error}"
    );
    assert!(
        log.iter().any(|l| l.contains("broke halfway")),
        "artisan's own error is in the log: {log:#?}"
    );
    assert!(log.contains(&"step: rollback".to_owned()), "{log:#?}");
    assert!(compose_file(lab).contains("image: \"alfa-lims:1.0-master\""));
    assert_eq!(running_image(lab), "alfa-lims:1.0-master");
    serves(lab, "alfa-lims:1.0-master").await;
    assert_eq!(
        migrations(app, lab).await,
        before,
        "the database is as it was before the switch"
    );
    assert_eq!(lab_version(app, lab).await, ["1.0-master"]);
    assert_eq!(version_tag(app, lab).await, "1.0-master");
    remove(app, lab).await;
}

/// The new image answers its container's readiness check but not through nginx: the probe,
/// the switch's last step, fails after migrate changed the database, so the rollback puts the
/// old image back and restores the dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_probe_after_migrate_rolls_back_the_image_and_restores_the_database() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 4, "mariadb").await;
    let before = migrations(&app, &lab).await;
    let earlier = dumps(&lab);
    let rule = json!({
        "project": format!("alfa_{}", lab.subdomain),
        "image": "alfa-lims:1.1-dev",
        "via": "nginx",
    });
    lab.host.add_faults("unhealthy", rule.clone());
    let (done, log) = switch(&app, &lab, "1.1-dev").await;
    lab.host.remove_faults("unhealthy", &rule);

    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    // The switch's own dump: new, and named in the error (other tests' apps share the host
    // and number their clients from 1 too, so their dumps may land in the same folder).
    let dump: Vec<_> = dumps(&lab)
        .into_iter()
        .filter(|d| !earlier.contains(d) && error.contains(&*d.to_string_lossy()))
        .collect();
    assert_eq!(dump.len(), 1, "{dump:?} {error}");
    assert!(
        error.contains("failed at step probe")
            && error.contains("rolled back to 1.0-master")
            && error.contains("the database restored from the dump")
            && error.contains(&*dump[0].to_string_lossy()),
        "{error}"
    );
    assert!(
        log.iter().any(|l| l.contains("9999_version_1.1-dev")),
        "migrate ran before the probe failed: {log:#?}"
    );
    assert_eq!(running_image(&lab), "alfa-lims:1.0-master");
    serves(&lab, "alfa-lims:1.0-master").await;
    assert_eq!(
        migrations(&app, &lab).await,
        before,
        "the dump was restored"
    );
    assert_eq!(lab_version(&app, &lab).await, ["1.0-master"]);
    assert_eq!(version_tag(&app, &lab).await, "1.0-master");
    remove(&app, &lab).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_migrate_rolls_back_to_the_old_image_and_database() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 6, "mariadb").await;
    rollback_after_a_failing_migrate(&app, &lab).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_migrate_rolls_back_a_postgres_lab_too() {
    let app = ops_app(Backend::Postgres, true).await;
    let lab = active_lab(&app, 7, "postgres").await;
    rollback_after_a_failing_migrate(&app, &lab).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_cancelled_while_it_migrates_is_rolled_back() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 4, "mariadb").await;
    let before = migrations(&app, &lab).await;
    let rule = json!({
        "match": "exec app php artisan migrate",
        "regex": format!("alfa_{}( |$)", lab.subdomain),
        "seconds": 30,
        "times": 1,
    });
    lab.host.add_faults("sleep", rule.clone());
    let op = start(&app, &format!("/clients/{}/switch/1.1-dev", lab.id)).await;
    eventually(Duration::from_secs(60), "the switch to migrate", || async {
        let log = log_text(&app, op).await;
        if log.iter().any(|l| l == "step: migrate") {
            Ok(())
        } else {
            Err(format!("{:?}", log.last()))
        }
    })
    .await;
    app.post(&format!("/operations/{op}/cancel"), Body::None)
        .await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    lab.host.remove_faults("sleep", &rule);
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "cancelled", "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("answers again on alfa-lims:1.0-master")),
        "the rollback ran to its end: {log:#?}"
    );
    assert_eq!(running_image(&lab), "alfa-lims:1.0-master");
    serves(&lab, "alfa-lims:1.0-master").await;
    assert_eq!(migrations(&app, &lab).await, before);
    assert_eq!(version_tag(&app, &lab).await, "1.0-master");
    remove(&app, &lab).await;
}
