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
pub fn statement(ctx: &OpContext, server: &ServerRow, name: &str) -> anyhow::Result<String> {
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
    let mut settings = lab_settings(client);
    settings.push(("maintenance", "0".to_owned()));
    settings.push(("version", client.version_tag.clone()));
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
            SqlValue::Text(admin_name(client)),
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

/// The settings that follow the client's row, as `cloud_settings` holds them (`maintenance`
/// and `version` follow actions instead). Each is the value of one or more client fields.
pub fn lab_settings(client: &ClientRow) -> Vec<(&'static str, String)> {
    vec![
        ("lab_name", client.name.clone()),
        ("lab_short_name", client.short_name.clone()),
        ("admin_login", client.admin_login.clone()),
        ("admin_f", client.admin_f.clone()),
        ("admin_i", client.admin_i.clone()),
        ("admin_o", client.admin_o.clone()),
        ("admin_email", client.email.clone()),
        ("license", client.license.clone()),
        ("license_expires_at", license_expires_at(client)),
        ("config", client.config.clone()),
    ]
}

/// The licence end as `cloud_settings` holds it: RFC 3339 in UTC, empty for none.
pub fn license_expires_at(client: &ClientRow) -> String {
    client
        .license_expires_at
        .map(|at| at.to_rfc3339())
        .unwrap_or_default()
}

/// The administrator's `name` in `users`: "F I O", or the login when the three are empty.
pub fn admin_name(client: &ClientRow) -> String {
    let name = format!("{} {} {}", client.admin_f, client.admin_i, client.admin_o);
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        client.admin_login.clone()
    } else {
        name
    }
}

/// Writes `settings` into the lab's `cloud_settings` (created when missing) as the client's
/// own user, then reads each one back: the write is done only when the database holds it.
pub async fn set_settings(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    db_password: &SecretString,
    settings: &[(&str, String)],
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let written = set_settings_as_client(ctx, server, client, db_password, settings).await;
    ctx.add_remote_time(started);
    written?;
    let keys: Vec<&str> = settings.iter().map(|(key, _)| *key).collect();
    ctx.info(format!(
        "cloud_settings of database {}: {} written and read back",
        ctx.client_db_name(client.id),
        keys.join(", ")
    ));
    Ok(())
}

async fn set_settings_as_client(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    db_password: &SecretString,
    settings: &[(&str, String)],
) -> anyhow::Result<()> {
    let mut sql = connect(ctx, server, client, db_password).await?;
    sql.execute(&statement(ctx, server, "cloud_settings")?, &[])
        .await
        .context("creating cloud_settings in the lab's database")?;
    let (set, get) = (
        statement(ctx, server, "set_setting")?,
        statement(ctx, server, "get_setting")?,
    );
    let now = Utc::now().naive_utc();
    for (name, value) in settings {
        let key = SqlValue::Text((*name).to_owned());
        sql.execute(
            &set,
            &[
                key.clone(),
                SqlValue::Text(value.clone()),
                SqlValue::Time(now),
            ],
        )
        .await
        .with_context(|| format!("writing the setting {name} in the lab's database"))?;
        let held = sql
            .fetch_row(&get, &[key])
            .await
            .with_context(|| format!("reading back the setting {name}"))?
            .and_then(|row| row.into_iter().next().flatten());
        anyhow::ensure!(
            held.as_deref() == Some(value.as_str()),
            "the lab's cloud_settings does not hold the value just written for {name} \
             (a trigger or another writer changed it?)"
        );
    }
    Ok(())
}

