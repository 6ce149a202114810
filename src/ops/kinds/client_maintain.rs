//! `client_maintain`: the lab's maintenance switch, on or off (`{"on": true}`), in both places
//! it lives: the `maintenance` setting in the lab's `cloud_settings` (`1`/`0`, for the app),
//! written as the client's own user and read back; and `{client_dir}/maintenance.on`, with
//! which the vhost answers the lab's users 503 with the maintenance page (no reload needed).
//! Done when nginx, asked from the server, serves the page (on) or does not (off).

use serde_json::{Value, json};

use crate::ops::lifecycle::{ClientSecrets, Place, labdata, rows};
use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;

pub struct ClientMaintain;

#[async_trait::async_trait]
impl Kind for ClientMaintain {
    const NAME: &'static str = "client_maintain";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let on = ctx
            .op
            .params
            .parse::<Value>()
            .ok()
            .and_then(|p| p["on"].as_bool())
            .unwrap_or(false);
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        ctx.step("setting").await?;
        ctx.info(format!(
            "maintenance of {} {}: setting maintenance = {}",
            client.subdomain,
            if on { "on" } else { "off" },
            u8::from(on)
        ));
        labdata::set_settings(
            ctx,
            &server,
            &client,
            &secrets.db_password,
            &[("maintenance", if on { "1" } else { "0" }.to_owned())],
        )
        .await?;
        // The switch and its check through nginx: the script's own steps.
        let place = Place::of(&server, &client);
        let address = match server.listen_address.as_str() {
            "" => "127.0.0.1".to_owned(),
            address => address.to_owned(),
        };
        ctx.script(scripts::CLIENT_MAINTENANCE)
            .args([
                place.base_dir,
                place.subdomain,
                if on { "on" } else { "off" }.to_owned(),
                client.fqdn.clone(),
                server.https_port.to_string(),
                address,
            ])
            .run()
            .await?;
        Ok(json!({ "client_id": client.id, "maintenance": on }))
    }
}
