//! `client_switch`: moves a lab to another image version of `{image_repo}`, safely. The steps:
//! `image` (the image is on the server; nothing has changed yet when it is not), `dump` (the
//! lab's database, compressed, under `{base_dir}/backups/c{id}/`), `switch` (the compose file
//! names the new image, `docker compose up -d`, `/up` answers, and docker says the project
//! runs that image), `migrate` (`artisan migrate --force`), `version` (the lab's
//! `cloud_settings`), `probe` (`/up` through nginx with certbot's certificate).
//!
//! When a step after the switch began fails — or the operation is cancelled then — the lab is
//! put back: the compose file names the previous image again, the project is up on it, the
//! dump is restored when `migrate` had started (it may have changed the database), and the
//! probe runs again. The operation then ends `error` saying "rolled back to X" with the
//! dump's path. The client's `version_tag` changes only when the switch succeeded.
//!
//! Switching to the version the lab is recorded with is allowed: it puts the server back in
//! line with the record (after a rollback that failed, say) and checks the lab answers.

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::VersionTag;
use crate::ops::lifecycle::backup::{self, Dump};
use crate::ops::lifecycle::{ClientSecrets, app, files, labdata, rows, web};
use crate::ops::{Engine, Kind, OpContext};
use crate::remote::scripts;
use crate::store::clients::{self, ClientRow};
use crate::store::operations::{LockScope, OperationRow, Outcome};
use crate::store::servers::ServerRow;
use crate::store::{oplog, steps};

pub struct ClientSwitch;

/// What a switch is asked to do (the operation's params).
#[derive(Debug, Serialize, Deserialize)]
pub struct SwitchParams {
    /// The version to run: the image `{image_repo}:{version}`.
    pub version: String,
}

/// How far the switch got: what its rollback has to undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    /// Nothing on the server changed yet (image check, dump).
    Nothing,
    /// The compose file may name the new image, the project may run it.
    Switched,
    /// `artisan migrate` started: the database may have changed.
    Migrating,
}

/// One switch under way.
struct Switch {
    server: ServerRow,
    client: ClientRow,
    secrets: ClientSecrets,
    from: String,
    to: String,
    dump: Option<Dump>,
    reached: Reached,
    /// The step running (or failed).
    step: &'static str,
}

fn params(op: &OperationRow) -> anyhow::Result<(SwitchParams, VersionTag)> {
    let params: SwitchParams = serde_json::from_str(&op.params)
        .with_context(|| format!("operation {} has no switch parameters", op.id))?;
    let version = VersionTag::parse(&params.version)
        .map_err(|e| anyhow::anyhow!("version {:?} {e}", params.version))?;
    Ok((params, version))
}

#[async_trait::async_trait]
impl Kind for ClientSwitch {
    const NAME: &'static str = "client_switch";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (server, client) = rows(ctx)?;
        let (_, version) = params(&ctx.op)?;
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        let (reached, dump) = earlier_attempts(ctx).await?;
        let mut switch = Switch {
            from: client.version_tag.clone(),
            to: version.as_str().to_owned(),
            server,
            client,
            secrets,
            dump,
            reached,
            step: "image",
        };
        let err = match forward(ctx, &mut switch).await {
            Ok(result) => return Ok(result),
            Err(err) => err.context(format!(
                "the switch to {} failed at step {}",
                switch.to, switch.step
            )),
        };
        if let Err(mark) = ctx.step_failed().await {
            tracing::warn!(op.id = ctx.op.id, error = %mark, "could not mark the failed step");
        }
        if switch.reached == Reached::Nothing {
            return Err(anyhow::anyhow!(
                "{err:#}; nothing was changed: {} still runs {}",
                switch.client.fqdn,
                switch.from
            ));
        }
        if !ctx.begin_undo() {
            // The claim was lost, not cancelled: the next attempt goes on from the start and
            // rolls back itself if it has to; two workers must not both change the lab.
            return Err(err);
        }
        let dump = switch
            .dump
            .as_ref()
            .map_or_else(|| "none".to_owned(), |d| d.path.clone());
        match rollback(ctx, &switch).await {
            Ok(restored) => Err(anyhow::anyhow!(
                "{err:#}; rolled back to {}{restored}; the database dump is {dump}",
                switch.from
            )),
            Err(failed) => Err(anyhow::anyhow!(
                "{err:#}; then the rollback to {} failed too: {failed:#}. {}",
                switch.from,
                stranded(&switch, &dump)
            )),
        }
    }

    /// The client's `version_tag` follows a switch that succeeded, and only that.
    async fn on_finish(
        &self,
        engine: &Engine,
        op: &OperationRow,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let (Outcome::Ok, Some(client_id)) = (outcome, op.client_id) else {
            return Ok(());
        };
        let (_, version) = params(op)?;
        let from = clients::get(&engine.db, client_id)
            .await?
            .map(|c| c.version_tag)
            .unwrap_or_default();
        clients::set_version_tag(&engine.db, client_id, &version, &from, &op.requested_by).await?;
        Ok(())
    }
}

