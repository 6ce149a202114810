//! What a running operation may do, as verbs, so a kind reads as what it does and never
//! touches the transport: `step`, `script(…).run()`, `upload`, `render`, `sql`.

use std::time::Duration;

use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::sql::ServerSql;
use super::{Engine, OpLog};
use crate::crypto::purpose;
use crate::remote::{Job, Line, RemoteError, RunOpts, Script, Stream as RemoteStream, Target};
use crate::store::clients::{self, ClientRow};
use crate::store::operations::OperationRow;
use crate::store::oplog::Stream;
use crate::store::servers::{self, ServerRow};
use crate::store::steps;

/// Everything a running operation may use.
pub struct OpContext {
    engine: Engine,
    pub op: OperationRow,
    /// This run's attempt (1 for the first).
    pub attempt: i64,
    pub log: OpLog,
    cancel: CancellationToken,
    server: Option<ServerRow>,
    client: Option<ClientRow>,
    /// Secrets this operation knows, masked in every line it stores.
    secrets: Vec<String>,
    /// The kind's default time limit of one remote command.
    command_timeout: Duration,
    /// Whether a step began (then the finish ends the last one).
    stepped: std::sync::atomic::AtomicBool,
    /// Time spent waiting for remote commands and uploads, in microseconds.
    remote_micros: std::sync::atomic::AtomicU64,
    /// Remote commands run to their end even when a cancel arrives (see [`Self::shield`]).
    shielded: std::sync::atomic::AtomicBool,
}

