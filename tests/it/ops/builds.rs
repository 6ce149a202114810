//! Image builds on the test hosts (h19, h20): a real git origin and clone, real composer and
//! npm, the docker stand-in recording the build; build_dev and build_master with and without a
//! version, the labs' files left alone, a tag never built twice; build_master_for_all over two
//! servers and one that is down, the version's row in every lab's database.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::lifecycle::*;
use super::*;
use crate::support::gitrepo::make_origin;

/// The tests here share hosts 9 and 10 (one build at a time per host folder).
static HOSTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A major version above any an earlier run left on the hosts (the clock's seconds), so the
/// next version computed from the server's images is known.
fn fresh_major() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The tags of `repo` in the docker stand-in's state on `host`.
fn image_tags(host: &Host, repo: &str) -> Vec<String> {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(host.dir.join("docker-state.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    state["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["repo"] == repo)
        .filter_map(|i| i["tag"].as_str().map(str::to_owned))
        .collect()
}

/// The `docker build` calls recorded on `host` for `image`.
fn build_calls(host: &Host, image: &str) -> Vec<Vec<String>> {
    host.calls_matching(&format!("docker build -t {image}"))
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn tags_of(host: &Host) -> Vec<String> {
    image_tags(host, "alfa-lims")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs one build through `path` (GET or POST); returns the ended operation and its log.
async fn build(app: &TestApp, post: bool, path: &str) -> (Value, Vec<String>) {
    let reply = if post {
        app.post(path, support::Body::None).await
    } else {
        app.get(path).await
    };
    let id = reply.expect(202).json()["operation_id"].as_i64().unwrap();
    let done = wait_op(app, id, Duration::from_secs(120)).await;
    (done, log_text(app, id).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn builds_take_their_branch_into_an_image_leave_the_labs_alone_and_never_build_a_tag_twice() {
    let _hosts = HOSTS.lock().await;
    let app = ops_app(Backend::Sqlite, false).await;
    let host = testbed::get().host(10);
    let server = register(&app, host).await;
    let origin = make_origin(host, &unique("builds-"));
    let base = Path::new(&host.base_dir);
    let docker = base.join("docker");
    let marker = docker.join(format!("clients/{}/keep.txt", unique("lab")));
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "the lab's own file").unwrap();
    let major = fresh_major();

    // build_master with a version (POST, as SPEC spells build_dev): the suffix appended, the
    // branch's code built into docker/ and the image.
    let (done, log) = build(
        &app,
        true,
        &format!("/containers/{server}/build_master/{major}.0.7"),
    )
    .await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    let master = format!("{major}.0.7-master");
    assert_eq!(done["result"]["version"], master.as_str(), "{done}");
    assert_eq!(done["result"]["built"], true);
    let image = format!("alfa-lims:{master}");
    let calls = build_calls(host, &image);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0].last().map(String::as_str),
        Some(docker.to_str().unwrap()),
        "built from {{base_dir}}/docker: {calls:?}"
    );
    assert!(image_tags(host, "alfa-lims").contains(&master));
    assert_eq!(read(&docker.join("BRANCH.txt")).trim(), "master");
    assert_eq!(
        read(&docker.join("public/build/app.js")).trim(),
        "console.log(\"lims-test master\");"
    );
    assert!(docker.join("vendor/autoload.php").is_file(), "composer ran");
    assert!(!docker.join(".git").exists(), "no .git in docker/");
    assert!(!docker.join("node_modules").exists());
    assert!(!docker.join("dev-only.txt").exists());
    assert_eq!(read(&marker), "the lab's own file");
    for expected in [
        "step: git",
        "step: composer",
        "out: front end of master built: public/build/app.js",
        &format!("out: #7 naming to docker.io/library/{image} done"),
    ] {
        assert!(log.iter().any(|l| l == expected), "{expected}: {log:#?}");
    }
    // The images endpoint lists it.
    let images = start(&app, &format!("/servers/{server}/images")).await;
    let images = wait_op(&app, images, Duration::from_secs(30)).await;
    assert!(
        images["result"]["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["tag"] == master.as_str()),
        "{images}"
    );

    // build_dev (GET): dev's code, not master's.
    let (done, log) = build(
        &app,
        false,
        &format!("/containers/{server}/build_dev/{major}.0.7"),
    )
    .await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["result"]["version"], format!("{major}.0.7-dev"));
    assert_eq!(read(&docker.join("BRANCH.txt")).trim(), "dev");
    assert!(docker.join("dev-only.txt").is_file());
    assert_eq!(
        read(&docker.join("public/build/app.js")).trim(),
        "console.log(\"lims-test dev\");"
    );
    assert_eq!(read(&marker), "the lab's own file");

    // Without a version: the next patch after the highest master version on the server.
    let (done, log) = build(&app, true, &format!("/containers/{server}/build_master")).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["result"]["version"], format!("{major}.0.8-master"));
    assert_eq!(read(&docker.join("BRANCH.txt")).trim(), "master");
    assert!(!docker.join("dev-only.txt").exists());

    // dev's front end broken by a new commit: the build stops at that step, naming it, what
    // npm said and what to fix; docker/ keeps the last build's files.
    origin.commit(
        "dev",
        "build.js",
        "console.error('Module not found: ./resources/js/app.js'); process.exit(1);",
    );
    let (done, log) = build(&app, true, &format!("/containers/{server}/build_dev")).await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "npm run build in {}/www failed (exit 1)",
            host.base_dir
        )) && error.contains("fix the front end of dev"),
        "{error}"
    );
    assert!(
        log.iter()
            .any(|l| l == "out: Module not found: ./resources/js/app.js"),
        "{log:#?}"
    );
    assert_eq!(read(&docker.join("BRANCH.txt")).trim(), "master");
    assert!(!tags_of(host).contains(&format!("{major}.0.8-dev")));

    // The same tag again: refused, nothing rebuilt.
    let (done, log) = build(
        &app,
        false,
        &format!("/containers/{server}/build_master/{master}"),
    )
    .await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("{image} already exists"))
            && error.contains(&format!("{major}.0.9-master")),
        "{error}"
    );
    assert_eq!(build_calls(host, &image).len(), 1);

    // No clone in {base_dir}/git: the error names the folder and what to do.
    let git = base.join("git");
    let aside = base.join("git.aside");
    std::fs::rename(&git, &aside).unwrap();
    std::fs::create_dir(&git).unwrap();
    let (done, log) = build(&app, false, &format!("/containers/{server}/build_dev")).await;
    std::fs::remove_dir(&git).unwrap();
    std::fs::rename(&aside, &git).unwrap();
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("{} is not a git clone", git.display()))
            && error.contains("git clone"),
        "{error}"
    );

    // Bad requests.
    for bad in ["1.3-dev", "a%20b", "1.3;x"] {
        let reply = app
            .get(&format!("/containers/{server}/build_master/{bad}"))
            .await
            .expect(422);
        assert!(!reply.field_problems("new_version").is_empty(), "{bad}");
    }
    app.post("/containers/999999/build_dev", support::Body::None)
        .await
        .expect(404);
    app.get("/containers/x/build_dev/1.0").await.expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_on_every_server_builds_where_it_can_and_writes_the_version_into_every_lab() {
    let _hosts = HOSTS.lock().await;
    let app = ops_app(Backend::Postgres, true).await;
    let bed = testbed::get();
    let (h9, h10) = (bed.host(9), bed.host(10));
    let (s9, s10) = tokio::join!(
        lifecycle_server(&app, h9, "mariadb"),
        lifecycle_server(&app, h10, "postgres")
    );
    let (lab9, lab10) = tokio::join!(
        lab_on_server(&app, s9, h9, "mariadb"),
        lab_on_server(&app, s10, h10, "postgres")
    );
    make_origin(h9, &unique("release-"));
    make_origin(h10, &unique("release-"));
    // A third server that is down: nothing listens on its SSH port.
    let down = register(&app, h9).await;
    app.post(
        "/servers/",
        form(&[("id", &down.to_string()), ("ssh_port", "1")]),
    )
    .await
    .expect(200);
    let down_name = app
        .get(&format!("/servers/{down}"))
        .await
        .expect(200)
        .json()["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // Refused requests, GET (query) and POST (body) alike.
    let reply = app
        .get("/containers/build_master_for_all?version=1.3-dev")
        .await
        .expect(422);
    assert!(!reply.field_problems("version").is_empty());
    let reply = app
        .post(
            "/containers/build_master_for_all/",
            support::multipart(&[("info", "no version")]),
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("version").is_empty());

    let version = format!("{}.1-master", fresh_major());
    let info = "## What is new\n\n- faster reports\n- «Журнал» for samples";
    let reply = app
        .post(
            "/containers/build_master_for_all/",
            support::multipart(&[
                ("version", version.trim_end_matches("-master")),
                ("info", info),
            ]),
        )
        .await
        .expect(202)
        .json();
    let parent = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(&app, parent, Duration::from_secs(180)).await;
    let log = log_text(&app, parent).await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "{version} is not built on 1 of 3 server(s): {down_name} (operation"
        )) && error.contains("Connection refused")
            && error.contains("2 lab(s) have its row")
            && error.contains("retry_failed"),
        "{error}"
    );
    assert_eq!(done["children"]["ok"], 2, "{done}");
    assert_eq!(done["children"]["error"], 1, "{done}");

    // Per server and per lab, in the result even though the operation ended in error.
    let servers = done["result"]["servers"].as_array().unwrap();
    let entry = |id: i64| servers.iter().find(|s| s["server_id"] == id).unwrap();
    for (server, lab) in [(s9, &lab9), (s10, &lab10)] {
        let entry = entry(server);
        assert_eq!(entry["build"]["status"], "ok", "{entry}");
        assert_eq!(entry["build"]["built"], true, "{entry}");
        assert_eq!(entry["labs"][0]["client_id"], lab.id, "{entry}");
        assert_eq!(entry["labs"][0]["status"], "ok", "{entry}");
    }
    let failed = entry(down);
    assert_eq!(failed["build"]["status"], "error", "{failed}");
    assert!(
        failed["build"]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{down_name} ({}:1)", h9.addr)),
        "{failed}"
    );
    assert_eq!(failed["labs"], serde_json::json!([]));
    // The down server's child failed fast.
    let child = app
        .get(&format!(
            "/operations/{}",
            failed["build"]["operation_id"].as_i64().unwrap()
        ))
        .await
        .expect(200)
        .json();
    let took = chrono::DateTime::parse_from_rfc3339(child["finished_at"].as_str().unwrap())
        .unwrap()
        - chrono::DateTime::parse_from_rfc3339(child["started_at"].as_str().unwrap()).unwrap();
    assert!(took.num_seconds() < 10, "{child}");

    // The image on both hosts, built once each; the version's row in both labs' databases.
    let image = format!("alfa-lims:{version}");
    for host in [h9, h10] {
        assert!(
            image_tags(host, "alfa-lims").contains(&version),
            "{}",
            host.name
        );
        assert_eq!(build_calls(host, &image).len(), 1, "{}", host.name);
    }
    let rows = |lab: &Lab| {
        let (kind, db) = (lab.sql_kind.clone(), lab.db(&app));
        let version = version.clone();
        async move {
            db_rows(
                &kind,
                &db,
                &format!("SELECT info FROM cloud_versions WHERE version = '{version}'"),
            )
            .await
        }
    };
    assert_eq!(rows(&lab9).await, vec![info.to_owned()]);
    assert_eq!(rows(&lab10).await, vec![info.to_owned()]);

    // The server is back: retry_failed builds only there (the image is on that host already:
    // nothing rebuilt) and writes every lab's row again, without a second row.
    app.post(
        "/servers/",
        form(&[
            ("id", &down.to_string()),
            ("ssh_port", &bed.ssh_port.to_string()),
        ]),
    )
    .await
    .expect(200);
    let retry = app
        .post(
            &format!("/operations/{parent}/retry_failed"),
            support::Body::None,
        )
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap();
    let done = wait_op(&app, retry, Duration::from_secs(120)).await;
    let log = log_text(&app, retry).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["children"]["ok"], 1, "{done}");
    let back = done["result"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server_id"] == down)
        .unwrap()
        .clone();
    assert_eq!(back["build"]["built"], false, "{back}");
    for host in [h9, h10] {
        assert_eq!(build_calls(host, &image).len(), 1, "{}", host.name);
    }
    assert_eq!(rows(&lab9).await, vec![info.to_owned()]);
    assert_eq!(rows(&lab10).await, vec![info.to_owned()]);

    // The labs go, so that later runs find their ports on the hosts free.
    let (a, b) = tokio::join!(remove(&app, &lab9), remove(&app, &lab10));
    assert_eq!((a.as_str(), b.as_str()), ("ok", "ok"));
}

