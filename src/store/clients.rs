//! The `clients` table, the billing types and the client event trail.

use chrono::{DateTime, Utc};

pub use super::client_json::UNPROBED;
pub use super::client_list::{ClientQuery, PagePart, SortKey, page_json, page_parts, probe_parts};
pub use super::lifecycle::{NewClientSecrets, insert, mark_deleted};
use super::operations::NewOperation;
use super::retry::{Retryable, WritePool as _, with_retry};
use super::{Db, with_db};
use crate::domain::{AdminLogin, ClientState, Email, IpAllowList, Subdomain, TimeZone, VersionTag};

/// A client row as stored. The `*_enc` columns are sealed; they never leave the process.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: i64,
    pub server_id: i64,
    pub name: String,
    pub short_name: String,
    pub admin_f: String,
    pub admin_i: String,
    pub admin_o: String,
    pub admin_login: String,
    pub password_enc: Option<String>,
    pub subdomain: String,
    pub fqdn: String,
    pub email: String,
    pub phone: String,
    pub city: String,
    pub timezone: String,
    pub version_tag: String,
    pub allowed_ips: String,
    pub config: String,
    pub license: String,
    pub license_expires_at: Option<DateTime<Utc>>,
    pub billing_type: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub creation_operation_id: Option<i64>,
    /// The port its container publishes on 127.0.0.1 of its server; `None` once deleted.
    pub client_port: Option<i64>,
    /// Laravel's `APP_KEY` (`base64:…`), sealed for [`crate::crypto::purpose::CLIENT_APP_KEY`].
    pub app_key_enc: Option<String>,
    /// The password of the client's own SQL login, sealed for `CLIENT_DB_PASSWORD`.
    pub db_password_enc: Option<String>,
    /// The token the client's LIMS calls this API with, sealed for `CLIENT_CLOUD_TOKEN`.
    pub cloud_token_enc: Option<String>,
    /// Keep what a failed creation made, for inspection, instead of undoing it.
    pub keep_on_error: bool,
    /// The language of the mails it is sent: `ru` or `en`.
    pub locale: String,
    /// What the probe loop last saw of it (from `client_probes`, joined on reading).
    #[sqlx(flatten)]
    pub probe: ProbeFields,
}

/// The probe loop's last results for a client; all `None` until it is probed.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ProbeFields {
    /// Its app answered `/up` through nginx.
    pub available: Option<bool>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Its maintenance page is on.
    pub maintenance: Option<bool>,
    /// The image tag its running container was started from.
    pub running_version: Option<String>,
    /// Rows in its LIMS's `users` table.
    pub users_count: Option<i64>,
    /// Why the last probe found it unavailable or could not read a figure; empty when all
    /// went well.
    #[sqlx(rename = "error")]
    pub probe_error: Option<String>,
}

/// The columns of [`ClientRow`], from `clients c LEFT JOIN client_probes p` ([`FROM`]).
const COLUMNS: &str = "c.id, c.server_id, c.name, c.short_name, c.admin_f, c.admin_i, \
    c.admin_o, c.admin_login, c.password_enc, c.subdomain, c.fqdn, c.email, c.phone, c.city, \
    c.timezone, c.version_tag, c.allowed_ips, c.config, c.license, c.license_expires_at, \
    c.billing_type, c.state, c.created_at, c.updated_at, c.creation_operation_id, c.client_port, \
    c.app_key_enc, c.db_password_enc, c.cloud_token_enc, c.keep_on_error, c.locale, p.available, \
    p.checked_at, p.maintenance, p.running_version, p.users_count, p.error";

const FROM: &str = "clients c LEFT JOIN client_probes p ON p.client_id = c.id";

/// A validated client, ready to be written.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub server_id: i64,
    pub name: String,
    pub short_name: String,
    pub admin_f: String,
    pub admin_i: String,
    pub admin_o: String,
    pub admin_login: AdminLogin,
    /// Sealed with the master key; `None` on update keeps the stored one.
    pub password_enc: Option<String>,
    pub subdomain: Subdomain,
    pub email: Option<Email>,
    pub phone: String,
    pub city: String,
    pub timezone: TimeZone,
    pub version_tag: VersionTag,
    pub allowed_ips: IpAllowList,
    pub config: String,
    pub license: String,
    pub license_expires_at: Option<DateTime<Utc>>,
    pub billing_type: String,
    pub keep_on_error: bool,
    pub locale: crate::domain::Locale,
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<ClientRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
    })
}

