//! The client's own database and SQL user, made by the server's `sql_user`.

use secrecy::SecretString;

use crate::ops::OpContext;
use crate::store::servers::ServerRow;

/// Creates the client's database and user, or brings existing ones to the kept password.
pub async fn ensure(
    ctx: &OpContext,
    client_id: i64,
    password: &SecretString,
) -> anyhow::Result<()> {
    ensure_on(ctx, ctx.server()?, client_id, password).await
}

/// [`ensure`] on the SQL of `server` (a move's target).
pub async fn ensure_on(
    ctx: &OpContext,
    server: &ServerRow,
    client_id: i64,
    password: &SecretString,
) -> anyhow::Result<()> {
    let name = ctx.client_db_name(client_id);
    let started = std::time::Instant::now();
    let mut sql = ctx.sql_on(server).await?;
    let created = sql.ensure_client_database(&name, password).await;
    ctx.add_remote_time(started);
    let created = created?;
    ctx.info(if created {
        format!("created database {name} and its user {name}")
    } else {
        format!("database {name} already exists: its user {name} and grants checked")
    });
    Ok(())
}

/// Drops the client's database and user when they exist.
pub async fn drop(ctx: &OpContext, client_id: i64) -> anyhow::Result<()> {
    drop_on(ctx, ctx.server()?, client_id).await
}

/// [`drop`] on the SQL of `server` (a move's source once the move succeeded, or its target
/// when it is undone).
pub async fn drop_on(ctx: &OpContext, server: &ServerRow, client_id: i64) -> anyhow::Result<()> {
    let name = ctx.client_db_name(client_id);
    let mut sql = ctx.sql_on(server).await?;
    let existed = sql.database_exists(&name).await?;
    sql.drop_client_database(&name).await?;
    ctx.info(if existed {
        format!("dropped database {name} and its user")
    } else {
        format!("database {name} does not exist: nothing to drop")
    });
    Ok(())
}
