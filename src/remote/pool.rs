//! One master connection per target, opened on demand by one task while the others wait,
//! checked before use and reopened when it died. An older master stays alive, through the
//! `Arc`s its running commands hold, until they end.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::sync::Semaphore;

use super::shell::Shell;
use super::{RemoteError, RemoteSettings, Target};
use crate::sync::Mutex;

/// A connection used this recently is not checked before its next command.
const TRUST_RECENT: Duration = Duration::from_secs(1);

pub(super) struct Pool {
    pub settings: RemoteSettings,
    conns: Mutex<HashMap<Target, Arc<Conn>>>,
}

pub(super) struct Conn {
    target: Target,
    /// Held while connecting, so concurrent first uses wait for one connect.
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// Sessions open on this connection: commands in flight and warm shells (busy or idle).
    pub slots: Arc<Semaphore>,
    /// Warm shells waiting for a job, the most recently used last.
    pub idle: Mutex<Vec<Shell>>,
    /// Told when a shell rests: a task waiting for a session takes it (a job) or closes it (a
    /// plain command).
    pub rested: tokio::sync::Notify,
    /// A task closes the idle shells that outstay `idle_close` (one at a time).
    reaping: AtomicBool,
    last_used: Mutex<Instant>,
    dir: PathBuf,
}

impl Conn {
    /// Marks the connection used now (it is not closed as idle).
    pub fn touch(&self) {
        *self.last_used.lock() = Instant::now();
    }

    /// Takes back a warm shell whose job ended cleanly, for the tasks waiting for a session
    /// or the next job. An idle shell closes after `idle_close`, so that an unused
    /// connection's master can exit.
    pub fn rest(self: &Arc<Self>, shell: Shell, idle_close: Duration) {
        self.idle.lock().push(shell);
        self.rested.notify_waiters();
        if !self.reaping.swap(true, Ordering::SeqCst) {
            tokio::spawn(reap(Arc::downgrade(self), idle_close));
        }
    }
}

/// Closes `conn`'s idle shells as they outstay `idle_close`; ends when none is left.
async fn reap(conn: std::sync::Weak<Conn>, idle_close: Duration) {
    loop {
        let next = {
            let Some(conn) = conn.upgrade() else { return };
            let mut idle = conn.idle.lock();
            idle.retain(|shell| shell.idle_since.elapsed() < idle_close);
            match idle.iter().map(|shell| shell.idle_since).min() {
                Some(oldest) => oldest + idle_close,
                None => {
                    // Under the lock: a shell resting after this starts a new task.
                    conn.reaping.store(false, Ordering::SeqCst);
                    return;
                }
            }
        };
        tokio::time::sleep_until(next.into()).await;
    }
}

