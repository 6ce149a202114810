//! `client_move`: moves a client to another server (`GET /clients/{id}/move_to/{server_id}`).
//! The operation is the client's (its lock), on its current server, the source.
//!
//! Steps: preflight on the target (name free, image present); database (does the target reach
//! the very database the source does? then it stays where it is; else the client's database and
//! user are made on the target's SQL); maintenance on the source; dump (kept on the source);
//! restore (separate SQL only: the dump carried to the target and loaded as the client's own
//! user); files (the client's folder but what the target renders itself, through the worker,
//! compared by digest, then `.env`, compose file, `add_vars.ini` and the maintenance page
//! rendered for the target); vhost; container; certificate; probe through the target's nginx;
//! switch (server, port and — when the target's domain differs — name, in one transaction);
//! then the source: its container, vhost, certificate and folder removed, and (separate SQL
//! only) its database dropped after a last dump kept on the source.
//!
//! A failure before the switch undoes the target's half (and the database made there), takes
//! the source out of maintenance and probes it: the lab serves as before, on its server. A lost
//! worker's next attempt first removes what the earlier one left on the target.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::domain::ClientState;
use crate::ops::lifecycle::transfer::{self, fqdn_on, move_refusal as refusal};
use crate::ops::lifecycle::{ClientSecrets, Place, backup, database, files, rows, web};
use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::clients::{ClientRow, WriteError};
use crate::store::operations::LockScope;
use crate::store::servers::{self, ServerRow};
use crate::store::transfer::{self as moves, NewHome};

pub struct ClientMove;

/// How far a move got: what its undo has to put back.
#[derive(Clone, Copy, Default)]
struct Reached {
    /// The target's preflight passed: what is there under the client's name is its own.
    target: bool,
    /// A database was made on the target's (separate) SQL.
    target_db: bool,
    maintenance: bool,
    /// The client's row names the target: the lab lives there, nothing is undone any more.
    switched: bool,
}

#[async_trait::async_trait]
impl Kind for ClientMove {
    const NAME: &'static str = "client_move";
    const LOCK: LockScope = LockScope::Client;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let (source, client) = rows(ctx)?;
        let params: Value = ctx.op.params.parse().unwrap_or_default();
        let target_id = params["server_id"]
            .as_i64()
            .context("the operation has no server_id to move to")?;
        let db = ctx.engine().db.clone();
        let target = servers::get(&db, target_id)
            .await?
            .with_context(|| format!("server {target_id} no longer exists"))?;
        if client.server_id == target.id {
            return finish_after_switch(ctx, &source, &target, &client).await;
        }
        anyhow::ensure!(
            client.state == ClientState::Active.as_str(),
            "client {} is {}, not active: it cannot move",
            client.id,
            client.state
        );
        if let Some(why) = refusal(&source, &client, &target) {
            anyhow::bail!(why);
        }
        if let Some(sealed) = target.sql_password_enc.as_deref() {
            let secret = ctx
                .engine()
                .cipher
                .open(crate::crypto::purpose::SERVER_SQL_PASSWORD, sealed)?;
            ctx.mask(&secret);
        }
        let fqdn = fqdn_on(&client, &target);
        if let Some(holder) = moves::fqdn_holder(&db, &fqdn, client.id).await? {
            anyhow::bail!("{fqdn} is the name of client {holder}: the move cannot take it");
        }
        let port = moves::free_port(&db, target.id).await?.with_context(|| {
            format!(
                "every port of server {}'s client_ports ({}) is taken: widen the range",
                target.name,
                target.client_ports()
            )
        })?;
        let moved = ClientRow {
            server_id: target.id,
            client_port: Some(port),
            fqdn,
            ..client.clone()
        };
        let secrets = ClientSecrets::open(&ctx.engine().cipher, &client)?;
        let trip = Trip {
            source: &source,
            target: &target,
            client: &client,
            moved: &moved,
            secrets: &secrets,
        };
        let mut reached = Reached::default();
        let mut shared = None;
        match trip.go(ctx, &mut reached, &mut shared).await {
            Ok(result) => Ok(result),
            Err(err) => {
                if let Err(mark) = ctx.step_failed().await {
                    tracing::warn!(op.id = ctx.op.id, error = %mark, "could not mark the failed step");
                }
                if reached.switched {
                    ctx.info(format!(
                        "the lab lives on server {} now: nothing is undone",
                        target.name
                    ));
                } else if !ctx.begin_undo() {
                    ctx.info("this worker lost the operation: its next attempt takes over");
                } else {
                    if ctx.is_cancelled() {
                        ctx.info("cancelled: undoing the target's half and ending the source's maintenance");
                    }
                    if let Err(undo) = trip.undo(ctx, reached, shared).await {
                        ctx.info(format!(
                            "undo failed too: {undo:#}; the lab may still be in maintenance on \
                         server {}: move again, or GET /clients/{}/maintain/0",
                            source.name, client.id
                        ));
                    }
                }
                Err(err.context(format!("moving to server {}", target.name)))
            }
        }
    }
}

