//! What a kind of operation is: a type implementing [`Kind`], registered once in a
//! [`Registry`]. The engine knows kinds only through this trait, so adding one is a file under
//! `ops/kinds/` and a line in `kinds::registry()`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Engine;
use super::context::OpContext;
use crate::store::operations::{LockScope, NewOperation, OperationRow, Outcome};

/// One kind of operation (crates.io's `BackgroundJob` shape). Every kind is idempotent: a lost
/// worker's operation runs again from the start, so each step checks before it changes
/// anything.
#[async_trait::async_trait]
pub trait Kind: Send + Sync + 'static {
    /// The stable name stored with every operation of this kind: never rename one.
    const NAME: &'static str;
    /// What the kind excludes while it runs.
    const LOCK: LockScope;
    /// Runs (first run and retries after lost workers) before the operation gives up.
    const MAX_ATTEMPTS: i64 = 3;
    /// Default time limit of each remote command it runs; `None`: `ALFA_COMMAND_TIMEOUT`.
    /// A single call may still set its own (`ctx.script(…).timeout(…)`).
    const COMMAND_TIMEOUT: Option<Duration> = None;
    /// A parent running its children through [`crate::ops::fanout`]: `POST
    /// /operations/{id}/retry_failed` may run it again for the children that did not end `ok`.
    const FAN_OUT: bool = false;

    /// Does the work; the `Value` is stored as the operation's result.
    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value>;

    /// Runs as the operation ends, however it ends (ok, error, cancelled, given up by a lost
    /// worker or the sweeper), just before the end is recorded: state that follows the end
    /// (written first, so a poller that sees the end sees this state too).
    async fn on_finish(
        &self,
        _engine: &Engine,
        _op: &OperationRow,
        _outcome: Outcome,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Which rows an operation is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct On {
    pub server_id: Option<i64>,
    pub client_id: Option<i64>,
    pub parent_id: Option<i64>,
}

impl On {
    pub fn server(server_id: i64) -> Self {
        Self {
            server_id: Some(server_id),
            ..Self::default()
        }
    }

    pub fn client(server_id: i64, client_id: i64) -> Self {
        Self {
            server_id: Some(server_id),
            client_id: Some(client_id),
            parent_id: None,
        }
    }
}

/// The row that submits an operation of kind `K`. `params` must hold no secret.
pub fn new_operation<K: Kind>(on: On, params: Value, requested_by: &str) -> NewOperation {
    NewOperation {
        kind: K::NAME,
        server_id: on.server_id,
        client_id: on.client_id,
        parent_id: on.parent_id,
        lock_scope: K::LOCK,
        requested_by: requested_by.to_owned(),
        params,
        max_attempts: K::MAX_ATTEMPTS,
    }
}

/// [`Kind`] without its constants, for the registry's table.
#[async_trait::async_trait]
pub(super) trait Registered: Send + Sync {
    fn command_timeout(&self) -> Option<Duration>;
    fn max_attempts(&self) -> i64;
    fn fan_out(&self) -> bool;
    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value>;
    async fn on_finish(
        &self,
        engine: &Engine,
        op: &OperationRow,
        outcome: Outcome,
    ) -> anyhow::Result<()>;
}

#[async_trait::async_trait]
impl<K: Kind> Registered for K {
    fn command_timeout(&self) -> Option<Duration> {
        K::COMMAND_TIMEOUT
    }

    fn max_attempts(&self) -> i64 {
        K::MAX_ATTEMPTS
    }

    fn fan_out(&self) -> bool {
        K::FAN_OUT
    }

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        Kind::run(self, ctx).await
    }

    async fn on_finish(
        &self,
        engine: &Engine,
        op: &OperationRow,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        Kind::on_finish(self, engine, op, outcome).await
    }
}

/// The kinds a process knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Arc<dyn Registered>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// Adds `kind`; a second kind with the same name is a programming error.
    #[must_use]
    pub fn with<K: Kind>(mut self, kind: K) -> Self {
        let previous = self.kinds.insert(K::NAME, Arc::new(kind));
        assert!(
            previous.is_none(),
            "two operation kinds are named {}",
            K::NAME
        );
        self
    }

    pub fn contains(&self, name: &str) -> bool {
        self.kinds.contains_key(name)
    }

    /// The names of every registered kind, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.kinds.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// The registered name of a fan-out kind called `name` (None: unknown, or not a fan-out).
    pub fn fan_out(&self, name: &str) -> Option<&'static str> {
        self.kinds
            .get_key_value(name)
            .filter(|(_, kind)| kind.fan_out())
            .map(|(name, _)| *name)
    }

    pub(super) fn get(&self, name: &str) -> Option<Arc<dyn Registered>> {
        self.kinds.get(name).cloned()
    }
}
