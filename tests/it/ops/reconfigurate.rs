//! `reconfigurate`: a real bare git origin and a checkout per server; the checkout is
//! fast-forwarded and every lab's `.env` merged with `.env.example` (new keys added, the lab's
//! values kept, stale keys reported, removed only when asked); a dry run changes nothing; a
//! server whose checkout is dirty fails alone and `retry_failed` finishes it; keys added this
//! way survive a deploy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::fleet_files::{assert_untouched, calls_since, lab_file, remove_labs, snapshot};
use super::lifecycle::*;
use super::*;

/// Runs git as the testbed user (who owns the repositories, as a server's deploy user does) in
/// `dir`; panics with its output.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("runuser")
        .args(["-u", &testbed::get().user, "--", "git"])
        .args(["-c", "user.name=Test", "-c", "user.email=t@example.org"])
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Gives `path` (recursively) to the testbed user, as a server's files are its deploy user's.
fn give_to_testbed_user(path: &Path) {
    let user = &testbed::get().user;
    let status = Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A bare origin under `host`'s folder whose master has `.env.example` = `example`, and a work
/// clone to push from, both the testbed user's.
fn make_origin(host: &Host, example: &str) -> (PathBuf, PathBuf) {
    let name = unique("origin-");
    let origin = host.dir.join(format!("{name}.git"));
    let work = host.dir.join(format!("{name}-work"));
    for dir in [&origin, &work] {
        std::fs::create_dir_all(dir).unwrap();
        give_to_testbed_user(dir);
    }
    git(&origin, &["init", "--quiet", "--bare", "-b", "master"]);
    git(&work, &["init", "--quiet", "-b", "master"]);
    git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    std::fs::write(work.join("README.md"), "the LIMS\n").unwrap();
    push_example(&work, example, "first");
    (origin, work)
}

/// Commits `.env.example` = `example` in `work` and pushes it to origin's master.
fn push_example(work: &Path, example: &str, message: &str) {
    std::fs::write(work.join(".env.example"), example).unwrap();
    give_to_testbed_user(work);
    git(work, &["add", "-A"]);
    git(work, &["commit", "--quiet", "-m", message]);
    git(work, &["push", "--quiet", "origin", "master"]);
}

/// `{base_dir}/git` of `host` made a fresh clone of `origin`.
fn checkout(host: &Host, origin: &Path) -> PathBuf {
    let dir = PathBuf::from(&host.base_dir).join("git");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    git(
        &dir,
        &[
            "clone",
            "--quiet",
            origin.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    dir
}

/// The server child's report of `lab`.
fn merged<'a>(done: &'a Value, lab: &Lab) -> &'a Value {
    done["result"]["children"]
        .as_array()
        .unwrap_or_else(|| panic!("children in {done}"))
        .iter()
        .filter_map(|c| c["result"]["clients"].as_array())
        .flatten()
        .find(|c| c["client_id"] == lab.id)
        .unwrap_or_else(|| panic!("lab {} in {done}", lab.id))
}

fn edit_env(lab: &Lab, edit: impl FnOnce(String) -> String) {
    let path = lab_file(lab, ".env");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

const FIRST: &str =
    "APP_NAME=Laravel\nAPP_DEBUG=false\nAPP_KEY=\nDB_PASSWORD=\nMAIL_MAILER=smtp\nOLD_FLAG=1\n";
const SECOND: &str = "APP_NAME=Laravel\nAPP_DEBUG=false\nAPP_KEY=\nDB_PASSWORD=\nMAIL_MAILER=smtp\n# new in 1.4\nNEW_KEY=\"hello world\"\nSERVICE_TOKEN=example-token\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconfigurate_pulls_merges_env_example_keeps_values_and_fails_only_the_dirty_server() {
    let app = ops_app(Backend::Postgres, true).await;
    let (h1, h2) = (testbed::get().host(1), testbed::get().host(2));
    let (s1, s2) = tokio::join!(
        lifecycle_server(&app, h1, "mariadb"),
        lifecycle_server(&app, h2, "mariadb")
    );
    let (a, b, c) = tokio::join!(
        lab_on_server(&app, s1, h1, "mariadb"),
        lab_on_server(&app, s1, h1, "mariadb"),
        lab_on_server(&app, s2, h2, "mariadb"),
    );
    let (origin, work) = make_origin(h1, FIRST);
    let (git1, git2) = (checkout(h1, &origin), checkout(h2, &origin));
    let first = git(&git1, &["rev-parse", "HEAD"]);
    push_example(&work, SECOND, "1.4: NEW_KEY, SERVICE_TOKEN; OLD_FLAG gone");
    let second = git(&work, &["rev-parse", "HEAD"]);
    // a still has OLD_FLAG (now stale); b's admin turned debugging on.
    edit_env(&a, |t| t + "OLD_FLAG=client-value\n");
    edit_env(&b, |t| t.replace("APP_DEBUG=false", "APP_DEBUG=true"));

    // The dry run: fetch only, the merge reported, nothing written.
    let envs: Vec<PathBuf> = [&a, &b, &c].iter().map(|l| lab_file(l, ".env")).collect();
    let before = snapshot(&envs);
    let mark = h1.calls().len();
    let op = start(&app, "/clients/reconfigurate?dry_run=1").await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    assert_eq!(
        done["result"]["counts"]["ok"], 2,
        "one child per server: {done}"
    );
    let ra = merged(&done, &a);
    assert_eq!(
        ra["added"],
        serde_json::json!(["MAIL_MAILER", "NEW_KEY", "SERVICE_TOKEN"]),
        "{ra}"
    );
    assert_eq!(ra["stale"], serde_json::json!(["OLD_FLAG"]), "{ra}");
    assert_eq!(ra["changed"], true);
    assert_eq!(merged(&done, &b)["stale"], serde_json::json!([]));
    assert_untouched(&before);
    assert_eq!(
        git(&git1, &["rev-parse", "HEAD"]),
        first,
        "the checkout stays"
    );
    let since = calls_since(h1, mark);
    assert!(
        !since
            .iter()
            .any(|c| c.contains(&format!("alfa_{}", a.subdomain))
                || c.contains(&format!("alfa_{}", b.subdomain))),
        "{since:#?}"
    );

    // Host 2's checkout has a local change: its server fails, host 1's goes on.
    std::fs::write(git2.join("README.md"), "edited on the server\n").unwrap();
    let mark = h1.calls().len();
    let op = start(&app, "/clients/reconfigurate").await;
    let done = wait_op(&app, op, Duration::from_secs(180)).await;
    let log = log_text(&app, op).await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("1 of 2 failed"), "{error}");
    let child = app
        .get(&format!("/operations?parent_id={op}&status=error"))
        .await
        .expect(200)
        .json();
    let child_error = child["items"][0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{child}"));
    assert!(
        child_error.contains("local changes") && child_error.contains("README.md"),
        "{child_error}"
    );
    assert_eq!(git(&git1, &["rev-parse", "HEAD"]), second, "host 1 pulled");
    let env_a = env_file(h1, &a.subdomain);
    assert_eq!(env_value(&env_a, "NEW_KEY"), "hello world");
    assert_eq!(env_value(&env_a, "MAIL_MAILER"), "smtp");
    assert_eq!(
        env_value(&env_a, "OLD_FLAG"),
        "client-value",
        "stale keys are kept"
    );
    assert_eq!(env_value(&env_file(h1, &b.subdomain), "APP_DEBUG"), "true");
    assert_untouched(&before[2..]);
    let since = calls_since(h1, mark);
    for lab in [&a, &b] {
        assert!(
            since
                .iter()
                .any(|c| c.contains(&format!("alfa_{} ", lab.subdomain))
                    && c.contains("--force-recreate")),
            "{} recreated with its new .env: {since:#?}",
            lab.subdomain
        );
    }

    // The checkout cleaned: retry_failed runs host 2 alone.
    git(&git2, &["checkout", "--", "README.md"]);
    let reply = app
        .post(
            &format!("/operations/{op}/retry_failed"),
            support::Body::None,
        )
        .await
        .expect(202)
        .json();
    let retry = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(&app, retry, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, retry).await);
    assert_eq!(done["result"]["counts"]["total"], 1, "{done}");
    assert_eq!(
        env_value(&env_file(h2, &c.subdomain), "NEW_KEY"),
        "hello world"
    );

    // remove_stale: OLD_FLAG goes; the keys the template writes stay, and so does any DB_* or
    // ALFA_* key a lab holds though neither the template nor .env.example has it.
    edit_env(&a, |t| t + "DB_REPLICA_HOST=10.0.0.9\nALFA_FEATURE=beta\n");
    let reply = app
        .post(
            "/clients/reconfigurate",
            support::Body::Json(serde_json::json!({ "remove_stale": true })),
        )
        .await
        .expect(202)
        .json();
    let op = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    assert_eq!(
        merged(&done, &a)["removed"],
        serde_json::json!(["OLD_FLAG"])
    );
    let env_a = env_file(h1, &a.subdomain);
    assert!(!env_a.iter().any(|(k, _)| k == "OLD_FLAG"), "{env_a:?}");
    for key in [
        "APP_URL",
        "APP_TIMEZONE",
        "DB_HOST",
        "ALFA_CLOUD_TOKEN",
        "ALFA_CLIENT_ID",
    ] {
        env_value(&env_a, key);
    }
    assert_eq!(env_value(&env_a, "DB_REPLICA_HOST"), "10.0.0.9");
    assert_eq!(env_value(&env_a, "ALFA_FEATURE"), "beta");

    // A deploy keeps what reconfigurate added.
    let op = start(&app, &format!("/server/{s1}/deploy")).await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    let env_a = env_file(h1, &a.subdomain);
    assert_eq!(env_value(&env_a, "NEW_KEY"), "hello world");
    assert_eq!(env_value(&env_a, "SERVICE_TOKEN"), "example-token");
    // A server that is down fails at once, alone; the others end ok.
    let name = unique("down-");
    let down = app
        .create_server(&[
            ("name", &name),
            ("host", &h2.addr),
            ("domain", &format!("{name}.test")),
            ("ssh_port", "1"),
            ("ssh_user", &testbed::get().user),
            ("base_dir", &h2.base_dir),
        ])
        .await;
    let op = start(&app, "/clients/reconfigurate").await;
    let done = wait_op(&app, op, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "error", "{:#?}", log_text(&app, op).await);
    let error = done["error"].as_str().unwrap();
    assert!(error.contains(&format!("1 of 3 failed: {name}")), "{error}");
    let child = app
        .get(&format!("/operations?parent_id={op}&status=error"))
        .await
        .expect(200)
        .json();
    assert_eq!(child["items"][0]["server_id"], down, "{child}");
    let child_error = child["items"][0]["error"].as_str().unwrap();
    assert!(
        child_error.contains(&format!("({}:1)", h2.addr)),
        "{child_error}"
    );
    assert_eq!(
        app.get(&format!("/operations?parent_id={op}&status=ok"))
            .await
            .expect(200)
            .json()["total"],
        2
    );

    remove_labs(&app, &[&a, &b, &c]).await;
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&origin);
}
