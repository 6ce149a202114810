//! `reconfigurate` (`/clients/reconfigurate`): on every active server, the checkout
//! `{base_dir}/git` brought to origin's master, then every active client's `.env` merged with
//! the repository's `.env.example`. A fan-out ([`crate::ops::fanout`]) with one
//! `server_reconfigurate` child per server, each holding its server's lock; all servers at once.
//!
//! The merge ([`envfile::example_merge`]): keys new in the example are added with the example's
//! value as written there; keys the client has keep their values; keys the example no longer
//! lists are reported as `stale` and kept — taken out with `remove_stale`, but never a key the
//! template writes (`templates/client/env`), `APP_KEY`, `DB_*` or `ALFA_*`. A container whose
//! `.env` changed is recreated (`docker compose up -d --force-recreate`) so the app reads the
//! new keys at once. A checkout that has local changes, is not on master or has diverged makes
//! that server's child fail before any `.env` is touched; the other servers go on.
//!
//! `dry_run`: `git fetch` only (the working tree and HEAD stay), `.env.example` read from
//! `origin/master`; the report says what would change; nothing is written or recreated.

use std::collections::HashSet;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ops::fanout::{self, FanOut, Target};
use crate::ops::lifecycle::{ClientSecrets, Place, app, envfile, files};
use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::clients::{self, ClientRow};
use crate::store::operations::LockScope;
use crate::store::servers::{self, ServerRow};

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    how: FanOut,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    remove_stale: bool,
}

/// What a server's child does.
#[derive(Debug, Default, Deserialize)]
struct ServerParams {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    remove_stale: bool,
}

pub struct Reconfigurate;

#[async_trait::async_trait]
impl Kind for Reconfigurate {
    const NAME: &'static str = "reconfigurate";
    /// A coordinator: each server's child holds that server's lock.
    const LOCK: LockScope = LockScope::None;
    const FAN_OUT: bool = true;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        ctx.step("servers").await?;
        let targets: Vec<Target> = servers::list(&ctx.engine().db, false)
            .await?
            .iter()
            .map(Target::server)
            .collect();
        if params.dry_run {
            ctx.info("dry run: git fetch only; no checkout, .env or container changes");
        }
        let child = json!({ "dry_run": params.dry_run, "remove_stale": params.remove_stale });
        let mut result =
            fanout::run::<ServerReconfigurate>(ctx, targets, params.how, |_| child.clone()).await?;
        result["dry_run"] = json!(params.dry_run);
        Ok(result)
    }
}

pub struct ServerReconfigurate;

#[async_trait::async_trait]
impl Kind for ServerReconfigurate {
    const NAME: &'static str = "server_reconfigurate";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: ServerParams = serde_json::from_str(&ctx.op.params).unwrap_or_default();
        let server = ctx.server()?.clone();
        let base_dir = server.base_dir.trim_end_matches('/').to_owned();
        let checkout = format!("{base_dir}/git");

        ctx.step("git").await?;
        let data = ctx
            .script(scripts::GIT_UPDATE)
            .arg(base_dir.clone())
            .arg(if params.dry_run { "fetch" } else { "pull" })
            .run()
            .await
            .with_context(|| {
                format!(
                    "server {}: {checkout} was not brought to origin/master, so no client's .env \
                     was changed",
                    server.name
                )
            })?;
        let git: Value = data
            .iter()
            .find_map(|line| line.strip_prefix("::git "))
            .and_then(|json| serde_json::from_str(json).ok())
            .with_context(|| format!("git_update.sh printed no ::git line on {}", server.name))?;
        let commit = git["commit"].as_str().unwrap_or("HEAD").to_owned();
        let example = example_at(ctx, &server, &checkout, &commit).await?;