/// A lost worker's next attempt after the switch: only the source's removal is left (the
/// client's row already names the target, its name the target's).
async fn finish_after_switch(
    ctx: &OpContext,
    source: &ServerRow,
    target: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<Value> {
    ctx.info(format!(
        "an earlier attempt switched client {} to server {}: removing it from server {}",
        client.id, target.name, source.name
    ));
    let old = ClientRow {
        server_id: source.id,
        fqdn: fqdn_on(client, source),
        ..client.clone()
    };
    let secrets = ClientSecrets::open(&ctx.engine().cipher, client)?;
    let trip = Trip {
        source,
        target,
        client: &old,
        moved: client,
        secrets: &secrets,
    };
    let same = transfer::same_database(ctx, source, target, &old, &secrets).await?;
    let left = trip.leave_source(ctx, same).await?;
    Ok(json!({
        "client_id": client.id,
        "from_server_id": source.id,
        "server_id": target.id,
        "shared_database": same,
        "source_database_dump": left,
    }))
}

/// One move: where from, where to, and the client as it will be on the target.
struct Trip<'a> {
    source: &'a ServerRow,
    target: &'a ServerRow,
    client: &'a ClientRow,
    /// The client row as it will be: the target's server, port and name.
    moved: &'a ClientRow,
    secrets: &'a ClientSecrets,
}

