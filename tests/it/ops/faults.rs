//! When things go wrong: changed host keys, hung servers, killed and stopped workers.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::engine::client_on;
use super::*;
use crate::on_both_queues;

/// A worker process, killed when the test ends however it ends.
pub struct Worker(Child);

impl std::ops::Deref for Worker {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Worker {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A separate `alfa-cloud worker` process for `app`.
pub fn spawn_worker(app: &TestApp) -> Worker {
    spawn_process(app, "worker")
}

/// A separate `alfa-cloud COMMAND` process (worker, or up: API and worker) for `app`.
pub fn spawn_process(app: &TestApp, command: &str) -> Worker {
    Worker(
        Command::new(env!("CARGO_BIN_EXE_alfa-cloud"))
            .arg(command)
            .envs(app.env())
            .env("ALFA_LOG", "warn")
            .env("ALFA_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the process starts"),
    )
}

/// An app whose operations run only in separate worker processes.
async fn app_without_worker(slot: usize) -> TestApp {
    let backend = if slot == 0 {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    TestApp::spawn_with(
        backend,
        Options {
            redis: slot == 1,
            worker: false,
            env: fast_env(),
            kinds: None,
        },
    )
    .await
}

on_both_queues! {
    async fn a_changed_host_key_is_refused_until_it_is_forgotten(app, slot) {
        let host = testbed::get().host(5 + slot);
        let server = register(&app, host).await;
        let images = format!("/servers/{server}/images");
        let first = start(&app, &images).await;
        assert_eq!(wait_op(&app, first, Duration::from_secs(30)).await["status"], "ok");
        testbed::testbed(&["rotate-hostkey", &host.name]);
        let refused = start(&app, &images).await;
        let op = wait_op(&app, refused, Duration::from_secs(30)).await;
        assert_eq!(op["status"], "error");
        let error = op["error"].as_str().unwrap();
        assert!(error.contains("host key") && error.contains(&format!("/servers/{server}/forget_host_key")), "{error}");
        app.post(&format!("/servers/{server}/forget_host_key"), support::Body::None).await.expect(200);
        assert_eq!(app.get(&format!("/servers/{server}")).await.json()["host_key_known"], false);
        let again = start(&app, &images).await;
        assert_eq!(wait_op(&app, again, Duration::from_secs(30)).await["status"], "ok");
        assert_eq!(app.get(&format!("/servers/{server}")).await.json()["host_key_known"], true);
    }

    async fn a_hung_server_ends_in_an_error_not_a_stuck_operation(app, slot) {
        let host = testbed::get().host(7 + slot);
        let server = register(&app, host).await;
        testbed::testbed(&["freeze-host", &host.name]);
        let started = Instant::now();
        let id = start(&app, &format!("/servers/{server}/images")).await;
        let op = wait_op(&app, id, Duration::from_secs(30)).await;
        let took = started.elapsed();
        testbed::testbed(&["thaw-host", &host.name]);
        assert_eq!(op["status"], "error");
        assert!(took < Duration::from_secs(15), "a 3 s connect timeout took {took:?}");
        assert!(op["error"].as_str().unwrap().contains(&host.addr), "{op}");
    }

    async fn a_worker_killed_mid_job_is_replaced_and_the_job_runs_again(_app, slot) {
        let app = app_without_worker(slot).await;
        let mut first = spawn_worker(&app);
        let (_, client, sub) = client_on(&app, 2).await;
        let host = testbed::get().host(2);
        host.add_faults("sleep", json!({"match": format!("alfa_{sub} restart"), "seconds": 3, "times": 1}));
        let id = start(&app, &format!("/clients/{client}/reboot")).await;
        reached(host, &format!("alfa_{sub} restart"), 1, Duration::from_secs(15)).await;
        first.kill().unwrap();
        first.wait().unwrap();
        let mut second = spawn_worker(&app);
        let op = wait_op(&app, id, Duration::from_secs(40)).await;
        second.kill().unwrap();
        second.wait().unwrap();
        assert_eq!(op["status"], "ok", "{op}");
        assert_eq!(op["attempt"], 2);
        let log = log_text(&app, id).await;
        assert!(log.iter().any(|l| l == "info: attempt 2 after a lost worker"), "{log:?}");
        assert_eq!(host.calls_matching(&format!("alfa_{sub} restart")).len(), 2, "the job ran again from the start");
    }

    async fn an_operation_whose_workers_keep_dying_gives_up_after_three_attempts(_app, slot) {
        let app = app_without_worker(slot).await;
        let worker = spawn_worker(&app);
        let (_, client, sub) = client_on(&app, 2).await;
        let host = testbed::get().host(2);
        let pattern = format!("alfa_{sub} restart");
        host.add_faults("hang", json!({"match": pattern}));
        let id = start(&app, &format!("/clients/{client}/reboot")).await;
        let op = lose_three_workers(&app, host, &pattern, id, Some(worker)).await;
        assert_eq!(op["status"], "error", "{op}");
        assert!(op["error"].as_str().unwrap().contains("gave up after 3 attempts"), "{op}");
        assert_eq!(host.calls_matching(&pattern).len(), 3, "no fourth run");
        let log = log_text(&app, id).await;
        assert!(log.iter().any(|l| l == "info: attempt 3 after a lost worker"), "{log:?}");
    }

    async fn a_creation_whose_workers_keep_dying_leaves_the_client_in_error(_app, slot) {
        let app = app_without_worker(slot).await;
        let host = testbed::get().host(2);
        // An image only this test uses, so the hang below stalls no other test's preflight.
        let version = format!("{}-master", unique("9"));
        testbed::testbed(&["seed-image", &host.name, &format!("alfa-lims:{version}")]);
        let pattern = format!("image inspect alfa-lims:{version}");
        host.add_faults("hang", json!({"match": pattern}));
        let server = register(&app, host).await;
        let (client, id) = create_client(&app, server, &unique("g"), &version).await;
        let op = lose_three_workers(&app, host, &pattern, id, None).await;
        assert_eq!(op["status"], "error", "{op}");
        assert!(op["error"].as_str().unwrap().contains("gave up after 3 attempts"), "{op}");
        let client = app.get(&format!("/clients/{client}")).await.expect(200).json();
        assert_eq!(client["state"], "error", "a creation that gave up leaves the client in error, not creating: {client}");
        let createlog = app.get(&format!("/clients/{}/createlog", client["id"])).await.json();
        assert_eq!(createlog["completed"], "error", "{createlog}");
        let steps = op["steps"].as_array().unwrap();
        let last = steps.last().unwrap();
        assert_eq!((last["name"].as_str(), last["status"].as_str()), (Some("preflight"), Some("error")), "the step it died in is marked: {op}");
    }

    async fn a_killed_workers_ssh_connections_are_closed_when_the_next_one_starts(_app, slot) {
        let app = app_without_worker(slot).await;
        let mut worker = spawn_worker(&app);
        let server = register(&app, testbed::get().host(1)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        assert_eq!(wait_op(&app, id, Duration::from_secs(30)).await["status"], "ok");
        let masters = |pid: u32| {
            support::processes_showing(&format!("alfa-ssh-{pid}-"))
                .into_iter()
                .filter(|(_, c)| c.starts_with("ssh "))
                .count()
        };
        let pid = worker.id();
        assert!(masters(pid) > 0, "the worker holds a master connection");
        worker.kill().unwrap();
        worker.wait().unwrap();
        assert!(masters(pid) > 0, "ssh -f masters outlive the killed worker");
        let _next = spawn_worker(&app);
        eventually(Duration::from_secs(15), "the orphaned masters to be closed", || async {
            match masters(pid) {
                0 => Ok(()),
                n => Err(format!("{n} master(s) of the killed worker")),
            }
        })
        .await;
    }

    async fn sigterm_lets_the_running_operation_finish_then_the_worker_exits(_app, slot) {
        sigterm_grace(slot, "worker").await;
    }

    async fn sigterm_lets_the_running_operation_finish_when_api_and_worker_share_a_process(_app, slot) {
        sigterm_grace(slot, "up").await;
    }
}

/// SIGTERM to a process running `command` (worker or up) while an operation runs: the
/// operation finishes within the grace, then the process exits cleanly.
async fn sigterm_grace(slot: usize, command: &str) {
    let app = app_without_worker(slot).await;
    let mut worker = spawn_process(&app, command);
    let (_, client, sub) = client_on(&app, 1).await;
    let host = testbed::get().host(1);
    host.add_faults(
        "sleep",
        json!({"match": format!("alfa_{sub} restart"), "seconds": 2}),
    );
    let id = start(&app, &format!("/clients/{client}/reboot")).await;
    wait_status(&app, id, "running", Duration::from_secs(10)).await;
    reached(
        host,
        &format!("alfa_{sub} restart"),
        1,
        Duration::from_secs(10),
    )
    .await;
    let pid = worker.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || worker.wait().unwrap())
        .await
        .unwrap();
    // (`worker` moved into the closure and was dropped there, after it exited.)
    assert!(
        status.success(),
        "`alfa-cloud {command}` exits cleanly: {status:?}"
    );
    let op = app.get(&format!("/operations/{id}")).await.json();
    assert_eq!(
        op["status"], "ok",
        "the running operation finished before `{command}` exited: {op}"
    );
    assert_eq!(op["attempt"], 1, "it ran once: {op}");
}

/// Kills the worker running operation `id` three times, each once its call matching `pattern`
/// (which hangs) reached the host, starting with `first` when given; then lets one more worker
/// end the operation and returns it. The hung stand-ins are killed by the pids they recorded.
async fn lose_three_workers(
    app: &TestApp,
    host: &Host,
    pattern: &str,
    id: i64,
    first: Option<Worker>,
) -> serde_json::Value {
    let mut first = first;
    for attempt in 1..=3 {
        let mut worker = first.take().unwrap_or_else(|| spawn_worker(app));
        reached(host, pattern, attempt, Duration::from_secs(20)).await;
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    let _last = spawn_worker(app);
    let op = wait_op(app, id, Duration::from_secs(30)).await;
    for call in host.calls_matching(pattern) {
        let _ = Command::new("kill")
            .args(["-KILL", &call["pid"].to_string()])
            .status();
    }
    op
}

/// Waits until `count` calls matching `pattern` reached the host's stand-ins.
#[track_caller]
fn reached<'a>(
    host: &'a Host,
    pattern: &'a str,
    count: usize,
    limit: Duration,
) -> impl std::future::Future<Output = ()> + 'a {
    eventually(
        limit,
        format!("{count} call(s) of {pattern:?} on {}", host.name),
        move || async move {
            let seen = host.calls_matching(pattern).len();
            if seen >= count {
                Ok(())
            } else {
                Err(format!("{seen} call(s)"))
            }
        },
    )
}
