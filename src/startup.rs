//! Building and running the service: connect, migrate, bind, serve, shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::crypto::Cipher;
use crate::ops::{Engine, Registry, kinds};
use crate::state::{AppState, PageCache};
use crate::store::Db;
use crate::{accounts, api};

/// A bound, ready-to-serve application. Binding happens in [`Application::build`], so a test
/// can ask for port 0 and read the real port before any request is sent.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The admin password generated on first start, to show once.
    pub generated_admin_password: Option<String>,
}

/// Opens the database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

impl Application {
    /// The product: every kind of operation of [`kinds::registry`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, kinds::registry()).await
    }

    /// An application running the kinds of `kinds` (tests add kinds of their own).
    pub async fn build_with(settings: Settings, kinds: Registry) -> anyhow::Result<Self> {
        let db = open_database(&settings).await?;
        let cipher = Cipher::load_or_create(settings.secret_key.as_ref(), &settings.data_dir)?;
        let generated_admin_password = accounts::ensure_admin(&db, &settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} (ALFA_LISTEN)", settings.listen))?;
        let settings = Arc::new(settings);
        let engine = Engine::new(db.clone(), cipher.clone(), settings.clone(), kinds).await?;
        let pages = Arc::new(PageCache::new(settings.page_cache_mb));
        let state = AppState {
            db,
            cipher,
            settings,
            credentials: Arc::default(),
            metrics: Arc::default(),
            engine,
            pages,
        };
        Ok(Self {
            listener,
            state,
            generated_admin_password,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves the API and runs a worker in the same process until `shutdown` (`up`).
    pub async fn run_with_worker(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let engine = self.state.engine.clone();
        announce_key(&engine);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker_stop = {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let api_stop = {
            let mut rx = stop_rx;
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let worker = tokio::spawn(async move { engine.run_worker(worker_stop).await });
        let db = self.state.db.clone();
        let api = self.serve(api_stop).await;
        // The worker lets running operations finish (ALFA_SHUTDOWN_GRACE) before it returns;
        // only then may the database pool close under it.
        let worker = worker.await.context("the worker task panicked")?;
        db.close().await;
        api.and(worker)
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let result = self.serve(shutdown).await;
        db.close().await;
        result
    }

    async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = api::router(self.state);
        tracing::info!(listen = %self.listener.local_addr()?, "API listening");
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")
    }
}

/// A worker process: runs operations from the queue until `shutdown`.
pub async fn run_worker(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = open_database(&settings).await?;
    let cipher = Cipher::load_or_create(settings.secret_key.as_ref(), &settings.data_dir)?;
    let engine = Engine::new(db.clone(), cipher, Arc::new(settings), kinds::registry()).await?;
    announce_key(&engine);
    let result = engine.run_worker(shutdown).await;
    db.close().await;
    result
}

/// Prints the workers' public key so an operator can authorise it on servers.
pub fn announce_key(engine: &Engine) {
    tracing::info!(
        key = %engine.ssh_public_key.trim(),
        "workers log in to servers with this public key (also at GET /ssh_public_key)"
    );
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
