//! `reboot_server`: reboots a server, excluding every other operation on it meanwhile.

use serde_json::{Value, json};

use crate::ops::{Kind, OpContext, target};
use crate::remote::scripts;
use crate::store::operations::LockScope;

pub struct RebootServer;

#[async_trait::async_trait]
impl Kind for RebootServer {
    const NAME: &'static str = "reboot_server";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        // The script schedules the reboot so that the command can return first.
        ctx.script(scripts::REBOOT_SERVER).run().await?;
        // The connection dies with the server; a fresh one is opened when it is back.
        let server = target(ctx.server()?);
        ctx.engine().remote.forget(&server).await;
        Ok(json!({ "rebooting": true }))
    }
}
