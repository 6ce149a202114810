//! The steps of a client's life on its server — its database, files, vhost, container, lab
//! data, certificate, probe, and their undoing — written once and shared by the kinds that
//! create, delete, move or copy clients. Every step checks before it changes anything, so a
//! step run again (a retry, a lost worker's next attempt) is harmless.

pub mod app;
pub mod backup;
pub mod database;
pub mod envfile;
pub mod files;
pub mod labdata;
pub mod transfer;
pub mod web;

use anyhow::Context as _;
use secrecy::SecretString;

use super::OpContext;
use crate::crypto::{Cipher, purpose};
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// Where a client lives on its server.
#[derive(Clone, Debug)]
pub struct Place {
    pub base_dir: String,
    pub subdomain: String,
    pub fqdn: String,
    /// `{base_dir}/docker/clients/{subdomain}`.
    pub client_dir: String,
    pub client_id: i64,
}

impl Place {
    pub fn of(server: &ServerRow, client: &ClientRow) -> Self {
        let base_dir = server.base_dir.trim_end_matches('/').to_owned();
        Self {
            client_dir: format!("{base_dir}/docker/clients/{}", client.subdomain),
            base_dir,
            subdomain: client.subdomain.clone(),
            fqdn: client.fqdn.clone(),
            client_id: client.id,
        }
    }
}

/// The client's secrets, opened from their sealed columns.
pub struct ClientSecrets {
    pub app_key: SecretString,
    pub db_password: SecretString,
    pub cloud_token: SecretString,
    /// The lab admin's password; `None` when none is kept.
    pub admin_password: Option<SecretString>,
}

impl ClientSecrets {
    pub fn open(cipher: &Cipher, client: &ClientRow) -> anyhow::Result<Self> {
        let open = |purpose: &str, sealed: Option<&str>, what: &str| {
            let sealed = sealed.with_context(|| {
                format!("client {} has no {what} (it was registered before the lifecycle existed: recreate it)", client.id)
            })?;
            cipher
                .open(purpose, sealed)
                .with_context(|| format!("cannot open the {what} of client {}", client.id))
        };
        Ok(Self {
            app_key: open(
                purpose::CLIENT_APP_KEY,
                client.app_key_enc.as_deref(),
                "APP_KEY",
            )?,
            db_password: open(
                purpose::CLIENT_DB_PASSWORD,
                client.db_password_enc.as_deref(),
                "database password",
            )?,
            cloud_token: open(
                purpose::CLIENT_CLOUD_TOKEN,
                client.cloud_token_enc.as_deref(),
                "cloud token",
            )?,
            admin_password: client
                .password_enc
                .as_deref()
                .map(|sealed| cipher.open(purpose::CLIENT_ADMIN_PASSWORD, sealed))
                .transpose()
                .with_context(|| {
                    format!("cannot open the admin password of client {}", client.id)
                })?,
        })
    }
}

/// The operation's server and client, cloned out of the context (steps borrow the context
/// mutably for nothing, but its rows outlive several awaits).
pub fn rows(ctx: &OpContext) -> anyhow::Result<(ServerRow, ClientRow)> {
    Ok((ctx.server()?.clone(), ctx.client()?.clone()))
}
