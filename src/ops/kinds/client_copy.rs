//! `client_copy`: puts a copy of one lab's database into another's
//! (`GET /clients/{id}/copy_to/{client_id}`), for trying a lab's data on a stage lab. The
//! operation is the *target*'s (its lock, its server); the source is only read.
//!
//! Only between clients on `stage` servers, into a `DEMO` or `TEST` target, of the same
//! `sql_kind` ([`refusal`]). Steps: dump (the source's database, on its server, as its own
//! user); backup (the target's database as it was, kept on the target's server); transfer (the
//! dump carried to the target's server when the two differ, checked by digest); keep (the
//! target's own rows read); restore (the dump loaded into the target's database as the target's
//! own user); own rows (written back); restart; migrate (the target's version); probe through
//! nginx. A failure after the restore began loads the target's backup again.
//!
//! The target's own rows, which the copy never takes from the source: its administrator (the
//! `users` row with the target's e-mail: name, e-mail and password hash, written over the
//! source administrator's row so that whatever the LIMS ties to that row stays an
//! administrator's), and its `cloud_settings` of [`OWN_SETTINGS`] — the lab's identity, admin,
//! licence, config, maintenance flag and version, all that creation writes. Everything else —
//! other users, the LIMS's data, other settings, `cloud_versions` — is the source's. The
//! target's files, `.env` (its URL, `APP_KEY`, database login and cloud token) and container
//! stay its own.

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};

use crate::domain::{ClientState, Environment};
use crate::ops::lifecycle::transfer;
use crate::ops::lifecycle::{ClientSecrets, app, backup, labdata, rows, web};
use crate::ops::sql::{ServerSql, SqlConn, SqlValue};
use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::clients::{self, ClientRow};
use crate::store::operations::LockScope;
use crate::store::servers::{self, ServerRow};

pub struct ClientCopy;

/// The billing types a copy may overwrite.
pub const TARGET_BILLING: &[&str] = &["DEMO", "TEST"];

/// The target's `cloud_settings` that a copy keeps.
pub const OWN_SETTINGS: &[&str] = &[
    "lab_name",
    "lab_short_name",
    "admin_login",
    "admin_f",
    "admin_i",
    "admin_o",
    "admin_email",
    "license",
    "license_expires_at",
    "config",
    "maintenance",
    "version",
];

/// What refuses a copy of `source` into `target`, said as the rule.
pub fn refusal(
    source_server: &ServerRow,
    source: &ClientRow,
    target_server: &ServerRow,
    target: &ClientRow,
) -> Option<String> {
    if source.id == target.id {
        return Some(format!(
            "a client cannot be copied into itself (client {})",
            source.id
        ));
    }
    let stage = Environment::Stage.as_str();
    for (who, server) in [("source", source_server), ("target", target_server)] {
        if server.environment != stage {
            return Some(format!(
                "copy_to works only between clients on stage servers: the {who}'s server {} is {}",
                server.name, server.environment
            ));
        }
    }
    if !TARGET_BILLING.contains(&target.billing_type.as_str()) {
        return Some(format!(
            "copy_to overwrites only a DEMO or TEST client: client {} is {}",
            target.id, target.billing_type
        ));
    }
    if source_server.sql_kind != target_server.sql_kind {
        return Some(format!(
            "copy_to needs the same sql_kind on both sides: the source's server {} runs {}, the \
             target's server {} runs {}",
            source_server.name, source_server.sql_kind, target_server.name, target_server.sql_kind
        ));
    }
    None
}

