//! `client_demo`: the lab's demo data on (`enable`: the demo seeder, `ALFA_DEMO_SEEDER`) or off
//! (the inverse seeder, `ALFA_DEMO_INVERSE_SEEDER`), run as `php artisan db:seed --class=…
//! --force` in the client's running app, its output streamed into the log. What a seeder
//! writes is the vendor's, so the check is artisan's own: its exit status and output.

use serde_json::{Value, json};

use crate::ops::lifecycle::{app, rows};
use crate::ops::{Kind, OpContext};
use crate::store::operations::LockScope;

pub struct ClientDemo;

/// Whether the operation's parameters ask for the demo data (`{"enable": true}`).
pub fn enable(ctx: &OpContext) -> bool {
    ctx.op
        .params
        .parse::<Value>()
        .ok()
        .and_then(|p| p["enable"].as_bool())
        .unwrap_or(false)
}

#[async_trait::async_trait]
impl Kind for ClientDemo {
    const NAME: &'static str = "client_demo";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let enable = enable(ctx);
        let settings = &ctx.engine().settings;
        let seeder = if enable {
            settings.demo_seeder.clone()
        } else {
            settings.demo_inverse_seeder.clone()
        };
        ctx.step("seed").await?;
        ctx.info(format!(
            "{} the demo data of {}: seeder {seeder}",
            if enable { "adding" } else { "removing" },
            client.subdomain
        ));
        app::seed(ctx, &server, &client, &seeder).await?;
        Ok(json!({ "client_id": client.id, "demo": enable, "seeder": seeder }))
    }
}