impl Pool {
    pub fn new(settings: RemoteSettings) -> Self {
        Self {
            settings,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// The pooled connection of `target`; closes connections idle longer than `idle_close`.
    pub fn conn(&self, target: &Target) -> Arc<Conn> {
        let mut conns = self.conns.lock();
        let idle = self.settings.idle_close;
        conns.retain(|_, c| Arc::strong_count(c) > 1 || c.last_used.lock().elapsed() < idle);
        for c in conns.values() {
            c.idle
                .lock()
                .retain(|shell| shell.idle_since.elapsed() < idle);
        }
        conns
            .entry(target.clone())
            .or_insert_with(|| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                target.hash(&mut hasher);
                Arc::new(Conn {
                    target: target.clone(),
                    session: tokio::sync::Mutex::new(None),
                    slots: Arc::new(Semaphore::new(self.settings.max_inflight.max(1))),
                    idle: Mutex::new(Vec::new()),
                    rested: tokio::sync::Notify::new(),
                    reaping: AtomicBool::new(false),
                    last_used: Mutex::new(Instant::now()),
                    dir: self
                        .settings
                        .control_dir
                        .join(format!("{:08x}", hasher.finish() as u32)),
                })
            })
            .clone()
    }

    pub fn forget(&self, target: &Target) {
        self.conns.lock().remove(target);
    }

    /// A live session for `conn`, connecting when there is none or the last one died.
    /// Returns the host key learned when this call connected on trust-on-first-use.
    ///
    /// A connection used within the last second is taken as alive without asking its master
    /// (a round trip per command otherwise); if it died meanwhile, the caller's spawn fails
    /// and [`Pool::reset`] plus one retry reconnects.
    pub async fn session(
        &self,
        conn: &Conn,
    ) -> Result<(Arc<Session>, Option<String>), RemoteError> {
        let recent = {
            let mut last = conn.last_used.lock();
            let recent = last.elapsed() < TRUST_RECENT;
            *last = Instant::now();
            recent
        };
        let mut slot = conn.session.lock().await;
        if let Some(session) = slot.as_ref() {
            if recent || session.check().await.is_ok() {
                return Ok((session.clone(), None));
            }
            tracing::info!(server.host = %conn.target.host, "SSH connection died; reconnecting");
        }
        let (session, learned) = self.connect(conn).await?;
        let session = Arc::new(session);
        *slot = Some(session.clone());
        Ok((session, learned))
    }

    /// Forgets `dead` as `conn`'s session (unless another task replaced it already), so the
    /// next [`Pool::session`] connects again. Commands still running on it keep it alive.
    pub async fn reset(&self, conn: &Conn, dead: &Arc<Session>) {
        let mut slot = conn.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, dead)) {
            *slot = None;
        }
    }

    async fn connect(&self, conn: &Conn) -> Result<(Session, Option<String>), RemoteError> {
        let target = &conn.target;
        let other =
            |e: std::io::Error| RemoteError::Other(format!("preparing the SSH connection: {e}"));
        std::fs::create_dir_all(&conn.dir).map_err(other)?;
        let known_hosts = conn.dir.join("known_hosts");
        let check = match &target.host_key {
            Some(lines) => {
                std::fs::write(&known_hosts, format!("{}\n", lines.trim())).map_err(other)?;
                KnownHosts::Strict
            }
            None => {
                let _ = std::fs::remove_file(&known_hosts);
                KnownHosts::Add
            }
        };
        let idle = std::num::NonZeroUsize::new(
            usize::try_from(self.settings.idle_close.as_secs())
                .unwrap_or(300)
                .max(1),
        )
        .expect("at least one second");
        let mut builder = SessionBuilder::default();
        builder
            .user(target.user.clone())
            .port(target.port)
            .keyfile(&self.settings.key_path)
            .known_hosts_check(check)
            .user_known_hosts_file(&known_hosts)
            .connect_timeout(self.settings.connect_timeout)
            .server_alive_interval(Duration::from_secs(5))
            .control_directory(&conn.dir)
            // A master orphaned by a killed worker exits on its own once idle.
            .control_persist(ControlPersist::IdleFor(idle));
        let limit = self.settings.connect_timeout + Duration::from_secs(5);
        let started = Instant::now();
        let session = match tokio::time::timeout(limit, builder.connect_mux(&target.host)).await {
            Err(_) => {
                return Err(RemoteError::Unreachable {
                    host: target.host.clone(),
                    reason: format!("no SSH answer within {}s", limit.as_secs()),
                });
            }
            Ok(Err(err)) => return Err(describe(target, &err)),
            Ok(Ok(session)) => session,
        };
        tracing::debug!(server.host = %target.host, took_ms = started.elapsed().as_millis() as u64, "SSH connected");
        let learned = match &target.host_key {
            Some(_) => None,
            None => std::fs::read_to_string(&known_hosts)
                .ok()
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty()),
        };
        Ok((session, learned))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Masters exit when their sessions drop (through their sockets, so before the
        // folder goes); one that a running command still holds removes its own temp folder.
        self.conns.lock().clear();
        let _ = std::fs::remove_dir_all(&self.settings.control_dir);
    }
}

/// openssh's errors, with ssh's own words, turned into what a person can act on.
fn describe(target: &Target, err: &openssh::Error) -> RemoteError {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.contains("IDENTIFICATION HAS CHANGED") || text.contains("Host key verification failed")
    {
        return RemoteError::HostKeyChanged {
            host: target.host.clone(),
        };
    }
    RemoteError::Unreachable {
        host: format!("{}@{}:{}", target.user, target.host, target.port),
        reason: text.replace('\n', " ").trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Arc<Pool> {
        let dir = std::env::temp_dir().join(format!("alfa-pool-test-{}", ulid::Ulid::generate()));
        Arc::new(Pool::new(RemoteSettings {
            key_path: dir.join("id_ed25519"),
            max_inflight: 4,
            connect_timeout: Duration::from_secs(1),
            idle_close: Duration::from_secs(60),
            control_dir: dir,
        }))
    }

    fn target() -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: 22,
            user: "nobody".into(),
            host_key: None,
        }
    }

    #[test]
    fn a_panic_inside_the_pools_critical_section_does_not_break_later_calls() {
        let pool = pool();
        let conn = pool.conn(&target());
        let (held_pool, held_conn) = (pool.clone(), conn.clone());
        let panicked = std::thread::spawn(move || {
            let _conns = held_pool.conns.lock();
            let _last = held_conn.last_used.lock();
            panic!("a bug inside the critical section");
        })
        .join();
        assert!(panicked.is_err());
        // Every later use of the pool still works: no poisoned lock turns into a panic.
        let again = pool.conn(&target());
        assert!(Arc::ptr_eq(&conn, &again), "the same pooled connection");
        pool.forget(&target());
        let fresh = pool.conn(&target());
        assert!(!Arc::ptr_eq(&conn, &fresh), "forgotten, then made anew");
    }
}