#[derive(Debug)]
pub enum WriteError {
    /// Another client that is not deleted already has this `subdomain.domain`.
    FqdnTaken,
    /// Every port of the server's client range is taken by a client that is not deleted.
    PortsExhausted {
        server: String,
        range: String,
    },
    /// The server is gone (deleted after the request was validated).
    ServerGone(i64),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        if super::is_unique_violation(&err) {
            Self::FqdnTaken
        } else {
            Self::Db(err)
        }
    }
}

impl Retryable for WriteError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Db(e) if e.is_retryable())
    }
}

pub async fn set_state(db: &Db, id: i64, state: ClientState) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query("UPDATE clients SET state = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(state.as_str())
                .bind(now)
                .execute(pool)
                .await
                .map(drop)
        })
    })
}

/// What a guarded write did.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written, with the id of the operation inserted with it, if one was given.
    Done(Option<i64>),
    /// No client `id` in the expected state: it does not exist, or its state changed since it
    /// was read.
    Missed,
}

/// Inserts `op` for client `client_id` inside `tx`; returns its id.
macro_rules! insert_operation {
    ($tx:expr, $op:expr, $client_id:expr, $now:expr) => {{
        let op: &NewOperation = $op;
        sqlx::query_scalar::<_, i64>(super::operations::INSERT)
            .bind(op.kind)
            .bind(op.server_id)
            .bind($client_id)
            .bind(op.parent_id)
            .bind(op.lock_scope.as_str())
            .bind(&op.requested_by)
            .bind(op.params.to_string())
            .bind(op.max_attempts)
            .bind($now)
            .bind(None::<chrono::DateTime<chrono::Utc>>)
            .fetch_one(&mut *$tx)
            .await
    }};
}

/// Updates the editable fields of client `id` while its state is `state`, and inserts `then`
/// (the operation that applies them on its server) in the same transaction: a change the
/// API answered is never left without the operation that carries it out.
pub async fn update(
    db: &Db,
    id: i64,
    state: &str,
    spec: &ClientSpec,
    then: Option<&NewOperation>,
) -> Result<Written, WriteError> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE clients SET name = $1, short_name = $2, admin_f = $3, admin_i = $4, \
             admin_o = $5, admin_login = $6, password_enc = COALESCE($7, password_enc), \
             email = $8, phone = $9, city = $10, timezone = $11, allowed_ips = $12, config = $13, \
             license = $14, license_expires_at = $15, billing_type = $16, updated_at = $17, \
             keep_on_error = $19, locale = $21 WHERE id = $18 AND state = $20",
            )
            .bind(&spec.name)
            .bind(&spec.short_name)
            .bind(&spec.admin_f)
            .bind(&spec.admin_i)
            .bind(&spec.admin_o)
            .bind(spec.admin_login.as_str())
            .bind(spec.password_enc.as_deref())
            .bind(spec.email.as_ref().map_or("", Email::as_str))
            .bind(&spec.phone)
            .bind(&spec.city)
            .bind(spec.timezone.as_str())
            .bind(spec.allowed_ips.to_json())
            .bind(&spec.config)
            .bind(&spec.license)
            .bind(spec.license_expires_at)
            .bind(&spec.billing_type)
            .bind(now)
            .bind(id)
            .bind(spec.keep_on_error)
            .bind(state)
            .bind(spec.locale.as_str())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(Written::Missed);
            }
            let op_id = match then {
                Some(op) => Some(insert_operation!(tx, op, id, now)?),
                None => None,
            };
            tx.commit().await?;
            Ok(Written::Done(op_id))
        })
    })
}

