//! `deploy` (`/server/{id}/deploy`): re-renders every config of every active client of a server
//! from today's templates and rows, as a fan-out ([`crate::ops::fanout`]) holding the server
//! lock with one `client_deploy` child per client ([`super::client_deploy`]): each writes only
//! the files that differ, recreates its container only when its `.env`, compose file or PHP
//! settings changed, and stages a changed vhost. Then the parent installs every staged vhost
//! at once (`jobs/deploy_vhosts.sh`): one `nginx -t`, one reload — or every previous vhost put
//! back and the error naming the client whose vhost nginx refused.
//!
//! `dry_run`: the children only compare; nothing is written, staged, reloaded or restarted.
//! `only` (client ids) limits it to those clients: what `retry_failed` sets. The result is the
//! fan-out's (`counts`, `children`) with each client's report under `clients`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::fanout::{self, FanOut, Target};
use crate::ops::kinds::client_deploy::ClientDeploy;
use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::{self, LockScope, OperationQuery};
use crate::store::probes;

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    how: FanOut,
    #[serde(default)]
    dry_run: bool,
    /// Only these clients (a retry of the failed ones).
    #[serde(default)]
    only: Option<Vec<i64>>,
}

/// The reports of the children of `parent` that ended ok, by client (the latest child of each).
pub async fn child_reports(ctx: &OpContext, parent: i64) -> anyhow::Result<BTreeMap<i64, Value>> {
    let children = operations::list(
        &ctx.engine().db,
        &OperationQuery {
            parent_id: Some(parent),
            page: 1,
            per_page: 100_000,
            ..OperationQuery::default()
        },
    )
    .await?;
    let mut reports = BTreeMap::new();
    // Oldest first, so a later attempt's child wins.
    for child in children.items.iter().rev() {
        let key = child.client_id.or(child.server_id).unwrap_or(child.id);
        let report = match (&child.status[..], child.result.as_deref()) {
            ("ok", Some(result)) => serde_json::from_str(result).unwrap_or(Value::Null),
            (status, _) => json!({
                "operation_id": child.id,
                "status": status,
                "error": child.error,
            }),
        };
        reports.insert(key, report);
    }
    Ok(reports)
}

pub struct Deploy;

#[async_trait::async_trait]
impl Kind for Deploy {
    const NAME: &'static str = "deploy";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let server = ctx.server()?.clone();
        ctx.step("clients").await?;
        let only = params.only.as_deref();
        let targets: Vec<Target> = probes::targets(&ctx.engine().db)
            .await?
            .into_iter()
            .filter(|t| t.server_id == server.id)
            .filter(|t| only.is_none_or(|ids| ids.contains(&t.id)))
            .map(|t| Target {
                server_id: t.server_id,
                client_id: t.id,
                subdomain: t.subdomain,
            })
            .collect();
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

        let reports = child_reports(ctx, ctx.op.id).await?;
        let staged: Vec<(i64, String)> = reports
            .iter()
            .filter(|(_, r)| r["vhost_staged"] == true)
            .filter_map(|(id, r)| Some((*id, r["subdomain"].as_str()?.to_owned())))
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
        let clients: Vec<Value> = reports.into_values().collect();
        match (fanned, vhost_error) {
            (Ok(mut result), None) => {
                result["dry_run"] = json!(dry_run);
                result["clients"] = json!(clients);
                result["vhosts"] = vhosts;
                Ok(result)
            }
            (Ok(_), Some(vhost_error)) => anyhow::bail!("{vhost_error}"),
            (Err(err), None) => Err(err),
            (Err(err), Some(vhost_error)) => anyhow::bail!("{err:#}; and {vhost_error}"),
        }
    }
}
