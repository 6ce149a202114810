//! Bytes from one server to another through the worker: a command on the first server writes
//! to its stdout, a command on the second reads its stdin, and the worker copies between them
//! over the two pooled connections. No server needs to trust another; the worker counts and
//! hashes what passes, so both ends can be checked against it.

use std::time::Duration;

use openssh::Session;
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use super::pool::Pool;
use super::run::{Spawned, lost, spawn};
use super::{RemoteError, Target};

/// One end of a pipe: a program and its arguments (each quoted for the remote shell).
pub struct End<'a> {
    pub target: &'a Target,
    pub argv: &'a [&'a str],
}

/// What went through a pipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piped {
    pub bytes: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
}

/// Writes stdin to `$1` atomically (a temporary name beside it, the mode `$2`, a rename),
/// creating its folder (0700) when missing.
pub const RECEIVE_FILE: &str = r#"set -eu
umask 077
mkdir -p -- "$(dirname -- "$1")"
tmp=$(mktemp "$1.part.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod "$2" "$tmp"
mv -f "$tmp" "$1"
trap - EXIT"#;

/// How much of a failing end's stderr is kept for the message.
const STDERR_KEEP: usize = 4096;

/// Runs `from` and `to` at once and copies `from`'s stdout into `to`'s stdin. Fails when
/// either end fails (exit code and its stderr), on `timeout` and on `cancel`.
pub(super) async fn pipe(
    pool: &Pool,
    from: End<'_>,
    to: End<'_>,
    timeout: Duration,
    cancel: CancellationToken,
) -> Result<Piped, RemoteError> {
    let work = async {
        let mut source = spawn_end(pool, &from, true).await?;
        let mut sink = spawn_end(pool, &to, false).await?;
        let source_err = tokio::spawn(read_some(source.child.stderr().take()));
        let sink_err = tokio::spawn(read_some(sink.child.stderr().take()));
        let mut reader = source
            .child
            .stdout()
            .take()
            .ok_or_else(|| RemoteError::Other("no stdout on the sending end".into()))?;
        let mut writer = sink
            .child
            .stdin()
            .take()
            .ok_or_else(|| RemoteError::Other("no stdin on the receiving end".into()))?;
        let mut hasher = sha2::Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        let mut write_failed = None;
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| {
                RemoteError::Other(format!("reading from {}: {e}", from.target.host))
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
            if let Err(e) = writer.write_all(&buf[..n]).await {
                // The receiving end stopped early: its exit code and stderr say why.
                write_failed = Some(e);
                break;
            }
        }
        let _ = writer.shutdown().await;
        drop(writer);
        drop(reader);
        let source_status = source
            .child
            .wait()
            .await
            .map_err(|e| lost(from.target, &e))?;
        let sink_status = sink.child.wait().await.map_err(|e| lost(to.target, &e))?;
        let source_err = source_err.await.unwrap_or_default();
        let sink_err = sink_err.await.unwrap_or_default();
        if !sink_status.success() {
            return Err(RemoteError::Other(format!(
                "{} on {} failed (exit {}): {}",
                to.argv.first().unwrap_or(&"?"),
                to.target.host,
                sink_status.code().unwrap_or(-1),
                sink_err.trim()
            )));
        }
        if let Some(e) = write_failed {
            return Err(RemoteError::Other(format!(
                "sending to {} failed: {e}",
                to.target.host
            )));
        }
        if !source_status.success() {
            return Err(RemoteError::Other(format!(
                "{} on {} failed (exit {}): {}",
                from.argv.first().unwrap_or(&"?"),
                from.target.host,
                source_status.code().unwrap_or(-1),
                source_err.trim()
            )));
        }
        Ok(Piped {
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    };
    tokio::select! {
        result = work => result,
        () = cancel.cancelled() => Err(RemoteError::Cancelled),
        () = tokio::time::sleep(timeout) => Err(RemoteError::Timeout { after: timeout }),
    }
}

async fn spawn_end(pool: &Pool, end: &End<'_>, sending: bool) -> Result<Spawned, RemoteError> {
    let (program, args) = end
        .argv
        .split_first()
        .ok_or_else(|| RemoteError::Other("no program to run".into()))?;
    spawn(pool, end.target, |session| {
        let mut command = Session::to_command(session, *program);
        command.args(args).stderr(openssh::Stdio::piped());
        if sending {
            command
                .stdin(openssh::Stdio::null())
                .stdout(openssh::Stdio::piped());
        } else {
            command
                .stdin(openssh::Stdio::piped())
                .stdout(openssh::Stdio::null());
        }
        command
    })
    .await
}

/// The first [`STDERR_KEEP`] bytes of a stream (the rest is read and dropped, so the remote
/// side never blocks on a full pipe).
async fn read_some(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