#[async_trait::async_trait]
impl Kind for ClientCopy {
    const NAME: &'static str = "client_copy";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, target) = rows(ctx)?;
        let params: Value = ctx.op.params.parse().unwrap_or_default();
        let source_id = params["source_id"]
            .as_i64()
            .context("the operation has no source_id to copy from")?;
        let db = ctx.engine().db.clone();
        let source = clients::get(&db, source_id)
            .await?
            .with_context(|| format!("client {source_id} no longer exists"))?;
        let source_server = servers::get(&db, source.server_id)
            .await?
            .with_context(|| format!("server {} no longer exists", source.server_id))?;
        for client in [&source, &target] {
            anyhow::ensure!(
                client.state == ClientState::Active.as_str(),
                "client {} is {}, not active: copy_to needs both active",
                client.id,
                client.state
            );
        }
        if let Some(why) = refusal(&source_server, &source, &server, &target) {
            anyhow::bail!(why);
        }
        let source_secrets = ClientSecrets::open(&ctx.engine().cipher, &source)?;
        let target_secrets = ClientSecrets::open(&ctx.engine().cipher, &target)?;
        for secret in [
            Some(&source_secrets.db_password),
            source_secrets.admin_password.as_ref(),
            Some(&target_secrets.db_password),
        ]
        .into_iter()
        .flatten()
        {
            ctx.mask(secret);
        }
        if let Some(sealed) = source_server.sql_password_enc.as_deref() {
            let secret = ctx
                .engine()
                .cipher
                .open(crate::crypto::purpose::SERVER_SQL_PASSWORD, sealed)?;
            ctx.mask(&secret);
        }

        ctx.step("dump").await?;
        ctx.info(format!(
            "copying the database of {} (client {}, server {}) into {} (client {}, server {})",
            source.fqdn, source.id, source_server.name, target.fqdn, target.id, server.name
        ));
        let dump = backup::dump(ctx, &source_server, &source, &source_secrets).await?;

        ctx.step("backup").await?;
        let kept = backup::dump(ctx, &server, &target, &target_secrets).await?;
        ctx.info(format!(
            "the target's database as it was is kept on server {}: {}",
            server.name, kept.path
        ));

        let path = if source_server.id == server.id {
            dump.path.clone()
        } else {
            ctx.step("transfer").await?;
            let file = dump.path.rsplit('/').next().unwrap_or("copy.sql.gz");
            let there = format!(
                "{}/backups/c{}/from-c{}-{file}",
                server.base_dir.trim_end_matches('/'),
                target.id,
                source.id
            );
            transfer::copy_file(ctx, &source_server, &dump.path, &server, &there).await?;
            there
        };

        ctx.step("keep").await?;
        let own = {
            let mut sql =
                labdata::connect(ctx, &server, &target, &target_secrets.db_password).await?;
            OwnRows::read(&mut sql, &target.email).await?
        };
        ctx.info(format!(
            "kept the target's administrator ({}) and {} of its own settings",
            if own.admin.is_some() {
                target.email.as_str()
            } else {
                "none found"
            },
            own.settings.len()
        ));

        ctx.step("restore").await?;
        let copied = async {
            backup::restore(ctx, &server, &target, &target_secrets, &path).await?;
            ctx.step("own rows").await?;
            own.write(ctx, &server, &target, &source, &target_secrets)
                .await
        }
        .await;
        if let Err(err) = copied {
            ctx.step_failed().await.ok();
            if ctx.begin_undo() {
                ctx.step("undo").await?;
                ctx.info(format!(
                    "loading the target's own database back from {}",
                    kept.path
                ));
                if let Err(undo) =
                    backup::restore(ctx, &server, &target, &target_secrets, &kept.path).await
                {
                    ctx.info(format!(
                        "putting the target's database back failed too: {undo:#}; restore {} by hand",
                        kept.path
                    ));
                }
            }
            return Err(err);
        }

        ctx.step("restart").await?;
        ctx.script(scripts::CLIENT_REBOOT)
            .args([server.base_dir.clone(), target.subdomain.clone()])
            .run()
            .await?;

        ctx.step("migrate").await?;
        app::migrate(ctx, &server, &target).await?;

        ctx.step("probe").await?;
        web::probe(ctx, &server, &target, None).await?;
        ctx.info(format!(
            "{} answers through nginx with the data of {}",
            target.fqdn, source.fqdn
        ));
        Ok(json!({
            "client_id": target.id,
            "source_id": source.id,
            "dump": dump,
            "target_backup": kept,
        }))
    }
}

/// The target's own rows, read before the restore and written back after it.
struct OwnRows {
    /// (name, email, password hash) of the administrator.
    admin: Option<(String, String, String)>,
    settings: Vec<(String, Option<String>)>,
}