impl OpContext {
    /// Loads the operation's server and client (when it has them) and the secrets to mask.
    pub(super) async fn load(
        engine: Engine,
        op: OperationRow,
        attempt: i64,
        log: OpLog,
        cancel: CancellationToken,
        command_timeout: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let server = match op.server_id {
            Some(id) => Some(
                servers::get(&engine.db, id)
                    .await?
                    .with_context(|| format!("server {id} no longer exists"))?,
            ),
            None => None,
        };
        let client = match op.client_id {
            Some(id) => Some(
                clients::get(&engine.db, id)
                    .await?
                    .with_context(|| format!("client {id} no longer exists"))?,
            ),
            None => None,
        };
        let sealed = [
            (
                purpose::SERVER_SQL_PASSWORD,
                server.as_ref().and_then(|s| s.sql_password_enc.as_deref()),
            ),
            (
                purpose::CLIENT_ADMIN_PASSWORD,
                client.as_ref().and_then(|c| c.password_enc.as_deref()),
            ),
        ];
        let secrets = sealed
            .into_iter()
            .filter_map(|(purpose, sealed)| engine.cipher.open(purpose, sealed?).ok())
            .map(|secret| secret.expose_secret().to_owned())
            .collect();
        let command_timeout = command_timeout.unwrap_or(engine.settings.command_timeout);
        Ok(Self {
            engine,
            op,
            attempt,
            log,
            cancel,
            server,
            client,
            secrets,
            command_timeout,
            stepped: std::sync::atomic::AtomicBool::new(false),
            remote_micros: std::sync::atomic::AtomicU64::new(0),
            shielded: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether the kind began a step.
    pub(super) fn stepped(&self) -> bool {
        self.stepped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The time this operation spent waiting for its remote commands and uploads so far.
    pub fn remote_time(&self) -> Duration {
        Duration::from_micros(
            self.remote_micros
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Counts the time since `started` as spent on the server (SQL through the forward too).
    pub(crate) fn add_remote_time(&self, started: std::time::Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.remote_micros
            .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// The database and SQL user of client `id`: `{ALFA_CLIENT_DB_PREFIX}{id}` (`alfa_c42`) —
    /// unique, short enough for both engines, and never inherited by a later client with the
    /// same subdomain.
    pub fn client_db_name(&self, id: i64) -> String {
        format!("{}{id}", self.engine.settings.client_db_prefix)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The operation's server, as it was when the operation started.
    pub fn server(&self) -> anyhow::Result<&ServerRow> {
        self.server.as_ref().context("the operation has no server")
    }

    /// The operation's client, as it was when the operation started.
    pub fn client(&self) -> anyhow::Result<&ClientRow> {
        self.client.as_ref().context("the operation has no client")
    }

    /// A line of the engine's own, for the person watching the log.
    pub fn info(&self, text: impl Into<String>) {
        self.log.info(text);
    }

    /// Begins step `name`: a `step` line in the log, and a step record (the previous step of
    /// this attempt ends `ok`; the finish ends the last one with the operation's outcome).
    pub async fn step(&self, name: &str) -> anyhow::Result<()> {
        self.log.line(Stream::Step, name);
        self.stepped
            .store(true, std::sync::atomic::Ordering::Relaxed);
        steps::begin(&self.engine.db, self.op.id, self.attempt, name).await?;
        Ok(())
    }

    /// Marks the running step failed (before an undo begins steps of its own).
    pub async fn step_failed(&self) -> anyhow::Result<()> {
        steps::end_running(&self.engine.db, self.op.id, self.attempt, "error").await?;
        Ok(())
    }

    /// Whether someone asked to cancel the operation.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// From now on, remote commands run to their end even when the operation is cancelled:
    /// for the steps that put a lab back as it was (a switch's rollback), which a cancel must
    /// not cut short. `is_cancelled` still tells whether a cancel was asked for.
    pub fn shield(&self) {
        self.shielded
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A job script to run on the operation's server: add arguments, secrets and a time
    /// limit, then `.run()`.
    pub fn script(&self, script: Script) -> ScriptCall<'_> {
        ScriptCall {
            ctx: self,
            on: None,
            script,
            args: Vec::new(),
            env: Vec::new(),
            timeout: self.command_timeout,
        }
    }

    /// A job script to run on another server than the operation's (a move's target).
    pub fn script_on<'c>(&'c self, server: &'c ServerRow, script: Script) -> ScriptCall<'c> {
        ScriptCall {
            on: Some(server),
            ..self.script(script)
        }
    }

    /// Writes `contents` to `path` on the server atomically (a temporary name, the mode, a
    /// rename): the contents travel on stdin, never on a command line.
    pub async fn upload(&self, path: &str, contents: &[u8], mode: u32) -> anyhow::Result<()> {
        self.upload_on(self.server()?, path, contents, mode).await
    }

    /// [`upload`](Self::upload) to another server than the operation's.
    pub async fn upload_on(
        &self,
        server: &ServerRow,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let result = self
            .engine
            .remote
            .upload(&target(server), path, contents, mode, None)
            .await;
        self.add_remote_time(started);
        result.map_err(|err| describe(server, err))
    }

    /// Streams what `from_argv` prints on server `from` into `to_argv` on server `to`, through
    /// this worker (no server trusts another); the kind's command time limit and the
    /// operation's cancel apply. Returns the count and SHA-256 of the bytes that passed.
    pub async fn pipe(
        &self,
        from: &ServerRow,
        from_argv: &[&str],
        to: &ServerRow,
        to_argv: &[&str],
    ) -> anyhow::Result<crate::remote::Piped> {
        let started = std::time::Instant::now();
        let (from_target, to_target) = (target(from), target(to));
        let result = self
            .engine
            .remote
            .pipe(
                crate::remote::End {
                    target: &from_target,
                    argv: from_argv,
                },
                crate::remote::End {
                    target: &to_target,
                    argv: to_argv,
                },
                self.command_timeout,
                self.cancel.clone(),
            )
            .await;
        self.add_remote_time(started);
        result.map_err(|err| {
            anyhow::anyhow!(
                "copying from server {} to server {}: {err}",
                from.name,
                to.name
            )
        })
    }

    /// Renders template `name` (see `src/render`).
    pub fn render(&self, name: &str, context: &impl Serialize) -> anyhow::Result<String> {
        self.engine.renderer.render(name, context)
    }

    /// The server's SQL, reached through the server's SSH connection as its `sql_user`.
    pub async fn sql(&self) -> anyhow::Result<ServerSql> {
        self.sql_on(self.server()?).await
    }

    /// [`sql`](Self::sql) of another server than the operation's.
    pub async fn sql_on(&self, server: &ServerRow) -> anyhow::Result<ServerSql> {
        ServerSql::open(&self.engine, server).await
    }

    /// The secrets of another client than the operation's (a copy's target), masked in this
    /// operation's log from now on.
    pub fn mask(&mut self, secret: &SecretString) {
        self.secrets.push(secret.expose_secret().to_owned());
    }
}

/// A job script about to run; see [`OpContext::script`].
pub struct ScriptCall<'c> {
    ctx: &'c OpContext,
    /// The server to run on, when not the operation's.
    on: Option<&'c ServerRow>,
    script: Script,
    args: Vec<String>,
    env: Vec<(&'static str, SecretString)>,
    timeout: Duration,
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
            cancel: if ctx.shielded.load(std::sync::atomic::Ordering::Relaxed) {
                CancellationToken::new()
            } else {
                ctx.cancel.clone()
            },
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
                servers::set_reachable(db, server.id, true).await?;
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
