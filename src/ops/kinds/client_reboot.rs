//! `client_reboot`: restarts a client's compose project.

use serde_json::{Value, json};

use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;

pub struct ClientReboot;

#[async_trait::async_trait]
impl Kind for ClientReboot {
    const NAME: &'static str = "client_reboot";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let base_dir = ctx.server()?.base_dir.clone();
        let subdomain = ctx.client()?.subdomain.clone();
        ctx.script(scripts::CLIENT_REBOOT)
            .args([base_dir, subdomain.clone()])
            .run()
            .await?;
        Ok(json!({ "restarted": subdomain }))
    }
}
