//! `client_create`: gives a registered client its cloud on its server. So far: the preflight
//! (the server answers over SSH, the subdomain is free there, the image version is present);
//! provisioning comes with the client lifecycle.

use serde_json::{Value, json};

use crate::domain::ClientState;
use crate::ops::{Engine, Kind, OpContext};
use crate::remote::scripts;
use crate::store::clients;
use crate::store::operations::{LockScope, OperationRow, Outcome};

pub struct ClientCreate;

#[async_trait::async_trait]
impl Kind for ClientCreate {
    const NAME: &'static str = "client_create";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let server = ctx.server()?.clone();
        let client = ctx.client()?.clone();
        clients::set_state(&ctx.engine().db, client.id, ClientState::Creating).await?;
        ctx.step("preflight").await?;
        ctx.info(format!(
            "preflight of {} on server {} ({})",
            client.fqdn, server.name, server.host
        ));
        ctx.script(scripts::CLIENT_PREFLIGHT)
            .args([
                server.base_dir.clone(),
                client.subdomain.clone(),
                ctx.engine().settings.image_repo.clone(),
                client.version_tag.clone(),
            ])
            .run()
            .await?;
        ctx.info("preflight passed; provisioning the container is not implemented yet");
        Ok(json!({ "preflight": "ok" }))
    }

    /// The client's state follows its creation however it ended — a failure, a cancel, or a
    /// give-up after lost workers: `error` when it failed, `pending` otherwise (the preflight
    /// passed, or it never ran, and nothing is provisioned yet).
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
            Outcome::Ok | Outcome::Cancelled => ClientState::Pending,
            Outcome::Error => ClientState::Error,
        };
        clients::set_state(&engine.db, client_id, state).await?;
        Ok(())
    }
}
