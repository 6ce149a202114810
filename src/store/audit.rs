//! The audit trail: one row per mutating request.

use chrono::{DateTime, Utc};

use super::retry::with_retry;
use super::{Db, Page, with_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub username: String,
    pub ip: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    /// The request's fields as JSON, secrets already removed.
    pub fields: String,
    pub request_id: String,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub username: String,
    pub ip: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<i64>,
    pub fields: String,
    pub request_id: String,
}

pub async fn insert(db: &Db, entry: &NewAuditEntry) -> sqlx::Result<()> {
    let now = Utc::now();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "INSERT INTO audit_log (at, username, ip, method, path, status, target_kind, \
             target_id, fields, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(now)
            .bind(&entry.username)
            .bind(&entry.ip)
            .bind(&entry.method)
            .bind(&entry.path)
            .bind(i64::from(entry.status))
            .bind(entry.target_kind)
            .bind(entry.target_id)
            .bind(&entry.fields)
            .bind(&entry.request_id)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}

/// A page of the trail, newest first.
pub async fn list(db: &Db, page: u32, per_page: u32) -> sqlx::Result<Page<AuditRow>> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    with_db!(db, |pool| {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
            .fetch_one(pool)
            .await?;
        let items = sqlx::query_as(
            "SELECT id, at, username, ip, method, path, status, target_kind, target_id, fields, \
             request_id FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(i64::from(per_page))
        .bind(offset)
        .fetch_all(pool)
        .await?;
        Ok(Page { items, total })
    })
}
