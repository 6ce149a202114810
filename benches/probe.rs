//! Probe figures for scripts/bench-probe.sh (`cargo bench --bench probe`), on 4 test hosts with
//! 200 real clients (compose projects of the docker stand-in with their fake apps, https vhosts
//! in the hosts' real nginx, databases with a `users` table in the machine's MariaDB) among
//! 10,000 listed ones, on SQLite and on PostgreSQL, in one run:
//! - one full probe pass over the 200 (target <= 2 s): best and median of 5 after a warm-up;
//! - `GET /clients?page=N&per_page=50` with the page cache off, measured by wrk: idle, then
//!   while probe passes run back to back (targets: at least 3,000 req/s and p99 at most 10 ms on
//!   SQLite, at least 1,500 req/s on PostgreSQL), with the ratio to the idle figure; twice: with
//!   the test hosts' processes (the fleet's side of every probe: sshd, bash, curl, nginx, the fake apps,
//!   the labs' MariaDB) set apart in a cgroup of low CPU weight, as if they ran on their own
//!   machines, and with every process at one weight, this machine doing both sides' work. Each
//!   line says how much CPU this process (API + probe loop) took and how busy the machine was.
//!
//! The clients are prepared directly rather than created (that is bench-create's business):
//! rows through the API then marked active, the stand-in's projects, vhosts and databases made
//! as a creation would leave them, so the probe goes through real SSH, nginx and SQL.

#[path = "common/prepared.rs"]
mod prepared;
#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports, unused_macros)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use alfa_cloud::store::{Db, clients};
use prepared::{PER_HOST, certificate, cleanup, clients_on, server, unique};
use support::testbed;
use support::{Backend, Options, TestApp};

/// Test hosts used (h17..h20), clients per host, clients listed in all.
const HOSTS: [usize; 4] = [7, 8, 9, 10];
const LISTED: i64 = 10_000;

/// Runs `sql` on whichever engine `db` is.
async fn execute(db: &Db, sql: &str, at: chrono::DateTime<chrono::Utc>, server: i64) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Db::Sqlite(pool) => sqlx::query(sql)
            .bind(at)
            .bind(server)
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(at)
            .bind(server)
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap_or_else(|e| panic!("bench setup failed: {e}"));
}

/// Fills the list up to [`LISTED`] clients with failed creations on `server` (never probed,
/// as a fleet's history holds them), and marks the prepared clients active.
async fn fill(db: &Db, server: i64) {
    let rows = LISTED - i64::try_from(HOSTS.len() * PER_HOST).unwrap();
    let now = chrono::Utc::now();
    execute(db, &format!(
        "INSERT INTO clients (server_id, name, short_name, admin_f, admin_i, admin_o, admin_login, \
         subdomain, fqdn, email, phone, city, timezone, version_tag, allowed_ips, config, license, \
         license_expires_at, billing_type, state, created_at, updated_at) \
         SELECT $2, 'Laboratory ' || i, 'L' || i, 'Ivanov', 'Ivan', 'Ivanovich', 'admin', \
         'f' || i, 'f' || i || '.filler.test', 'admin@lab.example', '+7 900 000 00 00', 'Kazan', \
         'Europe/Moscow', '1.3-master', '[\"10.0.0.0/8\"]', '', '', $1, 'PAID', 'error', $1, $1 \
         FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         SELECT i FROM n) s"
    ), now, server).await;
    execute(db, "UPDATE clients SET state = 'active' WHERE state = 'pending' AND updated_at < $1 AND server_id > $2", now, 0).await;
    if let Db::Postgres(pool) = db {
        // What autovacuum does within a minute of a bulk insert: index-only scans (the count,
        // the page's ids) need the visibility map.
        sqlx::query("VACUUM ANALYZE").execute(pool).await.unwrap();
    }
}

