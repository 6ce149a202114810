//! A server's SQL (MariaDB or PostgreSQL), reached from the worker through a port forward over
//! the server's SSH connection, as the server's `sql_user`: the SQL port stays closed to the
//! network. Kinds use it through `ctx.sql()`; client creation builds its database and users on
//! it, and writes the lab's rows as the client's own user.

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;

use super::Engine;
use super::context::{describe, target};
use crate::crypto::purpose;
use crate::domain::SqlKind;
use crate::remote::Forward;
use crate::store::servers::{self, ServerRow};

/// One connection to a server's SQL; the forward lives as long as the connection.
pub struct ServerSql {
    pub conn: SqlConn,
    _forward: Forward,
}

/// The connection, by engine.
pub enum SqlConn {
    Mariadb(sqlx::MySqlConnection),
    Postgres(sqlx::PgConnection),
}

impl ServerSql {
    /// Connects as the server's `sql_user` to its SQL on `127.0.0.1:{sql_port}` (as seen from
    /// the server).
    pub async fn open(engine: &Engine, server: &ServerRow) -> anyhow::Result<Self> {
        let kind = SqlKind::parse(&server.sql_kind)
            .map_err(|e| anyhow::anyhow!("server {} has sql_kind {e}", server.name))?;
        let password = match server.sql_password_enc.as_deref() {
            Some(sealed) => engine
                .cipher
                .open(purpose::SERVER_SQL_PASSWORD, sealed)
                .with_context(|| {
                    format!("cannot open the sql_password of server {}", server.name)
                })?,
            None => anyhow::bail!(
                "server {} has no sql_password: set it with POST /servers/ (id={})",
                server.name,
                server.id
            ),
        };
        let port = u16::try_from(server.sql_port).context("sql_port out of range")?;
        let forward = engine
            .remote
            .forward(&target(server), port)
            .await
            .map_err(|e| describe(server, e))?;
        if let Some(key) = &forward.learned_host_key {
            servers::set_host_key(&engine.db, server.id, key).await?;
        }
        let refused = || {
            format!(
                "cannot log in to the {} of server {} as {} (port {port} on the server): check \
                 sql_user/sql_password and that the SQL server listens on 127.0.0.1",
                kind.as_str(),
                server.name,
                server.sql_user
            )
        };
        let conn = match kind {
            SqlKind::Mariadb => {
                let options = sqlx::mysql::MySqlConnectOptions::new()
                    .socket(forward.socket())
                    .username(&server.sql_user)
                    .password(password.expose_secret())
                    .ssl_mode(sqlx::mysql::MySqlSslMode::Disabled);
                SqlConn::Mariadb(
                    sqlx::MySqlConnection::connect_with(&options)
                        .await
                        .with_context(refused)?,
                )
            }
            SqlKind::Postgres => {
                let options = sqlx::postgres::PgConnectOptions::new()
                    .host(
                        forward
                            .dir()
                            .to_str()
                            .context("socket folder is not UTF-8")?,
                    )
                    .port(port)
                    .username(&server.sql_user)
                    .password(password.expose_secret())
                    .database("postgres")
                    // The SSH connection already encrypts the way; a Unix socket has no name
                    // to check a certificate against.
                    .ssl_mode(sqlx::postgres::PgSslMode::Disable);
                SqlConn::Postgres(
                    sqlx::PgConnection::connect_with(&options)
                        .await
                        .with_context(refused)?,
                )
            }
        };
        Ok(Self {
            conn,
            _forward: forward,
        })
    }

    /// The SQL server's version string (also proves the connection works).
    pub async fn version(&mut self) -> anyhow::Result<String> {
        let version = match &mut self.conn {
            SqlConn::Mariadb(conn) => {
                sqlx::query_scalar::<_, String>("SELECT VERSION()")
                    .fetch_one(conn)
                    .await?
            }
            SqlConn::Postgres(conn) => {
                sqlx::query_scalar::<_, String>("SELECT version()")
                    .fetch_one(conn)
                    .await?
            }
        };
        Ok(version)
    }
}
