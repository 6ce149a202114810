//! A job script run from an operation ([`OpContext::script`]): its arguments, secrets on
//! stdin, time limit, streamed output and `::` data lines; and how a server is reached and
//! its remote errors are said.

use std::time::Duration;

use secrecy::SecretString;

use super::OpContext;
use crate::remote::{Job, Line, RemoteError, RunOpts, Script, Stream as RemoteStream, Target};
use crate::store::oplog::Stream;
use crate::store::servers::{self, ServerRow};

/// A job script about to run; see [`OpContext::script`].
pub struct ScriptCall<'c> {
    pub(super) ctx: &'c OpContext,
    /// The server to run on, when not the operation's.
    pub(super) on: Option<&'c ServerRow>,
    pub(super) script: Script,
    pub(super) args: Vec<String>,
    pub(super) env: Vec<(&'static str, SecretString)>,
    pub(super) timeout: Duration,
}

impl ScriptCall<'_> {
    /// One positional argument (quoted for the remote shell, never interpreted).
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// A secret the script reads as `$name`: sent on stdin, masked in the log.
    #[must_use]
    pub fn env(mut self, name: &'static str, value: SecretString) -> Self {
        self.env.push((name, value));
        self
    }

    /// This call's own time limit (an image build needs hours, a probe seconds).
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Runs the script, streaming its output into the log. Returns the `::` data lines it
    /// printed (`::image {...}`) for the kind to parse. A non-zero exit is an error naming the
    /// script, the server and the script's last error line.
    pub async fn run(self) -> anyhow::Result<Vec<String>> {
        let ctx = self.ctx;
        let server = match self.on {
            Some(server) => server,
            None => ctx.server()?,
        };
        let env: Vec<(&str, &SecretString)> = self.env.iter().map(|(k, v)| (*k, v)).collect();
        let job = Job {
            script: self.script,
            args: &self.args,
            env: &env,
        };
        let opts = RunOpts {
            timeout: self.timeout,
            cancel: ctx.command_cancel(),
            redactor: crate::remote::Redactor::new(ctx.secrets.clone()),
        };
        let mut data = Vec::new();
        let mut last_error = String::new();
        let log = ctx.log.clone();
        let on_line = |line: Line| match line.stream {
            RemoteStream::Out => {
                if let Some(step) = line.text.strip_prefix("::step ") {
                    log.line(Stream::Step, step);
                } else {
                    if line.text.starts_with("::") {
                        data.push(line.text.clone());
                    }
                    log.line(Stream::Out, line.text);
                }
            }
            RemoteStream::Err => {
                if !line.text.trim().is_empty() {
                    last_error.clone_from(&line.text);
                }
                log.line(Stream::Err, line.text);
            }
        };
        let db = &ctx.engine.db;
        let started = std::time::Instant::now();
        let result = ctx
            .engine
            .remote
            .run(&target(server), &job, on_line, opts)
            .await;
        ctx.add_remote_time(started);
        let outcome = match result {
            Ok(outcome) => {
                // Recorded when it changes, else at most every RECORD_REACHABLE: a fan-out runs
                // commands on one server back to back.
                let recent = server.reachable == Some(true)
                    && server
                        .reachable_checked_at
                        .is_some_and(|at| chrono::Utc::now() - at < RECORD_REACHABLE);
                if !recent {
                    servers::set_reachable(db, server.id, true).await?;
                }
                outcome
            }
            Err(err) => {
                if matches!(err, RemoteError::Unreachable { .. }) {
                    servers::set_reachable(db, server.id, false).await?;
                }
                return Err(describe(server, err));
            }
        };
        if let Some(key) = &outcome.learned_host_key {
            servers::set_host_key(db, server.id, key).await?;
            tracing::info!(
                server.id = server.id,
                "recorded the server's host key (first connection)"
            );
        }
        if outcome.exit_code != 0 {
            let why = if last_error.is_empty() {
                "see the log above".to_owned()
            } else {
                last_error
            };
            anyhow::bail!(
                "{} failed on server {} with exit code {}: {why}",
                self.script.name(),
                server.name,
                outcome.exit_code
            );
        }
        Ok(data)
    }
}

/// How stale a server's recorded "reachable" may be before a command that reached it
/// records it again.
const RECORD_REACHABLE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// The SSH target of a server, with the host key it recorded on first use.
pub fn target(server: &ServerRow) -> Target {
    Target {
        host: server.host.clone(),
        port: u16::try_from(server.ssh_port).unwrap_or(22),
        user: server.ssh_user.clone(),
        host_key: server.host_key.clone(),
    }
}

/// Remote errors, said so that the operator knows which server and what to do.
pub fn describe(server: &ServerRow, err: RemoteError) -> anyhow::Error {
    match err {
        RemoteError::HostKeyChanged { .. } => anyhow::anyhow!(
            "the host key of server {} ({}) changed since it was first recorded: if the server was \
             reinstalled, reset it with POST /servers/{}/forget_host_key; otherwise someone may be \
             intercepting the connection",
            server.name,
            server.host,
            server.id
        ),
        other => anyhow::anyhow!(
            "server {} ({}:{}): {other}",
            server.name,
            server.host,
            server.ssh_port
        ),
    }
}
