//! `client_mail`: one mail to a lab's administrator, params `{"mail": "success" | "expire"}`
//! (see `crate::mail`). The welcome mail (`success`) sends the kept admin password; when none
//! is kept, a new one is generated, written into the lab's `users` table first, kept, then
//! sent. After it is sent, the kept password is erased (unless `ALFA_KEEP_ADMIN_PASSWORD=1`).
//! Up to 3 tries (1 s, then 2 s apart) when the SMTP server cannot be reached or answers 4xx;
//! a 5xx answer ends the operation at once. Each mail, sent or not, is a row in `mails`. The
//! password is never in the log.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use lettre::message::Mailbox;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::crypto::{self, purpose};
use crate::domain::Locale;
use crate::mail::{self, Delivered, MailKind, MailValues, Mailer, Rendered};
use crate::ops::lifecycle::{ClientSecrets, labdata, rows};
use crate::ops::{Kind, OpContext};
use crate::store::clients::ClientRow;
use crate::store::mails::{self, NewMail};
use crate::store::operations::LockScope;

/// Tries of one send, and the waits between them.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// The length of a generated admin password (as at creation: within 10 characters to 72 bytes).
const GENERATED_PASSWORD_CHARS: usize = 16;

pub struct ClientMail;

#[async_trait::async_trait]
impl Kind for ClientMail {
    const NAME: &'static str = "client_mail";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Value = ctx
            .op
            .params
            .parse()
            .context("the operation's parameters")?;
        let kind: MailKind = serde_json::from_value(params["mail"].clone())
            .context("the operation's parameter mail must be success or expire")?;
        let mailer = ctx.engine().mailer.clone().context(
            "this worker has no SMTP server: set ALFA_SMTP_URL and ALFA_MAIL_FROM for the \
             workers too, then retry this operation",
        )?;
        let (server, client) = rows(ctx)?;
        if let Some(sent) = mails::sent_by(&ctx.engine().db, ctx.op.id).await? {
            ctx.info(format!(
                "this operation already sent its mail to {} ({}): not sent again",
                sent.to_addr, sent.message_id
            ));
            return Ok(
                json!({ "mail": kind.as_str(), "to": sent.to_addr, "message_id": sent.message_id }),
            );
        }
        let to: Mailbox = format!(
            "{} <{}>",
            quoted(&labdata::admin_name(&client)),
            client.email
        )
        .parse()
        .with_context(|| {
            format!(
                "client {} has no usable e-mail address ({:?}): set one with PUT /clients/{}",
                client.id, client.email, client.id
            )
        })?;
        let locale = Locale::parse(&client.locale).unwrap_or_default();
        match kind {
            MailKind::Success => {
                ctx.step("admin password").await?;
                let (password, sealed) = password(ctx, &server, &client).await?;
                ctx.step("mail").await?;
                let values = MailValues {
                    password: Some(password.expose_secret()),
                    ..values(&client, locale)
                };
                let rendered = mail::render(&ctx.engine().renderer, kind, locale, &values)?;
                let delivered = deliver(ctx, &mailer, &client, kind, &to, &rendered).await?;
                if ctx.engine().settings.mail.keep_admin_password {
                    ctx.info("the admin password stays kept (ALFA_KEEP_ADMIN_PASSWORD=1)");
                } else if mails::erase_admin_password(&ctx.engine().db, client.id, &sealed).await? {
                    ctx.info(
                        "the kept admin password was erased now that the lab has it \
                         (ALFA_KEEP_ADMIN_PASSWORD=1 would keep it)",
                    );
                }
                Ok(result(kind, &to, &delivered))
            }
            MailKind::Expire => {
                ctx.step("mail").await?;
                anyhow::ensure!(
                    client.license_expires_at.is_some(),
                    "client {} has no licence end date to remind of: set one with POST \
                     /clients/{}/expire_date",
                    client.id,
                    client.id
                );
                let values = values(&client, locale);
                let rendered = mail::render(&ctx.engine().renderer, kind, locale, &values)?;
                let delivered = deliver(ctx, &mailer, &client, kind, &to, &rendered).await?;
                Ok(result(kind, &to, &delivered))
            }
        }
    }
}

fn result(kind: MailKind, to: &Mailbox, delivered: &Delivered) -> Value {
    json!({
        "mail": kind.as_str(),
        "to": to.email.to_string(),
        "message_id": delivered.message_id,
        "smtp_reply": delivered.reply,
    })
}

/// A display name as an RFC 5322 quoted string.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The client's values for the templates (no password).
fn values(client: &ClientRow, locale: Locale) -> MailValues<'_> {
    let (expires_on, days_left) = match client.license_expires_at {
        Some(at) => {
            let (day, days_left) = crate::mail::licence_end(&client.timezone, at, Utc::now());
            let shown = match locale {
                Locale::Ru => day.format("%d.%m.%Y").to_string(),
                Locale::En => day.format("%Y-%m-%d").to_string(),
            };
            (Some(shown), Some(days_left))
        }
        None => (None, None),
    };
    MailValues {
        lab_name: &client.name,
        url: format!("https://{}", client.fqdn),
        admin_login: &client.admin_login,
        admin_name: labdata::admin_name(client),
        admin_email: &client.email,
        password: None,
        expires_on,
        days_left,
    }
}

