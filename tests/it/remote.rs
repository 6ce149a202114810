//! The SSH transport (src/remote) against the testbed's real sshd hosts: quoting, live
//! output, secrets, bounded concurrency over one master, timeouts, reconnects and uploads.

use crate::support::eventually::eventually;
use crate::support::jobs::{ECHO_ARGS, STREAM_TEST};
use crate::support::processes_showing;
use crate::support::testbed;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alfa_cloud::remote::{
    Job, Line, Redactor, Remote, RemoteError, RemoteSettings, RunOpts, Script, Stream, Target,
    control_dir,
};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

fn remote(max_inflight: usize) -> Remote {
    remote_idle(max_inflight, Duration::from_secs(60))
}

fn remote_idle(max_inflight: usize, idle_close: Duration) -> Remote {
    Remote::new(RemoteSettings {
        key_path: testbed::get().key.clone(),
        max_inflight,
        connect_timeout: Duration::from_secs(5),
        idle_close,
        control_dir: control_dir(),
    })
    .unwrap()
}

/// The SSH master processes of `remote` (each runs with `-M -S <its control dir>/…`).
/// The pids of the SSH masters `remote` started (each runs with `-S` in its control folder).
fn master_pids(remote: &Remote) -> Vec<i32> {
    let dir = remote.control_dir().display().to_string();
    processes_showing(&dir)
        .into_iter()
        .filter(|(_, c)| c.starts_with("ssh ") && c.contains(" -M "))
        .map(|(pid, _)| pid)
        .collect()
}

fn masters(remote: &Remote) -> usize {
    master_pids(remote).len()
}

/// Waits until none of `remote`'s masters runs any more.
async fn no_masters_left(remote: &Remote, limit: Duration) {
    eventually(limit, "the SSH masters to exit", || async {
        match masters(remote) {
            0 => Ok(()),
            n => Err(format!("{n} master(s) running")),
        }
    })
    .await
}

fn target(i: usize) -> Target {
    let bed = testbed::get();
    Target {
        host: bed.host(i).addr.clone(),
        port: bed.ssh_port,
        user: bed.user.clone(),
        host_key: None,
    }
}

fn opts(timeout: Duration, secrets: &[&str]) -> RunOpts {
    RunOpts {
        timeout,
        cancel: CancellationToken::new(),
        redactor: Redactor::new(secrets.iter().map(|s| s.to_string()).collect()),
    }
}

/// Runs `script` and collects its lines with the time each arrived.
async fn run(
    remote: &Remote,
    target: &Target,
    script: Script,
    args: &[&str],
    env: &[(&str, &SecretString)],
    opts: RunOpts,
) -> (Result<i32, RemoteError>, Vec<(Instant, Line)>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let job = Job {
        script,
        args: &args,
        env,
    };
    let mut lines = Vec::new();
    let result = remote
        .run(
            target,
            &job,
            |line| lines.push((Instant::now(), line)),
            opts,
        )
        .await
        .map(|outcome| outcome.exit_code);
    (result, lines)
}

fn texts(lines: &[(Instant, Line)], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|(_, l)| l.stream == stream)
        .map(|(_, l)| l.text.clone())
        .collect()
}