async fn forward(ctx: &OpContext, switch: &mut Switch) -> anyhow::Result<Value> {
    let Switch {
        server, client, to, ..
    } = &*switch;
    let (server, client, to) = (server.clone(), client.clone(), to.clone());
    switch.step = "image";
    ctx.step("image").await?;
    image_present(ctx, &server, &to).await?;
    if to == switch.from {
        ctx.info(format!(
            "{} is recorded as running {to} already: it is switched to it again and checked",
            client.fqdn
        ));
    } else {
        ctx.info(format!(
            "switching {} from {} to {to}",
            client.fqdn, switch.from
        ));
    }

    switch.step = "dump";
    ctx.step("dump").await?;
    if switch.dump.is_none() {
        switch.dump = Some(backup::dump(ctx, &server, &client, &switch.secrets).await?);
    }

    switch.step = "switch";
    ctx.step("switch").await?;
    switch.reached = switch.reached.max(Reached::Switched);
    let image = files::write_compose(ctx, &server, &client, &to).await?;
    let running = web::start_app(ctx, &server, &client).await?;
    check_running(&image, running.as_deref())?;
    ctx.info(format!(
        "the app service of alfa_{} runs {image}",
        client.subdomain
    ));

    switch.step = "migrate";
    ctx.step("migrate").await?;
    switch.reached = Reached::Migrating;
    app::migrate(ctx, &server, &client).await?;

    switch.step = "version";
    ctx.step("version").await?;
    labdata::set_settings(
        ctx,
        &server,
        &client,
        &switch.secrets.db_password,
        &[("version", to.clone())],
    )
    .await?;

    switch.step = "probe";
    ctx.step("probe").await?;
    web::probe(ctx, &server, &client, None).await?;
    let url = files::app_url(&server, &client);
    ctx.info(format!("{url} answers through nginx on {image}"));
    Ok(json!({
        "client_id": client.id,
        "from": switch.from,
        "to": to,
        "image": image,
        "dump": switch.dump,
        "url": url,
    }))
}

/// The image `{image_repo}:{version}` is on the server; otherwise an error listing the tags
/// there (before anything changes).
async fn image_present(ctx: &OpContext, server: &ServerRow, version: &str) -> anyhow::Result<()> {
    let repo = ctx.engine().settings.image_repo.clone();
    let data = ctx.script(scripts::IMAGES).arg(repo.clone()).run().await?;
    let tags: Vec<String> = data
        .iter()
        .filter_map(|line| line.strip_prefix("::image "))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter_map(|image| image["tag"].as_str().map(str::to_owned))
        .collect();
    if tags.iter().any(|tag| tag == version) {
        ctx.info(format!(
            "image {repo}:{version} is on server {}",
            server.name
        ));
        return Ok(());
    }
    let there = if tags.is_empty() {
        "none".to_owned()
    } else {
        tags.join(", ")
    };
    anyhow::bail!(
        "image {repo}:{version} is not on server {}: build it there first, or choose one of the \
         versions it has: {there}",
        server.name
    )
}

