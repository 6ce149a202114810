//! Image builds on the test hosts (h19, h20): a real git origin and clone, real composer and
//! npm, the docker stand-in recording the build; build_dev and build_master with and without a
//! version, the labs' files left alone, a failed step named, a tag never built twice, a lost
//! worker's retry. (build_master_for_all: `build_release.rs`.)

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::support::gitrepo::make_origin;

/// The build tests share hosts 9 and 10 (one build at a time per host folder).
pub(super) static HOSTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A major version above any an earlier run left on the hosts (the clock's seconds), so the
/// next version computed from the server's images is known.
pub(super) fn fresh_major() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The tags of `repo` in the docker stand-in's state on `host`.
pub(super) fn image_tags(host: &Host, repo: &str) -> Vec<String> {
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
pub(super) fn build_calls(host: &Host, image: &str) -> Vec<Vec<String>> {
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
