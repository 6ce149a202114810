//! `migrate_all` and `switch_all`: every active client of a server, one child operation each
//! (`client_migrate`, or the safe `client_switch` with its rollback), through the fan-out
//! ([`crate::ops::fanout`]). The parent holds the server lock. `params.only` (client ids) limits
//! it to those clients: what `POST /operations/{id}/retry_failed` sets.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::fanout::{self, FanOut, Target};
use crate::ops::kinds::{client_migrate::ClientMigrate, client_switch::ClientSwitch};
use crate::ops::{Kind, OpContext};
use crate::store::operations::LockScope;
use crate::store::probes;

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    how: FanOut,
    /// switch_all: the version every client is switched to.
    #[serde(default)]
    version: Option<String>,
    /// Only these clients (a retry of the failed ones).
    #[serde(default)]
    only: Option<Vec<i64>>,
}

/// The server's active clients (all, or those of `only`).
async fn targets(ctx: &OpContext, only: Option<&[i64]>) -> anyhow::Result<Vec<Target>> {
    let server = ctx.server()?;
    Ok(probes::targets(&ctx.engine().db)
        .await?
        .into_iter()
        .filter(|t| t.server_id == server.id)
        .filter(|t| only.is_none_or(|ids| ids.contains(&t.id)))
        .map(|t| Target {
            server_id: t.server_id,
            client_id: t.id,
            subdomain: t.subdomain,
        })
        .collect())
}

pub struct MigrateAll;

#[async_trait::async_trait]
impl Kind for MigrateAll {
    const NAME: &'static str = "migrate_all";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        ctx.step("clients").await?;
        let targets = targets(ctx, params.only.as_deref()).await?;
        fanout::run::<ClientMigrate>(ctx, targets, params.how, |_| json!({})).await
    }
}

pub struct SwitchAll;

#[async_trait::async_trait]
impl Kind for SwitchAll {
    const NAME: &'static str = "switch_all";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let version = params
            .version
            .clone()
            .ok_or_else(|| anyhow::anyhow!("operation {} names no version", ctx.op.id))?;
        ctx.step("clients").await?;
        let targets = targets(ctx, params.only.as_deref()).await?;
        fanout::run::<ClientSwitch>(ctx, targets, params.how, |_| json!({ "version": version }))
            .await
    }
}
