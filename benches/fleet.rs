//! Fleet figures for scripts/bench-fleet.sh (`cargo bench --bench fleet`): `migrate_all` over
//! 200 clients on 4 test hosts (50 each, prepared as bench-probe prepares them: compose projects
//! of the docker stand-in, each client's own MariaDB database named in its `.env`), with the
//! stand-in's `php artisan migrate` lasting 300 ms (a `last_ms` sleep rule: from its process's
//! start, doing nothing else). In one run, on the same hosts,
//! every way running the same job (jobs/lib.sh + jobs/client_artisan.sh: ours in its warm
//! shells, the others on a `bash -s` per client), 4 at a time per host, 16 in all:
//! - ours: the four servers' `migrate_all?parallel=4` asked at once through the API, from the
//!   first request to the last parent's end (best and median of 3 after a warm-up run);
//! - the ideal: 200 × 0.3 s ÷ (4 hosts × 4) = 3.75 s;
//! - the floor of this machine: the jobs alone, run by each host itself as our warm shells run
//!   them, with no SSH session, database or orchestrator per job;
//! - an `ssh` process per client over a ControlMaster per host;
//! - Ansible ad-hoc (`-f 16`, ControlPersist, pipelining), one inventory entry per client;
//! - a fresh `ssh` per client, one after the other (a plain queue job's way).
//!
//! Targets: ours ≤ 1.10× the ideal, ≥ 1.15× faster than ssh-over-ControlMaster, ≥ 4.5× faster
//! than Ansible, ≥ 25× faster than sequential.

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/fleet_ways.rs"]
mod fleet_ways;
#[path = "common/prepared.rs"]
mod prepared;
#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports, unused_macros)]
mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alfa_cloud::domain::ClientState;
use alfa_cloud::store::operations;
use fleet_ways::{Job, ansible, control_master, on_host, sequential};
use prepared::{PER_HOST, Prepared, certificate, cleanup, clients_on, server, unique};
use support::testbed::{self, Host};
use support::{Backend, Options, TestApp};

/// Test hosts h15..h18 (the fault tests' hosts: a benchmark does not run beside the tests).
const HOSTS: [usize; 4] = [5, 6, 7, 8];
/// Children at once per server, ours and the others'.
const PARALLEL: usize = 4;
const MIGRATE_SECS: f64 = 0.3;
const RUNS: usize = 3;
const CLIENTS: f64 = (HOSTS.len() * PER_HOST) as f64;

/// CPU seconds used so far: the whole machine's (every core, busy) and this process's.
fn cpu_now() -> (f64, f64) {
    (
        cpu::machine_cpu().0 / cpu::clock_ticks(),
        cpu::own_cpu_secs(),
    )
}

/// "CPU per client: machine X ms, this process Y ms" since `before`, over `runs` runs.
fn cpu_per_client(before: (f64, f64), runs: usize) -> String {
    let now = cpu_now();
    let per = |a: f64, b: f64| (a - b) * 1000.0 / CLIENTS / runs as f64;
    format!(
        "CPU per client: machine {:.0} ms, this process {:.1} ms",
        per(now.0, before.0),
        per(now.1, before.1)
    )
}

/// The stand-in rule: `php artisan migrate` lasts 300 ms from its process's start and does
/// nothing else (its work — the lab's SQL — would run on the fleet's machines, not this one's
/// two cores; the stand-in's own start, sudo, bash and sshd still do).
fn slow_migrate() -> String {
    format!(
        r#"{{"sleep": [{{"match": "exec app php artisan migrate", "last_ms": {}, "instead": true,
            "stdout": "   INFO  Running migrations."}}]}}"#,
        (MIGRATE_SECS * 1000.0) as u64
    )
}