/// wrk against the list, page cache off: (requests/s, p99 ms).
fn wrk(base: &str, lua: &std::path::Path, seconds: u32) -> (f64, f64) {
    let out = std::process::Command::new("wrk")
        .args(["-t1", "-c16", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(lua)
        .arg(base)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| {
            let v = v.trim();
            let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
            if let Some(us) = v.strip_suffix("us") {
                num(us) / 1000.0
            } else if let Some(ms) = v.strip_suffix("ms") {
                num(ms)
            } else if let Some(s) = v.strip_suffix('s') {
                num(s) * 1000.0
            } else {
                f64::NAN
            }
        })
        .unwrap_or(f64::NAN);
    (rps, p99)
}

async fn run(backend: Backend, label: &str, first_port: u16, cert: &str, seconds: u32) {
    let bed = testbed::get();
    let key = bed.key.display().to_string();
    let prefix = format!("{}_c", unique("bp"));
    let pool = if backend == Backend::Sqlite {
        "8"
    } else {
        "10"
    };
    let env = [
        ("ALFA_CLIENT_DB_PREFIX", prefix.as_str()),
        ("ALFA_SSH_KEY", key.as_str()),
        ("ALFA_PAGE_CACHE_MB", "0"),
        ("ALFA_PROBE_INTERVAL", "off"),
        ("ALFA_DB_MAX_CONNECTIONS", pool),
        ("ALFA_LOG", "warn"),
    ];
    let app = TestApp::spawn_with(
        backend,
        Options {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Options::default()
        },
    )
    .await;
    let started = Instant::now();
    let mut prepared = Vec::new();
    let mut last_server = 0;
    for (n, i) in HOSTS.iter().enumerate() {
        let host = bed.host(*i);
        let port = first_port + u16::try_from(n).unwrap() * 100;
        last_server = server(&app, host, port).await;
        prepared.push((host, clients_on(&app, host, last_server, cert).await));
    }
    fill(&app.engine.db, last_server).await;
    eprintln!(
        "probe {label}: 200 clients on 4 hosts prepared in {:.0?}",
        started.elapsed()
    );

    // Measured in a task of its own, so that what was prepared is removed even when it fails.
    let measured = tokio::spawn(measure(
        app.engine.clone(),
        app.base.clone(),
        app.data_dir.clone(),
        label.to_owned(),
        seconds,
    ))
    .await;
    for (host, made) in &prepared {
        cleanup(&app, host, made).await;
    }
    if let Err(failed) = measured {
        std::panic::resume_unwind(failed.into_panic());
    }
}

async fn measure(
    engine: alfa_cloud::ops::Engine,
    base: String,
    dir: std::path::PathBuf,
    label: String,
    seconds: u32,
) {
    let warm = engine.probe_pass().await.unwrap();
    if warm.available != HOSTS.len() * PER_HOST {
        eprintln!(
            "probe {label}: only {} of {} available after the warm-up pass",
            warm.available, warm.clients
        );
    }
    let mut times = Vec::new();
    let cpu_before = own_cpu_secs();
    for _ in 0..5 {
        let pass = engine.probe_pass().await.unwrap();
        assert_eq!(
            pass.clients,
            HOSTS.len() * PER_HOST,
            "every prepared client is probed"
        );
        times.push(pass.elapsed.as_secs_f64());
    }
    let pass_cpu_ms = (own_cpu_secs() - cpu_before) * 1000.0 / 5.0;
    times.sort_by(f64::total_cmp);
    println!(
        "probe {label}: one full pass over {} clients on {} hosts: best {:.2} s, median {:.2} s (target <= 2 s), {} available; \
         {pass_cpu_ms:.0} ms of this process's CPU a pass",
        warm.clients, warm.servers, times[0], times[2], warm.available
    );

    let query = clients::ClientQuery {
        server_id: None,
        billing_type: None,
        state: None,
        q: None,
        sort: clients::SortKey::Id,
        descending: false,
        page: 100,
        per_page: 50,
    };
    let built = Instant::now();
    for _ in 0..200 {
        clients::page_json(&engine.db, &query).await.unwrap();
    }
    println!(
        "probe {label}: the database builds page 100 of 50 clients as JSON in {:.2} ms",
        built.elapsed().as_secs_f64() * 1000.0 / 200.0
    );
    std::fs::create_dir_all(&dir).unwrap();
    let lua = dir.join("list.lua");
    let auth = base64_auth();
    std::fs::write(&lua, format!(
        "wrk.headers[\"Authorization\"] = \"{auth}\"\nmath.randomseed(42)\nrequest = function()\n  \
         return wrk.format(\"GET\", \"/clients?page=\" .. math.random(1, 200) .. \"&per_page=50\")\nend\n"
    )).unwrap();
    // wrk blocks: off the runtime's threads, which serve the API.
    let (idle_rps, idle_p99) = tokio::task::spawn_blocking({
        let (base, lua) = (base.clone(), lua.clone());
        move || wrk(&base, &lua, seconds)
    })
    .await
    .unwrap();
    // The test hosts stand in for the fleet's own machines, yet here they share this machine's
    // two cores with the API, its database and wrk. Measured twice: with every process at the
    // same priority (this machine does both sides' work), and with the hosts' processes (sshd,
    // nginx, stand-ins, fake apps, the labs' MariaDB) at nice 19, as if they ran elsewhere.
    let shared = busy(&engine, &base, &lua, seconds).await;
    let mut figures = Vec::new();
    match HostsApart::new() {
        Ok(hosts) => {
            let apart = busy(&engine, &base, &lua, seconds).await;
            drop(hosts);
            figures.push((
                "the test hosts' processes in a cgroup of CPU weight 128 (each of ours 1024), as on their own machines",
                apart,
            ));
        }
        Err(why) => println!("probe {label}: the test hosts cannot be set apart: {why}"),
    }
    figures.push(("every process at one weight", shared));
    for (what, b) in &figures {
        println!(
            "probe {label}: GET /clients (cache off, {LISTED} clients) while probe passes run back to back, {what}: \
             {:.0} req/s p99 {:.2} ms ({:.2}x idle {idle_rps:.0} req/s p99 {idle_p99:.2} ms); {} passes, {:.2} s each; \
             this process (API + probe loop) {:.0}% of a core, the machine {:.0}% busy",
            b.rps,
            b.p99,
            b.rps / idle_rps,
            b.passes,
            b.pass_secs,
            b.own_cpu * 100.0,
            b.machine_busy * 100.0,
        );
    }
}

/// The list under wrk while probe passes run back to back.
struct Busy {
    rps: f64,
    p99: f64,
    passes: u64,
    pass_secs: f64,
    /// CPU seconds this process used per second.
    own_cpu: f64,
    /// The share of the machine's CPU time not idle.
    machine_busy: f64,
}

async fn busy(
    engine: &alfa_cloud::ops::Engine,
    base: &str,
    lua: &std::path::Path,
    seconds: u32,
) -> Busy {
    let stop = Arc::new(AtomicBool::new(false));
    let passes = Arc::new(AtomicU64::new(0));
    let prober = {
        let (engine, stop, passes) = (engine.clone(), stop.clone(), passes.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                engine.probe_pass().await.unwrap();
                passes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let window = Instant::now();
    let (own0, machine0) = (own_cpu_secs(), machine_cpu());
    let (rps, p99) = tokio::task::spawn_blocking({
        let (base, lua) = (base.to_owned(), lua.to_owned());
        move || wrk(&base, &lua, seconds)
    })
    .await
    .unwrap();
    let elapsed = window.elapsed().as_secs_f64();
    let (own1, machine1) = (own_cpu_secs(), machine_cpu());
    stop.store(true, Ordering::Relaxed);
    prober.await.unwrap();
    let passes = passes.load(Ordering::Relaxed);
    let (busy, total) = (machine1.0 - machine0.0, machine1.1 - machine0.1);
    Busy {
        rps,
        p99,
        passes,
        pass_secs: elapsed / passes.max(1) as f64,
        own_cpu: (own1 - own0) / elapsed,
        machine_busy: busy / total.max(1.0),
    }
}

/// CPU seconds (user + system) this process has used.
fn own_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// The machine's (busy, total) CPU ticks since boot, from /proc/stat.
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu: Vec<f64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    let total: f64 = cpu.iter().sum();
    // idle and iowait
    (total - cpu[3] - cpu[4], total)
}

/// The processes standing in for the fleet's machines: everything started from the testbed's
/// folder (sshd, nginx, stand-ins, fake apps, the SQL proxy), the labs' MariaDB, and all their
/// descendants (sshd's sessions, nginx's workers).
fn host_side_pids() -> Vec<i32> {
    let dir = testbed::get()
        .host(1)
        .dir
        .parent()
        .unwrap()
        .display()
        .to_string();
    let mut parent = std::collections::HashMap::new();
    let mut roots = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if (cmdline.contains(&dir) && !cmdline.contains("pebble"))
            || cmdline.starts_with("/usr/sbin/mariadbd")
        {
            roots.push(pid);
        }
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            let rest = &stat[stat.rfind(')').unwrap_or(0) + 2..];
            if let Some(ppid) = rest.split(' ').nth(1).and_then(|p| p.parse::<i32>().ok()) {
                parent.insert(pid, ppid);
            }
        }
    }
    let mut all: std::collections::HashSet<i32> = roots.iter().copied().collect();
    loop {
        let more: Vec<i32> = parent
            .iter()
            .filter(|(pid, ppid)| all.contains(ppid) && !all.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            break;
        }
        all.extend(more);
    }
    all.into_iter().collect()
}

