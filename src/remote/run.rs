//! Running a job script and uploading files over a pooled connection.

use std::sync::Arc;
use std::time::Duration;

use openssh::Session;
use secrecy::ExposeSecret as _;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::sync::{OwnedSemaphorePermit, TryAcquireError, mpsc};

use super::pool::{Conn, Pool};
use super::shell::{self, Shell};
use super::{Job, Line, RemoteError, RunOpts, RunOutcome, Stream, Target, scripts};

/// A command spawned on a pooled connection.
pub(super) struct Spawned {
    pub(super) child: openssh::Child<Arc<Session>>,
    pub(super) session: Arc<Session>,
    /// The host key learned if this spawn opened the connection (trust on first use).
    pub(super) learned_host_key: Option<String>,
    /// One of the connection's session slots, held until the command is dropped.
    pub(super) slot: OwnedSemaphorePermit,
}

/// How long a task waiting for a session looks no further than a free slot or a resting shell
/// (a wake-up it missed costs at most this).
const SLOT_RECHECK: Duration = Duration::from_millis(50);

/// A session of `conn` for a job: an idle warm shell, else a free slot for a new one, else
/// whichever of the two comes first.
enum ForJob {
    Shell(Box<Shell>),
    Slot(OwnedSemaphorePermit),
}

async fn for_job(pool: &Pool, conn: &Conn) -> Result<ForJob, RemoteError> {
    loop {
        let rested = conn.rested.notified();
        if let Some(shell) = idle_shell(pool, conn) {
            return Ok(ForJob::Shell(Box::new(shell)));
        }
        if let Some(permit) = free_slot(conn)? {
            return Ok(ForJob::Slot(permit));
        }
        tokio::select! {
            permit = conn.slots.clone().acquire_owned() => {
                return permit.map(ForJob::Slot).map_err(|e| RemoteError::Other(e.to_string()));
            }
            () = rested => {}
            () = tokio::time::sleep(SLOT_RECHECK) => {}
        }
    }
}

/// A session slot of `conn` for a plain command: a free one, else one an idle warm shell gives
/// up (closed first, so sshd never counts more sessions than the slots), else the first to
/// free.
async fn slot(conn: &Conn) -> Result<OwnedSemaphorePermit, RemoteError> {
    loop {
        let rested = conn.rested.notified();
        if let Some(permit) = free_slot(conn)? {
            return Ok(permit);
        }
        let idle = conn.idle.lock().pop();
        if let Some(shell) = idle {
            shell.close().await;
            continue;
        }
        tokio::select! {
            permit = conn.slots.clone().acquire_owned() => {
                return permit.map_err(|e| RemoteError::Other(e.to_string()));
            }
            () = rested => {}
            () = tokio::time::sleep(SLOT_RECHECK) => {}
        }
    }
}

fn free_slot(conn: &Conn) -> Result<Option<OwnedSemaphorePermit>, RemoteError> {
    match conn.slots.clone().try_acquire_owned() {
        Ok(permit) => Ok(Some(permit)),
        Err(TryAcquireError::NoPermits) => Ok(None),
        Err(e @ TryAcquireError::Closed) => Err(RemoteError::Other(e.to_string())),
    }
}

/// The most recently rested shell of `conn` that is still there (the others are dropped).
fn idle_shell(pool: &Pool, conn: &Conn) -> Option<Shell> {
    loop {
        let mut shell = conn.idle.lock().pop()?;
        if shell.idle_since.elapsed() < pool.settings.idle_close && shell.is_ready() {
            return Some(shell);
        }
    }
}

/// Spawns `build(session)` on `target`'s pooled connection once one of its session slots is
/// free; when the connection turns out dead, reconnects once and tries again.
pub(super) async fn spawn(
    pool: &Pool,
    target: &Target,
    build: impl Fn(Arc<Session>) -> openssh::OwningCommand<Arc<Session>>,
) -> Result<Spawned, RemoteError> {
    let conn = pool.conn(target);
    let slot = slot(&conn).await?;
    spawn_in(pool, target, &conn, slot, build).await
}

