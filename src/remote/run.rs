//! Running a job script and uploading files over a pooled connection.

use std::sync::Arc;
use std::time::Duration;

use openssh::Session;
use secrecy::ExposeSecret as _;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

use super::pool::Pool;
use super::{Job, Line, RemoteError, RunOpts, RunOutcome, Stream, Target};

/// The first line of every script's stdin: report the process group to kill on cancel.
/// Builtins only (field 5 of /proc/$$/stat is the group), so it costs no process.
const PRELUDE: &str = "if read -r -a __alfa_stat </proc/$$/stat 2>/dev/null; \
then printf '::pgid %s\\n' \"${__alfa_stat[4]}\"; else printf '::pgid %s\\n' \"$$\"; fi; \
unset __alfa_stat\n";

/// A command spawned on a pooled connection.
pub(super) struct Spawned {
    pub(super) child: openssh::Child<Arc<Session>>,
    session: Arc<Session>,
    /// The host key learned if this spawn opened the connection (trust on first use).
    learned_host_key: Option<String>,
    /// One of the connection's in-flight slots, held until the command is dropped.
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Spawns `build(session)` on `target`'s pooled connection once one of its in-flight slots is
/// free; when the connection turns out dead, reconnects once and tries again.
pub(super) async fn spawn(
    pool: &Pool,
    target: &Target,
    build: impl Fn(Arc<Session>) -> openssh::OwningCommand<Arc<Session>>,
) -> Result<Spawned, RemoteError> {
    let conn = pool.conn(target);
    let slot = conn
        .slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| RemoteError::Other(e.to_string()))?;
    let mut retried = false;
    loop {
        let (session, learned_host_key) = pool.session(&conn).await?;
        match build(session.clone()).spawn().await {
            Ok(child) => {
                return Ok(Spawned {
                    child,
                    session,
                    learned_host_key,
                    _slot: slot,
                });
            }
            Err(err) if !retried => {
                tracing::info!(server.host = %target.host, error = %err, "SSH connection lost; reconnecting");
                pool.reset(&conn, &session).await;
                retried = true;
            }
            Err(err) => return Err(lost(target, &err)),
        }
    }
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

    let Spawned {
        mut child,
        session,
        learned_host_key,
        _slot,
    } = spawn(pool, target, |session| {
        let mut command = Session::to_command(session, "bash");
        command
            .arg("-s")
            .arg("--")
            .args(job.args)
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        command
    })
    .await?;

    let mut input = String::from(PRELUDE);
    for (name, value) in job.env {
        input.push_str(&format!("export {name}={}\n", quote(value.expose_secret())));
    }
    input.push_str(&job.script.text());
    let mut stdin = child
        .stdin()
        .take()
        .ok_or_else(|| RemoteError::Other("no stdin".into()))?;
    // Written concurrently with reading, so a large script cannot dead-lock on a full pipe.
    tokio::spawn(async move {
        let _ = stdin.write_all(input.as_bytes()).await;
        let _ = stdin.shutdown().await;
    });

    let (tx, mut rx) = mpsc::unbounded_channel();
    if let Some(out) = child.stdout().take() {
        tokio::spawn(read_lines(out, Stream::Out, tx.clone()));
    }
    if let Some(err) = child.stderr().take() {
        tokio::spawn(read_lines(err, Stream::Err, tx.clone()));
    }
    drop(tx);

    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    let mut pgid: Option<u32> = None;
    loop {
        tokio::select! {
            biased;
            line = rx.recv() => match line {
                Some(Line { stream: Stream::Out, text }) if pgid.is_none() && text.starts_with("::pgid ") => {
                    pgid = text["::pgid ".len()..].trim().parse().ok();
                }
                Some(mut line) => {
                    line.text = redactor.redact(&line.text).into_owned();
                    on_line(line);
                }
                None => break,
            },
            () = opts.cancel.cancelled() => {
                kill(session, pgid, target).await;
                return Err(RemoteError::Cancelled);
            }
            () = &mut deadline => {
                kill(session, pgid, target).await;
                return Err(RemoteError::Timeout { after: opts.timeout });
            }
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .map_err(|_| {
            RemoteError::Other("the remote command closed its output but did not exit".into())
        })?
        .map_err(|e| lost(target, &e))?;
    Ok(RunOutcome {
        exit_code: status.code().unwrap_or(-1),
        learned_host_key,
    })
}

async fn read_lines(
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

/// Single-quotes a value for bash (used only for what travels on stdin).
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

pub(super) fn lost(target: &Target, err: &openssh::Error) -> RemoteError {
    RemoteError::Unreachable {
        host: format!("{}@{}:{}", target.user, target.host, target.port),
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
        mut child, _slot, ..
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
    let Spawned { child, _slot, .. } = spawn(pool, target, |session| {
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
