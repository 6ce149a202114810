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

mod connections;
mod scripts;
mod shells;

pub fn remote(max_inflight: usize) -> Remote {
    remote_idle(max_inflight, Duration::from_secs(60))
}

pub fn remote_idle(max_inflight: usize, idle_close: Duration) -> Remote {
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
pub fn master_pids(remote: &Remote) -> Vec<i32> {
    let dir = remote.control_dir().display().to_string();
    processes_showing(&dir)
        .into_iter()
        .filter(|(_, c)| c.starts_with("ssh ") && c.contains(" -M "))
        .map(|(pid, _)| pid)
        .collect()
}

pub fn masters(remote: &Remote) -> usize {
    master_pids(remote).len()
}

/// Waits until none of `remote`'s masters runs any more.
pub async fn no_masters_left(remote: &Remote, limit: Duration) {
    eventually(limit, "the SSH masters to exit", || async {
        match masters(remote) {
            0 => Ok(()),
            n => Err(format!("{n} master(s) running")),
        }
    })
    .await
}

pub fn target(i: usize) -> Target {
    let bed = testbed::get();
    Target {
        host: bed.host(i).addr.clone(),
        port: bed.ssh_port,
        user: bed.user.clone(),
        host_key: None,
    }
}

pub fn opts(timeout: Duration, secrets: &[&str]) -> RunOpts {
    RunOpts {
        timeout,
        cancel: CancellationToken::new(),
        redactor: Redactor::new(secrets.iter().map(|s| s.to_string()).collect()),
    }
}

/// Runs `script` and collects its lines with the time each arrived.
pub async fn run(
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

pub fn texts(lines: &[(Instant, Line)], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|(_, l)| l.stream == stream)
        .map(|(_, l)| l.text.clone())
        .collect()
}
