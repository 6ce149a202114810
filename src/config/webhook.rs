//! The webhook settings: where operation endings are POSTed, the secret that signs them, and
//! how often a delivery is tried.

use std::time::Duration;

use anyhow::bail;
use secrecy::SecretString;

use super::Source;

/// Where and how operation endings are sent (`ALFA_WEBHOOK_*`). `None` in
/// [`super::Settings::webhook`] when `ALFA_WEBHOOK_URL` is unset: no events are recorded.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// An `http://` or `https://` URL with a host.
    pub url: reqwest::Url,
    /// Signs each body (`X-Alfa-Signature: sha256=<hex HMAC>`); never logged or stored.
    pub secret: SecretString,
    /// The pause after the first failed try; it doubles after each one (capped at an hour).
    pub retry_base: Duration,
    /// Tries of one delivery before it is marked `failed`.
    pub max_tries: u32,
}

impl WebhookSettings {
    /// The URL's host, for logs (the path or query might carry a token of the receiver's).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

/// Reads `ALFA_WEBHOOK_URL`, `ALFA_WEBHOOK_SECRET`, `ALFA_WEBHOOK_RETRY_BASE` and
/// `ALFA_WEBHOOK_MAX_TRIES`.
pub(super) fn read(src: &Source) -> anyhow::Result<Option<WebhookSettings>> {
    let secret = src.get("ALFA_WEBHOOK_SECRET");
    let Some(raw) = src.get("ALFA_WEBHOOK_URL") else {
        if secret.is_some() {
            bail!("ALFA_WEBHOOK_SECRET is set but ALFA_WEBHOOK_URL is not: set both, or neither");
        }
        return Ok(None);
    };
    let url = check_url(&raw).map_err(|e| anyhow::anyhow!("ALFA_WEBHOOK_URL={raw:?} {e}"))?;
    let Some(secret) = secret else {
        bail!(
            "ALFA_WEBHOOK_URL is set but ALFA_WEBHOOK_SECRET is not: set the secret the receiver checks the X-Alfa-Signature header with"
        );
    };
    let retry_base = src.duration("ALFA_WEBHOOK_RETRY_BASE", 1)?;
    if retry_base.is_zero() {
        bail!("ALFA_WEBHOOK_RETRY_BASE must be more than 0");
    }
    let max_tries = src.whole("ALFA_WEBHOOK_MAX_TRIES", 10u32, 1..=100)?;
    Ok(Some(WebhookSettings {
        url,
        secret: SecretString::from(secret),
        retry_base,
        max_tries,
    }))
}

fn check_url(raw: &str) -> Result<reqwest::Url, String> {
    const WANTED: &str = "must be an http(s) URL such as https://mol.example.com/hooks/alfa";
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("{WANTED} ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(WANTED.into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry credentials (user:password@): the body is signed instead".into(),
        );
    }
    Ok(url)
}
