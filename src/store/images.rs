//! What the records say about LIMS images: the versions the clients on a machine name, which
//! a prune must never remove.

use super::{Db, with_db};

/// The versions (`version_tag`) of every client that is not deleted — running, stopped, in
/// error, being created or deleted — on every server registered with this `host` (servers
/// sharing one machine share its docker), sorted.
pub async fn versions_on_host(db: &Db, host: &str) -> sqlx::Result<Vec<String>> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT DISTINCT c.version_tag FROM clients c JOIN servers s ON s.id = c.server_id \
             WHERE s.host = $1 AND c.state <> 'deleted' ORDER BY c.version_tag",
        )
        .bind(host)
        .fetch_all(pool)
        .await
    })
}
