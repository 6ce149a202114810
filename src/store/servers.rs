//! The `servers` table.

use chrono::{DateTime, Utc};

use super::retry::{Retryable, WritePool as _, with_retry};
pub use super::server_status::{
    find_by_address, forget_host_key, set_check, set_host_key, set_reachable,
};
use super::{Db, with_db};
use crate::domain::{
    BaseDir, ClientPorts, DomainName, Environment, Host, ListenAddress, SqlKind, UnixUser,
};

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
    /// The ports the vhosts listen on.
    pub http_port: i64,
    pub https_port: i64,
    /// The address the vhosts listen on; empty: all addresses.
    pub listen_address: String,
    /// certbot's folder (`{letsencrypt_dir}/live/{fqdn}/fullchain.pem`).
    pub letsencrypt_dir: String,
    /// What a client's container connects to for its database.
    pub db_host_for_clients: String,
    /// The range client containers' ports are allocated from (both ends included).
    pub client_port_min: i64,
    pub client_port_max: i64,
}

impl ServerRow {
    /// What an nginx `listen` directive takes for `port` on this server: `port` alone on all
    /// addresses, `10.0.0.5:443`, or `[2001:db8::5]:443`.
    pub fn listen_on(&self, port: i64) -> String {
        match self.listen_address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            Ok(ip) => format!("{ip}:{port}"),
            Err(_) => port.to_string(),
        }
    }

    /// The client port range as written in the API (`20000-29999`).
    pub fn client_ports(&self) -> String {
        format!("{}-{}", self.client_port_min, self.client_port_max)
    }
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
    pub http_port: u16,
    pub https_port: u16,
    pub listen_address: ListenAddress,
    pub letsencrypt_dir: BaseDir,
    pub db_host_for_clients: Host,
    pub client_ports: ClientPorts,
}

pub(super) const COLUMNS: &str = "id, name, host, domain, ssh_port, ssh_user, base_dir, environment, \
    sql_kind, sql_port, sql_user, sql_password_enc, acme_directory, active, created_at, updated_at, host_key, last_check, reachable, \
    reachable_checked_at, http_port, https_port, listen_address, letsencrypt_dir, \
    db_host_for_clients, client_port_min, client_port_max";

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
    /// `fields` (where the server's clients live and how they are reached) cannot change
    /// while `clients` are not deleted: each would keep running as set up under the old values.
    HasClients {
        server: String,
        fields: Vec<&'static str>,
        clients: Vec<(i64, String)>,
    },
    Db(sqlx::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NameTaken => f.write_str("the name is already used by another server"),
            Self::HasClients {
                server,
                fields,
                clients,
            } => {
                const SHOWN: usize = 10;
                let mut names: Vec<String> = clients
                    .iter()
                    .take(SHOWN)
                    .map(|(id, subdomain)| format!("{subdomain} ({id})"))
                    .collect();
                if clients.len() > SHOWN {
                    names.push(format!("and {} more", clients.len() - SHOWN));
                }
                write!(
                    f,
                    "server {server} has clients {}: move or delete them first (changing {} \
                     would leave them set up for the old value)",
                    names.join(", "),
                    fields.join(", ")
                )
            }
            Self::Db(e) => write!(f, "{e}"),
        }
    }
}

fn name_taken(err: sqlx::Error) -> WriteError {
    if super::is_unique_violation(&err) {
        WriteError::NameTaken
    } else {
        WriteError::Db(err)
    }
}

pub async fn insert(db: &Db, spec: &ServerSpec) -> Result<i64, WriteError> {
    let now = Utc::now();
    let result = with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_scalar(
                "INSERT INTO servers (name, host, domain, ssh_port, ssh_user, base_dir, \
                 environment, sql_kind, sql_port, sql_user, sql_password_enc, acme_directory, \
                 active, created_at, updated_at, http_port, https_port, listen_address, \
                 letsencrypt_dir, db_host_for_clients, client_port_min, client_port_max) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, \
                 $16, $17, $18, $19, $20, $21) RETURNING id",
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
            .bind(i64::from(spec.http_port))
            .bind(i64::from(spec.https_port))
            .bind(spec.listen_address.to_stored())
            .bind(spec.letsencrypt_dir.as_str())
            .bind(spec.db_host_for_clients.to_string())
            .bind(i64::from(spec.client_ports.min))
            .bind(i64::from(spec.client_ports.max))
            .fetch_one(pool)
            .await
        })
    });
    result.map_err(name_taken)
}

