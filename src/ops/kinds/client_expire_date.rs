//! `client_expire_date`: the licence end `POST /clients/{id}/expire_date` stored in our row,
//! written into the lab's `cloud_settings` (`license_expires_at`, RFC 3339 as at creation) by
//! the client's own SQL user and read back. `sender`, who changed the date, is in the log.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::ops::lifecycle::{ClientSecrets, labdata, rows};
use crate::ops::{Kind, OpContext};
use crate::store::operations::LockScope;

pub struct ClientExpireDate;

#[async_trait::async_trait]
impl Kind for ClientExpireDate {
    const NAME: &'static str = "client_expire_date";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let sender = ctx
            .op
            .params
            .parse::<Value>()
            .ok()
            .and_then(|p| p["sender"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        // The row's value, which a later change may have replaced since the request.
        let at = labdata::license_expires_at(&client);
        ctx.step("lab data").await?;
        ctx.info(format!(
            "licence end of {} set to {} by {sender}",
            client.subdomain,
            if at.is_empty() { "none" } else { &at }
        ));
        labdata::set_settings(
            ctx,
            &server,
            &client,
            &secrets.db_password,
            &[("license_expires_at", at.clone())],
        )
        .await
        .with_context(|| {
            format!(
                "the lab's database still holds the previous licence end: retry this operation \
                 (POST /operations/{}/retry)",
                ctx.op.id
            )
        })?;
        Ok(json!({ "client_id": client.id, "license_expires_at": at, "sender": sender }))
    }
}
