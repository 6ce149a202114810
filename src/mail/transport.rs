//! The SMTP transport (lettre) built from `ALFA_SMTP_URL`, and one send, answered with the
//! server's reply or an error that says whether trying again may help.

use std::time::Duration;

use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;

use super::Rendered;
use crate::config::MailSettings;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends mail through the configured SMTP server. Its `Debug` shows the server, never the
/// URL's password.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// `host:port` of the SMTP server, for messages.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// What the SMTP server said when it took a mail.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub message_id: String,
    /// Its reply, e.g. `250 OK`.
    pub reply: String,
}

/// A mail the SMTP server did not take.
#[derive(Debug, Clone)]
pub struct SendError {
    /// Whether trying again may help: no connection, a timeout, or a 4xx reply. A 5xx reply
    /// (the recipient refused, say) is final.
    pub transient: bool,
    /// What happened, with the server's reply when it gave one.
    pub reply: String,
}

impl Mailer {
    /// The mailer of `settings`; `None` when `ALFA_SMTP_URL` is not set. A URL lettre cannot
    /// use is an error (the start stops); the error never repeats the URL (it holds a password).
    pub fn from_settings(settings: &MailSettings) -> anyhow::Result<Option<Self>> {
        let Some(url) = &settings.smtp_url else {
            return Ok(None);
        };
        let url = url.expose_secret();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                anyhow::anyhow!(
                    "ALFA_SMTP_URL is not an SMTP URL lettre can use ({e}): write it as \
                     smtp://user:pass@host:587?tls=required, smtps://user:pass@host:465 or \
                     smtp://host:25"
                )
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = settings
            .from
            .as_deref()
            .context("ALFA_SMTP_URL is set but ALFA_MAIL_FROM is not")?
            .parse()
            .context("ALFA_MAIL_FROM")?;
        let reply_to = match &settings.reply_to {
            Some(r) => Some(r.parse().context("ALFA_MAIL_REPLY_TO")?),
            None => None,
        };
        Ok(Some(Self {
            transport,
            from,
            reply_to,
            server: server_of(url),
        }))
    }

    /// `host:port` of the SMTP server (as the URL names it; no user or password).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends `mail` to `to` (text and, when it has one, HTML alternatives); one try.
    pub async fn send(&self, to: &Mailbox, mail: &Rendered) -> Result<Delivered, SendError> {
        let message_id = format!("<{}@{}>", ulid::Ulid::generate(), self.from.email.domain());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(mail.subject.clone())
            .message_id(Some(message_id.clone()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let built = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.text.clone()),
            ),
        };
        let message = built.map_err(|e| SendError {
            transient: false,
            reply: format!("the mail could not be built: {e}"),
        })?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Delivered {
                message_id,
                reply: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )
                .trim()
                .to_owned(),
            }),
            Err(err) => Err(SendError {
                transient: !err.is_permanent(),
                reply: error_text(&err),
            }),
        }
    }
}

/// lettre's error with its causes (connection refused is in the source).
fn error_text(err: &lettre::transport::smtp::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `host:port` of an SMTP URL, without its user and password; the port lettre would use when
/// the URL names none.
fn server_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && !host_port.ends_with(']');
    if has_port {
        host_port.to_owned()
    } else {
        let port = match scheme {
            "smtps" => 465,
            _ if url.contains("tls=") => 587,
            _ => 25,
        };
        format!("{host_port}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_named_in_messages_never_holds_the_password() {
        assert_eq!(
            server_of("smtp://user:s3cret@mail.example.com:587?tls=required"),
            "mail.example.com:587"
        );
        assert_eq!(
            server_of("smtps://u:p@mail.example.com"),
            "mail.example.com:465"
        );
        assert_eq!(server_of("smtp://127.0.0.1:2525"), "127.0.0.1:2525");
        assert_eq!(server_of("smtp://relay"), "relay:25");
    }

    // The pooled transport starts its pool on the runtime.
    #[tokio::test]
    async fn a_mailer_is_built_from_each_url_form_and_its_debug_hides_the_password() {
        for url in [
            "smtp://user:s3cret-pass@mail.example.com:587?tls=required",
            "smtps://user:s3cret-pass@mail.example.com",
            "smtp://127.0.0.1:25",
        ] {
            let settings = MailSettings {
                smtp_url: Some(url.into()),
                from: Some("Alfa Cloud <cloud@example.com>".into()),
                ..MailSettings::default()
            };
            let mailer = Mailer::from_settings(&settings).unwrap().unwrap();
            assert!(!format!("{mailer:?}").contains("s3cret"), "{mailer:?}");
        }
        let bad = MailSettings {
            smtp_url: Some("http://user:s3cret-pass@x".into()),
            from: Some("cloud@example.com".into()),
            ..MailSettings::default()
        };
        let err = format!("{:#}", Mailer::from_settings(&bad).unwrap_err());
        assert!(
            err.contains("ALFA_SMTP_URL") && !err.contains("s3cret"),
            "{err}"
        );
    }
}