/// The processes on this machine (the test hosts share it) whose command line holds `needle`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_reach_the_script_intact_and_are_never_executed() {
    let remote = remote(8);
    let host = testbed::get().host(3);
    let marker = Path::new(&host.base_dir).join(format!("injected-{}", std::process::id()));
    let marker = marker.to_str().unwrap().to_owned();
    let nasty = [
        "two words".to_owned(),
        "it's".to_owned(),
        "\"double\"".to_owned(),
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!("; touch {marker}"),
        format!("&& touch {marker} #"),
        "*".to_owned(),
        "$HOME".to_owned(),
        String::new(),
        "back\\slash".to_owned(),
        "tab\there".to_owned(),
    ];
    let args: Vec<&str> = nasty.iter().map(String::as_str).collect();
    let (result, lines) = run(
        &remote,
        &target(3),
        ECHO_ARGS,
        &args,
        &[],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    assert_eq!(result.unwrap(), 0);
    let expected: Vec<String> = nasty
        .iter()
        .enumerate()
        .map(|(i, a)| format!("::arg {} {a}", i + 1))
        .collect();
    assert_eq!(texts(&lines, Stream::Out), expected);
    assert!(!Path::new(&marker).exists(), "an argument was executed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_streams_live_in_order_with_stderr_apart() {
    let remote = remote(8);
    let started = Instant::now();
    let (result, lines) = run(
        &remote,
        &target(3),
        STREAM_TEST,
        &["4", "0.4"],
        &[],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    let ended = Instant::now();
    assert_eq!(result.unwrap(), 0);
    let out = texts(&lines, Stream::Out);
    assert_eq!(
        out,
        [
            "::step start",
            "line 1",
            "line 2",
            "line 3",
            "line 4",
            "::step end"
        ]
    );
    assert_eq!(
        texts(&lines, Stream::Err),
        ["stream_test: this line goes to stderr"]
    );
    let first = lines
        .iter()
        .find(|(_, l)| l.text == "line 1")
        .map(|(at, _)| *at)
        .unwrap();
    // The script sleeps 1.2 s after `line 1`: that line must have come before the end.
    assert!(
        ended.duration_since(first) >= Duration::from_millis(1000),
        "line 1 arrived {:?} after the start, the run ended {:?} after it",
        first.duration_since(started),
        ended.duration_since(started)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_masked_and_never_on_a_command_line() {
    let remote = remote(8);
    let secret = format!("Sekr3t-{}-{}", std::process::id(), ulid::Ulid::generate());
    // Printed by the script (as an argument): masked before the caller sees it.
    let (result, lines) = run(
        &remote,
        &target(3),
        ECHO_ARGS,
        &[&format!("password={secret}"), "plain"],
        &[],
        opts(Duration::from_secs(30), &[&secret]),
    )
    .await;
    assert_eq!(result.unwrap(), 0);
    assert_eq!(
        texts(&lines, Stream::Out),
        ["::arg 1 password=***", "::arg 2 plain"]
    );

    // Given as environment: travels on stdin, so no process ever shows it.
    let env_secret = SecretString::from(format!("EnvSecret-{}", ulid::Ulid::generate()));
    let needle = secrecy::ExposeSecret::expose_secret(&env_secret).to_owned();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let watcher = {
        let (seen, stop, needle) = (seen.clone(), stop.clone(), needle.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                seen.lock()
                    .unwrap()
                    .extend(processes_showing(&needle).into_iter().map(|(_, c)| c));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (result, _) = run(
        &remote,
        &target(3),
        STREAM_TEST,
        &["5", "0.2"],
        &[("ALFA_TEST_SECRET", &env_secret)],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    stop.cancel();
    watcher.await.unwrap();
    assert_eq!(result.unwrap(), 0);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the secret showed on a command line: {:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_jobs_at_once_share_one_connection_and_all_succeed() {
    let remote = remote(8);
    let target = target(4);
    let jobs = (0..40).map(|i| {
        let (remote, target) = (remote.clone(), target.clone());
        tokio::spawn(async move {
            let arg = format!("job-{i}");
            let (result, lines) = run(
                &remote,
                &target,
                ECHO_ARGS,
                &[&arg],
                &[],
                opts(Duration::from_secs(60), &[]),
            )
            .await;
            (i, result, texts(&lines, Stream::Out))
        })
    });
    for job in futures::future::join_all(jobs).await {
        let (i, result, out) = job.unwrap();
        assert_eq!(result.unwrap(), 0, "job {i}");
        assert_eq!(out, [format!("::arg 1 job-{i}")]);
    }
    // One master process for the target, whatever the number of jobs.
    assert_eq!(masters(&remote), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_and_the_next_job_opens_a_new_one() {
    let remote = remote_idle(8, Duration::from_secs(1));
    let target = target(4);
    let opts = || opts(Duration::from_secs(30), &[]);
    let (first, _) = run(&remote, &target, ECHO_ARGS, &["one"], &[], opts()).await;
    assert_eq!(first.unwrap(), 0);
    assert_eq!(masters(&remote), 1);
    no_masters_left(&remote, Duration::from_secs(10)).await;
    let (second, lines) = run(&remote, &target, ECHO_ARGS, &["two"], &[], opts()).await;
    assert_eq!(second.unwrap(), 0);
    assert_eq!(texts(&lines, Stream::Out), ["::arg 1 two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_timeout_is_stopped_on_the_server() {
    let remote = remote(8);
    let tag = format!("{}", 100 + std::process::id() % 800);
    let started = Instant::now();
    let (result, lines) = run(
        &remote,
        &target(3),
        STREAM_TEST,
        &[&tag, "0.5"],
        &[],
        opts(Duration::from_secs(1), &[]),
    )
    .await;
    assert!(
        matches!(result, Err(RemoteError::Timeout { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(texts(&lines, Stream::Out).contains(&"line 1".to_owned()));
    // The script's process group is killed: no `stream_test` bash with our N lives on.
    eventually(
        Duration::from_secs(5),
        "the timed-out script to be killed",
        || async {
            let left: Vec<String> = processes_showing(&format!("-- {tag} 0.5"))
                .into_iter()
                .map(|(_, c)| c)
                .filter(|c| c.contains("bash"))
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still running: {left:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_is_replaced_by_a_new_connection() {
    let remote = remote(8);
    let target = target(4);
    let (first, _) = run(
        &remote,
        &target,
        ECHO_ARGS,
        &["one"],
        &[],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    assert_eq!(first.unwrap(), 0);
    let pids = master_pids(&remote);
    assert!(!pids.is_empty(), "no master to kill");
    for pid in pids {
        // SAFETY: kill(2) on a pid we just found to be our own ssh master.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    no_masters_left(&remote, Duration::from_secs(5)).await;
    let (second, lines) = run(
        &remote,
        &target,
        ECHO_ARGS,
        &["two"],
        &[],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    assert_eq!(second.unwrap(), 0);
    assert_eq!(texts(&lines, Stream::Out), ["::arg 1 two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_lands_whole_with_its_mode_and_no_temporary_file() {
    let remote = remote(8);
    let host = testbed::get().host(3);
    let dir = Path::new(&host.base_dir).join(format!("upload-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.join(".env");
    let body = "APP_KEY=base64:abc\nDB_PASSWORD='it''s'\n".repeat(2000);
    remote
        .upload(
            &target(3),
            path.to_str().unwrap(),
            body.as_bytes(),
            0o640,
            None,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), body);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // Replacing it is atomic too, and leaves nothing beside it.
    remote
        .upload(&target(3), path.to_str().unwrap(), b"second\n", 0o600, None)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [".env"]);
    // A folder that does not exist is an error that names the file, not a panic or a hang.
    let missing = dir.join("nope/.env");
    let err = remote
        .upload(&target(3), missing.to_str().unwrap(), b"x", 0o640, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope/.env"), "{err}");
}
