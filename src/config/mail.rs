//! The mail settings (`ALFA_SMTP_URL`, `ALFA_MAIL_*`, `ALFA_ADMIN_EMAIL`,
//! `ALFA_KEEP_ADMIN_PASSWORD`).

use anyhow::bail;
use secrecy::SecretString;

use super::Source;

/// The mail settings; with no `smtp_url` nothing is sent (the mail endpoints answer 503).
#[derive(Clone, Debug, Default)]
pub struct MailSettings {
    /// lettre's URL form, `smtp://user:pass@host:587?tls=required`, `smtps://…`, or
    /// `smtp://host:25`: it holds a password, so it is a secret.
    pub smtp_url: Option<SecretString>,
    /// The `From` mailbox (`Alfa Cloud <cloud@example.com>`); required with `smtp_url`.
    pub from: Option<String>,
    /// The `Reply-To` mailbox, when set.
    pub reply_to: Option<String>,
    /// The operator's address, for `mail::send_admin`.
    pub admin_email: Option<String>,
    /// Keep a lab's sealed admin password after the welcome mail sent it.
    pub keep_admin_password: bool,
}

impl MailSettings {
    pub(super) fn from_source(src: &Source) -> anyhow::Result<Self> {
        let mailbox = |name: &str| -> anyhow::Result<Option<String>> {
            match src.get(name) {
                None => Ok(None),
                Some(raw) => raw
                    .parse::<lettre::message::Mailbox>()
                    .map(|m| Some(m.to_string()))
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{name}={raw:?} is not a mailbox such as cloud@example.com or \
                             \"Alfa Cloud <cloud@example.com>\": {e}"
                        )
                    }),
            }
        };
        let settings = Self {
            smtp_url: src.get("ALFA_SMTP_URL").map(SecretString::from),
            from: mailbox("ALFA_MAIL_FROM")?,
            reply_to: mailbox("ALFA_MAIL_REPLY_TO")?,
            admin_email: match src.get("ALFA_ADMIN_EMAIL") {
                Some(raw) => Some(
                    crate::domain::Email::parse(&raw)
                        .map_err(|e| anyhow::anyhow!("ALFA_ADMIN_EMAIL={raw:?} {e}"))?
                        .to_string(),
                ),
                None => None,
            },
            keep_admin_password: match src.get("ALFA_KEEP_ADMIN_PASSWORD").as_deref() {
                None | Some("0" | "false") => false,
                Some("1" | "true") => true,
                Some(other) => bail!("ALFA_KEEP_ADMIN_PASSWORD={other:?} must be 1 or 0"),
            },
        };
        if settings.smtp_url.is_some() && settings.from.is_none() {
            bail!("ALFA_SMTP_URL is set but ALFA_MAIL_FROM is not: set the sender's address");
        }
        Ok(settings)
    }
}
