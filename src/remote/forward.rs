//! Local port forwards over a server's pooled SSH connection (openssh forwards over the
//! native-mux master): a Unix socket in this process's private control folder reaches a port
//! on the server's own loopback, so that port need not be open to the network and no other
//! local user can connect through it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssh::{ForwardType, Session, Socket};

use super::pool::Pool;
use super::{RemoteError, Target};

/// A forward from a local Unix socket to `127.0.0.1:{port}` on the server; closed (and its
/// socket removed) when dropped.
pub struct Forward {
    session: Arc<Session>,
    dir: PathBuf,
    socket: PathBuf,
    port: u16,
    /// The host key learned if this opened the connection (trust on first use).
    pub learned_host_key: Option<String>,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("socket", &self.socket)
            .field("port", &self.port)
            .finish()
    }
}

impl Forward {
    /// The folder holding the socket (PostgreSQL clients take the folder and the port).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The socket itself, named as PostgreSQL expects (`.s.PGSQL.{port}`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The server port it reaches.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let (session, socket, dir, port) = (
            self.session.clone(),
            self.socket.clone(),
            self.dir.clone(),
            self.port,
        );
        let close = async move {
            let _ = session
                .close_port_forward(
                    ForwardType::Local,
                    socket,
                    (std::net::Ipv4Addr::LOCALHOST, port),
                )
                .await;
            let _ = std::fs::remove_dir_all(dir);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(close);
            }
            // No runtime left: the master closes its forwards when it exits.
            Err(_) => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

pub(super) async fn open(pool: &Pool, target: &Target, port: u16) -> Result<Forward, RemoteError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let conn = pool.conn(target);
    let (session, learned_host_key) = pool.session(&conn).await?;
    let dir = pool
        .settings
        .control_dir
        .join(format!("fwd-{}", &ulid::Ulid::generate().to_string()[16..]));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| RemoteError::Other(format!("preparing a port forward: {e}")))?;
    let socket = dir.join(format!(".s.PGSQL.{port}"));
    let forward = Forward {
        session: session.clone(),
        dir,
        socket: socket.clone(),
        port,
        learned_host_key,
    };
    session
        .request_port_forward(
            ForwardType::Local,
            Socket::UnixSocket {
                path: socket.into(),
            },
            (std::net::Ipv4Addr::LOCALHOST, port),
        )
        .await
        .map_err(|e| {
            RemoteError::Other(format!("forwarding to port {port} of {}: {e}", target.host))
        })?;
    Ok(forward)
}