impl OwnRows {
    async fn read(sql: &mut ServerSql, email: &str) -> anyhow::Result<Self> {
        let (admin, settings) = match &mut sql.conn {
            SqlConn::Mariadb(conn) => (
                sqlx::query_as::<_, (String, String, String)>(
                    "SELECT name, email, password FROM users WHERE email = ?",
                )
                .bind(email)
                .fetch_optional(&mut *conn)
                .await,
                sqlx::query_as::<_, (String, Option<String>)>(
                    "SELECT `key`, `value` FROM cloud_settings",
                )
                .fetch_all(&mut *conn)
                .await,
            ),
            SqlConn::Postgres(conn) => (
                sqlx::query_as::<_, (String, String, String)>(
                    "SELECT name, email, password FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&mut *conn)
                .await,
                sqlx::query_as::<_, (String, Option<String>)>(
                    "SELECT key, value FROM cloud_settings",
                )
                .fetch_all(&mut *conn)
                .await,
            ),
        };
        Ok(Self {
            admin: admin.context("reading the target's administrator from its users table")?,
            settings: settings
                .context("reading the target's cloud_settings")?
                .into_iter()
                .filter(|(key, _)| OWN_SETTINGS.contains(&key.as_str()))
                .collect(),
        })
    }

    /// Writes the kept rows into the restored database: the settings (an own key the target
    /// did not have is removed, so none of the source's identity stays), then the
    /// administrator over the source administrator's row — or, when that row is absent or the
    /// target's e-mail is already taken in the copy, as its own row.
    async fn write(
        &self,
        ctx: &OpContext,
        server: &ServerRow,
        target: &ClientRow,
        source: &ClientRow,
        secrets: &ClientSecrets,
    ) -> anyhow::Result<()> {
        let mut sql = labdata::connect(ctx, server, target, &secrets.db_password).await?;
        let now = Utc::now().naive_utc();
        let set = labdata::statement(ctx, server, "set_setting")?;
        let delete = labdata::statement(ctx, server, "delete_setting")?;
        for key in OWN_SETTINGS {
            match self.settings.iter().find(|(k, _)| k == key) {
                Some((_, value)) => {
                    sql.execute(
                        &set,
                        &[
                            SqlValue::Text((*key).to_owned()),
                            value.clone().map_or(SqlValue::Null, SqlValue::Text),
                            SqlValue::Time(now),
                        ],
                    )
                    .await
                }
                None => {
                    sql.execute(&delete, &[SqlValue::Text((*key).to_owned())])
                        .await
                }
            }
            .with_context(|| format!("writing the target's setting {key} back"))?;
        }
        let (name, email, hash) = match &self.admin {
            Some(admin) => admin.clone(),
            None => {
                let password = secrets.admin_password.as_ref().with_context(|| {
                    format!(
                        "client {} had no administrator row and no kept password: set one with \
                         POST /clients/{}/admin_password",
                        target.id, target.id
                    )
                })?;
                (
                    target.admin_login.clone(),
                    target.email.clone(),
                    labdata::laravel_hash(password)?,
                )
            }
        };
        let replaced = sql
            .execute(
                &labdata::statement(ctx, server, "replace_admin")?,
                &[
                    SqlValue::Text(name.clone()),
                    SqlValue::Text(email.clone()),
                    SqlValue::Text(hash.clone()),
                    SqlValue::Time(now),
                    SqlValue::Text(source.email.clone()),
                ],
            )
            .await;
        let how = match replaced {
            Ok(n) if n > 0 => "in place of the source's administrator",
            // Absent in the copy, or the target's e-mail is a user there already.
            _ => {
                sql.execute(
                    &labdata::statement(ctx, server, "admin_user")?,
                    &[
                        SqlValue::Text(name),
                        SqlValue::Text(email.clone()),
                        SqlValue::Text(hash),
                        SqlValue::Time(now),
                        SqlValue::Time(now),
                    ],
                )
                .await
                .context("writing the target's administrator back")?;
                "as its own row"
            }
        };
        ctx.info(format!(
            "the target's administrator {email} and its own settings are back, the administrator {how}"
        ));
        Ok(())
    }
}
