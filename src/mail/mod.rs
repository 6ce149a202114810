//! Mail to the labs: lettre over SMTP (`ALFA_SMTP_URL`), the welcome mail (`success`: the
//! lab's URL, admin login and password) and the licence reminder (`expire`), rendered from
//! `templates/email/{mail}/{locale}/{subject.txt, body.txt, body.html}` in the client's
//! `locale`. Sending is an operation (the `client_mail` kind: tries, log, the `mails`
//! record); this module builds the transport, renders, and starts those operations.
//!
//! For other parts of the product: [`enqueue_expire`] starts the licence reminder of a client
//! as an operation (what a scheduler calls), and [`send_admin`] mails the operator
//! (`ALFA_ADMIN_EMAIL`) directly.

mod transport;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;

pub use transport::{Delivered, Mailer, SendError};

use crate::domain::{ClientState, Locale};
use crate::ops::kinds::client_mail::ClientMail;
use crate::ops::{Engine, On};
use crate::render::Renderer;
use crate::store::clients;

/// The mails a lab is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailKind {
    /// The welcome mail: URL, admin login and password.
    Success,
    /// The licence ends soon: its date and the days left.
    Expire,
}

impl MailKind {
    pub const ALL: [MailKind; 2] = [MailKind::Success, MailKind::Expire];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Expire => "expire",
        }
    }
}

/// The three files each mail has in each locale.
const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

fn template(kind: MailKind, locale: Locale, part: &str) -> String {
    format!("email/{}/{locale}/{part}", kind.as_str())
}

/// Stops the start when a mail template is missing (each mail, each locale, each part);
/// templates that do not parse already stopped it when they were loaded.
pub fn check_templates(renderer: &Renderer) -> anyhow::Result<()> {
    let names = renderer.names();
    for kind in MailKind::ALL {
        for locale in Locale::ALL {
            for part in PARTS {
                let name = template(kind, locale, part);
                anyhow::ensure!(
                    names.contains(&name.as_str()),
                    "the mail template {name} is missing (ALFA_TEMPLATES_DIR may replace it, \
                     not remove it)"
                );
            }
        }
    }
    Ok(())
}

/// What the mail templates may show. Values are the client's own fields; the HTML template is
/// escaped by tera, the text ones are not (mail text is not interpreted).
#[derive(Debug, Serialize)]
pub struct MailValues<'a> {
    /// The lab's name.
    pub lab_name: &'a str,
    /// `https://subdomain.domain`.
    pub url: String,
    pub admin_login: &'a str,
    /// "F I O", or the login.
    pub admin_name: String,
    pub admin_email: &'a str,
    /// The admin password (the welcome mail only).
    pub password: Option<&'a str>,
    /// The licence end, as a date in the client's time zone (`31.12.2027` in Russian,
    /// `2027-12-31` in English).
    pub expires_on: Option<String>,
    /// Whole days from today to that date in the client's time zone (0 on the day, negative
    /// once passed).
    pub days_left: Option<i64>,
}

/// A rendered mail.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    pub text: String,
    /// The HTML alternative; `None` for a text-only mail.
    pub html: Option<String>,
}

/// Renders mail `kind` in `locale`.
pub fn render(
    renderer: &Renderer,
    kind: MailKind,
    locale: Locale,
    values: &MailValues<'_>,
) -> anyhow::Result<Rendered> {
    let part = |name: &str| renderer.render(&template(kind, locale, name), values);
    let subject = part("subject.txt")?;
    Ok(Rendered {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: part("body.txt")?,
        html: Some(part("body.html")?),
    })
}

/// Starts mail `kind` to client `client_id` as a `client_mail` operation; returns its id.
/// The client must be `active` and have an e-mail address.
pub async fn enqueue(
    engine: &Engine,
    client_id: i64,
    kind: MailKind,
    requested_by: &str,
) -> anyhow::Result<i64> {
    let client = clients::get(&engine.db, client_id)
        .await?
        .with_context(|| format!("client {client_id} does not exist"))?;
    anyhow::ensure!(
        client.state == ClientState::Active.as_str(),
        "client {client_id} is {}, not active: no mail is sent",
        client.state
    );
    engine
        .submit::<ClientMail>(
            On::client(client.server_id, client_id),
            json!({ "mail": kind.as_str() }),
            requested_by,
        )
        .await
}

/// Starts the licence reminder to client `client_id` (for a scheduler); see [`enqueue`].
pub async fn enqueue_expire(
    engine: &Engine,
    client_id: i64,
    requested_by: &str,
) -> anyhow::Result<i64> {
    enqueue(engine, client_id, MailKind::Expire, requested_by).await
}

/// Mails the operator (`ALFA_ADMIN_EMAIL`) a text mail, once, now, through the engine's SMTP
/// transport. Returns false, sending nothing, when SMTP or `ALFA_ADMIN_EMAIL` is not configured.
pub async fn send_admin(engine: &Engine, subject: &str, body: &str) -> anyhow::Result<bool> {
    let (Some(mailer), Some(to)) = (
        engine.mailer.as_ref(),
        engine.settings.mail.admin_email.as_deref(),
    ) else {
        return Ok(false);
    };
    let to = to.parse().context("ALFA_ADMIN_EMAIL")?;
    let mail = Rendered {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: body.to_owned(),
        html: None,
    };
    mailer.send(&to, &mail).await.map_err(|e| {
        anyhow::anyhow!(
            "the mail to ALFA_ADMIN_EMAIL was not sent through {}: {}",
            mailer.server(),
            e.reply
        )
    })?;
    Ok(true)
}

/// A licence's last day in the client's time zone (`timezone`, UTC when unknown) and the whole
/// days from `now`'s day there to it (0 on the day, negative after): what the reminders count
/// and the expiry mail shows, computed one way for both.
pub fn licence_end(
    timezone: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> (chrono::NaiveDate, i64) {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let day = expires_at.with_timezone(&tz).date_naive();
    (day, (day - now.with_timezone(&tz).date_naive()).num_days())
}
