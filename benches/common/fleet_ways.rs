//! The other ways bench-fleet runs the same job (jobs/lib.sh + jobs/client_artisan.sh) on the
//! same clients, `PARALLEL` at a time per host: the jobs alone on the hosts themselves (the
//! machine's floor), an `ssh` process per client over a ControlMaster, Ansible ad-hoc, and a
//! fresh `ssh` per client one after the other.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use alfa_cloud::remote::scripts;
use tokio::io::AsyncWriteExt as _;

use crate::prepared::PER_HOST;
use crate::support::testbed;
use crate::{HOSTS, PARALLEL};

/// One client as the baselines address it.
#[derive(Clone)]
pub struct Job {
    pub addr: String,
    pub base_dir: String,
    pub sub: String,
}

/// `ssh ARGS` with `input` on its stdin (its stdout kept when `keep_stdout`); panics with
/// `what` and ssh's stderr unless it succeeds.
async fn ssh_with_input(args: &[String], input: &[u8], keep_stdout: bool, what: &str) -> Vec<u8> {
    let mut child = tokio::process::Command::new("ssh")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(if keep_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `ssh ARGS bash -s -- BASE SUB migrate --force` with the job on stdin; panics unless it works.
async fn ssh_job(mut args: Vec<String>, job: Job, script: Arc<String>) {
    args.extend(
        [
            &job.addr,
            "bash",
            "-s",
            "--",
            &job.base_dir,
            &job.sub,
            "migrate",
            "--force",
        ]
        .map(String::from),
    );
    let what = format!("ssh {} migrate of {}", job.addr, job.sub);
    ssh_with_input(&args, script.as_bytes(), false, &what).await;
}

/// An `ssh` process per client over the host's ControlMaster, `PARALLEL` per host at once.
pub async fn control_master(common: &[String], jobs: &[Job], dir: &std::path::Path) -> f64 {
    let script = Arc::new(scripts::CLIENT_ARTISAN.text());
    let socket = |addr: &str| dir.join(format!("cm-{addr}")).display().to_string();
    let mut addrs: Vec<String> = jobs.iter().map(|j| j.addr.clone()).collect();
    addrs.sort();
    addrs.dedup();
    for addr in &addrs {
        let status = std::process::Command::new("ssh")
            .args(common)
            .args([
                "-M",
                "-N",
                "-f",
                "-o",
                "ControlPersist=120",
                "-S",
                &socket(addr),
                addr,
            ])
            .status()
            .unwrap();
        assert!(status.success(), "ControlMaster to {addr} did not start");
    }
    let started = Instant::now();
    let mut hosts = tokio::task::JoinSet::new();
    for addr in &addrs {
        let mut args = common.to_vec();
        args.extend([
            "-S".into(),
            socket(addr),
            "-o".into(),
            "ControlMaster=no".into(),
        ]);
        let mine: Vec<Job> = jobs.iter().filter(|j| &j.addr == addr).cloned().collect();
        let script = script.clone();
        hosts.spawn(async move {
            let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
            let mut runs = tokio::task::JoinSet::new();
            for job in mine {
                let permit = gate.clone().acquire_owned().await.unwrap();
                let (args, script) = (args.clone(), script.clone());
                runs.spawn(async move {
                    ssh_job(args, job, script).await;
                    drop(permit);
                });
            }
            while let Some(done) = runs.join_next().await {
                done.unwrap();
            }
        });
    }
    while let Some(done) = hosts.join_next().await {
        done.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    for addr in &addrs {
        let _ = std::process::Command::new("ssh")
            .args(common)
            .args(["-S", &socket(addr), "-O", "exit", addr])
            .stderr(Stdio::null())
            .status();
    }
    took
}

/// The floor of this machine: the same jobs run on each host by the host itself, as our warm
/// shells run them (jobs/lib.sh loaded once, each job a subshell evaluating the script) in
/// `PARALLEL` loops per host taking the clients in turn, started by one `ssh` per host: no SSH
/// session, database or orchestrator per job. Seconds from the first host's start to the last
/// host's end, on the hosts' clock (this machine's).
pub async fn on_host(common: &[String], jobs: &[Job], dir: &std::path::Path) -> f64 {
    let (lib, body) = (dir.join("lib.sh"), dir.join("artisan.sh"));
    std::fs::write(&lib, include_str!("../../jobs/lib.sh")).unwrap();
    std::fs::write(&body, scripts::CLIENT_ARTISAN.body()).unwrap();
    let mut addrs: Vec<String> = jobs.iter().map(|j| j.addr.clone()).collect();
    addrs.sort();
    addrs.dedup();
    let mut hosts = tokio::task::JoinSet::new();
    for addr in addrs {
        let mine: Vec<&Job> = jobs.iter().filter(|j| j.addr == addr).collect();
        let mut run = format!(
            "source {}; set +e; body=$(<{}); B={}\n\
             slot() {{ local sub; for sub; do ( set -- \"$B\" \"$sub\" migrate --force; \
             set -euo pipefail; eval \"$body\" ) >/dev/null || return 1; done; }}\n\
             date +%s.%N\n",
            lib.display(),
            body.display(),
            mine[0].base_dir
        );
        for i in 0..PARALLEL {
            let subs: Vec<&str> = mine
                .iter()
                .skip(i)
                .step_by(PARALLEL)
                .map(|j| j.sub.as_str())
                .collect();
            run.push_str(&format!("slot {} & p{i}=$!\n", subs.join(" ")));
        }
        run.push_str("rc=0\n");
        for i in 0..PARALLEL {
            run.push_str(&format!("wait $p{i} || rc=1\n"));
        }
        run.push_str("date +%s.%N; exit $rc\n");
        let mut args = common.to_vec();
        args.extend(["-o".into(), "ControlPath=none".into(), addr.clone()]);
        args.extend(["bash".into(), "-s".into()]);
        hosts.spawn(async move {
            let what = format!("the jobs on {addr}");
            let out = ssh_with_input(&args, run.as_bytes(), true, &what).await;
            let times: Vec<f64> = String::from_utf8_lossy(&out)
                .lines()
                .map(|l| l.trim().parse().unwrap())
                .collect();
            (times[0], times[1])
        });
    }
    let (mut first, mut last) = (f64::MAX, 0.0_f64);
    while let Some(done) = hosts.join_next().await {
        let (start, end) = done.unwrap();
        first = first.min(start);
        last = last.max(end);
    }
    last - first
}

/// A fresh `ssh` connection per client, one after the other.
pub async fn sequential(common: &[String], jobs: &[Job]) -> f64 {
    let script = Arc::new(scripts::CLIENT_ARTISAN.text());
    let mut args = common.to_vec();
    args.extend(["-o".into(), "ControlPath=none".into()]);
    let started = Instant::now();
    for job in jobs {
        ssh_job(args.clone(), job.clone(), script.clone()).await;
    }
    started.elapsed().as_secs_f64()
}

/// Ansible ad-hoc: one inventory entry per client (hosts taken in turn, so `-f 16` keeps 4
/// per host busy), the job file run by the shell module; None when Ansible is missing.
pub fn ansible(jobs: &[Job], dir: &std::path::Path, known_hosts: &str) -> Option<f64> {
    let version = std::process::Command::new("ansible")
        .arg("--version")
        .output()
        .ok()?;
    if !version.status.success() {
        return None;
    }
    let bed = testbed::get();
    let job_file = dir.join("job.sh");
    std::fs::write(&job_file, scripts::CLIENT_ARTISAN.text()).unwrap();
    let mut by_host: Vec<Vec<&Job>> = Vec::new();
    for job in jobs {
        match by_host.iter_mut().find(|h| h[0].addr == job.addr) {
            Some(h) => h.push(job),
            None => by_host.push(vec![job]),
        }
    }
    let mut inventory = String::from("[lab]\n");
    for i in 0..PER_HOST {
        for host in &by_host {
            let job = host[i];
            inventory.push_str(&format!(
                "{} ansible_host={} base={} sub={}\n",
                job.sub, job.addr, job.base_dir, job.sub
            ));
        }
    }
    inventory.push_str(&format!(
        "[lab:vars]\nansible_port={}\nansible_user={}\nansible_ssh_private_key_file={}\n\
         ansible_python_interpreter=/usr/bin/python3\n",
        bed.ssh_port,
        bed.user,
        bed.key.display()
    ));
    let inventory_file = dir.join("inventory.ini");
    std::fs::write(&inventory_file, inventory).unwrap();
    let run = |limit: Option<String>, module: &str, arg: &str| {
        let mut cmd = std::process::Command::new("ansible");
        cmd.arg("lab")
            .arg("-i")
            .arg(&inventory_file)
            .args([
                "-f",
                &(PARALLEL * HOSTS.len()).to_string(),
                "-m",
                module,
                "-a",
                arg,
            ])
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", dir.join("cp"))
            .env(
                "ANSIBLE_SSH_ARGS",
                format!(
                    "-o ControlMaster=auto -o ControlPersist=120s -o IdentitiesOnly=yes \
                     -o UserKnownHostsFile={known_hosts}"
                ),
            )
            .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", "/tmp/.ansible-alfa-bench")
            .stdout(Stdio::null());
        if let Some(limit) = limit {
            cmd.args(["--limit", &limit]);
        }
        let out = cmd.output().expect("ansible runs");
        assert!(
            out.status.success(),
            "ansible {module} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Warm: one entry per host opens the shared ControlPersist connections.
    let warm: Vec<String> = by_host.iter().map(|h| h[0].sub.clone()).collect();
    run(Some(warm.join(",")), "command", "true");
    let started = Instant::now();
    run(
        None,
        "shell",
        &format!(
            "bash {} {{{{ base }}}} {{{{ sub }}}} migrate --force",
            job_file.display()
        ),
    );
    Some(started.elapsed().as_secs_f64())
}
