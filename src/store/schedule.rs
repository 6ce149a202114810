//! `schedule_runs`: which daily task ran on which day (UTC), so each runs once a day across
//! restarts and several workers.

use chrono::{DateTime, NaiveDate, Utc};

use super::retry::{WritePool as _, with_retry};
use super::{Db, with_db};

/// Records that task `name` runs on `day`. Returns false when it was recorded already (it
/// ran, or another worker is starting it).
pub async fn claim(db: &Db, name: &str, day: NaiveDate, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let day = day.format("%Y-%m-%d").to_string();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO schedule_runs (name, day, started_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name, day) DO NOTHING",
            )
            .bind(name)
            .bind(&day)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(inserted == 1)
        })
    })
}

/// A client the licence reminders look at: active, with a licence end and an e-mail address.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderCandidate {
    pub id: i64,
    pub timezone: String,
    pub billing_type: String,
    pub license_expires_at: DateTime<Utc>,
}

pub async fn reminder_candidates(db: &Db) -> sqlx::Result<Vec<ReminderCandidate>> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, timezone, billing_type, license_expires_at FROM clients \
             WHERE state = 'active' AND license_expires_at IS NOT NULL AND email <> '' \
             ORDER BY id",
        )
        .fetch_all(pool)
        .await
    })
}

/// The reminders recorded for licences ending on `since` or later: (client, end date,
/// threshold). Read once per look at the clock, so only a reminder not recorded yet takes the
/// write lock of [`claim_reminder`].
pub async fn reminders_recorded(
    db: &Db,
    since: NaiveDate,
) -> sqlx::Result<std::collections::HashSet<(i64, String, i64)>> {
    let since = since.format("%Y-%m-%d").to_string();
    let rows: Vec<(i64, String, i64)> = with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT client_id, expires_on, threshold FROM reminders_sent WHERE expires_on >= $1",
        )
        .bind(&since)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows.into_iter().collect())
}

/// Records the reminder `threshold` of client `id`'s licence ending on `expires_on`. Returns
/// false when it was recorded already (sent, or being sent by another worker).
pub async fn claim_reminder(
    db: &Db,
    id: i64,
    expires_on: NaiveDate,
    threshold: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let expires_on = expires_on.format("%Y-%m-%d").to_string();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO reminders_sent (client_id, expires_on, threshold, sent_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, expires_on, threshold) DO NOTHING",
            )
            .bind(id)
            .bind(&expires_on)
            .bind(threshold)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(inserted == 1)
        })
    })
}

/// Notes the operation that sends a claimed reminder.
pub async fn set_reminder_operation(
    db: &Db,
    id: i64,
    expires_on: NaiveDate,
    threshold: i64,
    operation_id: i64,
) -> sqlx::Result<()> {
    let expires_on = expires_on.format("%Y-%m-%d").to_string();
    with_retry!(async {
        with_db!(db, |pool| {
            sqlx::query(
                "UPDATE reminders_sent SET operation_id = $1 \
                 WHERE client_id = $2 AND expires_on = $3 AND threshold = $4",
            )
            .bind(operation_id)
            .bind(id)
            .bind(&expires_on)
            .bind(threshold)
            .execute(pool)
            .await
            .map(drop)
        })
    })
}
