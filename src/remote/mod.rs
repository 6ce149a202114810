//! SSH to the fleet's servers: one multiplexed master connection per server (the `openssh`
//! crate, native-mux), shared by every job of the process, with a bound on commands in
//! flight, trust-on-first-use host keys, timeouts, live output, cancel, and secrets masked.
//!
//! Commands are argument vectors (`Command::arg` quotes for the remote shell). Job scripts run
//! in warm shells ([`shell`]): a logged-in bash per session slot with `jobs/lib.sh` loaded
//! once, each job in a subshell of it; scripts, arguments and secrets travel on its stdin,
//! never on a command line where `ps` would show them.

mod forward;
mod orphans;
mod pool;
mod redact;
mod run;
pub mod scripts;
mod shell;
mod transfer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub use forward::Forward;
pub use redact::Redactor;
pub use run::Output;
pub use scripts::Script;
pub use transfer::{End, Piped, RECEIVE_FILE};

pub struct RemoteSettings {
    /// The private key workers log in with.
    pub key_path: PathBuf,
    /// Sessions per server: commands in flight and warm shells (below sshd's MaxSessions,
    /// 10 by default).
    pub max_inflight: usize,
    pub connect_timeout: Duration,
    /// A connection unused this long is closed (its master exits too).
    pub idle_close: Duration,
    /// Control sockets and per-connection known_hosts files.
    pub control_dir: PathBuf,
}

/// Where and as whom. One pooled connection per distinct target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// known_hosts line(s) recorded at the first connection; `None`: trust on first use.
    pub host_key: Option<String>,
}

/// A script to run with its arguments, and secrets it receives as environment variables.
pub struct Job<'a> {
    pub script: Script,
    pub args: &'a [String],
    pub env: &'a [(&'a str, &'a secrecy::SecretString)],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// One line of remote output, secrets already masked.
#[derive(Clone, Debug)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

pub struct RunOpts {
    pub timeout: Duration,
    pub cancel: CancellationToken,
    pub redactor: Redactor,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub exit_code: i32,
    /// The host key learned by trusting it on first use, for the caller to record.
    pub learned_host_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("the SSH host key of {host} changed since it was first recorded")]
    HostKeyChanged { host: String },
    #[error("the command did not finish within {}s", .after.as_secs())]
    Timeout { after: Duration },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Other(String),
}

/// The SSH side of a process; cheap to clone.
#[derive(Clone)]
pub struct Remote(Arc<pool::Pool>);

/// This process's folder for SSH control sockets: under the system's temporary folder, since a
/// socket path may not exceed 107 bytes and ssh adds ~50 to it; one per process, so that two
/// processes never share a master or a known_hosts file.
pub fn control_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "{}{}-{}",
        orphans::PREFIX,
        std::process::id(),
        &ulid::Ulid::generate().to_string()[20..]
    ))
}

impl Remote {
    /// A transport whose control sockets live in `settings.control_dir`. First closes the
    /// masters that killed processes of ours left beside it.
    pub fn new(settings: RemoteSettings) -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;
        if let Some(parent) = settings.control_dir.parent() {
            orphans::reap(parent);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&settings.control_dir)
            .with_context(|| format!("cannot create {}", settings.control_dir.display()))?;
        Ok(Self(Arc::new(pool::Pool::new(settings))))
    }

    /// Returns the public key line of `key_path`, generating an ed25519 pair (0600) first
    /// when there is none.
    pub fn ensure_key(key_path: &Path) -> anyhow::Result<String> {
        if !key_path.exists() {
            if let Some(dir) = key_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let status = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "alfa-cloud", "-f"])
                .arg(key_path)
                .stdin(std::process::Stdio::null())
                .status()
                .context("cannot run ssh-keygen (install openssh-client)")?;
            anyhow::ensure!(
                status.success(),
                "ssh-keygen failed to create {}",
                key_path.display()
            );
            tracing::warn!(path = %key_path.display(), "generated the workers' SSH key");
        }
        let public = key_path.with_extension("pub");
        let public = if public.exists() {
            public
        } else {
            PathBuf::from(format!("{}.pub", key_path.display()))
        };
        match std::fs::read_to_string(&public) {
            Ok(line) => Ok(line.trim().to_owned()),
            Err(_) => {
                let out = std::process::Command::new("ssh-keygen")
                    .arg("-y")
                    .arg("-f")
                    .arg(key_path)
                    .output()
                    .context("cannot run ssh-keygen")?;
                anyhow::ensure!(
                    out.status.success(),
                    "{} is not a usable private key",
                    key_path.display()
                );
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            }
        }
    }

    /// Runs a job script on `target`, handing each output line to `on_line` as it arrives.
    pub async fn run(
        &self,
        target: &Target,
        job: &Job<'_>,
        on_line: impl FnMut(Line) + Send,
        opts: RunOpts,
    ) -> Result<RunOutcome, RemoteError> {
        run::run(&self.0, target, job, on_line, opts).await
    }

    /// Writes a file on `target`: a temporary name, then mode (and group), then a rename, so
    /// no partial file is ever visible. The contents travel on stdin.
    pub async fn upload(
        &self,
        target: &Target,
        path: &str,
        contents: &[u8],
        mode: u32,
        group: Option<&str>,
    ) -> Result<(), RemoteError> {
        run::upload(&self.0, target, path, contents, mode, group).await
    }

    /// Runs one program on `target` (no script, no live output): for short reads.
    pub async fn exec(
        &self,
        target: &Target,
        argv: &[&str],
        timeout: Duration,
    ) -> Result<Output, RemoteError> {
        run::exec(&self.0, target, argv, timeout).await
    }

    /// Runs `from` on one server and `to` on another (or the same) at once, copying `from`'s
    /// stdout into `to`'s stdin through this process; returns the count and SHA-256 of the
    /// bytes that passed. Either end failing fails the pipe with its exit code and stderr.
    pub async fn pipe(
        &self,
        from: End<'_>,
        to: End<'_>,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<Piped, RemoteError> {
        transfer::pipe(&self.0, from, to, timeout, cancel).await
    }

    /// Forwards a private local Unix socket to `127.0.0.1:{port}` on `target`, over its
    /// pooled connection.
    pub async fn forward(&self, target: &Target, port: u16) -> Result<Forward, RemoteError> {
        forward::open(&self.0, target, port).await
    }

    /// The folder of this process's control sockets (each master runs with `-S` inside it).
    pub fn control_dir(&self) -> &Path {
        &self.0.settings.control_dir
    }

    /// Drops the pooled connection of `target` (its commands in flight keep their master).
    pub async fn forget(&self, target: &Target) {
        self.0.forget(target);
        let mut by_host = target.clone();
        by_host.host_key = None;
        self.0.forget(&by_host);
    }
}
