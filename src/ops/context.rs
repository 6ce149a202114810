//! What a running operation may do, as verbs, so a kind reads as what it does and never
//! touches the transport: `step`, `script(…).run()`, `upload`, `render`, `sql`.

use std::time::Duration;

use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::script_call::{ScriptCall, describe, target};
use super::sql::ServerSql;
use super::{Engine, OpLog};
use crate::crypto::purpose;
use crate::remote::Script;
use crate::store::clients::{self, ClientRow};
use crate::store::operations::OperationRow;
use crate::store::oplog::Stream;
use crate::store::servers::{self, ServerRow};
use crate::store::steps;

/// Everything a running operation may use.
pub struct OpContext {
    pub(super) engine: Engine,
    pub op: OperationRow,
    /// This run's attempt (1 for the first).
    pub attempt: i64,
    pub log: OpLog,
    cancel: CancellationToken,
    /// Fired when this worker lost its claim: another attempt owns the operation now.
    lost: CancellationToken,
    server: Option<ServerRow>,
    client: Option<ClientRow>,
    /// Secrets this operation knows, masked in every line it stores.
    pub(super) secrets: Vec<String>,
    /// The kind's default time limit of one remote command.
    command_timeout: Duration,
    /// Whether a step began (then the finish ends the last one).
    stepped: std::sync::atomic::AtomicBool,
    /// Whether an undo began: its commands ignore the cancel.
    undoing: std::sync::atomic::AtomicBool,
    /// Time spent waiting for remote commands and uploads, in microseconds.
    remote_micros: std::sync::atomic::AtomicU64,
}

impl OpContext {
    /// Loads the operation's server and client (when it has them) and the secrets to mask.
    pub(super) async fn load(
        engine: Engine,
        op: OperationRow,
        attempt: i64,
        log: OpLog,
        (cancel, lost): (CancellationToken, CancellationToken),
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
            lost,
            server,
            client,
            secrets,
            command_timeout,
            stepped: std::sync::atomic::AtomicBool::new(false),
            undoing: std::sync::atomic::AtomicBool::new(false),
            remote_micros: std::sync::atomic::AtomicU64::new(0),
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
        let first = !self
            .stepped
            .swap(true, std::sync::atomic::Ordering::Relaxed);
        steps::begin(&self.engine.db, self.op.id, self.attempt, name, first).await?;
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

    /// From now on, commands run to their end even when the operation was cancelled: an undo
    /// that puts a lab back must not stop half way (their time limits still apply). Returns
    /// false, and changes nothing, when this worker lost its claim: the operation's next
    /// attempt owns the lab now, and an undo here would work against it.
    #[must_use]
    pub fn begin_undo(&self) -> bool {
        if self.lost.is_cancelled() {
            return false;
        }
        self.undoing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// The cancel signal commands obey: the operation's, or none once an undo began.
    pub(super) fn command_cancel(&self) -> CancellationToken {
        if self.undoing.load(std::sync::atomic::Ordering::Relaxed) {
            CancellationToken::new()
        } else {
            self.cancel.clone()
        }
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
                self.command_cancel(),
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