        ctx.step("env").await?;
        let mut reports = Vec::new();
        let mut failed = Vec::new();
        for client in clients::active_on(&ctx.engine().db, server.id).await? {
            match merge_client(ctx, &server, &client, &example, &params).await {
                Ok(report) => reports.push(report),
                Err(err) => {
                    ctx.info(format!("{}: {err:#}", client.subdomain));
                    failed.push(format!(
                        "{} (client {}): {err:#}",
                        client.subdomain, client.id
                    ));
                }
            }
        }
        if !failed.is_empty() {
            anyhow::bail!(
                "on server {}, {} of {} client(s) failed: {}; the others are merged. Fix the cause, \
                 then POST /operations/{}/retry_failed",
                server.name,
                failed.len(),
                failed.len() + reports.len(),
                failed.join("; "),
                ctx.op.parent_id.unwrap_or(ctx.op.id)
            );
        }
        Ok(json!({
            "server_id": server.id,
            "dry_run": params.dry_run,
            "git": git,
            "clients": reports,
        }))
    }
}

/// The repository's `.env.example` at `commit`, read without logging it.
async fn example_at(
    ctx: &OpContext,
    server: &ServerRow,
    checkout: &str,
    commit: &str,
) -> anyhow::Result<String> {
    let spec = format!("{commit}:.env.example");
    let out = ctx
        .engine()
        .remote
        .exec(
            &crate::ops::target(server),
            &["git", "-C", checkout, "show", &spec],
            std::time::Duration::from_secs(60),
        )
        .await
        .map_err(|err| crate::ops::describe(server, err))?;
    if out.exit_code != 0 {
        anyhow::bail!(
            "the repository in {checkout} on server {} has no .env.example at {} ({}): add it \
             to master, then rerun",
            server.name,
            &commit[..commit.len().min(12)],
            out.stderr.trim()
        );
    }
    Ok(out.stdout)
}

/// Merges one client's `.env` with the example; writes it and recreates the container when it
/// changed (not in a dry run). Returns the client's report.
async fn merge_client(
    ctx: &mut OpContext,
    server: &ServerRow,
    client: &ClientRow,
    example: &str,
    params: &ServerParams,
) -> anyhow::Result<Value> {
    let place = Place::of(server, client);
    let secrets = ClientSecrets::open(&ctx.engine().cipher, client)?;
    for secret in [&secrets.app_key, &secrets.db_password, &secrets.cloud_token] {
        ctx.mask(secret);
    }
    let path = format!("{}/.env", place.client_dir);
    let current = files::read(ctx, server, &path).await?.with_context(|| {
        format!(
            "there is no {path}: deploy the server (GET /server/{}/deploy) first",
            server.id
        )
    })?;
    // The keys the template writes are ours, whatever the example says.
    let rendered = files::render(ctx, server, client, &secrets)?;
    let ours: HashSet<String> = rendered
        .iter()
        .filter(|f| f.name == ".env")
        .flat_map(|f| envfile::parse(&f.text))
        .map(|e| e.key)
        .collect();
    let protected = |key: &str| {
        ours.contains(key) || key == "APP_KEY" || key.starts_with("DB_") || key.starts_with("ALFA_")
    };
    let merge = envfile::example_merge(&current, example, protected, params.remove_stale);
    let changed = merge.text.is_some();
    ctx.info(format!(
        "{}: {}; stale (not in .env.example): {}{}",
        client.subdomain,
        if merge.added.is_empty() {
            "no key to add".to_owned()
        } else {
            format!("adds {}", merge.added.join(", "))
        },
        if merge.stale.is_empty() {
            "none".to_owned()
        } else {
            merge.stale.join(", ")
        },
        if merge.removed.is_empty() {
            String::new()
        } else {
            format!(" (removed: {})", merge.removed.join(", "))
        }
    ));
    let mut report = json!({
        "client_id": client.id,
        "subdomain": client.subdomain,
        "added": merge.added,
        "stale": merge.stale,
        "removed": merge.removed,
        "changed": changed,
        "recreated": false,
    });
    let Some(text) = merge.text.filter(|_| !params.dry_run) else {
        return Ok(report);
    };
    ctx.upload(&path, text.as_bytes(), 0o640).await?;
    app::recreate(ctx, server, client).await.with_context(|| {
        format!("{path} holds the merged keys, but its container was not recreated with them")
    })?;
    report["recreated"] = json!(true);
    Ok(report)
}
