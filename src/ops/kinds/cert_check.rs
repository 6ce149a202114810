//! `cert_check`: the daily certificate check of one server (started by the scheduler, or by
//! hand). Every active client's certificate that expires within `days` (default
//! `ALFA_CERT_RENEW_DAYS`, 14) is renewed by certbot on the server, nginx reloaded by certbot's
//! deploy hook (`jobs/cert_check.sh`). Ends `error` naming every certificate that is missing
//! or could not be renewed, so the operation's end reaches Mol by webhook, and mails the
//! operator (`ALFA_ADMIN_EMAIL`, when set); the result lists each certificate with its days
//! left and what was done.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;
use crate::store::probes;

pub struct CertCheck;

#[derive(Debug, Deserialize)]
struct Params {
    days: Option<u32>,
}

/// One `::cert_check` line.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Checked {
    name: String,
    days_left: Option<i64>,
    expires: String,
    action: String,
    error: String,
}

#[async_trait::async_trait]
impl Kind for CertCheck {
    const NAME: &'static str = "cert_check";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let days = params.days.unwrap_or(ctx.engine().settings.cert_renew_days);
        let server = ctx.server()?.clone();
        let names: Vec<String> = probes::targets(&ctx.engine().db)
            .await?
            .into_iter()
            .filter(|t| t.server_id == server.id)
            .map(|t| t.fqdn)
            .collect();
        ctx.info(format!(
            "checking {} certificate(s) on server {}: renewing those that expire within {days} days",
            names.len(),
            server.name
        ));
        let data = ctx
            .script(scripts::CERT_CHECK)
            .arg(server.base_dir.clone())
            .arg(days.to_string())
            .args(names.iter().cloned())
            .run()
            .await?;
        let checked: Vec<Checked> = data
            .iter()
            .filter_map(|line| line.strip_prefix("::cert_check "))
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        let failed: Vec<String> = checked
            .iter()
            .filter(|c| c.action == "failed" || c.action == "missing")
            .map(|c| format!("{} ({})", c.name, c.error))
            .collect();
        let renewed = checked.iter().filter(|c| c.action == "renewed").count();
        if !failed.is_empty() {
            let error = format!(
                "{} of {} certificate(s) on server {} are missing or were not renewed: {}",
                failed.len(),
                checked.len(),
                server.name,
                failed.join("; ")
            );
            // The operation's end reaches Mol by webhook; the operator hears by mail too.
            let subject = format!(
                "Alfa Cloud: certificates on server {} need you",
                server.name
            );
            let body = format!(
                "{error}\n\nOperation {} (GET /operations/{}/log has certbot's output).\n",
                ctx.op.id, ctx.op.id
            );
            match crate::mail::send_admin(ctx.engine(), &subject, &body).await {
                Ok(true) => ctx.info("the operator was mailed (ALFA_ADMIN_EMAIL)"),
                Ok(false) => {}
                Err(err) => ctx.info(format!("the operator could not be mailed: {err:#}")),
            }
            anyhow::bail!(error);
        }
        ctx.info(format!(
            "{} certificate(s) checked on server {}, {renewed} renewed",
            checked.len(),
            server.name
        ));
        Ok(json!({ "server_id": server.id, "days": days, "certificates": checked }))
    }
}