/// The fields `spec` changes that a server with live clients must keep (its client port
/// range is judged apart: see [`update`]).
fn fixed_fields_changed(stored: &ServerRow, spec: &ServerSpec) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("domain", stored.domain != spec.domain.as_str());
    check("base_dir", stored.base_dir != spec.base_dir.as_str());
    check("sql_kind", stored.sql_kind != spec.sql_kind.as_str());
    check("sql_port", stored.sql_port != i64::from(spec.sql_port));
    check("http_port", stored.http_port != i64::from(spec.http_port));
    check(
        "https_port",
        stored.https_port != i64::from(spec.https_port),
    );
    check(
        "listen_address",
        stored.listen_address != spec.listen_address.to_stored(),
    );
    changed
}

/// Updates a server. Returns false when no such server exists.
///
/// While the server has clients that are not deleted, its domain, base_dir, SQL kind and port,
/// web ports and listen address cannot change ([`WriteError::HasClients`]): their vhosts,
/// folders, `.env` files and certificates were made for the old values. Its client port range
/// may change as long as every such client's port stays inside the new range.
pub async fn update(db: &Db, id: i64, spec: &ServerSpec) -> Result<bool, WriteError> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            // Read the server under its row lock: a client created meanwhile (which takes the
            // same lock, see clients::insert) is either seen here or waits for this change.
            let stored: Option<ServerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE servers SET updated_at = updated_at WHERE id = $1 RETURNING {COLUMNS}"
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(stored) = stored else {
                return Ok(false);
            };
            let mut fields = fixed_fields_changed(&stored, spec);
            let range_changed = (stored.client_port_min, stored.client_port_max)
                != (
                    i64::from(spec.client_ports.min),
                    i64::from(spec.client_ports.max),
                );
            if !fields.is_empty() || range_changed {
                let live: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
                    "SELECT id, subdomain, client_port FROM clients \
                     WHERE server_id = $1 AND state <> 'deleted' ORDER BY id",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                let outside: Vec<(i64, String)> = live
                    .iter()
                    .filter(|(_, _, port)| port.is_some_and(|p| !spec.client_ports.contains(p)))
                    .map(|(id, sub, _)| (*id, sub.clone()))
                    .collect();
                // Any other fixed field concerns every live client; a new range only those
                // whose port it leaves out.
                let others_changed = !fields.is_empty();
                if range_changed && !outside.is_empty() {
                    fields.push("client_ports");
                }
                let blocking = if others_changed {
                    live.into_iter().map(|(id, sub, _)| (id, sub)).collect()
                } else {
                    outside
                };
                if !fields.is_empty() && !blocking.is_empty() {
                    return Err(WriteError::HasClients {
                        server: stored.name,
                        fields,
                        clients: blocking,
                    });
                }
            }
            sqlx::query(
                "UPDATE servers SET name = $1, host = $2, domain = $3, ssh_port = $4, ssh_user = $5, \
                 base_dir = $6, environment = $7, sql_kind = $8, sql_port = $9, sql_user = $10, \
                 sql_password_enc = COALESCE($11, sql_password_enc), acme_directory = $12, \
                 active = $13, updated_at = $14, http_port = $15, https_port = $16, \
                 listen_address = $17, letsencrypt_dir = $18, db_host_for_clients = $19, \
                 client_port_min = $20, client_port_max = $21 WHERE id = $22",
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
            .bind(i64::from(spec.http_port))
            .bind(i64::from(spec.https_port))
            .bind(spec.listen_address.to_stored())
            .bind(spec.letsencrypt_dir.as_str())
            .bind(spec.db_host_for_clients.to_string())
            .bind(i64::from(spec.client_ports.min))
            .bind(i64::from(spec.client_ports.max))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(name_taken)?;
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
