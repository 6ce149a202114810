//! `client_create`: gives a registered client its running, certified cloud. The steps, each
//! a `::step` line in createlog and each safe to run again (it checks what is done and skips
//! it): preflight, database, files, vhost, container, lab data, certificate, probe.
//!
//! A failed step ends the operation `error` naming the step; what the earlier steps made is
//! then undone in reverse (the client's folder, vhost, certificate and container, then its
//! database), unless the client was posted with `keep_on_error=1`. `POST /operations/{id}/retry`
//! runs the saga again, each step skipping what is already there.

use serde_json::{Value, json};

use crate::domain::ClientState;
use crate::ops::lifecycle::{ClientSecrets, database, files, labdata, rows, web};
use crate::ops::{Engine, Kind, OpContext};
use crate::remote::scripts;
use crate::store::clients::{self, ClientRow};
use crate::store::operations::{LockScope, OperationRow, Outcome};
use crate::store::servers::ServerRow;

pub struct ClientCreate;

/// How far a creation got: what its undo has to remove.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    Nothing,
    Database,
    OnServer,
}

#[async_trait::async_trait]
impl Kind for ClientCreate {
    const NAME: &'static str = "client_create";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        clients::set_state(&ctx.engine().db, client.id, ClientState::Creating).await?;
        let mut reached = Reached::Nothing;
        match saga(ctx, &server, &client, &mut reached).await {
            Ok(result) => Ok(result),
            Err(err) => {
                if let Err(mark) = ctx.step_failed().await {
                    tracing::warn!(op.id = ctx.op.id, error = %mark, "could not mark the failed step");
                }
                if ctx.is_cancelled() {
                    ctx.info("cancelled: what was made is kept; retry the operation, or DELETE the client to clean up");
                } else if client.keep_on_error {
                    ctx.info("keep_on_error is set: what was made is kept for inspection");
                } else if reached > Reached::Nothing {
                    ctx.info(format!("undoing what this creation made, after: {err:#}"));
                    if let Err(undo) = undo(ctx, &server, &client, reached).await {
                        ctx.info(format!(
                            "undo failed too: {undo:#}; DELETE the client with drop_database=1 to clean up"
                        ));
                    }
                }
                Err(err)
            }
        }
    }

    /// The client is `active` once its creation succeeded, `error` when it failed (however:
    /// a step, a cancel, workers lost three times).
    async fn on_finish(
        &self,
        engine: &Engine,
        op: &OperationRow,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let Some(client_id) = op.client_id else {
            return Ok(());
        };
        let state = match outcome {
            Outcome::Ok => ClientState::Active,
            Outcome::Error | Outcome::Cancelled => ClientState::Error,
        };
        clients::set_state(&engine.db, client_id, state).await?;
        Ok(())
    }
}

async fn saga(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    reached: &mut Reached,
) -> anyhow::Result<Value> {
    let secrets = ClientSecrets::open(&ctx.engine().cipher, client)?;
    ctx.step("preflight").await?;
    ctx.info(format!(
        "creating {} on server {} ({})",
        client.fqdn, server.name, server.host
    ));
    ctx.script(scripts::CLIENT_PREFLIGHT)
        .args([
            server.base_dir.clone(),
            client.subdomain.clone(),
            ctx.engine().settings.image_repo.clone(),
            client.version_tag.clone(),
            client.id.to_string(),
        ])
        .run()
        .await?;

    ctx.step("database").await?;
    *reached = Reached::Database;
    database::ensure(ctx, client.id, &secrets.db_password).await?;

    ctx.step("files").await?;
    *reached = Reached::OnServer;
    files::write(ctx, server, client, &secrets).await?;

    ctx.step("vhost").await?;
    web::install_vhost(ctx, server, client, false).await?;

    ctx.step("container").await?;
    web::start_container(ctx, server, client).await?;

    ctx.step("lab data").await?;
    labdata::write(ctx, server, client, &secrets).await?;

    ctx.step("certificate").await?;
    let serial = web::certificate(ctx, server, client).await?;
    web::install_vhost(ctx, server, client, true).await?;

    ctx.step("probe").await?;
    web::probe(ctx, server, client, serial).await?;
    let url = files::app_url(server, client);
    ctx.info(format!("{url} answers through nginx with its certificate"));
    Ok(json!({
        "client_id": client.id,
        "url": url,
        "remote_ms": ctx.remote_time().as_millis(),
    }))
}

/// Removes what the creation made, in reverse: the client's things on the server, then the
/// database it created (named from the client's id: no one else's).
async fn undo(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    reached: Reached,
) -> anyhow::Result<()> {
    ctx.step("undo").await?;
    if reached >= Reached::OnServer {
        web::remove(ctx, server, client).await?;
    }
    database::drop(ctx, client.id).await?;
    ctx.info("undone: the server holds nothing of this client; retry the operation to try again");
    Ok(())
}
