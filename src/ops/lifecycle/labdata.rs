//! The lab's rows in its own database, written as the client's own SQL user through the
//! statements of `templates/client_db/{mariadb,postgres}/` (bound parameters only): our
//! `cloud_settings` and `cloud_versions` tables, created when missing, the settings, and the
//! administrator in Laravel's `users` table with a `$2y$` bcrypt hash.

use anyhow::Context as _;
use chrono::Utc;
use secrecy::{ExposeSecret as _, SecretString};

use super::ClientSecrets;
use crate::domain::SqlKind;
use crate::ops::OpContext;
use crate::ops::sql::{Login, ServerSql, SqlValue};
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// bcrypt's cost for the admin's hash (Laravel accepts any; 10 verifies in tens of ms).
const BCRYPT_COST: u32 = 10;

/// A connection to the client's own database as the client's own user.
pub async fn connect(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    password: &SecretString,
) -> anyhow::Result<ServerSql> {
    let name = ctx.client_db_name(client.id);
    let login = Login {
        user: &name,
        password,
        database: Some(&name),
    };
    ServerSql::open_as(ctx.engine(), server, &login).await
}

/// The statement `name` of the server's SQL kind (`templates/client_db/{kind}/{name}.sql`).
fn statement(ctx: &OpContext, server: &ServerRow, name: &str) -> anyhow::Result<String> {
    let kind = SqlKind::parse(&server.sql_kind).map_err(|e| anyhow::anyhow!("sql_kind {e}"))?;
    ctx.render(
        &format!("client_db/{}/{name}.sql", kind.as_str()),
        &serde_json::json!({}),
    )
}

/// The `$2y$` bcrypt hash Laravel writes and checks.
pub fn laravel_hash(password: &SecretString) -> anyhow::Result<String> {
    Ok(
        bcrypt::hash_with_result(password.expose_secret(), BCRYPT_COST)
            .context("hashing the admin password")?
            .format_for_version(bcrypt::Version::TwoY),
    )
}

/// Writes the settings and the administrator (again, when run again).
pub async fn write(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<()> {
    let admin_password = secrets.admin_password.as_ref().with_context(|| {
        format!(
            "client {} has no admin password kept: set one with POST /clients/{}/admin_password",
            client.id, client.id
        )
    })?;
    // Hashed first: the time below is the time spent on the server's SQL.
    let hash = laravel_hash(admin_password)?;
    let started = std::time::Instant::now();
    let written = write_rows(ctx, server, client, secrets, hash).await;
    ctx.add_remote_time(started);
    written
}

async fn write_rows(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
    hash: String,
) -> anyhow::Result<()> {
    let mut sql = connect(ctx, server, client, &secrets.db_password).await?;
    for table in ["cloud_settings", "cloud_versions"] {
        sql.execute(&statement(ctx, server, table)?, &[])
            .await
            .with_context(|| format!("creating {table} in the lab's database"))?;
    }
    let now = Utc::now().naive_utc();
    let name = format!("{} {} {}", client.admin_f, client.admin_i, client.admin_o);
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let settings: [(&str, String); 12] = [
        ("lab_name", client.name.clone()),
        ("lab_short_name", client.short_name.clone()),
        ("admin_login", client.admin_login.clone()),
        ("admin_f", client.admin_f.clone()),
        ("admin_i", client.admin_i.clone()),
        ("admin_o", client.admin_o.clone()),
        ("admin_email", client.email.clone()),
        ("license", client.license.clone()),
        (
            "license_expires_at",
            client
                .license_expires_at
                .map(|at| at.to_rfc3339())
                .unwrap_or_default(),
        ),
        ("config", client.config.clone()),
        ("maintenance", "0".to_owned()),
        ("version", client.version_tag.clone()),
    ];
    let set = statement(ctx, server, "set_setting")?;
    for (key, value) in settings {
        sql.execute(
            &set,
            &[
                SqlValue::Text(key.to_owned()),
                SqlValue::Text(value),
                SqlValue::Time(now),
            ],
        )
        .await
        .with_context(|| format!("writing the setting {key} in the lab's database"))?;
    }
    sql.execute(
        &statement(ctx, server, "admin_user")?,
        &[
            SqlValue::Text(if name.is_empty() {
                client.admin_login.clone()
            } else {
                name
            }),
            SqlValue::Text(client.email.clone()),
            SqlValue::Text(hash),
            SqlValue::Time(now),
            SqlValue::Time(now),
        ],
    )
    .await
    .context(
        "writing the administrator into the lab's users table (did artisan migrate create it?)",
    )?;
    ctx.info(format!(
        "the lab's settings and its administrator {} are in database {}",
        client.email,
        ctx.client_db_name(client.id)
    ));
    Ok(())
}
