//! `client_migrate`: `php artisan migrate --force` in a client's running app, its output
//! streamed into the operation's log.

use serde_json::{Value, json};

use crate::ops::lifecycle::{app, rows};
use crate::ops::{Kind, OpContext};
use crate::store::operations::LockScope;

pub struct ClientMigrate;

#[async_trait::async_trait]
impl Kind for ClientMigrate {
    const NAME: &'static str = "client_migrate";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        ctx.step("migrate").await?;
        app::migrate(ctx, &server, &client).await?;
        Ok(json!({ "client_id": client.id }))
    }
}