/// Deletes `lab` with its database; returns how the deletion ended.
async fn remove(app: &TestApp, lab: &Lab) -> String {
    let id = app
        .call(
            reqwest::Method::DELETE,
            &format!("/clients/{}?drop_database=1", lab.id),
            support::Body::None,
        )
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap();
    let done = wait_op(app, id, Duration::from_secs(60)).await;
    done["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_whose_worker_was_lost_builds_the_version_its_first_attempt_chose() {
    let _hosts = HOSTS.lock().await;
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
    let host = testbed::get().host(10);
    let server = register(&app, host).await;
    make_origin(host, &unique("lost-"));
    let major = fresh_major();
    let mut first = super::faults::spawn_worker(&app);
    let (done, log) = build(
        &app,
        true,
        &format!("/containers/{server}/build_master/{major}.0.1"),
    )
    .await;
    assert_eq!(done["status"], "ok", "{log:#?}");

    // The next version's docker build takes 3 s; its worker is killed meanwhile.
    let next = format!("{major}.0.2-master");
    let call = format!("docker build -t alfa-lims:{next}");
    let rule = serde_json::json!({"match": call, "seconds": 3, "times": 1});
    host.add_faults("sleep", rule.clone());
    let id = start(&app, &format!("/containers/{server}/build_master")).await;
    eventually(
        Duration::from_secs(30),
        "the docker build to start",
        || async {
            if host.calls_matching(&call).is_empty() {
                Err("not yet".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let _second = super::faults::spawn_worker(&app);
    let done = wait_op(&app, id, Duration::from_secs(60)).await;
    host.remove_faults("sleep", &rule);
    let log = log_text(&app, id).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["result"]["version"], next.as_str(), "{log:#?}");
    assert!(
        log.iter().any(|l| l
            == &format!(
                "info: an earlier attempt of this operation began building {next}: building that version"
            )),
        "{log:#?}"
    );
    let tags = image_tags(host, "alfa-lims");
    assert!(tags.contains(&next), "{tags:?}");
    assert!(!tags.contains(&format!("{major}.0.3-master")), "{tags:?}");
}