/// Asks every server's migrate_all at once; returns the seconds from the first request to
/// the last parent's end.
async fn ours(app: &TestApp, servers: &[i64]) -> (f64, Vec<i64>) {
    let started = chrono::Utc::now();
    let mut parents = Vec::new();
    for id in servers {
        let reply = app
            .get(&format!("/server/{id}/migrate_all?parallel={PARALLEL}"))
            .await
            .expect(202)
            .json();
        parents.push(reply["operation_id"].as_i64().unwrap());
    }
    let mut last = started;
    let mut ids = Vec::new();
    for id in parents {
        let row = loop {
            let row = operations::get(&app.engine.db, id).await.unwrap().unwrap();
            if row.is_finished() {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(
            row.status,
            "ok",
            "migrate_all {id} failed: {}",
            row.error.unwrap_or_default()
        );
        let result: serde_json::Value =
            serde_json::from_str(row.result.as_deref().unwrap()).unwrap();
        assert_eq!(result["counts"]["ok"], PER_HOST, "{result}");
        last = last.max(row.finished_at.unwrap());
        ids.push(id);
    }
    ((last - started).as_seconds_f64(), ids)
}

/// Where a child's time goes (BENCH_FLEET_TIMELINE=1), averaged over the children of
/// `parents`: queued to claimed, claimed to the job's first remote line, the remote run, the
/// last remote line to the end; and the mean gap a slot stays empty between two children.
async fn timeline(app: &TestApp, parents: &[i64]) {
    use alfa_cloud::store::oplog;
    let db = &app.engine.db;
    let (mut n, mut claim, mut pre, mut remote, mut post, mut busy, mut wall) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for parent in parents {
        let p = operations::get(db, *parent).await.unwrap().unwrap();
        wall += (p.finished_at.unwrap() - p.started_at.unwrap()).as_seconds_f64();
        for c in operations::children(db, *parent).await.unwrap() {
            let lines = oplog::after(db, c.id, 0, 1000).await.unwrap();
            let at = |needle: &str| {
                lines
                    .iter()
                    .find(|l| l.line.contains(needle))
                    .map(|l| l.at)
                    .unwrap_or_else(|| panic!("no line {needle:?} in operation {}", c.id))
            };
            let (first, done) = (at("php artisan migrate --force in"), at("done in"));
            let (s, f) = (c.started_at.unwrap(), c.finished_at.unwrap());
            claim += (s - c.created_at).as_seconds_f64();
            pre += (first - s).as_seconds_f64();
            remote += (done - first).as_seconds_f64();
            post += (f - done).as_seconds_f64();
            busy += (f - c.created_at).as_seconds_f64();
            n += 1.0;
        }
    }
    let ms = |x: f64| x * 1000.0 / n;
    println!(
        "  timeline per child (ms): created->claimed {:.1}, ->first remote line {:.1}, remote {:.1}, ->finished {:.1}; slot empty between children {:.1}",
        ms(claim),
        ms(pre),
        ms(remote),
        ms(post),
        (wall * PARALLEL as f64 - busy) * 1000.0 / n
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(unique("alfa-bench-fleet-"));
    std::fs::create_dir_all(&dir).unwrap();
    // The testbed user runs the Ansible job file from here.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cert = certificate(&dir);
    let bed = testbed::get();
    let key = bed.key.display().to_string();
    let prefix = format!("{}_c", unique("bf"));
    let env = [
        ("ALFA_CLIENT_DB_PREFIX", prefix.as_str()),
        ("ALFA_SSH_KEY", key.as_str()),
        ("ALFA_PROBE_INTERVAL", "off"),
        ("ALFA_LOG", "warn"),
    ];
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            worker: true,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Options::default()
        },
    )
    .await;
    let app = Arc::new(app);
    let first_port = 31_000 + u16::try_from(rand::random::<u32>() % 140).unwrap() * 200;
    let started = Instant::now();
    let mut prepared: Vec<(&Host, Vec<Prepared>)> = Vec::new();
    let mut servers = Vec::new();
    for (n, i) in HOSTS.iter().enumerate() {
        let host = bed.host(*i);
        let id = server(&app, host, first_port + u16::try_from(n).unwrap() * 100).await;
        servers.push(id);
        prepared.push((host, clients_on(&app, host, id, &cert).await));
    }
    for (_, made) in &prepared {
        for (id, ..) in made {
            alfa_cloud::store::clients::set_state(&app.engine.db, *id, ClientState::Active)
                .await
                .unwrap();
        }
    }
    for host in HOSTS {
        testbed::testbed(&["standin", &bed.host(host).name, &slow_migrate()]);
    }
    eprintln!(
        "fleet: 200 clients on 4 hosts prepared in {:.0?}",
        started.elapsed()
    );
    let jobs: Vec<Job> = prepared
        .iter()
        .flat_map(|(host, made)| {
            made.iter().map(|(_, sub, ..)| Job {
                addr: host.addr.clone(),
                base_dir: host.base_dir.clone(),
                sub: sub.clone(),
            })
        })
        .collect();

    let measured = tokio::spawn({
        let (dir, app) = (dir.clone(), app.clone());
        async move {
            // A warm-up run opens our connections and runs every first migration.
            let (warm, _) = ours(&app, &servers).await;
            let mut runs: Vec<f64> = Vec::new();
            let mut parents = Vec::new();
            let cpu = cpu_now();
            for _ in 0..RUNS {
                let (took, ids) = ours(&app, &servers).await;
                runs.push(took);
                parents.extend(ids);
            }
            let ours_cpu = cpu_per_client(cpu, RUNS);
            runs.sort_by(f64::total_cmp);
            let (best, median) = (runs[0], runs[RUNS / 2]);
            let rounds = PER_HOST.div_ceil(PARALLEL);
            let ideal = CLIENTS * MIGRATE_SECS
                / (HOSTS.len() * PARALLEL) as f64;
            println!(
                "fleet: migrate_all of 200 clients on 4 hosts, {PARALLEL} at a time per server, migrate 300 ms"
            );
            println!(
                "  ours (SQLite, API + worker in one process): best {best:.2} s, median {median:.2} s (warm-up {warm:.2} s); {ours_cpu}"
            );
            println!(
                "  ideal 200 x 0.3 s / (4 x {PARALLEL}) = {ideal:.2} s: ours/ideal {:.2}x (target <= 1.10x); a server's {PER_HOST} clients take {rounds} rounds of {PARALLEL}, {:.2} s at the very least",
                median / ideal,
                rounds as f64 * MIGRATE_SECS
            );
            if std::env::var("BENCH_FLEET_TIMELINE").as_deref() == Ok("1") {
                timeline(&app, &parents).await;
            }
            let known_hosts = dir.join("known_hosts").display().to_string();
            let common: Vec<String> = [
                "-p",
                &bed.ssh_port.to_string(),
                "-l",
                &bed.user,
                "-i",
                &key,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                &format!("UserKnownHostsFile={known_hosts}"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let cpu = cpu_now();
            let floor = on_host(&common, &jobs, &dir).await;
            println!(
                "  the jobs alone, run by each host itself as our warm shells run them ({PARALLEL} at a time, no SSH, database or orchestrator per job): {floor:.2} s = {:.2}x the ideal; ours {:.2}x this floor; {}",
                floor / ideal,
                median / floor,
                cpu_per_client(cpu, 1)
            );
            if std::env::var("BENCH_FLEET_BASELINES").as_deref() == Ok("0") {
                return;
            }
            let cpu = cpu_now();
            let cm = control_master(&common, &jobs, &dir).await;
            println!(
                "  an ssh process per client over a ControlMaster ({} at a time): {cm:.2} s: {:.2}x ours (target >= 1.15x); {}",
                PARALLEL * HOSTS.len(),
                cm / median,
                cpu_per_client(cpu, 1)
            );
            let cpu = cpu_now();
            match ansible(&jobs, &dir, &known_hosts) {
                Some(secs) => println!(
                    "  Ansible ad-hoc (-f {}, ControlPersist, pipelining): {secs:.2} s: {:.2}x ours (target >= 4.5x); {}",
                    PARALLEL * HOSTS.len(),
                    secs / median,
                    cpu_per_client(cpu, 1)
                ),
                None => println!("  Ansible: not installed (scripts/bench-fleet.sh installs it)"),
            }
            let seq = sequential(&common, &jobs).await;
            println!(
                "  a fresh ssh per client, one after the other: {seq:.2} s: {:.1}x ours (target >= 25x)",
                seq / median
            );
        }
    })
    .await;
    for host in HOSTS {
        testbed::testbed(&["standin", &bed.host(host).name, "{}"]);
    }
    for (host, made) in &prepared {
        cleanup(&app, host, made).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(failed) = measured {
        std::panic::resume_unwind(failed.into_panic());
    }
}
