//! The operations engine: every remote action is an operation row, committed before it is
//! queued, run by a worker that claims it with a lease, logged line by line, and finished
//! with a result. The queue only wakes workers; the database is the truth.

mod check_host;
mod context;
pub mod fanout;
mod finish;
mod kind;
pub mod kinds;
pub mod lifecycle;
mod log;
pub mod probe;
mod retry;
mod runner;
pub mod schedule;
mod script_call;
pub mod sql;
mod sweeper;
pub mod webhook;

use std::sync::Arc;

use anyhow::Context as _;

pub use check_host::{Check, CheckReport};
pub use context::OpContext;
pub use finish::{Cancel, Ending, FailedWith};
pub use kind::{Kind, On, Registry, new_operation};
pub use log::{LogWriter, OpLog};
pub use retry::Retry;
pub use script_call::{ScriptCall, describe, target};

use crate::config::Settings;
use crate::crypto::Cipher;
use crate::queue::{JobMessage, Queue};
use crate::remote::{Remote, RemoteSettings};
use crate::render::Renderer;
use crate::store::operations::{self, NewOperation};
use crate::store::{Db, servers};

/// Shared by the API (to submit) and the workers (to run).
#[derive(Clone)]
pub struct Engine(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub queue: Queue,
    pub remote: Remote,
    pub cipher: Cipher,
    pub settings: Arc<Settings>,
    /// The templates, loaded once at start-up.
    pub renderer: Arc<Renderer>,
    /// The kinds of operation this process runs.
    pub kinds: Registry,
    /// Names this process's claims: `host-pid-random`.
    pub worker_id: String,
    /// The public half of the key workers log in with, for servers' `authorized_keys`.
    pub ssh_public_key: String,
    /// What this process's probe loop did.
    pub probe_stats: probe::ProbeStats,
    /// The SMTP server; `None` when `ALFA_SMTP_URL` is not set (no mail is sent).
    pub mailer: Option<crate::mail::Mailer>,
}

impl std::ops::Deref for Engine {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Engine {
    /// An engine running the kinds of `kinds` (production: [`kinds::registry`]).
    pub async fn new(
        db: Db,
        cipher: Cipher,
        settings: Arc<Settings>,
        kinds: Registry,
    ) -> anyhow::Result<Self> {
        let renderer = Arc::new(
            Renderer::load(settings.templates_dir.as_deref())
                .context("cannot load the templates (ALFA_TEMPLATES_DIR)")?,
        );
        crate::mail::check_templates(&renderer)?;
        let mailer = crate::mail::Mailer::from_settings(&settings.mail)?;
        let redis = settings
            .redis_url
            .as_ref()
            .map(|url| secrecy::ExposeSecret::expose_secret(url).to_owned());
        let queue = Queue::connect(redis.as_deref(), &db, &settings.queue_namespace)
            .await
            .context("cannot open the job queue")?;
        queue
            .setup()
            .await
            .context("cannot prepare the job queue")?;
        let ssh_public_key = Remote::ensure_key(&settings.ssh_key)?;
        let remote = Remote::new(RemoteSettings {
            key_path: settings.ssh_key.clone(),
            max_inflight: settings.ssh_max_inflight,
            connect_timeout: settings.ssh_connect_timeout,
            idle_close: settings.ssh_idle_close,
            control_dir: crate::remote::control_dir(),
        })?;
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let worker_id = format!(
            "{}-{}-{}",
            host.trim(),
            std::process::id(),
            &ulid::Ulid::generate().to_string()[20..]
        );
        Ok(Self(Arc::new(Inner {
            db,
            queue,
            remote,
            cipher,
            settings,
            renderer,
            kinds,
            worker_id,
            ssh_public_key,
            probe_stats: probe::ProbeStats::default(),
            mailer,
        })))
    }

    /// Submits an operation of kind `K` on `on`: commits it, then queues it. A queue that is
    /// down leaves it `queued` in the database, and the sweeper pushes it when the queue is
    /// back: nothing is lost. `params` must hold no secret.
    pub async fn submit<K: Kind>(
        &self,
        on: On,
        params: serde_json::Value,
        requested_by: &str,
    ) -> anyhow::Result<i64> {
        self.submit_row(&new_operation::<K>(on, params, requested_by))
            .await
    }

    /// [`Engine::submit`] of a row already built with [`new_operation`].
    pub async fn submit_row(&self, op: &NewOperation) -> anyhow::Result<i64> {
        let id = operations::insert(&self.db, op).await?;
        self.push(&[id]).await;
        Ok(id)
    }

    /// Forgets server `id`'s recorded SSH host key and drops its connection: the next
    /// connection trusts whatever key the server shows (after a reinstall).
    pub async fn forget_host_key(&self, server: &servers::ServerRow) -> anyhow::Result<()> {
        servers::forget_host_key(&self.db, server.id).await?;
        self.remote.forget(&target(server)).await;
        Ok(())
    }

    /// Hands operations to the queue, recording which ones made it.
    pub async fn push(&self, ids: &[i64]) {
        let mut pushed = Vec::with_capacity(ids.len());
        for &id in ids {
            match self.queue.push(JobMessage { operation_id: id }).await {
                Ok(()) => pushed.push(id),
                Err(err) => {
                    tracing::warn!(
                        op.id = id,
                        error = format!("{err:#}"),
                        "the queue is unavailable: the operation stays queued and is pushed when the queue is back"
                    );
                    break;
                }
            }
        }
        if let Err(err) = operations::mark_enqueued(&self.db, &pushed).await {
            tracing::warn!(error = %err, "could not record queued operations; they will be pushed again");
        }
    }

    /// Runs workers until `shutdown`: takes operations from the queue, and sweeps the database
    /// for operations the queue lost or whose worker died.
    pub async fn run_worker(
        &self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sweeper = tokio::spawn(sweeper::run(self.clone(), stop_rx.clone()));
        let prober = self
            .settings
            .probe_interval
            .map(|interval| tokio::spawn(probe::run(self.clone(), interval, stop_rx.clone())));
        let scheduler = self
            .settings
            .schedule
            .then(|| tokio::spawn(schedule::run(self.clone(), stop_rx.clone())));
        let webhooks = self
            .settings
            .webhook
            .clone()
            .map(|hook| tokio::spawn(webhook::run(self.clone(), hook, stop_rx)));
        let engine = self.clone();
        tracing::info!(
            worker = %self.worker_id,
            concurrency = self.settings.worker_concurrency,
            "worker started"
        );
        let result = self
            .queue
            .run_workers(
                &self.worker_id,
                self.settings.worker_concurrency,
                self.settings.shutdown_grace,
                move |msg: JobMessage| {
                    let engine = engine.clone();
                    async move {
                        engine.run(msg.operation_id).await;
                    }
                },
                shutdown,
            )
            .await;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        if let Some(prober) = prober {
            let _ = prober.await;
        }
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        if let Some(webhooks) = webhooks {
            let _ = webhooks.await;
        }
        tracing::info!("worker stopped");
        result
    }
}
