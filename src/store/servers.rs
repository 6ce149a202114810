//! The `servers` table.

use chrono::{DateTime, Utc};

use super::retry::{Retryable, WritePool as _, with_retry};
use super::{Db, with_db};
use crate::domain::{BaseDir, DomainName, Environment, Host, SqlKind, UnixUser};

/// A server row as stored. `sql_password_enc` is sealed; it never leaves the process.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServerRow {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub domain: String,
    pub ssh_port: i64,
    pub ssh_user: String,
    pub base_dir: String,
    pub environment: String,
    pub sql_kind: String,
    pub sql_port: i64,
    pub sql_user: String,
    pub sql_password_enc: Option<String>,
    pub acme_directory: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// known_hosts line(s) recorded at the first SSH connection.
    pub host_key: Option<String>,
    /// The last check_host result (JSON).
    pub last_check: Option<String>,
    /// Whether the server answered over SSH the last time anything tried.
    pub reachable: Option<bool>,
    pub reachable_checked_at: Option<DateTime<Utc>>,
}

/// A validated server, ready to be written.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub host: Host,
    pub domain: DomainName,
    pub ssh_port: u16,
    pub ssh_user: UnixUser,
    pub base_dir: BaseDir,
    pub environment: Environment,
    pub sql_kind: SqlKind,
    pub sql_port: u16,
    pub sql_user: String,
    /// Sealed with the master key; `None` on update keeps the stored one.
    pub sql_password_enc: Option<String>,
    pub acme_directory: String,
    pub active: bool,
}

const COLUMNS: &str = "id, name, host, domain, ssh_port, ssh_user, base_dir, environment, \
    sql_kind, sql_port, sql_user, sql_password_enc, acme_directory, active, created_at, updated_at, host_key, last_check, reachable, \
    reachable_checked_at";

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<ServerRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM servers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
    })
}

pub async fn list(db: &Db, include_inactive: bool) -> sqlx::Result<Vec<ServerRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM servers WHERE active OR $1 ORDER BY id"
        )))
        .bind(include_inactive)
        .fetch_all(pool)
        .await
    })
}

/// Why a write was refused, for the API to name the field.
#[derive(Debug)]
pub enum WriteError {
    NameTaken,
    /// The new domain would give a client the same full name as another client.
    FqdnTaken(String),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

pub async fn insert(db: &Db, spec: &ServerSpec) -> Result<i64, WriteError> {
    let now = Utc::now();
    let result = with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_scalar(
            "INSERT INTO servers (name, host, domain, ssh_port, ssh_user, base_dir, environment, \
             sql_kind, sql_port, sql_user, sql_password_enc, acme_directory, active, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
             RETURNING id",
        )
        .bind(&spec.name)
        .bind(spec.host.to_string())
        .bind(spec.domain.as_str())
        .bind(i64::from(spec.ssh_port))
        .bind(spec.ssh_user.as_str())
        .bind(spec.base_dir.as_str())
        .bind(spec.environment.as_str())
        .bind(spec.sql_kind.as_str())
        .bind(i64::from(spec.sql_port))
        .bind(&spec.sql_user)
        .bind(spec.sql_password_enc.as_deref())
        .bind(&spec.acme_directory)
        .bind(spec.active)
        .bind(now)
        .fetch_one(pool)
        .await
        })
    });
    result.map_err(|e| {
        if super::is_unique_violation(&e) {
            WriteError::NameTaken
        } else {
            WriteError::Db(e)
        }
    })
}

/// Updates a server and the full names of its clients (its domain may have changed), in one
/// transaction. Returns false when no such server exists.
pub async fn update(db: &Db, id: i64, spec: &ServerSpec) -> Result<bool, WriteError> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            // Clients first: every write to clients takes their rows and then (a trigger) the
            // data version row, so this one must too, or two such writes deadlock on PostgreSQL.
            sqlx::query("UPDATE clients SET fqdn = subdomain || '.' || $1 WHERE server_id = $2")
                .bind(spec.domain.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if super::is_unique_violation(&e) {
                        WriteError::FqdnTaken(spec.domain.to_string())
                    } else {
                        WriteError::Db(e)
                    }
                })?;
            let updated = sqlx::query(
                "UPDATE servers SET name = $1, host = $2, domain = $3, ssh_port = $4, ssh_user = $5, \
                 base_dir = $6, environment = $7, sql_kind = $8, sql_port = $9, sql_user = $10, \
                 sql_password_enc = COALESCE($11, sql_password_enc), acme_directory = $12, \
                 active = $13, updated_at = $14 WHERE id = $15",
            )
            .bind(&spec.name)
            .bind(spec.host.to_string())
            .bind(spec.domain.as_str())
            .bind(i64::from(spec.ssh_port))
            .bind(spec.ssh_user.as_str())
            .bind(spec.base_dir.as_str())
            .bind(spec.environment.as_str())
            .bind(spec.sql_kind.as_str())
            .bind(i64::from(spec.sql_port))
            .bind(&spec.sql_user)
            .bind(spec.sql_password_enc.as_deref())
            .bind(&spec.acme_directory)
            .bind(spec.active)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if super::is_unique_violation(&e) {
                    WriteError::NameTaken
                } else {
                    WriteError::Db(e)
                }
            })?;
            if updated.rows_affected() == 0 {
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
    })
}

impl Retryable for WriteError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Db(e) if e.is_retryable())
    }
}

pub enum DeleteOutcome {
    Deleted,
    NotFound,
    HasClients(i64),
}

pub async fn delete(db: &Db, id: i64) -> sqlx::Result<DeleteOutcome> {
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let clients: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE server_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if clients > 0 {
                return Ok(DeleteOutcome::HasClients(clients));
            }
            let deleted = sqlx::query("DELETE FROM servers WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(if deleted.rows_affected() == 0 {
                DeleteOutcome::NotFound
            } else {
                DeleteOutcome::Deleted
            })
        })
    })
}

/// Records the host key seen at the first connection (trust on first use); a key already
/// recorded is never replaced here (see [`forget_host_key`]).
pub async fn set_host_key(db: &Db, id: i64, key: &str) -> sqlx::Result<()> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("UPDATE servers SET host_key = $2 WHERE id = $1 AND host_key IS NULL")
                .bind(id)
                .bind(key)
                .execute(pool)
                .await
                .map(drop)
        })
    })
}

/// Forgets the recorded host key: the next connection records a new one.
pub async fn forget_host_key(db: &Db, id: i64) -> sqlx::Result<bool> {
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("UPDATE servers SET host_key = NULL WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    })
}

/// Stores a check_host result and the reachability it found.
pub async fn set_check(
    db: &Db,
    id: i64,
    check: &serde_json::Value,
    reachable: bool,
) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
            "UPDATE servers SET last_check = $2, reachable = $3, reachable_checked_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(check.to_string())
        .bind(reachable)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
        })
    })
}

/// The registered server at `host:port`, if any (for check_host's host key).
pub async fn find_by_address(db: &Db, host: &str, port: i64) -> sqlx::Result<Option<ServerRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM servers WHERE host = $1 AND ssh_port = $2 ORDER BY id LIMIT 1"
        )))
        .bind(host)
        .bind(port)
        .fetch_optional(pool)
        .await
    })
}

/// Records whether the server answered over SSH just now.
pub async fn set_reachable(db: &Db, id: i64, reachable: bool) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE servers SET reachable = $2, reachable_checked_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(reachable)
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}
