//! The `client_probes` table: what the probe loop last saw of each active client. Kept apart
//! from the client rows (no data-version trigger), so a probe pass never invalidates the
//! cached client list; the list joins these rows when it serves a page.

use chrono::{DateTime, Utc};

use super::retry::{WritePool as _, with_retry};
use super::{Db, with_db};

/// A client the probe loop looks at: an active one, with what its server needs to probe it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Target {
    pub id: i64,
    pub server_id: i64,
    pub subdomain: String,
    pub fqdn: String,
    /// The password of its own SQL login, sealed (`users_count` is read with it).
    pub db_password_enc: Option<String>,
}

/// What one probe of one client found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub client_id: i64,
    pub available: bool,
    pub maintenance: Option<bool>,
    pub running_version: Option<String>,
    pub users_count: Option<i64>,
    /// Why it is unavailable or a figure is missing; empty when all went well.
    pub error: String,
}

/// Every active client, by server.
pub async fn targets(db: &Db) -> sqlx::Result<Vec<Target>> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, server_id, subdomain, fqdn, db_password_enc FROM clients \
             WHERE state = 'active' ORDER BY server_id, id",
        )
        .fetch_all(pool)
        .await
    })
}

/// Stores one server's outcomes at `at`, and bumps the probe results' version, in one
/// transaction.
pub async fn record(db: &Db, outcomes: &[Outcome], at: DateTime<Utc>) -> sqlx::Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            // In chunks: SQLite binds at most 32,766 values per statement.
            for chunk in outcomes.chunks(500) {
                let mut sql = sqlx::QueryBuilder::new(
                    "INSERT INTO client_probes (client_id, available, maintenance, \
                     running_version, users_count, checked_at, error) ",
                );
                sql.push_values(chunk, |mut row, o| {
                    row.push_bind(o.client_id)
                        .push_bind(o.available)
                        .push_bind(o.maintenance)
                        .push_bind(o.running_version.clone())
                        .push_bind(o.users_count)
                        .push_bind(at)
                        .push_bind(o.error.clone());
                });
                sql.push(
                    " ON CONFLICT (client_id) DO UPDATE SET available = excluded.available, \
                     maintenance = excluded.maintenance, running_version = excluded.running_version, \
                     users_count = excluded.users_count, checked_at = excluded.checked_at, \
                     error = excluded.error",
                );
                sql.build().execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE data_versions SET version = version + 1 WHERE name = 'client_probes'",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })
    })
}

/// Forgets the results of clients that are no longer active (deleted, being deleted, failed),
/// so the list never shows a stale `available: true` for them.
pub async fn forget_inactive(db: &Db) -> sqlx::Result<u64> {
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            let gone = sqlx::query(
                // From the probe rows (a few hundred), not from every client ever registered.
                "DELETE FROM client_probes WHERE client_id IN (SELECT p.client_id \
                 FROM client_probes p JOIN clients c ON c.id = p.client_id \
                 WHERE c.state <> 'active')",
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if gone > 0 {
                sqlx::query(
                    "UPDATE data_versions SET version = version + 1 WHERE name = 'client_probes'",
                )
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(gone)
        })
    })
}
