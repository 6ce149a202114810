//! Client operations: reboot, create.

use serde_json::{Value, json};

use super::OpContext;
use crate::domain::ClientState;
use crate::ops::Engine;
use crate::remote::Script;
use crate::store::clients;
use crate::store::operations::{OperationRow, Outcome};

/// Restarts the client's compose project.
pub async fn reboot(ctx: &mut OpContext) -> anyhow::Result<Value> {
    let server = ctx.server().await?;
    let client = ctx.client().await?;
    ctx.run(
        &server,
        Script::ClientReboot,
        vec![server.base_dir.clone(), client.subdomain.clone()],
    )
    .await?;
    Ok(json!({ "restarted": client.subdomain }))
}

/// Creates a client. So far this is its preflight (the server answers over SSH, the subdomain
/// is free there, the image version is present); provisioning comes with the lifecycle work.
pub async fn create(ctx: &mut OpContext) -> anyhow::Result<Value> {
    let server = ctx.server().await?;
    let client = ctx.client().await?;
    clients::set_state(&ctx.engine.db, client.id, ClientState::Creating).await?;
    ctx.log.info(format!(
        "preflight of {} on server {} ({})",
        client.fqdn, server.name, server.host
    ));
    ctx.run(
        &server,
        Script::ClientPreflight,
        vec![
            server.base_dir.clone(),
            client.subdomain.clone(),
            ctx.engine.settings.image_repo.clone(),
            client.version_tag.clone(),
        ],
    )
    .await?;
    ctx.log
        .info("preflight passed; provisioning the container is not implemented yet");
    Ok(json!({ "preflight": "ok" }))
}

/// The client's state follows its creation: `error` when it failed, `pending` otherwise (the
/// preflight passed but nothing is provisioned yet).
pub async fn after_create(
    engine: &Engine,
    op: &OperationRow,
    outcome: Outcome,
) -> anyhow::Result<()> {
    let Some(client_id) = op.client_id else {
        return Ok(());
    };
    let state = match outcome {
        Outcome::Ok | Outcome::Cancelled => ClientState::Pending,
        Outcome::Error => ClientState::Error,
    };
    clients::set_state(&engine.db, client_id, state).await?;
    Ok(())
}