/// Spawns `build(session)` in `slot` of `conn`.
async fn spawn_in(
    pool: &Pool,
    target: &Target,
    conn: &Conn,
    slot: OwnedSemaphorePermit,
    build: impl Fn(Arc<Session>) -> openssh::OwningCommand<Arc<Session>>,
) -> Result<Spawned, RemoteError> {
    let mut retried = false;
    loop {
        let (session, learned_host_key) = pool.session(conn).await?;
        match build(session.clone()).spawn().await {
            Ok(child) => {
                return Ok(Spawned {
                    child,
                    session,
                    learned_host_key,
                    slot,
                });
            }
            Err(err) if !retried => {
                tracing::info!(server.host = %target.host, error = %err, "SSH connection lost; reconnecting");
                pool.reset(conn, &session).await;
                retried = true;
            }
            Err(err) => return Err(lost(target, &err)),
        }
    }
}

/// A warm shell for a job: an idle one of `conn`, else a new one (with the host key its
/// connection learned, if it opened the connection). True when reused.
async fn shell(
    pool: &Pool,
    target: &Target,
    conn: &Conn,
) -> Result<(Shell, bool, Option<String>), RemoteError> {
    conn.touch();
    let slot = match for_job(pool, conn).await? {
        ForJob::Shell(shell) => return Ok((*shell, true, None)),
        ForJob::Slot(slot) => slot,
    };
    let Spawned {
        child,
        session,
        learned_host_key,
        slot,
    } = spawn_in(pool, target, conn, slot, |session| {
        let mut command = Session::to_command(session, "bash");
        command
            .arg("-s")
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        command
    })
    .await?;
    let shell = Shell::new(child, session, slot)
        .ok_or_else(|| RemoteError::Other("the shell's streams are missing".into()))?;
    Ok((shell, false, learned_host_key))
}

/// Why a job stopped following its output.
enum Stop {
    Ended(shell::End),
    Cancelled,
    TimedOut,
}

pub(super) async fn run(
    pool: &Pool,
    target: &Target,
    job: &Job<'_>,
    mut on_line: impl FnMut(Line) + Send,
    opts: RunOpts,
) -> Result<RunOutcome, RemoteError> {
    // Secrets given as environment also count as secrets to mask.
    let redactor = opts
        .redactor
        .with(job.env.iter().map(|(_, v)| v.expose_secret().to_owned()));
    let env: Vec<(&str, &str)> = job
        .env
        .iter()
        .map(|(name, value)| (*name, value.expose_secret()))
        .collect();
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let conn = pool.conn(target);
    loop {
        let (mut shell, reused, learned_host_key) = shell(pool, target, &conn).await?;
        let sent = tokio::time::timeout_at(
            deadline,
            shell.send(scripts::LIB, job.script.body(), &env, job.args),
        )
        .await;
        let nonce = match sent {
            Ok(Ok(nonce)) => nonce,
            // A shell that died while idle: the job never reached it.
            Ok(Err(_)) if reused => continue,
            Ok(Err(err)) => {
                return Err(RemoteError::Unreachable {
                    host: host(target),
                    reason: format!("the SSH session closed while the job was sent: {err}"),
                });
            }
            Err(_) => {
                return Err(RemoteError::Timeout {
                    after: opts.timeout,
                });
            }
        };
        let session = shell.session.clone();
        let pgid = std::sync::OnceLock::<u32>::new();
        let stop = tokio::select! {
            biased;
            end = shell.follow(&nonce, |mut line| {
                if line.stream == Stream::Out && pgid.get().is_none() && line.text.starts_with("::pgid ") {
                    if let Ok(id) = line.text["::pgid ".len()..].trim().parse() {
                        let _ = pgid.set(id);
                    }
                    return;
                }
                line.text = redactor.redact(&line.text).into_owned();
                on_line(line);
            }) => Stop::Ended(end),
            () = opts.cancel.cancelled() => Stop::Cancelled,
            () = tokio::time::sleep_until(deadline) => Stop::TimedOut,
        };
        match stop {
            Stop::Ended(shell::End::Exited(exit_code)) => {
                conn.rest(shell, pool.settings.idle_close);
                return Ok(RunOutcome {
                    exit_code,
                    learned_host_key,
                });
            }
            // A reused shell that closed before the job printed its process group: the job
            // did not run there; it runs on another shell.
            Stop::Ended(shell::End::Closed { started: false }) if reused => {}
            Stop::Ended(shell::End::Closed { .. }) => {
                return Err(RemoteError::Unreachable {
                    host: host(target),
                    reason: "the SSH session closed before the command ended".into(),
                });
            }
            Stop::Cancelled => {
                drop(shell);
                kill(session, pgid.get().copied(), target).await;
                return Err(RemoteError::Cancelled);
            }
            Stop::TimedOut => {
                drop(shell);
                kill(session, pgid.get().copied(), target).await;
                return Err(RemoteError::Timeout {
                    after: opts.timeout,
                });
            }
        }
    }
}

