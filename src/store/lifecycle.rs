//! A client's birth and end in the `clients` table: the creation's port allocation and
//! secrets, in the transaction that registers the client and its creation operation, and
//! marking a client deleted, which frees its port and its name.

use chrono::Utc;

use super::clients::{ClientSpec, WriteError};
use super::operations::{self, NewOperation};
use super::retry::{WritePool as _, with_retry};
use super::{Db, with_db};
use crate::domain::{ClientState, Email};

/// The secrets a new client is born with, each sealed for its column.
#[derive(Clone)]
pub struct NewClientSecrets {
    pub app_key_enc: String,
    pub db_password_enc: String,
    pub cloud_token_enc: String,
}

impl std::fmt::Debug for NewClientSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewClientSecrets(sealed)")
    }
}

/// The lowest port of `min..=max` that no live client of `server_id` has: `min` itself, or
/// the port right above a taken one.
const FREE_PORT: &str = "SELECT MIN(candidate) FROM (\
    SELECT CAST($2 AS BIGINT) AS candidate \
    UNION SELECT client_port + 1 FROM clients \
        WHERE server_id = $1 AND state <> 'deleted' AND client_port IS NOT NULL\
    ) AS candidates \
    WHERE candidate BETWEEN $2 AND $3 AND NOT EXISTS (SELECT 1 FROM clients taken \
        WHERE taken.server_id = $1 AND taken.state <> 'deleted' \
        AND taken.client_port = candidates.candidate)";

/// Whether `err` is the unique index on (server_id, client_port) refusing a port that a
/// concurrent creation took first.
fn is_port_conflict(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            e.constraint() == Some("clients_port_live") || e.message().contains("client_port")
        }
        _ => false,
    }
}

/// How often a creation that lost its port to a concurrent one allocates again. On SQLite
/// writes are serial and on PostgreSQL the server row lock orders creations, so this only
/// covers a port taken by a write that does not take that lock.
const PORT_ATTEMPTS: u32 = 16;

/// Inserts a new client in state `pending` together with the operation that creates it, in one
/// transaction: there is never a client without its creation operation. The client gets the
/// lowest free port of its server's range and its sealed secrets. `domain` is its server's
/// domain. Returns (client id, operation id).
pub async fn insert(
    db: &Db,
    spec: &ClientSpec,
    secrets: &NewClientSecrets,
    domain: &str,
    creation: &NewOperation,
) -> Result<(i64, i64), WriteError> {
    let mut attempt = 1;
    loop {
        match insert_once(db, spec, secrets, domain, creation).await {
            Err(WriteError::Db(e)) if is_port_conflict(&e) && attempt < PORT_ATTEMPTS => {
                tracing::debug!(
                    attempt,
                    "a concurrent creation took the port: allocating again"
                );
                attempt += 1;
            }
            done => return done,
        }
    }
}

async fn insert_once(
    db: &Db,
    spec: &ClientSpec,
    secrets: &NewClientSecrets,
    domain: &str,
    creation: &NewOperation,
) -> Result<(i64, i64), WriteError> {
    let now = Utc::now();
    let fqdn = format!("{}.{domain}", spec.subdomain);
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            // The server's row lock orders creations on one server (and a server update that
            // checks its clients) on PostgreSQL; SQLite's write lock already does.
            let range: Option<(String, i64, i64)> = sqlx::query_as(
                "UPDATE servers SET updated_at = updated_at WHERE id = $1 \
                 RETURNING name, client_port_min, client_port_max",
            )
            .bind(spec.server_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(WriteError::Db)?;
            let Some((server, min, max)) = range else {
                return Err(WriteError::ServerGone(spec.server_id));
            };
            let port: Option<i64> = sqlx::query_scalar(FREE_PORT)
                .bind(spec.server_id)
                .bind(min)
                .bind(max)
                .fetch_one(&mut *tx)
                .await
                .map_err(WriteError::Db)?;
            let Some(port) = port else {
                return Err(WriteError::PortsExhausted {
                    server,
                    range: format!("{min}-{max}"),
                });
            };
            let client_id: i64 = sqlx::query_scalar(
                "INSERT INTO clients (server_id, name, short_name, admin_f, admin_i, admin_o, \
             admin_login, password_enc, subdomain, fqdn, email, phone, city, timezone, \
             version_tag, allowed_ips, config, license, license_expires_at, billing_type, state, \
             created_at, updated_at, client_port, app_key_enc, db_password_enc, cloud_token_enc, \
             keep_on_error, locale) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22, $23, $24, $25, $26, $27, \
             $28) \
             RETURNING id",
            )
            .bind(spec.server_id)
            .bind(&spec.name)
            .bind(&spec.short_name)
            .bind(&spec.admin_f)
            .bind(&spec.admin_i)
            .bind(&spec.admin_o)
            .bind(spec.admin_login.as_str())
            .bind(spec.password_enc.as_deref())
            .bind(spec.subdomain.as_str())
            .bind(&fqdn)
            .bind(spec.email.as_ref().map_or("", Email::as_str))
            .bind(&spec.phone)
            .bind(&spec.city)
            .bind(spec.timezone.as_str())
            .bind(spec.version_tag.as_str())
            .bind(spec.allowed_ips.to_json())
            .bind(&spec.config)
            .bind(&spec.license)
            .bind(spec.license_expires_at)
            .bind(&spec.billing_type)
            .bind(ClientState::Pending.as_str())
            .bind(now)
            .bind(port)
            .bind(&secrets.app_key_enc)
            .bind(&secrets.db_password_enc)
            .bind(&secrets.cloud_token_enc)
            .bind(spec.keep_on_error)
            .bind(spec.locale.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_port_conflict(&e) {
                    WriteError::Db(e)
                } else {
                    WriteError::from(e)
                }
            })?;
            let op_id: i64 = sqlx::query_scalar(operations::INSERT)
                .bind(creation.kind)
                .bind(creation.server_id)
                .bind(client_id)
                .bind(creation.parent_id)
                .bind(creation.lock_scope.as_str())
                .bind(&creation.requested_by)
                .bind(creation.params.to_string())
                .bind(creation.max_attempts)
                .bind(now)
                .bind(None::<chrono::DateTime<chrono::Utc>>)
                .fetch_one(&mut *tx)
                .await
                .map_err(WriteError::Db)?;
            sqlx::query("UPDATE clients SET creation_operation_id = $1 WHERE id = $2")
                .bind(op_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(WriteError::Db)?;
            tx.commit().await.map_err(WriteError::Db)?;
            Ok((client_id, op_id))
        })
    })
}

/// Marks a client deleted and frees its port and its `subdomain.domain` for new clients.
pub async fn mark_deleted(db: &Db, id: i64) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE clients SET state = $2, client_port = NULL, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(ClientState::Deleted.as_str())
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}