/// The test hosts' processes (see [`host_side_pids`]) moved into a cgroup (v1 `cpu`
/// controller) of CPU weight 128, the whole group against 1024 for each of our processes,
/// until dropped: they run mostly on what the API, its database and wrk leave, as if they were
/// the fleet's own machines (under wrk their passes slow down to curl's 5 s limit, yet results
/// keep arriving). Their children (new SSH sessions, curl, nginx's workers) are born in it.
struct HostsApart {
    group: std::path::PathBuf,
}

impl HostsApart {
    fn new() -> Result<Self, String> {
        let group = std::path::PathBuf::from(format!(
            "/sys/fs/cgroup/cpu/alfa-bench-hosts-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&group)
            .and_then(|()| std::fs::write(group.join("cpu.shares"), "128"))
            .map_err(|e| {
                format!(
                    "no cgroup v1 cpu controller to use at {}: {e}",
                    group.display()
                )
            })?;
        for pid in host_side_pids() {
            // A process that ended meanwhile cannot be moved: fine.
            let _ = std::fs::write(group.join("cgroup.procs"), pid.to_string());
        }
        Ok(Self { group })
    }
}

impl Drop for HostsApart {
    fn drop(&mut self) {
        let procs = std::fs::read_to_string(self.group.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let _ = std::fs::write("/sys/fs/cgroup/cpu/cgroup.procs", pid);
        }
        let _ = std::fs::remove_dir(&self.group);
    }
}

fn base64_auth() -> String {
    use base64::Engine as _;
    let raw = format!("{}:{}", support::ADMIN, support::ADMIN_PASSWORD);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(unique("alfa-bench-probe-"));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = certificate(&dir);
    // Port blocks apart from the tests' (20000-29999) and from earlier runs'.
    let base = 31_000 + u16::try_from(rand::random::<u32>() % 140).unwrap() * 200;
    run(Backend::Sqlite, "sqlite", base, &cert, seconds).await;
    run(Backend::Postgres, "postgres", base + 8_000, &cert, seconds).await;
    let _ = std::fs::remove_dir_all(&dir);
}