/// Sets the administrator's password in `users` (the row of the client's `email`) to the
/// kept admin password, as a `$2y$` bcrypt hash, written as the client's own user; an absent
/// row is created as at creation. Done when the hash read back verifies the password.
pub async fn set_admin_password(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<()> {
    let password = secrets.admin_password.as_ref().with_context(|| {
        format!(
            "client {} has no admin password kept: set one with POST /clients/{}/admin_password",
            client.id, client.id
        )
    })?;
    anyhow::ensure!(
        !client.email.is_empty(),
        "client {} has no e-mail address, which finds its administrator in the lab's users \
         table: set one with PUT /clients/{}",
        client.id,
        client.id
    );
    let hash = laravel_hash(password)?;
    let started = std::time::Instant::now();
    let held = write_admin_password(ctx, server, client, &secrets.db_password, hash).await;
    ctx.add_remote_time(started);
    let held = held?;
    // The hash as the lab's login will check it.
    anyhow::ensure!(
        bcrypt::verify(password.expose_secret(), &held).unwrap_or(false),
        "the password hash the lab's users table holds for {} does not verify the new \
         password (a trigger or another writer changed it?)",
        client.email
    );
    ctx.info(format!(
        "the administrator {} of database {} has the new password (its hash read back and verified)",
        client.email,
        ctx.client_db_name(client.id)
    ));
    Ok(())
}

/// Writes `hash` as the administrator's password; returns the hash the table then holds.
async fn write_admin_password(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    db_password: &SecretString,
    hash: String,
) -> anyhow::Result<String> {
    let mut sql = connect(ctx, server, client, db_password).await?;
    let now = Utc::now().naive_utc();
    let email = SqlValue::Text(client.email.clone());
    sql.execute(
        &statement(ctx, server, "admin_password")?,
        &[
            SqlValue::Text(hash.clone()),
            SqlValue::Time(now),
            email.clone(),
        ],
    )
    .await
    .context("writing the administrator's password into the lab's users table")?;
    let read = statement(ctx, server, "admin_row")?;
    let mut row = sql.fetch_row(&read, std::slice::from_ref(&email)).await?;
    if row.is_none() {
        ctx.info(format!(
            "the lab's users table has no row for {}: creating the administrator as at creation",
            client.email
        ));
        sql.execute(
            &statement(ctx, server, "admin_user")?,
            &[
                SqlValue::Text(admin_name(client)),
                email.clone(),
                SqlValue::Text(hash),
                SqlValue::Time(now),
                SqlValue::Time(now),
            ],
        )
        .await
        .context(
            "writing the administrator into the lab's users table (did artisan migrate create it?)",
        )?;
        row = sql.fetch_row(&read, &[email]).await?;
    }
    row.and_then(|row| row.into_iter().nth(1).flatten())
        .with_context(|| {
            format!(
                "the lab's users table has no password for {} after writing it",
                client.email
            )
        })
}

/// Gives the administrator's row in `users` the client's admin name and e-mail address,
/// found by `previous_email` (the address it had) or already by the new one; the password is
/// not touched. Done when the row read back by the new address holds the new name.
pub async fn set_admin_profile(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    db_password: &SecretString,
    previous_email: &str,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let written = write_admin_profile(ctx, server, client, db_password, previous_email).await;
    ctx.add_remote_time(started);
    let name = written?;
    ctx.info(format!(
        "the administrator of database {} is {name} <{}> (read back)",
        ctx.client_db_name(client.id),
        client.email
    ));
    Ok(())
}

async fn write_admin_profile(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    db_password: &SecretString,
    previous_email: &str,
) -> anyhow::Result<String> {
    let name = admin_name(client);
    let mut sql = connect(ctx, server, client, db_password).await?;
    let now = Utc::now().naive_utc();
    sql.execute(
        &statement(ctx, server, "admin_profile")?,
        &[
            SqlValue::Text(name.clone()),
            SqlValue::Text(client.email.clone()),
            SqlValue::Time(now),
            SqlValue::Text(previous_email.to_owned()),
        ],
    )
    .await
    .context("writing the administrator's name and e-mail into the lab's users table")?;
    let row = sql
        .fetch_row(
            &statement(ctx, server, "admin_row")?,
            &[SqlValue::Text(client.email.clone())],
        )
        .await?
        .with_context(|| {
            format!(
                "the lab's users table has no administrator with e-mail {previous_email} or {}: \
                 set the admin password (POST /clients/{}/admin_password) to create it again",
                client.email, client.id
            )
        })?;
    let held = row.into_iter().next().flatten().unwrap_or_default();
    anyhow::ensure!(
        held == name,
        "the lab's users table holds the name {held:?} for {} after writing {name:?}",
        client.email
    );
    Ok(name)
}
