//! SSH figures for scripts/bench-ssh.sh (`cargo bench --bench ssh`): the per-command cost of
//! our transport against the two usual ways, on the same test host in the same run, all
//! running the same job script (`echo_args.sh`, sent on stdin to `bash -s`):
//! - ours: the pooled native-mux master of src/remote;
//! - an `ssh` process per command over a ControlMaster socket (how most tools do it);
//! - a fresh `ssh` connection per command.

#[path = "../tests/it/support/testbed.rs"]
mod testbed;

use std::process::Stdio;
use std::time::{Duration, Instant};

use alfa_cloud::remote::{Job, Redactor, Remote, RemoteSettings, RunOpts, Script, Target};

/// The job script every way runs (`::arg 1 VALUE`).
const ECHO_ARGS: Script = Script::new(
    "echo_args.sh",
    include_str!("../tests/it/jobs/echo_args.sh"),
);
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

const COMMANDS: usize = 200;
const FRESH_COMMANDS: usize = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Figures {
    p50: f64,
    p99: f64,
}

fn figures(mut ms: Vec<f64>) -> Figures {
    ms.sort_by(f64::total_cmp);
    Figures {
        p50: percentile(&ms, 0.5),
        p99: percentile(&ms, 0.99),
    }
}

/// Runs `ssh ARGS bash -s -- ARG` with the job script on stdin; panics unless it succeeds.
async fn ssh_once(args: &[String], script: &str, arg: &str) {
    let mut child = tokio::process::Command::new("ssh")
        .args(args)
        .args(["bash", "-s", "--", arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("::arg 1 {arg}")
    );
}

/// Runs `ssh ARGS true`; panics unless it succeeds.
async fn ssh_true(args: &[String]) {
    let status = tokio::process::Command::new("ssh")
        .args(args)
        .arg("true")
        .stdin(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Times `n` rounds of `ssh ARGS true` and of the job script through `ssh ARGS`, interleaved;
/// returns both series in milliseconds.
async fn time_ssh(args: &[String], script: &str, n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut bare, mut job) = (Vec::new(), Vec::new());
    for i in 0..n {
        let started = Instant::now();
        ssh_true(args).await;
        bare.push(ms(started));
        let started = Instant::now();
        ssh_once(args, script, &format!("c{i}")).await;
        job.push(ms(started));
    }
    (bare, job)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bed = testbed::get();
    let host = bed.host(8);
    let work = std::env::temp_dir().join(format!("alfa-bench-ssh-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let script = ECHO_ARGS.text();
    let common: Vec<String> = [
        "-p",
        &bed.ssh_port.to_string(),
        "-l",
        &bed.user,
        "-i",
        bed.key.to_str().unwrap(),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        &format!("UserKnownHostsFile={}/known_hosts", work.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let with = |extra: &[&str]| -> Vec<String> {
        let mut args = common.clone();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    // Ours.
    let remote = Remote::new(RemoteSettings {
        key_path: bed.key.clone(),
        max_inflight: 8,
        connect_timeout: Duration::from_secs(5),
        idle_close: Duration::from_secs(300),
        control_dir: alfa_cloud::remote::control_dir(),
    })
    .unwrap();
    let target = Target {
        host: host.addr.clone(),
        port: bed.ssh_port,
        user: bed.user.clone(),
        host_key: None,
    };
    // The first command opens the connection: not counted.
    let connect = Instant::now();
    remote
        .exec(&target, &["true"], Duration::from_secs(30))
        .await
        .unwrap();
    let first_connect = ms(connect);
    let (mut ours_true, mut ours_job) = (Vec::new(), Vec::new());
    for i in 0..COMMANDS {
        let started = Instant::now();
        let out = remote
            .exec(&target, &["true"], Duration::from_secs(30))
            .await
            .unwrap();
        ours_true.push(ms(started));
        assert_eq!(out.exit_code, 0);

        let args = vec![format!("n{i}")];
        let job = Job {
            script: ECHO_ARGS,
            args: &args,
            env: &[],
        };
        let mut lines = Vec::new();
        let started = Instant::now();
        let outcome = remote
            .run(
                &target,
                &job,
                |line| lines.push(line.text),
                RunOpts {
                    timeout: Duration::from_secs(30),
                    cancel: CancellationToken::new(),
                    redactor: Redactor::default(),
                },
            )
            .await
            .unwrap();
        ours_job.push(ms(started));
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(lines, [format!("::arg 1 n{i}")]);
    }

    // An ssh process per command over a ControlMaster.
    let socket = work.join("cm.sock");
    let socket = socket.to_str().unwrap();
    let master = with(&[
        "-M",
        "-S",
        socket,
        "-o",
        "ControlPersist=60",
        "-f",
        "-N",
        &host.addr,
    ]);
    let status = tokio::process::Command::new("ssh")
        .args(&master)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let (master_true, master_job) =
        time_ssh(&with(&["-S", socket, &host.addr]), &script, COMMANDS).await;
    let _ = tokio::process::Command::new("ssh")
        .args(["-S", socket, "-O", "exit", &host.addr])
        .stderr(Stdio::null())
        .status()
        .await;

    // A fresh connection per command.
    let (fresh_true, fresh_job) = time_ssh(
        &with(&["-o", "ControlPath=none", &host.addr]),
        &script,
        FRESH_COMMANDS,
    )
    .await;
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "ssh per command on {} ({COMMANDS} commands of each kind per way, interleaved), ms; first connect of ours {first_connect:.1} ms:",
        host.addr
    );
    for (what, ours, master, fresh) in [
        (
            "`true` (transport overhead)",
            ours_true,
            master_true,
            fresh_true,
        ),
        (
            "job script echo_args.sh via bash -s",
            ours_job,
            master_job,
            fresh_job,
        ),
    ] {
        let (ours, master, fresh) = (figures(ours), figures(master), figures(fresh));
        println!("ssh {what}");
        for (name, f) in [
            ("ours (native-mux master, pooled)", &ours),
            ("ssh process over ControlMaster", &master),
            ("fresh ssh connection", &fresh),
        ] {
            println!("  {name:<34} p50 {:>8.2}   p99 {:>8.2}", f.p50, f.p99);
        }
        println!(
            "  ratio ControlMaster/ours  p50 {:>6.1}x   p99 {:>6.1}x",
            master.p50 / ours.p50,
            master.p99 / ours.p99
        );
        println!(
            "  ratio fresh/ours          p50 {:>6.1}x   p99 {:>6.1}x",
            fresh.p50 / ours.p50,
            fresh.p99 / ours.p99
        );
    }
    println!(
        "  targets (transport overhead): ours p50 <= 5 ms, >= 2x below ControlMaster, >= 30x below fresh"
    );
}
