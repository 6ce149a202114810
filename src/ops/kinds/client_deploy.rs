//! `client_deploy`: one client's part of a server's `deploy` (its parent, see
//! [`super::deploy`]). Renders every file of the client from today's templates and rows — the
//! `.env` as the template's keys laid over the keys the file holds (those reconfigurate added
//! stay), with the client's sealed `APP_KEY`, database password and token — and compares each
//! with what the server holds: only files that differ are written, and the container is
//! recreated only when its `.env`, compose file or `php/add_vars.ini` changed. A changed vhost is
//! only staged (`{base_dir}/nginx/{subdomain}.conf.new`): the parent installs every staged
//! vhost with one `nginx -t` and one reload. With `dry_run` nothing is written and nothing is
//! restarted: the result says what would change.
//!
//! The result names each changed file with a summary: for `.env` the keys added, removed and
//! changed, values of secret-looking keys shown as `***`; for the others a short line diff.

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::lifecycle::{ClientSecrets, Place, app, envfile, files, rows, web};
use crate::ops::{Kind, OpContext};
use crate::remote::{Redactor, scripts};
use crate::store::operations::LockScope;

/// The files whose change the running container must be recreated for.
const NEEDS_RECREATE: &[&str] = &[".env", "docker-compose.yml", "php/add_vars.ini"];

#[derive(Debug, Default, Deserialize)]
struct Params {
    #[serde(default)]
    dry_run: bool,
}

/// One file to bring in line.
struct Planned {
    /// Its name in the report (`.env`, `vhost`, …).
    name: &'static str,
    path: String,
    text: String,
    mode: u32,
    /// The summary of the change (`None`: unchanged).
    change: Option<Value>,
}

pub struct ClientDeploy;

#[async_trait::async_trait]
impl Kind for ClientDeploy {
    const NAME: &'static str = "client_deploy";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params).unwrap_or_default();
        let (server, client) = rows(ctx)?;
        let place = Place::of(&server, &client);
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        for secret in [&secrets.app_key, &secrets.db_password, &secrets.cloud_token] {
            ctx.mask(secret);
        }
        let redactor = Redactor::new(
            [&secrets.app_key, &secrets.db_password, &secrets.cloud_token]
                .iter()
                .map(|s| s.expose_secret().to_owned())
                .collect(),
        );

        ctx.step("compare").await?;
        let mut planned = Vec::new();
        for file in files::render(ctx, &server, &client, &secrets)? {
            let path = format!("{}/{}", place.client_dir, file.name);
            let current = files::read(ctx, &server, &path).await?;
            let (text, change) = if file.name == ".env" {
                let text = envfile::deploy_merge(&file.text, current.as_deref());
                // Changed only when its keys or values differ (comments and order aside).
                let keys = envfile::key_diff(current.as_deref().unwrap_or_default(), &text);
                let change = (current.is_none() || !keys.is_empty())
                    .then(|| json!({ "file": ".env", "created": current.is_none(), "keys": keys }));
                (text, change)
            } else {
                let change = (current.as_deref() != Some(file.text.as_str())).then(|| {
                    json!({
                        "file": file.name,
                        "created": current.is_none(),
                        "diff": envfile::line_diff(current.as_deref().unwrap_or_default(), &file.text)
                            .iter()
                            .map(|line| redactor.redact(line).into_owned())
                            .collect::<Vec<_>>(),
                    })
                });
                (file.text, change)
            };
            planned.push(Planned {
                name: file.name,
                path,
                text,
                mode: file.mode,
                change,
            });
        }
        let vhost_path = format!("{}/nginx/{}.conf", place.base_dir, place.subdomain);
        let vhost = web::render_vhost(ctx, &server, &client, true)?;
        let current = files::read(ctx, &server, &vhost_path).await?;
        let vhost_change = (current.as_deref() != Some(vhost.as_str())).then(|| {
            json!({
                "file": "vhost",
                "created": current.is_none(),
                "diff": envfile::line_diff(current.as_deref().unwrap_or_default(), &vhost),
            })
        });

        let changed: Vec<Value> = planned
            .iter()
            .filter_map(|p| p.change.clone())
            .chain(vhost_change.clone())
            .collect();
        let unchanged: Vec<&str> = planned
            .iter()
            .filter(|p| p.change.is_none())
            .map(|p| p.name)
            .chain(vhost_change.is_none().then_some("vhost"))
            .collect();
        let recreate = planned
            .iter()
            .any(|p| p.change.is_some() && NEEDS_RECREATE.contains(&p.name));
        ctx.info(if changed.is_empty() {
            format!("{}: every file is as rendered", client.subdomain)
        } else {
            format!(
                "{}: {} {} ({} unchanged)",
                client.subdomain,
                if params.dry_run {
                    "would change"
                } else {
                    "changes"
                },
                changed
                    .iter()
                    .filter_map(|c| c["file"].as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                unchanged.join(", ")
            )
        });
        let mut result = json!({
            "client_id": client.id,
            "subdomain": client.subdomain,
            "dry_run": params.dry_run,
            "changed": changed,
            "unchanged": unchanged,
            "recreated": false,
            "vhost_staged": false,
        });
        if params.dry_run {
            result["would_recreate"] = json!(recreate);
            return Ok(result);
        }

        let mut written = Vec::new();
        if planned
            .iter()
            .any(|p| p.change.is_some() && p.name.contains('/'))
        {
            // Their folders exist since creation, but a hand-removed one is made again.
            ctx.script(scripts::CLIENT_DIRS)
                .args([place.base_dir.clone(), place.subdomain.clone()])
                .run()
                .await?;
        }
        for file in planned.iter().filter(|p| p.change.is_some()) {
            ctx.upload(&file.path, file.text.as_bytes(), file.mode)
                .await
                .with_context(|| format!("writing {} of {}", file.name, client.subdomain))?;
            written.push(file.name);
        }
        if !written.is_empty() {
            ctx.info(format!(
                "wrote {} in {}",
                written.join(", "),
                place.client_dir
            ));
        }
        if vhost_change.is_some() {
            ctx.upload(&format!("{vhost_path}.new"), vhost.as_bytes(), 0o644)
                .await?;
            ctx.info(format!(
                "staged {vhost_path}.new: the deploy installs it with the server's other vhosts"
            ));
            result["vhost_staged"] = json!(true);
        }
        if recreate {
            ctx.step("container").await?;
            app::recreate(ctx, &server, &client)
                .await
                .with_context(|| {
                    format!(
                        "{} holds the new files, but its container may still run with the \
                         previous ones: deploy again, or POST /operations/{}/retry_failed",
                        client.subdomain,
                        ctx.op.parent_id.unwrap_or(ctx.op.id)
                    )
                })?;
            result["recreated"] = json!(true);
        }
        Ok(result)
    }
}
