//! Typed settings from `ALFA_*` environment variables, optionally on top of a TOML file.
//!
//! Precedence: environment, then the TOML file named by `ALFA_CONFIG` (keys are the variable
//! names without the `ALFA_` prefix, in lower case), then the defaults documented in README.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use secrecy::SecretString;

mod mail;
mod source;
mod webhook;

pub use mail::MailSettings;
use source::Source;
pub use webhook::WebhookSettings;

/// Every variable the product reads; anything else spelled `ALFA_*` is reported as a likely typo.
const KNOWN: &[&str] = &[
    "ALFA_CONFIG",
    "ALFA_DATABASE_URL",
    "ALFA_DB_MAX_CONNECTIONS",
    "ALFA_LISTEN",
    "ALFA_DATA_DIR",
    "ALFA_ADMIN_USER",
    "ALFA_ADMIN_PASSWORD",
    "ALFA_SECRET_KEY",
    "ALFA_LOG",
    "ALFA_LOG_FORMAT",
    "ALFA_TRUST_FORWARDED_FOR",
    "ALFA_REDIS_URL",
    "ALFA_QUEUE_NAMESPACE",
    "ALFA_WORKER_CONCURRENCY",
    "ALFA_SHUTDOWN_GRACE",
    "ALFA_OPERATION_LEASE",
    "ALFA_COMMAND_TIMEOUT",
    "ALFA_SSH_KEY",
    "ALFA_SSH_MAX_INFLIGHT",
    "ALFA_PAGE_CACHE_MB",
    "ALFA_SSH_CONNECT_TIMEOUT",
    "ALFA_SSH_IDLE_CLOSE",
    "ALFA_IMAGE_REPO",
    "ALFA_TEMPLATES_DIR",
    "ALFA_CLIENT_DB_PREFIX",
    "ALFA_PUBLIC_URL",
    "ALFA_ACME_EMAIL",
    "ALFA_APP_READY_TIMEOUT",
    "ALFA_BACKUPS_KEEP",
    "ALFA_DEMO_SEEDER",
    "ALFA_DEMO_INVERSE_SEEDER",
    "ALFA_UPDATE_TO_INTERVAL",
    "ALFA_PROBE_INTERVAL",
    // the scheduler (src/ops/schedule.rs)
    "ALFA_SCHEDULE",
    "ALFA_CERT_CHECK_AT",
    "ALFA_CERT_RENEW_DAYS",
    "ALFA_REMINDER_AT",
    "ALFA_REMINDER_BILLING_TYPES",
    "ALFA_FANOUT_PER_SERVER",
    "ALFA_KEEP_IMAGES",
    "ALFA_WEBHOOK_URL",
    "ALFA_WEBHOOK_SECRET",
    "ALFA_WEBHOOK_RETRY_BASE",
    "ALFA_WEBHOOK_MAX_TRIES",
    "ALFA_SMTP_URL",
    "ALFA_MAIL_FROM",
    "ALFA_MAIL_REPLY_TO",
    "ALFA_ADMIN_EMAIL",
    "ALFA_KEEP_ADMIN_PASSWORD",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings of one process. Secrets are `SecretString`, whose `Debug` prints nothing.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
    /// Pool size; `None` takes the backend's default (SQLite 8, PostgreSQL 10).
    pub db_max_connections: Option<u32>,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub admin_user: String,
    pub admin_password: Option<SecretString>,
    pub secret_key: Option<SecretString>,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Take the client IP from the last `X-Forwarded-For` hop (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Redis for the job queue; `None` keeps the queue in the database.
    pub redis_url: Option<SecretString>,
    /// Separates queues sharing one Redis or database (e.g. stage and production).
    pub queue_namespace: String,
    /// Operations one worker process runs at once.
    pub worker_concurrency: usize,
    /// How long a stopping worker lets running operations finish.
    pub shutdown_grace: Duration,
    /// How long a worker's claim on an operation lasts without renewal; a killed worker's
    /// operations are taken over after this.
    pub operation_lease: Duration,
    /// Default time limit of one remote command.
    pub command_timeout: Duration,
    /// Private key the workers log in to servers with (generated when missing).
    pub ssh_key: PathBuf,
    /// Commands in flight per server over its one connection (below sshd's MaxSessions).
    pub ssh_max_inflight: usize,
    /// Memory for cached `GET /clients` pages, in MB; 0 turns the cache off.
    pub page_cache_mb: usize,
    pub ssh_connect_timeout: Duration,
    /// An SSH connection unused this long is closed.
    pub ssh_idle_close: Duration,
    /// The LIMS images: `{image_repo}:{version}`.
    pub image_repo: String,
    /// A folder of templates that replace the built-in ones of the same name (the operator's
    /// edits); `None`: the built-in templates only.
    pub templates_dir: Option<PathBuf>,
    /// Clients' databases and SQL users are named `{client_db_prefix}{id}` (`alfa_c42`): set a
    /// prefix of its own for each installation sharing a SQL server.
    pub client_db_prefix: String,
    /// The address labs' clouds reach this API at (`ALFA_CLOUD_URL` in their `.env`), without
    /// a trailing `/`.
    pub public_url: String,
    /// certbot's account e-mail (expiry notices); `None` registers without one.
    pub acme_email: Option<String>,
    /// How long a creation waits for the new app's `GET /up` to answer 200.
    pub app_ready_timeout: Duration,
    /// Dumps kept per client under `{base_dir}/backups/c{id}/` (the newest; at least 1).
    pub backups_keep: u32,
    /// The seeder class `demo_enable` runs (`db:seed --class=…`).
    pub demo_seeder: String,
    /// The seeder class `demo_disable` runs.
    pub demo_inverse_seeder: String,
    /// `update_to` (called by a lab itself) is accepted at most once per client in this time.
    pub update_to_interval: Duration,
    /// How often the workers probe every active client (one prober at a time across them);
    /// `None`: never (`0` or `off`).
    pub probe_interval: Option<Duration>,
    /// Whether the workers run the daily schedule (certificate check); `ALFA_SCHEDULE=off`
    /// turns it off.
    pub schedule: bool,
    /// When the daily certificate check starts (UTC), `HH:MM`.
    pub cert_check_at: chrono::NaiveTime,
    /// Certificates expiring within this many days are renewed by the check.
    pub cert_renew_days: u32,
    /// From when in the day (in each client's time zone) the licence reminders go out.
    pub reminder_at: chrono::NaiveTime,
    /// The billing types whose clients get licence reminders.
    pub reminder_billing_types: Vec<String>,
    /// How many clients of one server a fan-out (migrate_all, switch_all) runs at once.
    pub fanout_per_server: usize,
    /// Unused LIMS images a prune keeps on a server (the newest), so a fresh build survives.
    pub keep_images: u32,
    /// Where operation endings are POSTed; `None` (no `ALFA_WEBHOOK_URL`): nowhere.
    pub webhook: Option<WebhookSettings>,
    /// Mail (see `crate::mail`): the SMTP server, sender and reply address, the operator's
    /// own address, and whether a lab's admin password is kept after the welcome mail.
    pub mail: MailSettings,
}

/// A Laravel seeder class name (`DemoSeeder`, `Database\Seeders\DemoSeeder`).
fn check_seeder(name: &str, value: String) -> anyhow::Result<String> {
    let ok = value.len() <= 128
        && value.split('\\').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !ok {
        bail!("{name}={value:?} must be a PHP class name such as DemoSeeder");
    }
    Ok(value)
}

/// Parses `90`, `90s`, `500ms`, `10m` or `1h`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "must be a duration such as 30s, 500ms, 10m or 1h".to_owned())?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err("must be a duration such as 30s, 500ms, 10m or 1h".into()),
    }
}