impl Trip<'_> {
    async fn go(
        &self,
        ctx: &OpContext,
        reached: &mut Reached,
        shared: &mut Option<bool>,
    ) -> anyhow::Result<Value> {
        let (source, target, client, moved) = (self.source, self.target, self.client, self.moved);
        ctx.step("preflight").await?;
        ctx.info(format!(
            "moving {} from server {} ({}) to server {} ({}) as {}, port {}",
            client.fqdn,
            source.name,
            source.host,
            target.name,
            target.host,
            moved.fqdn,
            files::client_port(moved)?
        ));
        ctx.script_on(target, scripts::CLIENT_PREFLIGHT)
            .args([
                target.base_dir.clone(),
                client.subdomain.clone(),
                ctx.engine().settings.image_repo.clone(),
                client.version_tag.clone(),
                client.id.to_string(),
            ])
            .run()
            .await?;
        reached.target = true;
        if ctx.attempt > 1 {
            ctx.info("a new attempt: first removing what the earlier one left on the target");
            self.clear_target(ctx).await?;
        }

        ctx.step("database").await?;
        let same = transfer::same_database(ctx, source, target, client, self.secrets).await?;
        *shared = Some(same);
        let name = ctx.client_db_name(client.id);
        if same {
            ctx.info(format!(
                "server {} shares server {}'s SQL server: the database {name} stays where it is",
                target.name, source.name
            ));
        } else {
            reached.target_db = true;
            database::ensure_on(ctx, target, client.id, &self.secrets.db_password).await?;
        }

        ctx.step("maintenance").await?;
        let kept_on = transfer::in_maintenance(ctx, source, client, self.secrets).await?;
        if kept_on {
            ctx.info("the lab is in maintenance (maintain/1): it stays so, on the target too");
        } else {
            reached.maintenance = true;
            transfer::maintenance(ctx, source, client, true).await?;
        }

        ctx.step("dump").await?;
        let dump = backup::dump(ctx, source, client, self.secrets).await?;
        if !same {
            ctx.step("restore").await?;
            let file = dump.path.rsplit('/').next().unwrap_or("move.sql.gz");
            let there = format!(
                "{}/backups/c{}/{file}",
                target.base_dir.trim_end_matches('/'),
                client.id
            );
            transfer::copy_file(ctx, source, &dump.path, target, &there).await?;
            backup::restore(ctx, target, moved, self.secrets, &there).await?;
        }

        ctx.step("files").await?;
        transfer::copy_files(ctx, source, target, client).await?;
        files::write(ctx, target, moved, self.secrets).await?;

        ctx.step("vhost").await?;
        web::install_vhost(ctx, target, moved, false).await?;

        ctx.step("container").await?;
        web::start_container(ctx, target, moved).await?;

        ctx.step("certificate").await?;
        let serial = web::certificate(ctx, target, moved).await?;
        web::install_vhost(ctx, target, moved, true).await?;

        ctx.step("probe").await?;
        web::probe(ctx, target, moved, serial).await?;
        if kept_on {
            transfer::maintenance(ctx, target, moved, true).await?;
        }
        let url = files::app_url(target, moved);
        ctx.info(format!(
            "{url} answers through server {}'s nginx",
            target.name
        ));

        ctx.step("switch").await?;
        self.switch(ctx).await?;
        reached.switched = true;
        let left = self.leave_source(ctx, same).await.with_context(|| {
            format!(
                "the client now lives on server {}, but removing it from server {} failed: \
                 remove what is left there by hand",
                target.name, source.name
            )
        })?;
        if target.domain == source.domain {
            ctx.info(format!(
                "the name {} stays: point its DNS record at server {} ({}) now",
                moved.fqdn, target.name, target.host
            ));
        } else {
            ctx.info(format!(
                "the lab's name changed with the server's domain: {} is now {} (APP_URL, vhost \
                 and certificate are the new name's); tell its users",
                client.fqdn, moved.fqdn
            ));
        }
        Ok(json!({
            "client_id": client.id,
            "from_server_id": source.id,
            "server_id": target.id,
            "client_port": moved.client_port,
            "url": url,
            "shared_database": same,
            "dump": dump,
            "source_database_dump": left,
        }))
    }

    /// The client's row switched to the target (one transaction).
    async fn switch(&self, ctx: &OpContext) -> anyhow::Result<()> {
        let home = NewHome {
            from_server: self.source.id,
            server_id: self.target.id,
            client_port: files::client_port(self.moved)?,
            fqdn: &self.moved.fqdn,
        };
        match moves::relocate(
            &ctx.engine().db,
            self.client.id,
            &home,
            &ctx.op.requested_by,
        )
        .await
        {
            Ok(true) => {
                ctx.info(format!(
                    "client {} is now on server {} (port {}, {})",
                    self.client.id, self.target.name, home.client_port, home.fqdn
                ));
                Ok(())
            }
            Ok(false) => anyhow::bail!(
                "client {} is no longer on server {}: someone else moved it",
                self.client.id,
                self.source.name
            ),
            Err(WriteError::FqdnTaken) => anyhow::bail!(
                "the name {} or the port {} on server {} was taken meanwhile: move again",
                home.fqdn,
                home.client_port,
                self.target.name
            ),
            Err(WriteError::Db(e)) => Err(e.into()),
            Err(other) => anyhow::bail!("switching the client's server: {other:?}"),
        }
    }

    /// Removes the client from the source; with separate SQL, drops its database there after
    /// a last dump (returned).
    async fn leave_source(&self, ctx: &OpContext, shared: bool) -> anyhow::Result<Value> {
        ctx.step("remove from source").await?;
        web::remove(ctx, self.source, self.client).await?;
        if shared {
            return Ok(Value::Null);
        }
        ctx.step("source database").await?;
        let dump = backup::dump(ctx, self.source, self.client, self.secrets).await?;
        ctx.info(format!(
            "a last dump of the database stays on server {}: {}",
            self.source.name, dump.path
        ));
        database::drop_on(ctx, self.source, self.client.id).await?;
        Ok(serde_json::to_value(dump)?)
    }

    /// Removes the target's half: container, vhost, certificate and folder under the client's
    /// name (its own: the preflight said so), and the staging folder.
    async fn clear_target(&self, ctx: &OpContext) -> anyhow::Result<()> {
        web::remove(ctx, self.target, self.moved).await?;
        let place = Place::of(self.target, self.moved);
        ctx.script_on(self.target, scripts::TRANSFER_STAGE)
            .args([
                place.base_dir.clone(),
                place.subdomain.clone(),
                "clear".into(),
            ])
            .run()
            .await?;
        Ok(())
    }

    /// Undoes a move that failed before its switch: the target's half (and a database made on
    /// its separate SQL) removed, the source out of maintenance and probed.
    async fn undo(
        &self,
        ctx: &OpContext,
        reached: Reached,
        shared: Option<bool>,
    ) -> anyhow::Result<()> {
        if !reached.target && !reached.maintenance {
            return Ok(());
        }
        ctx.step("undo").await?;
        if reached.target {
            self.clear_target(ctx).await?;
        }
        if reached.target_db && shared == Some(false) {
            database::drop_on(ctx, self.target, self.client.id).await?;
        }
        if reached.maintenance {
            transfer::maintenance(ctx, self.source, self.client, false).await?;
        }
        web::probe(ctx, self.source, self.client, None).await?;
        ctx.info(format!(
            "undone: server {} holds nothing of this client, and {} serves from server {} as before",
            self.target.name, self.client.fqdn, self.source.name
        ));
        Ok(())
    }
}
