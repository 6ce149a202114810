//! `client_update`: brings the lab on its server to what `PUT /clients/{id}` (or `POST
//! /clients/` with `id`) just stored, touching only what the changed fields feed:
//!
//! | field | on the server |
//! |---|---|
//! | `allowed_ips` | the vhost, rendered and installed (nginx -t, reload) |
//! | `name`, `timezone` | `.env` (`APP_NAME`, `APP_TIMEZONE`), `php/add_vars.ini` and the maintenance page rewritten, the container recreated (a restart would keep its old environment) |
//! | `name`, `short_name`, `admin_*`, `email`, `license`, `license_expires_at`, `config` | their rows of `cloud_settings` |
//! | `admin_f`, `admin_i`, `admin_o`, `admin_login`, `email` | the administrator's name and e-mail in `users` |
//! | `password` | the administrator's password hash in `users` |
//!
//! The request stores the new values first (the API answers them); this applies the row as it
//! is when it runs, so a retry, or an operation that queued behind a later change, applies the
//! latest values. Every step reads back or probes what it changed before the next one.

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client_admin_password;
use crate::crypto::{Cipher, purpose};
use crate::domain::Email;
use crate::ops::lifecycle::{ClientSecrets, app, files, labdata, rows, web};
use crate::ops::{Kind, OpContext};
use crate::store::clients::{ClientRow, ClientSpec};
use crate::store::operations::LockScope;

/// The fields that change nothing on the server: `phone`, `city`, `billing_type` and
/// `keep_on_error` are ours alone.
const VHOST: &[&str] = &["allowed_ips"];
const FILES: &[&str] = &["name", "timezone"];
const ADMIN: &[&str] = &["admin_f", "admin_i", "admin_o", "admin_login", "email"];

/// The `cloud_settings` key each field is written to.
const SETTINGS: &[(&str, &str)] = &[
    ("name", "lab_name"),
    ("short_name", "lab_short_name"),
    ("admin_login", "admin_login"),
    ("admin_f", "admin_f"),
    ("admin_i", "admin_i"),
    ("admin_o", "admin_o"),
    ("email", "admin_email"),
    ("license", "license"),
    ("license_expires_at", "license_expires_at"),
    ("config", "config"),
];

/// The operation's parameters (no secret: a changed password is only named).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct Changes {
    /// The fields whose new values the server must get, by their API names.
    pub changed: Vec<String>,
    /// The administrator's e-mail address before the change (its row in `users`).
    #[serde(default)]
    pub previous_email: String,
}

impl Changes {
    fn has(&self, fields: &[&str]) -> bool {
        self.changed.iter().any(|f| fields.contains(&f.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }
}

/// What of `stored` the validated `spec` changes on the server; `password` is whether a
/// password was sent that differs from the kept one (both sealed in `cipher`).
pub fn changes(stored: &ClientRow, spec: &ClientSpec, cipher: &Cipher) -> Changes {
    let email = spec.email.as_ref().map_or("", Email::as_str);
    let password = spec.password_enc.as_deref().is_some_and(|new| {
        let open = |sealed: &str| cipher.open(purpose::CLIENT_ADMIN_PASSWORD, sealed).ok();
        let kept = stored.password_enc.as_deref().and_then(open);
        match (open(new), kept) {
            (Some(new), Some(kept)) => {
                use secrecy::ExposeSecret as _;
                new.expose_secret() != kept.expose_secret()
            }
            _ => true,
        }
    });
    let fields = [
        ("name", stored.name != spec.name),
        ("short_name", stored.short_name != spec.short_name),
        ("admin_f", stored.admin_f != spec.admin_f),
        ("admin_i", stored.admin_i != spec.admin_i),
        ("admin_o", stored.admin_o != spec.admin_o),
        (
            "admin_login",
            stored.admin_login != spec.admin_login.as_str(),
        ),
        ("email", stored.email != email),
        ("timezone", stored.timezone != spec.timezone.as_str()),
        (
            "allowed_ips",
            stored.allowed_ips != spec.allowed_ips.to_json(),
        ),
        ("config", stored.config != spec.config),
        ("license", stored.license != spec.license),
        (
            "license_expires_at",
            stored.license_expires_at != spec.license_expires_at,
        ),
        ("password", password),
    ];
    Changes {
        changed: fields
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| (*name).to_owned())
            .collect(),
        previous_email: stored.email.clone(),
    }
}

pub struct ClientUpdate;

#[async_trait::async_trait]
impl Kind for ClientUpdate {
    const NAME: &'static str = "client_update";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let changes: Changes =
            serde_json::from_str(&ctx.op.params).context("the operation's parameters")?;
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        let retry = format!(
            "retry this operation (POST /operations/{}/retry)",
            ctx.op.id
        );
        ctx.info(format!(
            "applying the new {} of {}",
            changes.changed.join(", "),
            client.subdomain
        ));
        if changes.has(VHOST) {
            ctx.step("vhost").await?;
            web::install_vhost(ctx, &server, &client, true)
                .await
                .with_context(|| format!("nginx still serves the previous allowed_ips: {retry}"))?;
        }
        if changes.has(FILES) {
            ctx.step("files").await?;
            files::write(ctx, &server, &client, &secrets)
                .await
                .with_context(|| {
                    format!("the lab still runs with its previous name and timezone: {retry}")
                })?;
            ctx.step("container").await?;
            app::recreate(ctx, &server, &client).await.with_context(|| {
                format!(
                    "the lab's files hold the new name and timezone, but its container may still \
                     run with the previous ones: {retry}"
                )
            })?;
        }
        let keys: Vec<&str> = SETTINGS
            .iter()
            .filter(|(field, _)| changes.has(&[field]))
            .map(|(_, key)| *key)
            .collect();
        if !keys.is_empty() || changes.has(ADMIN) {
            ctx.step("lab data").await?;
            let settings: Vec<(&str, String)> = labdata::lab_settings(&client)
                .into_iter()
                .filter(|(key, _)| keys.contains(key))
                .collect();
            let not_applied =
                || format!("the lab's database still holds the previous values: {retry}");
            if !settings.is_empty() {
                labdata::set_settings(ctx, &server, &client, &secrets.db_password, &settings)
                    .await
                    .with_context(not_applied)?;
            }
            if changes.has(ADMIN) {
                labdata::set_admin_profile(
                    ctx,
                    &server,
                    &client,
                    &secrets.db_password,
                    &changes.previous_email,
                )
                .await
                .with_context(not_applied)?;
            }
        }
        if changes.has(&["password"]) {
            ctx.step("admin password").await?;
            labdata::set_admin_password(ctx, &server, &client, &secrets)
                .await
                .with_context(|| client_admin_password::still_old(ctx.op.id))?;
        }
        if changes.has(VHOST) || changes.has(FILES) {
            ctx.step("probe").await?;
            web::probe(ctx, &server, &client, None).await?;
        }
        Ok(json!({ "client_id": client.id, "applied": changes.changed }))
    }
}
