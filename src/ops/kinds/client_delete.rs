//! `client_delete`: takes a client off its server — container, vhost, certificate, folder —
//! and with `drop_database` its database and user too, after a compressed dump kept under
//! `{base_dir}/backups/c{id}/`. The row stays (state `deleted`) for the audit trail, and its
//! subdomain is free for a new client.

use serde_json::{Value, json};

use crate::domain::ClientState;
use crate::ops::lifecycle::{ClientSecrets, backup, database, rows, web};
use crate::ops::{Engine, Kind, OpContext};
use crate::store::clients;
use crate::store::operations::{LockScope, OperationRow, Outcome};

pub struct ClientDelete;

#[async_trait::async_trait]
impl Kind for ClientDelete {
    const NAME: &'static str = "client_delete";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let drop_database = ctx
            .op
            .params
            .parse::<Value>()
            .ok()
            .and_then(|p| p["drop_database"].as_bool())
            .unwrap_or(false);
        clients::set_state(&ctx.engine().db, client.id, ClientState::Deleting).await?;
        ctx.step("remove").await?;
        web::remove(ctx, &server, &client).await?;
        let mut dump = Value::Null;
        if drop_database {
            let name = ctx.client_db_name(client.id);
            ctx.step("dump").await?;
            if ctx.sql().await?.database_exists(&name).await? {
                let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
                dump = serde_json::to_value(backup::dump(ctx, &server, &client, &secrets).await?)?;
            } else {
                ctx.info(format!("database {name} does not exist: nothing to dump"));
            }
            ctx.step("drop database").await?;
            database::drop(ctx, client.id).await?;
        } else {
            ctx.info(format!(
                "database {} is kept (DELETE with drop_database=1 to drop it, after a dump)",
                ctx.client_db_name(client.id)
            ));
        }
        Ok(json!({ "client_id": client.id, "database_dropped": drop_database, "dump": dump }))
    }

    async fn on_finish(
        &self,
        engine: &Engine,
        op: &OperationRow,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let Some(client_id) = op.client_id else {
            return Ok(());
        };
        match outcome {
            Outcome::Ok => clients::mark_deleted(&engine.db, client_id).await?,
            Outcome::Error | Outcome::Cancelled => {
                clients::set_state(&engine.db, client_id, ClientState::Error).await?;
            }
        }
        Ok(())
    }
}
