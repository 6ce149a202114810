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
