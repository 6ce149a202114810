//! A client changing servers (`move_to`): the port it takes on the target, whether its name
//! is free under the target's domain, and the switch of its row — server, port and name in
//! one transaction — once the move succeeded.
//!
//! The port is the *highest* free one of the target's `client_ports`, while creations take
//! the lowest: the two meet only in a nearly full range. The row keeps its old port until the
//! switch, where the unique index on (server, port) refuses a port a creation took meanwhile
//! (the move is then undone and can be asked again).

use chrono::Utc;

use super::clients::WriteError;
use super::retry::{WritePool as _, with_retry};
use super::{Db, with_db};

/// The highest port of `min..=max` that no live client of `server_id` has: `max` itself, or
/// the port right below a taken one.
const TOP_FREE_PORT: &str = "SELECT MAX(candidate) FROM (\
    SELECT CAST($3 AS BIGINT) AS candidate \
    UNION SELECT client_port - 1 FROM clients \
        WHERE server_id = $1 AND state <> 'deleted' AND client_port IS NOT NULL\
    ) AS candidates \
    WHERE candidate BETWEEN $2 AND $3 AND NOT EXISTS (SELECT 1 FROM clients taken \
        WHERE taken.server_id = $1 AND taken.state <> 'deleted' \
        AND taken.client_port = candidates.candidate)";

/// The port a client moving to `server_id` takes there; `None` when the range is full (or
/// the server is gone).
pub async fn free_port(db: &Db, server_id: i64) -> sqlx::Result<Option<i64>> {
    with_db!(db, |pool| {
        let range: Option<(i64, i64)> =
            sqlx::query_as("SELECT client_port_min, client_port_max FROM servers WHERE id = $1")
                .bind(server_id)
                .fetch_optional(pool)
                .await?;
        let Some((min, max)) = range else {
            return Ok(None);
        };
        sqlx::query_scalar(TOP_FREE_PORT)
            .bind(server_id)
            .bind(min)
            .bind(max)
            .fetch_one(pool)
            .await
    })
}

/// The id of the live client other than `except` that has the name `fqdn`, if any.
pub async fn fqdn_holder(db: &Db, fqdn: &str, except: i64) -> sqlx::Result<Option<i64>> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT id FROM clients WHERE fqdn = $1 AND state <> 'deleted' AND id <> $2 LIMIT 1",
        )
        .bind(fqdn)
        .bind(except)
        .fetch_optional(pool)
        .await
    })
}

/// Where a moved client lives now.
#[derive(Clone, Debug)]
pub struct NewHome<'a> {
    pub from_server: i64,
    pub server_id: i64,
    pub client_port: i64,
    pub fqdn: &'a str,
}

/// Switches the client's row to its new server, port and name, and records a `move` event, in
/// one transaction. Returns false when the client is on neither the old server nor (already)
/// the new one. A name or port a concurrent write took meanwhile is [`WriteError::FqdnTaken`]
/// (either unique index).
pub async fn relocate(
    db: &Db,
    client_id: i64,
    home: &NewHome<'_>,
    actor: &str,
) -> Result<bool, WriteError> {
    let now = Utc::now();
    let detail = serde_json::json!({
        "from_server_id": home.from_server,
        "server_id": home.server_id,
        "client_port": home.client_port,
        "fqdn": home.fqdn,
    })
    .to_string();
    with_retry!(async {
        with_db!(db, |pool| {
            let mut tx = pool.begin_write().await.map_err(WriteError::Db)?;
            let updated = sqlx::query(
                "UPDATE clients SET server_id = $2, client_port = $3, fqdn = $4, updated_at = $5 \
                 WHERE id = $1 AND (server_id = $6 OR server_id = $2)",
            )
            .bind(client_id)
            .bind(home.server_id)
            .bind(home.client_port)
            .bind(home.fqdn)
            .bind(now)
            .bind(home.from_server)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO client_events (client_id, at, actor, kind, detail) \
                 VALUES ($1, $2, $3, 'move', $4)",
            )
            .bind(client_id)
            .bind(now)
            .bind(actor)
            .bind(&detail)
            .execute(&mut *tx)
            .await
            .map_err(WriteError::Db)?;
            tx.commit().await.map_err(WriteError::Db)?;
            Ok(true)
        })
    })
}