/// Sets the licence end of client `id` while its state is `state`, records who did it
/// (`actor`), and inserts `then` (the operation writing it into the lab), in one transaction.
pub async fn set_license_expiry(
    db: &Db,
    id: i64,
    state: &str,
    at: DateTime<Utc>,
    actor: &str,
    then: Option<&NewOperation>,
) -> sqlx::Result<Written> {
    let now = Utc::now();
    let detail = serde_json::json!({ "license_expires_at": at }).to_string();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE clients SET license_expires_at = $1, updated_at = $2 \
                 WHERE id = $3 AND state = $4",
            )
            .bind(at)
            .bind(now)
            .bind(id)
            .bind(state)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(Written::Missed);
            }
            sqlx::query(
                "INSERT INTO client_events (client_id, at, actor, kind, detail) \
             VALUES ($1, $2, $3, 'expire_date', $4)",
            )
            .bind(id)
            .bind(now)
            .bind(actor)
            .bind(&detail)
            .execute(&mut *tx)
            .await?;
            let op_id = match then {
                Some(op) => Some(insert_operation!(tx, op, id, now)?),
                None => None,
            };
            tx.commit().await?;
            Ok(Written::Done(op_id))
        })
    })
}

/// Keeps `password_enc` (sealed for `CLIENT_ADMIN_PASSWORD`) as the admin password of client
/// `id` while it is `active`, with `then`, the operation writing it into the lab, in one
/// transaction.
pub async fn set_admin_password(
    db: &Db,
    id: i64,
    password_enc: &str,
    then: &NewOperation,
) -> sqlx::Result<Written> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE clients SET password_enc = $1, updated_at = $2 \
                 WHERE id = $3 AND state = $4",
            )
            .bind(password_enc)
            .bind(now)
            .bind(id)
            .bind(ClientState::Active.as_str())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(Written::Missed);
            }
            let op_id = insert_operation!(tx, then, id, now)?;
            tx.commit().await?;
            Ok(Written::Done(Some(op_id)))
        })
    })
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct BillingType {
    pub code: String,
    pub title: String,
}

pub async fn billing_types(db: &Db) -> sqlx::Result<Vec<BillingType>> {
    with_db!(db, |pool| {
        sqlx::query_as("SELECT code, title FROM billing_types ORDER BY sort_order, code")
            .fetch_all(pool)
            .await
    })
}

pub async fn billing_type_exists(db: &Db, code: &str) -> sqlx::Result<bool> {
    with_db!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM billing_types WHERE code = $1")
            .bind(code)
            .fetch_one(pool)
            .await
            .map(|n| n > 0)
    })
}

/// The clients' data version: changes with every write to a client or a server's domain, in
/// any process (triggers, migration 0003). Pages built at one version are valid while it holds.
/// With it, the probe results' version (bumped by the prober with each server's results,
/// migration 0007): a cached page's probe fields are read again when that one moved.
pub async fn data_versions(db: &Db) -> sqlx::Result<(i64, i64)> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT (SELECT version FROM data_versions WHERE name = 'clients'), \
             (SELECT version FROM data_versions WHERE name = 'client_probes')",
        )
        .fetch_one(pool)
        .await
    })
}

/// Records that the client now runs `version` (after a switch that succeeded), with who asked
/// for it in the client's event trail, in one transaction.
pub async fn set_version_tag(
    db: &Db,
    id: i64,
    version: &VersionTag,
    from: &str,
    actor: &str,
) -> sqlx::Result<bool> {
    let now = Utc::now();
    let detail = serde_json::json!({ "from": from, "to": version.as_str() }).to_string();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let updated =
                sqlx::query("UPDATE clients SET version_tag = $1, updated_at = $2 WHERE id = $3")
                    .bind(version.as_str())
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            if updated.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO client_events (client_id, at, actor, kind, detail) \
             VALUES ($1, $2, $3, 'switch', $4)",
            )
            .bind(id)
            .bind(now)
            .bind(actor)
            .bind(&detail)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    })
}

/// The active clients of server `server_id`, by id.
pub async fn active_on(db: &Db, server_id: i64) -> sqlx::Result<Vec<ClientRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE c.server_id = $1 AND c.state = 'active' \
             ORDER BY c.id"
        )))
        .bind(server_id)
        .fetch_all(pool)
        .await
    })
}

/// The clients that are not deleted with this subdomain, under any domain, by id.
pub async fn by_subdomain(db: &Db, subdomain: &str) -> sqlx::Result<Vec<ClientRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE c.subdomain = $1 AND c.state <> 'deleted' \
             ORDER BY c.id"
        )))
        .bind(subdomain)
        .fetch_all(pool)
        .await
    })
}
