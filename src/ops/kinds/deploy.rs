//! `deploy` (`/server/{id}/deploy`): re-renders every config of every active client of a server
//! from today's templates and rows, as a fan-out ([`crate::ops::fanout`]) holding the server
//! lock with one `client_deploy` child per client ([`super::client_deploy`]): each writes only
//! the files that differ, recreates its container only when its `.env`, compose file or PHP
//! settings changed, and stages a changed vhost. Then the parent installs every staged vhost
//! at once (`jobs/deploy_vhosts.sh`): one `nginx -t`, one reload — or every previous vhost put
//! back and the error naming the client whose vhost nginx refused.
//!
//! `dry_run`: the children only compare; nothing is written, staged, reloaded or restarted.
//! `retry_failed` runs it again for the clients that did not end ok. The result is the
//! fan-out's (`counts`, `children`, each child's report as its `result`) with `vhosts`: the
//! vhosts replaced and whether nginx was reloaded.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::fanout::{self, FanOut};
use crate::ops::kinds::client_deploy::ClientDeploy;
use crate::ops::{FailedWith, Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    how: FanOut,
    #[serde(default)]
    dry_run: bool,
}

pub struct Deploy;

#[async_trait::async_trait]
impl Kind for Deploy {
    const NAME: &'static str = "deploy";
    const LOCK: LockScope = LockScope::Server;
    const FAN_OUT: bool = true;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let server = ctx.server()?.clone();
        ctx.step("clients").await?;
        let targets = fanout::clients_of(&ctx.engine().db, server.id).await?;
        if params.dry_run {
            ctx.info("dry run: nothing is written, reloaded or restarted");
        }
        let dry_run = params.dry_run;
        let fanned = fanout::run::<ClientDeploy>(
            ctx,
            targets,
            params.how,
            |_| json!({ "dry_run": dry_run }),
        )
        .await;

        // The children's ends, from the fan-out's result (kept when it ended in error too).
        let children = match &fanned {
            Ok(result) => Some(result),
            Err(err) => err.downcast_ref::<FailedWith>().map(|f| &f.result),
        }
        .and_then(|result| result["children"].as_array().cloned())
        .unwrap_or_default();
        let staged: Vec<(i64, String)> = children
            .iter()
            .filter(|c| c["status"] == "ok" && c["result"]["vhost_staged"] == true)
            .filter_map(|c| {
                Some((
                    c["client_id"].as_i64()?,
                    c["result"]["subdomain"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let mut vhosts = json!({ "replaced": [], "reloaded": false });
        let mut vhost_error = None;
        if !dry_run && !staged.is_empty() {
            ctx.step("vhosts").await?;
            let base_dir = server.base_dir.trim_end_matches('/').to_owned();
            let installed = ctx
                .script(scripts::DEPLOY_VHOSTS)
                .arg(base_dir)
                .args(staged.iter().map(|(_, sub)| sub.clone()))
                .run()
                .await;
            match installed {
                Ok(_) => {
                    vhosts = json!({
                        "replaced": staged.iter().map(|(_, sub)| sub).collect::<Vec<_>>(),
                        "reloaded": true,
                    });
                }
                Err(err) => {
                    let text = format!("{err:#}");
                    // deploy_vhosts.sh names them: "refused the new vhost of a b (nginx says …"
                    let refused: Vec<&str> = text
                        .split_once("refused the new vhost of ")
                        .and_then(|(_, rest)| rest.split_once(" ("))
                        .map(|(subs, _)| subs.split(' ').collect())
                        .unwrap_or_default();
                    let named: Vec<String> = staged
                        .iter()
                        .filter(|(_, sub)| refused.contains(&sub.as_str()))
                        .map(|(id, sub)| format!("{sub} is client {id}"))
                        .collect();
                    vhost_error = Some(format!(
                        "the new vhosts were not installed, the previous ones serve on: {text}{}",
                        if named.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", named.join(", "))
                        }
                    ));
                }
            }
        }
        match (fanned, vhost_error) {
            (Ok(mut result), None) => {
                result["dry_run"] = json!(dry_run);
                result["vhosts"] = vhosts;
                Ok(result)
            }
            (Ok(_), Some(vhost_error)) => anyhow::bail!("{vhost_error}"),
            (Err(err), None) => Err(err),
            (Err(err), Some(vhost_error)) => Err(match err.downcast::<FailedWith>() {
                Ok(failed) => FailedWith {
                    message: format!("{}; and {vhost_error}", failed.message),
                    ..failed
                }
                .into(),
                Err(err) => anyhow::anyhow!("{err:#}; and {vhost_error}"),
            }),
        }
    }
}
