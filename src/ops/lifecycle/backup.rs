//! The client's database dumps, `{base_dir}/backups/c{id}/{UTC stamp}.sql.gz` on its server,
//! made and restored as the client's own SQL user (what a restore creates stays the client's),
//! the newest `ALFA_BACKUPS_KEEP` kept.

use serde::Deserialize;

use super::ClientSecrets;
use crate::domain::SqlKind;
use crate::ops::OpContext;
use crate::remote::scripts;
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// A dump on the server.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Dump {
    pub path: String,
    pub bytes: u64,
}

fn sql_kind(server: &ServerRow) -> anyhow::Result<SqlKind> {
    SqlKind::parse(&server.sql_kind).map_err(|e| anyhow::anyhow!("sql_kind {e}"))
}

/// Dumps the database of `client` on `server` (the operation's server or another: a move's
/// source is the operation's, its target another).
pub async fn dump(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<Dump> {
    let name = ctx.client_db_name(client.id);
    let data = ctx
        .script_on(server, scripts::DB_DUMP)
        .args([
            server.base_dir.clone(),
            client.id.to_string(),
            sql_kind(server)?.as_str().to_owned(),
            server.sql_port.to_string(),
            name.clone(),
            name,
            ctx.engine().settings.backups_keep.to_string(),
        ])
        .env("DB_PASSWORD", secrets.db_password.clone())
        .run()
        .await?;
    data.iter()
        .find_map(|line| line.strip_prefix("::dump "))
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "db_dump.sh on server {} printed no ::dump line: is jobs/db_dump.sh current?",
                server.name
            )
        })
}

/// Puts the database of `client` on `server` back to the dump at `path` (a file under that
/// server's `{base_dir}/backups/`): every table dropped, then the dump loaded.
pub async fn restore(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
    path: &str,
) -> anyhow::Result<()> {
    let name = ctx.client_db_name(client.id);
    ctx.script_on(server, scripts::DB_RESTORE)
        .args([
            server.base_dir.clone(),
            client.id.to_string(),
            sql_kind(server)?.as_str().to_owned(),
            server.sql_port.to_string(),
            name.clone(),
            name,
            path.to_owned(),
        ])
        .env("DB_PASSWORD", secrets.db_password.clone())
        .run()
        .await?;
    Ok(())
}
