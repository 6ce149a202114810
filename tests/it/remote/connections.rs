//! The pooled connections: concurrency, idle close, timeouts, dead masters, uploads.

use super::*;

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
