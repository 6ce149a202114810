//! The `mails` table: every mail sent to a lab, or that could not be sent, with the SMTP
//! server's reply; and the kept admin password the welcome mail sends, in the client's row.

use chrono::{DateTime, Utc};

use super::retry::with_retry;
use super::{Db, with_db};

/// One mail as recorded.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct MailRow {
    pub id: i64,
    pub client_id: i64,
    /// The operation that sent it.
    pub operation_id: Option<i64>,
    /// `success` (the welcome mail) or `expire` (the licence ends soon).
    #[schema(example = "success")]
    pub kind: String,
    /// The recipient's address.
    pub to_addr: String,
    pub subject: String,
    /// When it was sent, or when the last try failed.
    pub sent_at: DateTime<Utc>,
    /// `sent` or `error`.
    #[schema(example = "sent")]
    pub result: String,
    /// The `Message-ID` it was sent with.
    pub message_id: String,
    /// The SMTP server's reply (or why it could not be reached).
    pub smtp_reply: String,
}

/// A mail to record.
pub struct NewMail<'a> {
    pub client_id: i64,
    pub operation_id: i64,
    pub kind: &'a str,
    pub to_addr: &'a str,
    pub subject: &'a str,
    pub result: &'a str,
    pub message_id: &'a str,
    pub smtp_reply: &'a str,
}

pub async fn insert(db: &Db, mail: &NewMail<'_>) -> sqlx::Result<i64> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query_scalar(
                "INSERT INTO mails (client_id, operation_id, kind, to_addr, subject, sent_at, \
                 result, message_id, smtp_reply) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 RETURNING id",
            )
            .bind(mail.client_id)
            .bind(mail.operation_id)
            .bind(mail.kind)
            .bind(mail.to_addr)
            .bind(mail.subject)
            .bind(now)
            .bind(mail.result)
            .bind(mail.message_id)
            .bind(mail.smtp_reply)
            .fetch_one(pool)
            .await
        })
    })
}

const COLUMNS: &str =
    "id, client_id, operation_id, kind, to_addr, subject, sent_at, result, message_id, smtp_reply";

/// The mail operation `operation_id` already sent, if any (a rerun does not send it twice).
pub async fn sent_by(db: &Db, operation_id: i64) -> sqlx::Result<Option<MailRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mails WHERE operation_id = $1 AND result = 'sent' \
             ORDER BY id DESC LIMIT 1"
        )))
        .bind(operation_id)
        .fetch_optional(pool)
        .await
    })
}

/// Client `client_id`'s mails, newest first: (total, one page).
pub async fn list(
    db: &Db,
    client_id: i64,
    page: u32,
    per_page: u32,
) -> sqlx::Result<(i64, Vec<MailRow>)> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    with_db!(db, |pool| {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mails WHERE client_id = $1")
            .bind(client_id)
            .fetch_one(pool)
            .await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mails WHERE client_id = $1 ORDER BY id DESC \
             LIMIT $2 OFFSET $3"
        )))
        .bind(client_id)
        .bind(i64::from(per_page))
        .bind(offset)
        .fetch_all(pool)
        .await?;
        Ok((total, rows))
    })
}

/// Keeps `password_enc` as client `id`'s admin password when none is kept (a password the
/// welcome mail generated); false when one is kept already.
pub async fn keep_admin_password(db: &Db, id: i64, password_enc: &str) -> sqlx::Result<bool> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE clients SET password_enc = $1, updated_at = $2 \
                 WHERE id = $3 AND password_enc IS NULL",
            )
            .bind(password_enc)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
    })
}

/// Erases client `id`'s kept admin password once the welcome mail sent it — only when it is
/// still the one sent (`password_enc`), so a password set meanwhile stays.
pub async fn erase_admin_password(db: &Db, id: i64, password_enc: &str) -> sqlx::Result<bool> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE clients SET password_enc = NULL, updated_at = $1 \
                 WHERE id = $2 AND password_enc = $3",
            )
            .bind(now)
            .bind(id)
            .bind(password_enc)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
    })
}
