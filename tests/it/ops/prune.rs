//! prune on host 11 (h21, this test's alone: a prune removes images other tests' labs would
//! use), under an image repository of its own so that what earlier runs left there does not
//! count: the images nothing uses are removed but the newest `ALFA_KEEP_IMAGES`, every image a
//! client's record, a container (running or stopped) or a compose file names stays, a stopped
//! lab starts again afterwards, docker is never asked for `-a`, `--volumes` or `system prune`,
//! a dry run removes nothing and a second prune removes nothing more.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::creation::https_get;
use super::lifecycle::*;
use super::*;

/// This test's host: h21.
const HOST: usize = 11;

/// The prune tests one at a time: one's prune would remove the other's dangling image and
/// run commands the other counts.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn prune_app(repo: &str) -> TestApp {
    let mut env = fast_env();
    env.push(("ALFA_IMAGE_REPO".into(), repo.into()));
    env.push(("ALFA_KEEP_IMAGES".into(), "1".into()));
    TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis: true,
            worker: true,
            env,
            kinds: None,
        },
    )
    .await
}

/// A lab on `version`, created end to end; the creation must end `ok`.
async fn lab_on(app: &TestApp, server: i64, host: &Host, version: &str) -> Lab {
    let sub = unique("pr");
    let mut fields = lab_fields(server, &sub);
    for (k, v) in &mut fields {
        if k == "version_tag" {
            *v = version.to_owned();
        }
    }
    let (id, op) = post_lab(app, &fields).await;
    let done = wait_op(app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(app, op).await);
    let view = app.get(&format!("/clients/{id}")).await.expect(200).json();
    Lab {
        server,
        id,
        subdomain: sub,
        fqdn: view["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("https://")
            .to_owned(),
        host: host.clone(),
        sql_kind: "mariadb".into(),
    }
}

/// `docker compose -p alfa_SUB stop`, through sudo as the product runs docker.
fn stop(lab: &Lab) {
    let file = format!(
        "{}/docker/clients/{}/docker-compose.yml",
        lab.host.base_dir, lab.subdomain
    );
    let docker = lab.host.dir.join("bin/docker").display().to_string();
    let project = format!("alfa_{}", lab.subdomain);
    testbed::testbed(&[
        "ssh",
        &lab.host.name,
        "sudo",
        "-n",
        &docker,
        "compose",
        "-p",
        &project,
        "-f",
        &file,
        "stop",
    ]);
}

fn tags_of(host: &Host, repo: &str) -> BTreeSet<String> {
    host.images()
        .into_iter()
        .filter_map(|(r, _)| r.strip_prefix(&format!("{repo}:")).map(str::to_owned))
        .collect()
}

/// The `why` of the plan's line for `tag`.
fn why(result: &Value, tag: &str) -> String {
    result["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"].as_array().unwrap().iter().any(|t| t == tag))
        .unwrap_or_else(|| panic!("{tag} in the plan: {result}"))["why"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn set(tags: &[&str]) -> BTreeSet<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

async fn finished(app: &TestApp, op: i64) -> Value {
    let done = wait_op(app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(app, op).await);
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prune_removes_only_old_unused_images_keeps_every_used_one_and_a_stopped_lab_starts_again()
{
    let _alone = ONE_AT_A_TIME.lock().await;
    let repo = unique("alfa-prune-");
    let app = prune_app(&repo).await;
    let host = testbed::get().host(HOST);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let image = |tag: &str| format!("{repo}:{tag}");

    // t1 (7 days old) … t7 (1 day old); tmp, seeded apart, then re-tagged onto t7's image:
    // its own image is left dangling, and t7 has two tags.
    let seeded: Vec<String> = (1..=7).map(|i| image(&format!("t{i}"))).collect();
    host.seed_images(&seeded.iter().map(String::as_str).collect::<Vec<_>>());
    host.seed_images(&[&image("tmp")]);
    let dangling = host
        .images()
        .into_iter()
        .find(|(r, _)| *r == image("tmp"))
        .unwrap()
        .1;
    testbed::testbed(&[
        "ssh",
        &host.name,
        "docker",
        "tag",
        &image("t7"),
        &image("tmp"),
    ]);

    // t2: a running lab; t4: a stopped lab; t6: a client whose creation failed (no container,
    // no folder: only the record names it); t5: a compose file of a project nobody recorded.
    let (a, b) = tokio::join!(
        lab_on(&app, server, host, "t2"),
        lab_on(&app, server, host, "t4")
    );
    let failed_sub = unique("pr");
    let rule = json!({
        "match": "compose up",
        "regex": format!("alfa_{failed_sub}( |$)"),
        "exit": 1,
        "stderr": "the prune test's creation fails here",
    });
    host.add_faults("fail", rule.clone());
    let mut fields = lab_fields(server, &failed_sub);
    for (k, v) in &mut fields {
        if k == "version_tag" {
            *v = "t6".into();
        }
    }
    let (failed, op) = post_lab(&app, &fields).await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    host.remove_faults("fail", &rule);
    assert_eq!(done["status"], "error");
    let view = app
        .get(&format!("/clients/{failed}"))
        .await
        .expect(200)
        .json();
    assert_eq!(view["state"], "error", "{view}");
    stop(&b);
    let foreign = std::path::Path::new(&host.base_dir)
        .join("docker/clients")
        .join(unique("hand"));
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(
        foreign.join("docker-compose.yml"),
        format!(
            "services:\n  app:\n    image: '{}'  # made by hand\n",
            image("t5")
        ),
    )
    .unwrap();
    let all = set(&["t1", "t2", "t3", "t4", "t5", "t6", "t7", "tmp"]);
    assert_eq!(tags_of(host, &repo), all);
    let others: BTreeSet<(String, String)> = host
        .images()
        .into_iter()
        .filter(|(r, _)| r.starts_with("alfa-lims:"))
        .collect();
    let calls_before = host.calls().len();

    // A dry run: the plan, nothing removed, no removing command run.
    let op = start(&app, &format!("/containers/{server}/prune?dry_run=1")).await;
    let result = finished(&app, op).await["result"].clone();
    assert_eq!(result["dry_run"], true);
    let would: Vec<&str> = result["would_remove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect();
    assert_eq!(would, ["t3", "t1"], "newest first: {result}");
    assert!(
        result["dangling"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| dangling[7..].starts_with(d["id"].as_str().unwrap())),
        "the dangling image: {result}"
    );
    assert_eq!(tags_of(host, &repo), all, "a dry run removes nothing");
    let removing = |c: &Value| {
        let argv = testbed::argv(c);
        argv.contains(" rmi ") || argv.contains(" prune")
    };
    assert!(
        !host.calls()[calls_before..].iter().any(removing),
        "a dry run runs no rmi and no prune"
    );

    // The prune, by POST with the setting as form-data.
    let reply = app
        .post(
            &format!("/containers/{server}/prune"),
            form(&[("dry_run", "0")]),
        )
        .await
        .expect(202)
        .json();
    let op = reply["operation_id"].as_i64().unwrap();
    let result = finished(&app, op).await["result"].clone();
    assert_eq!(result["dry_run"], false);
    let removed: BTreeSet<&str> = result["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["deleted"], true, "{r}");
            r["tag"].as_str().unwrap()
        })
        .collect();
    assert_eq!(removed, BTreeSet::from(["t1", "t3"]), "{result}");
    assert_eq!(
        tags_of(host, &repo),
        set(&["t2", "t4", "t5", "t6", "t7", "tmp"]),
        "every image in use and the newest unused one stay"
    );
    assert!(
        !host.images().iter().any(|(_, id)| *id == dangling),
        "the dangling image is gone"
    );
    let still: BTreeSet<(String, String)> = host
        .images()
        .into_iter()
        .filter(|(r, _)| r.starts_with("alfa-lims:"))
        .collect();
    assert_eq!(still, others, "other repositories' images are untouched");
    assert!(result["bytes_freed"].as_u64().unwrap() > 0, "{result}");
    assert!(result["space_freed"].as_str().unwrap().ends_with('B'));
    assert!(
        result["dangling"]["items"].as_u64().unwrap() >= 1,
        "{result}"
    );
    assert!(result["build_cache"]["space"].is_string(), "{result}");
    let t2 = why(&result, "t2");
    assert!(
        t2.contains("client records") && t2.contains(&format!("alfa_{}", a.subdomain)),
        "{t2}"
    );
    assert!(why(&result, "t4").contains("(exited)"), "{result}");
    assert!(why(&result, "t5").contains("compose file"), "{result}");
    assert!(why(&result, "t6").contains("client records"), "{result}");
    assert!(why(&result, "t7").contains("newest unused"), "{result}");
    let log = log_text(&app, op).await.join("\n");
    assert!(log.contains("Total reclaimed space"), "{log}");

    // Never -a, --volumes, system prune or a forced rmi.
    for call in host.calls() {
        let argv = testbed::argv(&call);
        if removing(&call) {
            for word in argv.split(' ') {
                assert!(
                    !["-a", "--all", "--volumes", "-f", "--force=false", "system"].contains(&word),
                    "{argv}"
                );
            }
        }
    }
    assert!(!host.calls_matching("docker image prune --force").is_empty());
    assert!(
        !host
            .calls_matching("docker builder prune --force")
            .is_empty()
    );

    // Again: nothing more to remove, nothing fails.
    let op = start(&app, &format!("/containers/{server}/prune")).await;
    let result = finished(&app, op).await["result"].clone();
    assert_eq!(result["removed"], json!([]), "{result}");
    assert_eq!(
        tags_of(host, &repo),
        set(&["t2", "t4", "t5", "t6", "t7", "tmp"])
    );

    // A dry run by POST with JSON: nothing left to remove.
    let reply = app
        .post(
            &format!("/containers/{server}/prune"),
            support::Body::Json(json!({ "dry_run": true })),
        )
        .await
        .expect(202)
        .json();
    let result = finished(&app, reply["operation_id"].as_i64().unwrap()).await["result"].clone();
    assert_eq!(
        (&result["dry_run"], &result["would_remove"]),
        (&json!(true), &json!([])),
        "{result}"
    );

    // The stopped lab starts again, and both labs answer through nginx.
    let op = start(&app, &format!("/clients/{}/reboot", b.id)).await;
    finished(&app, op).await;
    for lab in [&a, &b] {
        let reply = https_get(host, &lab.fqdn, "/up").await;
        assert_eq!(reply.status(), 200, "{} through nginx", lab.subdomain);
    }

    // Bad requests.
    app.get(&format!("/containers/{server}/prune?dry_run=maybe"))
        .await
        .expect(422)
        .field_problems("dry_run");
    app.get("/containers/999999/prune").await.expect(404);
    std::fs::remove_dir_all(&foreign).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_docker_fails_to_remove_fails_the_prune_naming_it_and_the_next_prune_removes_it() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let repo = unique("alfa-prune-");
    let app = prune_app(&repo).await;
    let host = testbed::get().host(HOST);
    let server = register(&app, host).await;
    let image = |tag: &str| format!("{repo}:{tag}");
    host.seed_images(&[&image("t1"), &image("t2"), &image("t3")]);
    let rule = json!({
        "match": "docker rmi",
        "regex": format!("{repo}:t1$"),
        "exit": 1,
        "stderr": "Error response from daemon: write /var/lib/docker/image: no space left on device",
    });
    host.add_faults("fail", rule.clone());
    let op = start(&app, &format!("/containers/{server}/prune")).await;
    let done = wait_op(&app, op, Duration::from_secs(60)).await;
    host.remove_faults("fail", &rule);
    assert_eq!(done["status"], "error", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&image("t1"))
            && error.contains("no space left on device")
            && error.contains("prune again"),
        "{error}"
    );
    assert_eq!(
        tags_of(host, &repo),
        set(&["t1", "t3"]),
        "t2 removed all the same, t3 the newest unused kept"
    );
    assert!(
        !host
            .calls_matching("docker builder prune --force")
            .is_empty(),
        "the other steps ran"
    );

    let op = start(&app, &format!("/containers/{server}/prune")).await;
    let result = finished(&app, op).await["result"].clone();
    assert_eq!(result["removed"][0]["tag"], "t1", "{result}");
    assert_eq!(tags_of(host, &repo), set(&["t3"]));
}
