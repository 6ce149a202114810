//! `client_admin_password`: the lab administrator's password, kept sealed in our row by
//! `POST /clients/{id}/admin_password` (or `PUT /clients/{id}` with `password`) before this
//! runs, written into the lab's `users` table as a `$2y$` bcrypt hash by the client's own SQL
//! user. Done when the hash read back verifies the password. The password is masked in the
//! log (the context masks the kept one) and never a parameter.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::ops::lifecycle::{ClientSecrets, labdata, rows};
use crate::ops::{Kind, OpContext};
use crate::store::operations::LockScope;

pub struct ClientAdminPassword;

#[async_trait::async_trait]
impl Kind for ClientAdminPassword {
    const NAME: &'static str = "client_admin_password";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        ctx.step("admin password").await?;
        labdata::set_admin_password(ctx, &server, &client, &secrets)
            .await
            .with_context(|| still_old(ctx.op.id))?;
        Ok(json!({ "client_id": client.id, "admin": client.email }))
    }
}

/// What a failure leaves: the new password is kept (API `password_set`), the lab's is not.
pub fn still_old(op_id: i64) -> String {
    format!(
        "the lab still has its previous admin password (the new one is kept, and the welcome \
         mail would send it): retry this operation (POST /operations/{op_id}/retry)"
    )
}
