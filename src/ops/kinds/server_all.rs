//! `migrate_all` and `switch_all`: every active client of a server, one child operation each
//! (`client_migrate`, or the safe `client_switch` with its rollback), through the fan-out
//! ([`crate::ops::fanout`]). The parent holds the server lock.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::fanout::{self, FanOut, Target};
use crate::ops::kinds::{client_migrate::ClientMigrate, client_switch::ClientSwitch};
use crate::ops::{Kind, OpContext};
use crate::store::operations::LockScope;

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    how: FanOut,
    /// switch_all: the version every client is switched to.
    #[serde(default)]
    version: Option<String>,
}

/// The server's active clients.
async fn targets(ctx: &OpContext) -> anyhow::Result<Vec<Target>> {
    let server = ctx.server()?;
    fanout::clients_of(&ctx.engine().db, server.id).await
}

pub struct MigrateAll;

#[async_trait::async_trait]
impl Kind for MigrateAll {
    const NAME: &'static str = "migrate_all";
    const LOCK: LockScope = LockScope::Server;
    const FAN_OUT: bool = true;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        ctx.step("clients").await?;
        let targets = targets(ctx).await?;
        fanout::run::<ClientMigrate>(ctx, targets, params.how, |_| json!({})).await
    }
}

pub struct SwitchAll;

#[async_trait::async_trait]
impl Kind for SwitchAll {
    const NAME: &'static str = "switch_all";
    const LOCK: LockScope = LockScope::Server;
    const FAN_OUT: bool = true;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let version = params
            .version
            .clone()
            .ok_or_else(|| anyhow::anyhow!("operation {} names no version", ctx.op.id))?;
        ctx.step("clients").await?;
        let targets = targets(ctx).await?;
        fanout::run::<ClientSwitch>(ctx, targets, params.how, |_| json!({ "version": version }))
            .await
    }
}
