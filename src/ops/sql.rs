//! A server's SQL (MariaDB or PostgreSQL), reached from the worker through a port forward over
//! the server's SSH connection: the SQL port stays closed to the network. Kinds use it through
//! `ctx.sql()` (as the server's `sql_user`, who creates the clients' databases and users) and
//! `ctx.sql_as(…)` (as a client's own user, who writes the lab's rows).
//!
//! Values are always bound parameters. DDL takes none, so the names it uses are made here from
//! a client's id (`alfa_c42`) and its password is checked against its generated alphabet before
//! it becomes a literal.

use anyhow::Context as _;
use chrono::NaiveDateTime;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;

use super::Engine;
use super::script_call::{describe, target};
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

impl SqlConn {
    /// Connects as `login` through `forward` (to the `kind` SQL server of server `server`,
    /// named in errors). Several connections may share one forward.
    pub async fn through(
        forward: &Forward,
        kind: SqlKind,
        server: &str,
        login: &Login<'_>,
    ) -> anyhow::Result<Self> {
        let port = forward.port();
        let refused = || {
            format!(
                "cannot log in to the {} of server {server} as {} (port {port} on the server): \
                 check the login and that the SQL server listens on 127.0.0.1",
                kind.as_str(),
                login.user
            )
        };
        Ok(match kind {
            SqlKind::Mariadb => {
                let mut options = sqlx::mysql::MySqlConnectOptions::new()
                    .socket(forward.socket())
                    .username(login.user)
                    .password(login.password.expose_secret())
                    // The SSH connection already encrypts the way.
                    .ssl_mode(sqlx::mysql::MySqlSslMode::Disabled);
                if let Some(database) = login.database {
                    options = options.database(database);
                }
                Self::Mariadb(
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
                    .username(login.user)
                    .password(login.password.expose_secret())
                    .database(login.database.unwrap_or("postgres"))
                    // The SSH connection already encrypts the way; a Unix socket has no name
                    // to check a certificate against.
                    .ssl_mode(sqlx::postgres::PgSslMode::Disable);
                Self::Postgres(
                    sqlx::PgConnection::connect_with(&options)
                        .await
                        .with_context(refused)?,
                )
            }
        })
    }

    /// Runs a query answering one integer (`SELECT COUNT(*) …`).
    pub async fn count(&mut self, sql: &'static str) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Mariadb(conn) => sqlx::query_scalar::<_, i64>(sql).fetch_one(conn).await?,
            Self::Postgres(conn) => sqlx::query_scalar::<_, i64>(sql).fetch_one(conn).await?,
        })
    }

    /// Says goodbye to the server (dropping would only cut the socket).
    pub async fn close(self) {
        let _ = match self {
            Self::Mariadb(conn) => conn.close().await,
            Self::Postgres(conn) => conn.close().await,
        };
    }
}

/// Who connects, to which database.
pub struct Login<'a> {
    pub user: &'a str,
    pub password: &'a SecretString,
    /// `None`: no database (MariaDB) or `postgres` (PostgreSQL).
    pub database: Option<&'a str>,
}

/// A value bound to a statement.
#[derive(Clone, Debug)]
pub enum SqlValue {
    Text(String),
    Time(NaiveDateTime),
    Null,
}

/// Whether `name` is one we make for a client's database and user (`{prefix}{id}`): a
/// lower-case letter, then lower-case letters, digits and `_`, within both engines' limits.
fn is_client_db_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 48
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The generated passwords' alphabet, the only one allowed to become an SQL literal.
fn literal_password(password: &SecretString) -> anyhow::Result<&str> {
    let text = password.expose_secret();
    anyhow::ensure!(
        text.len() >= 16 && text.bytes().all(|b| b.is_ascii_alphanumeric()),
        "the client's database password is not of the generated kind ([A-Za-z0-9], 16+): refusing to use it in SQL"
    );
    Ok(text)
}

impl ServerSql {
    /// Connects as the server's `sql_user` to its SQL on `127.0.0.1:{sql_port}` (as seen from
    /// the server).
    pub async fn open(engine: &Engine, server: &ServerRow) -> anyhow::Result<Self> {
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
        let login = Login {
            user: &server.sql_user,
            password: &password,
            database: None,
        };
        Self::open_as(engine, server, &login).await
    }

    /// Connects as `login` to the server's SQL.
    pub async fn open_as(
        engine: &Engine,
        server: &ServerRow,
        login: &Login<'_>,
    ) -> anyhow::Result<Self> {
        let kind = SqlKind::parse(&server.sql_kind)
            .map_err(|e| anyhow::anyhow!("server {} has sql_kind {e}", server.name))?;
        let port = u16::try_from(server.sql_port).context("sql_port out of range")?;
        let forward = engine
            .remote
            .forward(&target(server), port)
            .await
            .map_err(|e| describe(server, e))?;
        if let Some(key) = &forward.learned_host_key {
            servers::set_host_key(&engine.db, server.id, key).await?;
        }
        let conn = SqlConn::through(&forward, kind, &server.name, login).await?;
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

    /// Runs one statement with `values` bound in order (`?` on MariaDB, `$n` on PostgreSQL).
    pub async fn execute(&mut self, sql: &str, values: &[SqlValue]) -> anyhow::Result<u64> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        // The same binding for either engine's connection (compiled once per engine).
        macro_rules! run {
            ($conn:expr) => {{
                let mut query = sqlx::query(sql);
                for value in values {
                    query = match value {
                        SqlValue::Text(text) => query.bind(text.clone()),
                        SqlValue::Time(time) => query.bind(*time),
                        SqlValue::Null => query.bind(None::<String>),
                    };
                }
                query.execute($conn).await?.rows_affected()
            }};
        }
        let affected = match &mut self.conn {
            SqlConn::Mariadb(conn) => run!(conn),
            SqlConn::Postgres(conn) => run!(conn),
        };
        Ok(affected)
    }