pub(super) async fn read_lines(
    reader: impl AsyncRead + Unpin,
    stream: Stream,
    tx: mpsc::UnboundedSender<Line>,
) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_owned();
                if tx.send(Line { stream, text }).is_err() {
                    return;
                }
            }
        }
    }
}

/// Stops the remote command: TERM to its process group now, KILL two seconds later.
async fn kill(session: Arc<Session>, pgid: Option<u32>, target: &Target) {
    let Some(pgid) = pgid else {
        tracing::warn!(server.host = %target.host, "cannot stop the remote command: its process group is unknown");
        return;
    };
    let group = format!("-{pgid}");
    let _ = Session::to_command(session.clone(), "kill")
        .args(["-TERM", "--", &group])
        .status()
        .await;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = Session::to_command(session, "kill")
            .args(["-KILL", "--", &group])
            .stderr(openssh::Stdio::null())
            .status()
            .await;
    });
}

fn host(target: &Target) -> String {
    format!("{}@{}:{}", target.user, target.host, target.port)
}

pub(super) fn lost(target: &Target, err: &openssh::Error) -> RemoteError {
    RemoteError::Unreachable {
        host: host(target),
        reason: format!("the SSH connection failed: {err}"),
    }
}

/// Writes `path` atomically: temp file beside it, mode, group, rename.
const UPLOAD: &str = r#"set -eu
umask 077
tmp=$(mktemp "$1.tmp.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod "$2" "$tmp"
if [ -n "$3" ]; then chgrp "$3" "$tmp"; fi
mv -f "$tmp" "$1"
trap - EXIT"#;

pub(super) async fn upload(
    pool: &Pool,
    target: &Target,
    path: &str,
    contents: &[u8],
    mode: u32,
    group: Option<&str>,
) -> Result<(), RemoteError> {
    let Spawned {
        mut child,
        slot: _slot,
        ..
    } = spawn(pool, target, |session| {
        let mut command = Session::to_command(session, "bash");
        command
            .arg("-c")
            .arg(UPLOAD)
            .arg("alfa-upload")
            .arg(path)
            .arg(format!("{mode:o}"))
            .arg(group.unwrap_or(""))
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::null())
            .stderr(openssh::Stdio::piped());
        command
    })
    .await?;
    if let Some(mut stdin) = child.stdin().take() {
        stdin
            .write_all(contents)
            .await
            .map_err(|e| RemoteError::Other(format!("sending {path}: {e}")))?;
        let _ = stdin.shutdown().await;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| lost(target, &e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RemoteError::Other(format!(
            "writing {path} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// What a plain command printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs one program with arguments (each quoted for the remote shell) on `target`.
pub(super) async fn exec(
    pool: &Pool,
    target: &Target,
    argv: &[&str],
    timeout: Duration,
) -> Result<Output, RemoteError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| RemoteError::Other("no program to run".into()))?;
    let Spawned {
        child, slot: _slot, ..
    } = spawn(pool, target, |session| {
        let mut command = Session::to_command(session, *program);
        command
            .args(args)
            .stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        command
    })
    .await?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| RemoteError::Timeout { after: timeout })?
        .map_err(|e| lost(target, &e))?;
    Ok(Output {
        exit_code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