/// What earlier attempts of this operation (lost workers) did to the lab, and the dump to
/// restore when one of them began migrating: the dump it made before (found in the
/// operation's log), not a new one, which could hold that attempt's migrations.
async fn earlier_attempts(ctx: &OpContext) -> anyhow::Result<(Reached, Option<Dump>)> {
    if ctx.attempt <= 1 {
        return Ok((Reached::Nothing, None));
    }
    let db = &ctx.engine().db;
    let reached = steps::list(db, ctx.op.id)
        .await?
        .iter()
        .filter(|s| s.attempt < ctx.attempt)
        .map(|s| match s.name.as_str() {
            "switch" => Reached::Switched,
            "migrate" | "version" | "probe" => Reached::Migrating,
            _ => Reached::Nothing,
        })
        .max()
        .unwrap_or(Reached::Nothing);
    if reached < Reached::Migrating {
        return Ok((reached, None));
    }
    let dump = oplog::after(db, ctx.op.id, 0, i64::MAX)
        .await?
        .into_iter()
        .rev()
        .find_map(|l| {
            l.line
                .strip_prefix("::dump ")
                .and_then(|j| serde_json::from_str::<Dump>(j).ok())
        });
    match &dump {
        Some(dump) => ctx.info(format!(
            "an earlier attempt began migrating: its dump {} (made before) is the one a rollback restores",
            dump.path
        )),
        None => ctx.info(
            "an earlier attempt began migrating but its dump is not in the log: a new dump is \
             made, and it may hold that attempt's migrations",
        ),
    }
    Ok((reached, dump))
}

/// The project runs `image` now, as docker reports it.
fn check_running(image: &str, running: Option<&str>) -> anyhow::Result<()> {
    match running {
        Some(running) if running == image => Ok(()),
        Some(running) => anyhow::bail!(
            "after docker compose up the app service runs {running}, not {image}: the compose \
             file was not applied"
        ),
        None => anyhow::bail!("after docker compose up no app service runs (docker compose ps)"),
    }
}

/// Puts the lab back on its previous version. Returns what it says about the database.
async fn rollback(ctx: &OpContext, switch: &Switch) -> anyhow::Result<&'static str> {
    let Switch {
        server,
        client,
        from,
        ..
    } = switch;
    ctx.step("rollback").await?;
    ctx.info(format!("rolling {} back to {from}", client.fqdn));
    let image = files::write_compose(ctx, server, client, from).await?;
    let running = web::start_app(ctx, server, client).await?;
    check_running(&image, running.as_deref())?;
    let restored = if switch.reached >= Reached::Migrating {
        let dump = switch
            .dump
            .as_ref()
            .context("no dump to restore the database from")?;
        ctx.info(format!(
            "migrate had started: restoring the database from {}",
            dump.path
        ));
        backup::restore(ctx, server, client, &switch.secrets, &dump.path).await?;
        " (the database restored from the dump)"
    } else {
        " (the database was not touched)"
    };
    web::probe(ctx, server, client, None).await?;
    ctx.info(format!("{} answers again on {image}", client.fqdn));
    Ok(restored)
}

/// What state a lab is left in when its rollback failed too, and what to do.
fn stranded(switch: &Switch, dump: &str) -> String {
    let id = switch.client.id;
    let database = if switch.reached >= Reached::Migrating {
        format!(
            "its database may hold {}'s migrations or be partly restored; the dump made before \
             the switch is {dump} on server {}",
            switch.to, switch.server.name
        )
    } else {
        format!(
            "its database was not touched (dump {dump} on server {})",
            switch.server.name
        )
    };
    format!(
        "The lab may run {} or {} or be down; {database}. Fix the cause named above, then \
         GET /clients/{id}/switch/{} puts it on {} again and checks it answers{}",
        switch.to,
        switch.from,
        switch.from,
        switch.from,
        if switch.reached >= Reached::Migrating {
            "; restore the dump (jobs/db_restore.sh) if the database must be as before"
        } else {
            ""
        }
    )
}
