//! What each kind of operation does. Every kind is idempotent: a lost worker's operation runs
//! again from the start, so each step checks before it changes anything.

mod client;
mod server;

use anyhow::Context as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Engine, OpLog};
use crate::crypto::purpose;
use crate::remote::{Job, Line, RemoteError, RunOpts, Script, Stream as RemoteStream, Target};
use crate::store::clients::{self, ClientRow};
use crate::store::operations::{LockScope, OperationRow, Outcome};
use crate::store::oplog::Stream;
use crate::store::servers::{self, ServerRow};

/// The kinds of operation, with their stable names (stored in the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// List the LIMS images on a server.
    Images,
    /// Reboot a server.
    RebootServer,
    /// Restart a client's container.
    ClientReboot,
    /// Create a client (so far: its preflight checks).
    ClientCreate,
    /// Does nothing but log: measures the engine itself (scripts/bench-ssh.sh).
    Noop,
}

impl Kind {
    pub const ALL: &'static [Self] = &[
        Self::Images,
        Self::RebootServer,
        Self::ClientReboot,
        Self::ClientCreate,
        Self::Noop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Images => "images",
            Self::RebootServer => "reboot_server",
            Self::ClientReboot => "client_reboot",
            Self::ClientCreate => "client_create",
            Self::Noop => "noop",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// What the kind excludes while it runs.
    pub fn lock_scope(self) -> LockScope {
        match self {
            Self::Images | Self::Noop => LockScope::None,
            Self::RebootServer => LockScope::Server,
            Self::ClientReboot | Self::ClientCreate => LockScope::Client,
        }
    }
}

/// Everything a running operation may use.
pub struct OpContext {
    pub engine: Engine,
    pub op: OperationRow,
    pub log: OpLog,
    pub cancel: CancellationToken,
}

impl OpContext {
    pub fn new(engine: Engine, op: OperationRow, log: OpLog, cancel: CancellationToken) -> Self {
        Self {
            engine,
            op,
            log,
            cancel,
        }
    }

    pub async fn server(&self) -> anyhow::Result<ServerRow> {
        let id = self.op.server_id.context("the operation has no server")?;
        servers::get(&self.engine.db, id)
            .await?
            .with_context(|| format!("server {id} no longer exists"))
    }

    pub async fn client(&self) -> anyhow::Result<ClientRow> {
        let id = self.op.client_id.context("the operation has no client")?;
        clients::get(&self.engine.db, id)
            .await?
            .with_context(|| format!("client {id} no longer exists"))
    }

    /// Runs a job script on `server`, streaming its output into the log. Returns the `::`
    /// data lines it printed (`::image {...}`, `::check {...}`) for the kind to parse.
    pub async fn run(
        &self,
        server: &ServerRow,
        script: Script,
        args: Vec<String>,
    ) -> anyhow::Result<Vec<String>> {
        let secrets = self.secrets(server).await;
        let mut data = Vec::new();
        let log = self.log.clone();
        let outcome = run_script(
            &self.engine,
            server,
            script,
            &args,
            secrets,
            self.cancel.clone(),
            |line| {
                route_line(&log, &mut data, line);
            },
        )
        .await?;
        if outcome != 0 {
            anyhow::bail!(
                "{} failed on {} with exit code {outcome} (see the log above)",
                script.name(),
                server.name
            );
        }
        Ok(data)
    }

    /// Secrets this operation knows, to be masked in every line.
    async fn secrets(&self, server: &ServerRow) -> Vec<String> {
        let client = self.client().await.ok();
        let sealed = [
            (
                purpose::SERVER_SQL_PASSWORD,
                server.sql_password_enc.as_deref(),
            ),
            (
                purpose::CLIENT_ADMIN_PASSWORD,
                client.as_ref().and_then(|c| c.password_enc.as_deref()),
            ),
        ];
        sealed
            .into_iter()
            .filter_map(|(purpose, sealed)| self.engine.cipher.open(purpose, sealed?).ok())
            .map(|secret| secrecy::ExposeSecret::expose_secret(&secret).to_owned())
            .collect()
    }
}

/// `::step` lines become step lines; other `::` lines are data, logged and returned.
fn route_line(log: &OpLog, data: &mut Vec<String>, line: Line) {
    match line.stream {
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
        RemoteStream::Err => log.line(Stream::Err, line.text),
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

/// Runs a script on a server and records its host key on first use. Returns the exit code.
pub async fn run_script(
    engine: &Engine,
    server: &ServerRow,
    script: Script,
    args: &[String],
    secrets: Vec<String>,
    cancel: CancellationToken,
    on_line: impl FnMut(Line) + Send,
) -> anyhow::Result<i32> {
    let opts = RunOpts {
        timeout: engine.settings.command_timeout,
        cancel,
        redactor: crate::remote::Redactor::new(secrets),
    };
    let job = Job {
        script,
        args,
        env: &[],
    };
    let outcome = match engine
        .remote
        .run(&target(server), &job, on_line, opts)
        .await
    {
        Ok(outcome) => {
            servers::set_reachable(&engine.db, server.id, true).await?;
            outcome
        }
        Err(err) => {
            if matches!(err, RemoteError::Unreachable { .. }) {
                servers::set_reachable(&engine.db, server.id, false).await?;
            }
            return Err(describe(server, err));
        }
    };
    if let Some(key) = &outcome.learned_host_key {
        servers::set_host_key(&engine.db, server.id, key).await?;
        tracing::info!(
            server.id = server.id,
            "recorded the server's host key (first connection)"
        );
    }
    Ok(outcome.exit_code)
}

/// Remote errors, said so that the operator knows which server and what to do.
fn describe(server: &ServerRow, err: RemoteError) -> anyhow::Error {
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

/// Runs the kind of `ctx.op`.
pub async fn execute(ctx: &mut OpContext) -> anyhow::Result<Value> {
    match Kind::parse(&ctx.op.kind) {
        Some(Kind::Images) => server::images(ctx).await,
        Some(Kind::RebootServer) => server::reboot(ctx).await,
        Some(Kind::ClientReboot) => client::reboot(ctx).await,
        Some(Kind::ClientCreate) => client::create(ctx).await,
        Some(Kind::Noop) => Ok(Value::Null),
        None => anyhow::bail!(
            "unknown operation kind {:?}: is this worker older than the API?",
            ctx.op.kind
        ),
    }
}

/// State changes that follow an operation's end (e.g. the client it created).
pub async fn after_finish(
    engine: &Engine,
    op: &OperationRow,
    outcome: Outcome,
) -> anyhow::Result<()> {
    if Kind::parse(&op.kind) == Some(Kind::ClientCreate) {
        client::after_create(engine, op, outcome).await?;
    }
    Ok(())
}