    /// The first row `sql` returns with `values` bound, every column read as text (NULL as
    /// `None`); `None` when it returns no row. For reading back what a statement wrote.
    pub async fn fetch_row(
        &mut self,
        sql: &str,
        values: &[SqlValue],
    ) -> anyhow::Result<Option<Vec<Option<String>>>> {
        use sqlx::Row as _;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        macro_rules! fetch {
            ($conn:expr) => {{
                let mut query = sqlx::query(sql);
                for value in values {
                    query = match value {
                        SqlValue::Text(text) => query.bind(text.clone()),
                        SqlValue::Time(time) => query.bind(*time),
                        SqlValue::Null => query.bind(None::<String>),
                    };
                }
                match query.fetch_optional($conn).await? {
                    None => None,
                    Some(row) => Some(
                        (0..row.len())
                            .map(|i| row.try_get::<Option<String>, _>(i))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                }
            }};
        }
        let row = match &mut self.conn {
            SqlConn::Mariadb(conn) => fetch!(conn),
            SqlConn::Postgres(conn) => fetch!(conn),
        };
        Ok(row)
    }

    /// Whether database `name` exists.
    pub async fn database_exists(&mut self, name: &str) -> anyhow::Result<bool> {
        let found = match &mut self.conn {
            SqlConn::Mariadb(conn) => sqlx::query_scalar::<_, String>(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(name)
            .fetch_optional(conn)
            .await?
            .is_some(),
            SqlConn::Postgres(conn) => sqlx::query_scalar::<_, String>(
                "SELECT datname FROM pg_database WHERE datname = $1",
            )
            .bind(name)
            .fetch_optional(conn)
            .await?
            .is_some(),
        };
        Ok(found)
    }

    /// Creates the client's database and user (`name` both) with `password`, or brings an
    /// existing pair to that password and its grants: safe to run again. The user owns the
    /// database (PostgreSQL) or holds every privilege on it from any host (MariaDB).
    /// Returns whether the database was created now.
    pub async fn ensure_client_database(
        &mut self,
        name: &str,
        password: &SecretString,
    ) -> anyhow::Result<bool> {
        anyhow::ensure!(
            is_client_db_name(name),
            "{name} is not a client database name"
        );
        let password = literal_password(password)?;
        let existed = self.database_exists(name).await?;
        match &mut self.conn {
            SqlConn::Mariadb(conn) => {
                for statement in [
                    format!(
                        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ),
                    format!("CREATE USER IF NOT EXISTS '{name}'@'%' IDENTIFIED BY '{password}'"),
                    format!("ALTER USER '{name}'@'%' IDENTIFIED BY '{password}'"),
                    format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'%'"),
                ] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *conn)
                        .await
                        .with_context(|| format!("creating database {name} and its user"))?;
                }
            }
            SqlConn::Postgres(conn) => {
                let role_exists = sqlx::query_scalar::<_, String>(
                    "SELECT rolname::text FROM pg_roles WHERE rolname = $1",
                )
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?
                .is_some();
                let verb = if role_exists { "ALTER" } else { "CREATE" };
                let mut statements = vec![
                    format!("{verb} ROLE \"{name}\" LOGIN PASSWORD '{password}'"),
                    // CREATE DATABASE … OWNER needs membership in the owner role.
                    format!("GRANT \"{name}\" TO CURRENT_USER"),
                ];
                if !existed {
                    statements.push(format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""));
                }
                for statement in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *conn)
                        .await
                        .with_context(|| format!("creating database {name} and its role"))?;
                }
            }
        }
        Ok(!existed)
    }

    /// Drops the client's database and user when they exist (safe to run again).
    pub async fn drop_client_database(&mut self, name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            is_client_db_name(name),
            "{name} is not a client database name"
        );
        let statements = match &self.conn {
            SqlConn::Mariadb(_) => vec![
                format!("DROP DATABASE IF EXISTS `{name}`"),
                format!("DROP USER IF EXISTS '{name}'@'%'"),
            ],
            SqlConn::Postgres(_) => vec![
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                format!("DROP ROLE IF EXISTS \"{name}\""),
            ],
        };
        for statement in statements {
            let result = match &mut self.conn {
                SqlConn::Mariadb(conn) => sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(conn)
                    .await
                    .map(drop),
                SqlConn::Postgres(conn) => sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(conn)
                    .await
                    .map(drop),
            };
            result.with_context(|| format!("dropping database {name} and its user"))?;
        }
        Ok(())
    }
}