/// The password the welcome mail sends, and its sealed form as kept: the kept one, or a new
/// one written into the lab's `users` table and then kept.
async fn password(
    ctx: &mut OpContext,
    server: &crate::store::servers::ServerRow,
    client: &ClientRow,
) -> anyhow::Result<(SecretString, String)> {
    let cipher = ctx.engine().cipher.clone();
    if let Some(sealed) = &client.password_enc {
        let password = cipher
            .open(purpose::CLIENT_ADMIN_PASSWORD, sealed)
            .with_context(|| format!("cannot open the admin password of client {}", client.id))?;
        ctx.info("the kept admin password is sent");
        return Ok((password, sealed.clone()));
    }
    let password = SecretString::from(crypto::random_alphanumeric(GENERATED_PASSWORD_CHARS));
    ctx.mask(&password);
    ctx.info("no admin password is kept: a new one is written into the lab, then sent");
    let mut secrets = ClientSecrets::open(&cipher, client)?;
    secrets.admin_password = Some(password.clone());
    // Into the lab first: a mail never carries a password the lab does not have.
    labdata::set_admin_password(ctx, server, client, &secrets)
        .await
        .with_context(|| {
            format!(
                "the new admin password could not be written into the lab, so no mail was \
                 sent: retry this operation (POST /operations/{}/retry)",
                ctx.op.id
            )
        })?;
    let sealed = cipher.seal(purpose::CLIENT_ADMIN_PASSWORD, password.expose_secret());
    anyhow::ensure!(
        mails::keep_admin_password(&ctx.engine().db, client.id, &sealed).await?,
        "another admin password was set for client {} meanwhile: retry this operation (POST \
         /operations/{}/retry) to send that one",
        client.id,
        ctx.op.id
    );
    Ok((password, sealed))
}

/// Sends `rendered` to `to`, trying again on a transient failure, and records the outcome in
/// `mails`.
async fn deliver(
    ctx: &OpContext,
    mailer: &Mailer,
    client: &ClientRow,
    kind: MailKind,
    to: &Mailbox,
    rendered: &Rendered,
) -> anyhow::Result<Delivered> {
    let to_addr = to.email.to_string();
    ctx.info(format!(
        "mail {} to {to_addr} through {}: {}",
        kind.as_str(),
        mailer.server(),
        rendered.subject
    ));
    let tries = BACKOFF.len() + 1;
    let mut attempt = 0;
    let failure = loop {
        match mailer.send(to, rendered).await {
            Ok(delivered) => {
                ctx.info(format!(
                    "the SMTP server {} took the mail: {} ({})",
                    mailer.server(),
                    delivered.reply,
                    delivered.message_id
                ));
                record(
                    ctx,
                    client,
                    kind,
                    &to_addr,
                    rendered,
                    "sent",
                    &delivered.message_id,
                    &delivered.reply,
                )
                .await?;
                return Ok(delivered);
            }
            Err(err) if err.transient && attempt < BACKOFF.len() => {
                let wait = BACKOFF[attempt];
                attempt += 1;
                ctx.info(format!(
                    "try {attempt} of {tries} failed: {}; trying again in {} s",
                    err.reply,
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
            }
            Err(err) => break err,
        }
    };
    record(
        ctx,
        client,
        kind,
        &to_addr,
        rendered,
        "error",
        "",
        &failure.reply,
    )
    .await?;
    if failure.transient {
        anyhow::bail!(
            "the mail to {to_addr} was not sent: the SMTP server {} failed {tries} tries, the \
             last with: {}. Check that it is up and that ALFA_SMTP_URL names it, then retry \
             this operation (POST /operations/{}/retry)",
            mailer.server(),
            failure.reply,
            ctx.op.id
        )
    }
    anyhow::bail!(
        "the mail to {to_addr} was refused by the SMTP server {}: {}. Check the address \
         (PUT /clients/{} email) or the server's rules for the sender (ALFA_MAIL_FROM), then \
         retry this operation (POST /operations/{}/retry)",
        mailer.server(),
        failure.reply,
        client.id,
        ctx.op.id
    )
}

#[allow(clippy::too_many_arguments)]
async fn record(
    ctx: &OpContext,
    client: &ClientRow,
    kind: MailKind,
    to_addr: &str,
    rendered: &Rendered,
    result: &str,
    message_id: &str,
    reply: &str,
) -> anyhow::Result<()> {
    mails::insert(
        &ctx.engine().db,
        &NewMail {
            client_id: client.id,
            operation_id: ctx.op.id,
            kind: kind.as_str(),
            to_addr,
            subject: &rendered.subject,
            result,
            message_id,
            smtp_reply: reply,
        },
    )
    .await?;
    Ok(())
}