impl Settings {
    /// Reads the process environment (and `ALFA_CONFIG`'s file, if set).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// Builds settings from explicit variables: the tests use this instead of the process
    /// environment, which every test in a binary shares.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let env: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("ALFA_"))
            .collect();
        for name in env.keys() {
            if !KNOWN.contains(&name.as_str()) {
                tracing::warn!(variable = %name, "unknown ALFA_* variable ignored; is it a typo?");
            }
        }
        let file = match env.get("ALFA_CONFIG").filter(|p| !p.is_empty()) {
            Some(path) => read_toml(path)?,
            None => BTreeMap::new(),
        };
        let src = Source { env, file };

        let data_dir = PathBuf::from(src.get("ALFA_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let default_db = format!("sqlite://{}/alfa-cloud.db", data_dir.display());
        let log_format = match src.get("ALFA_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("ALFA_LOG_FORMAT must be text or json (got {other:?})"),
        };
        let admin_user = src.get("ALFA_ADMIN_USER").unwrap_or_else(|| "admin".into());
        if admin_user.contains(':') || admin_user.chars().any(char::is_control) {
            bail!("ALFA_ADMIN_USER must not contain ':' or control characters");
        }
        let listen: SocketAddr =
            src.parse("ALFA_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        let public_url = match src.get("ALFA_PUBLIC_URL") {
            Some(raw) => check_public_url(&raw)
                .map_err(|e| anyhow::anyhow!("ALFA_PUBLIC_URL={raw:?} {e}"))?,
            None => format!("http://{listen}"),
        };
        let acme_email = match src.get("ALFA_ACME_EMAIL") {
            Some(raw) => Some(
                crate::domain::Email::parse(&raw)
                    .map_err(|e| anyhow::anyhow!("ALFA_ACME_EMAIL={raw:?} {e}"))?
                    .to_string(),
            ),
            None => None,
        };
        Ok(Self {
            database_url: src.get("ALFA_DATABASE_URL").unwrap_or(default_db),
            db_max_connections: match src.get("ALFA_DB_MAX_CONNECTIONS") {
                None => None,
                Some(raw) => Some(raw.parse().map_err(|e| {
                    anyhow::anyhow!("ALFA_DB_MAX_CONNECTIONS={raw:?} is not valid: {e}")
                })?),
            },
            listen,
            admin_user,
            admin_password: src.get("ALFA_ADMIN_PASSWORD").map(SecretString::from),
            secret_key: src.get("ALFA_SECRET_KEY").map(SecretString::from),
            log_filter: src.get("ALFA_LOG").unwrap_or_else(|| "info".into()),
            log_format,
            trust_forwarded_for: src.parse("ALFA_TRUST_FORWARDED_FOR", false)?,
            redis_url: src.get("ALFA_REDIS_URL").map(SecretString::from),
            queue_namespace: src
                .get("ALFA_QUEUE_NAMESPACE")
                .unwrap_or_else(|| "alfa".into()),
            worker_concurrency: src.parse("ALFA_WORKER_CONCURRENCY", 8)?.max(1),
            shutdown_grace: src.duration("ALFA_SHUTDOWN_GRACE", 60)?,
            operation_lease: src.duration("ALFA_OPERATION_LEASE", 30)?,
            command_timeout: src.duration("ALFA_COMMAND_TIMEOUT", 600)?,
            ssh_key: src
                .get("ALFA_SSH_KEY")
                .map_or_else(|| data_dir.join("id_ed25519"), PathBuf::from),
            data_dir,
            ssh_max_inflight: src.parse("ALFA_SSH_MAX_INFLIGHT", 8)?.max(1),
            page_cache_mb: src.parse("ALFA_PAGE_CACHE_MB", 8)?,
            ssh_connect_timeout: src.duration("ALFA_SSH_CONNECT_TIMEOUT", 10)?,
            ssh_idle_close: src.duration("ALFA_SSH_IDLE_CLOSE", 300)?,
            image_repo: src
                .get("ALFA_IMAGE_REPO")
                .unwrap_or_else(|| "alfa-lims".into()),
            client_db_prefix: {
                let prefix = src
                    .get("ALFA_CLIENT_DB_PREFIX")
                    .unwrap_or_else(|| "alfa_c".into());
                let mut bytes = prefix.bytes();
                let ok = prefix.len() <= 16
                    && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
                    && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    bail!(
                        "ALFA_CLIENT_DB_PREFIX={prefix:?} must be a lower-case letter, then up to 15 of a-z, 0-9 and _"
                    );
                }
                prefix
            },
            templates_dir: src
                .get("ALFA_TEMPLATES_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            public_url,
            acme_email,
            app_ready_timeout: src.duration("ALFA_APP_READY_TIMEOUT", 120)?,
            backups_keep: match src.parse("ALFA_BACKUPS_KEEP", 5u32)? {
                keep @ 1..=1000 => keep,
                other => bail!("ALFA_BACKUPS_KEEP={other} must be 1..1000"),
            },
            demo_seeder: check_seeder(
                "ALFA_DEMO_SEEDER",
                src.get("ALFA_DEMO_SEEDER")
                    .unwrap_or_else(|| "DemoSeeder".into()),
            )?,
            demo_inverse_seeder: check_seeder(
                "ALFA_DEMO_INVERSE_SEEDER",
                src.get("ALFA_DEMO_INVERSE_SEEDER")
                    .unwrap_or_else(|| "DemoInverseSeeder".into()),
            )?,
            update_to_interval: src.duration("ALFA_UPDATE_TO_INTERVAL", 60)?,
            probe_interval: match src.get("ALFA_PROBE_INTERVAL").as_deref() {
                Some("off") => None,
                _ => Some(src.duration("ALFA_PROBE_INTERVAL", 60)?).filter(|d| !d.is_zero()),
            },
            schedule: !matches!(src.get("ALFA_SCHEDULE").as_deref(), Some("off" | "0")),
            cert_check_at: src.time_of_day("ALFA_CERT_CHECK_AT", (3, 0), "in UTC")?,
            cert_renew_days: src.whole("ALFA_CERT_RENEW_DAYS", 14, 1..=3650)?,
            reminder_at: src.time_of_day("ALFA_REMINDER_AT", (9, 0), "in each client's time zone")?,
            reminder_billing_types: match src.get("ALFA_REMINDER_BILLING_TYPES") {
                None => vec!["TRIAL".to_owned(), "PAID".to_owned()],
                Some(raw) => raw
                    .split(',')
                    .map(|t| t.trim().to_uppercase())
                    .filter(|t| !t.is_empty())
                    .map(|t| {
                        if t.chars().all(|c| c.is_ascii_uppercase() || c == '_') && t.len() <= 32 {
                            Ok(t)
                        } else {
                            Err(anyhow::anyhow!(
                                "ALFA_REMINDER_BILLING_TYPES must list billing types separated by commas, like TRIAL,PAID (got '{raw}')"
                            ))
                        }
                    })
                    .collect::<anyhow::Result<_>>()?,
            },
            fanout_per_server: src.whole("ALFA_FANOUT_PER_SERVER", 4, 1..=64)?,
            keep_images: src.whole("ALFA_KEEP_IMAGES", 3, 0..=1000)?,
            webhook: webhook::read(&src)?,
            mail: MailSettings::from_source(&src)?,
        })
    }
}

/// An `http://` or `https://` URL with a host, as labs will call it; returned without a
/// trailing `/`. It is written into every client's `.env`, so no spaces, quotes, `#` or `$`.
fn check_public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?']).next().unwrap_or_default());
    match host {
        Some(host)
            if !host.is_empty()
                && !host.starts_with(':')
                && !host.contains('@')
                && url.len() <= 300
                && !url.chars().any(|c| {
                    c.is_whitespace()
                        || c.is_control()
                        || matches!(c, '\'' | '"' | '#' | '$' | '\\' | '`')
                }) =>
        {
            Ok(url.to_owned())
        }
        _ => Err("must be an http(s) URL such as https://cloud.example.com".into()),
    }
}

fn read_toml(path: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read ALFA_CONFIG file {path}"))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("ALFA_CONFIG file {path} is not TOML"))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    bail!("{path}: key {key} must be a string, number or boolean, not {other}")
                }
            };
            Ok((key, text))
        })
        .collect()
}

#[cfg(test)]
mod tests;
