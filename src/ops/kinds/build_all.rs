//! `build_master_for_all`: a release on the whole fleet. One `build_master` child per active
//! server, every server at once through the fan-out ([`crate::ops::fanout`]), each with the
//! same version and `if_exists: skip` (a server that has the image already is done: a run
//! again, or `retry_failed`, rebuilds nothing). Then the version and its `info` go into every
//! active lab's database on each server whose build ended `ok` (in this run or, for a
//! `retry_failed`, in the run it retries): a `cloud_versions` row written as the lab's own SQL
//! user (`templates/client_db/*/version_insert.sql`, bound parameters, one row per version
//! however often it is written) and read back. The parent holds no lock of its own: each child
//! holds its server's.
//!
//! The result lists every server (its build: operation, status, error, whether it built) and
//! every lab (`ok` or the error), with counts; it is stored when the operation ends `error`
//! too (a failed build, or a lab whose row could not be written), whose message names them.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::build::BuildMaster;
use crate::ops::fanout::{self, FanOut, Retry, Target};
use crate::ops::lifecycle::{ClientSecrets, labdata};
use crate::ops::sql::SqlValue;
use crate::ops::{FailedWith, Kind, OpContext};
use crate::store::clients::{self, ClientRow};
use crate::store::operations::{self, LockScope};
use crate::store::servers;
use crate::store::servers::ServerRow;

#[derive(Debug, Deserialize)]
struct Params {
    /// The version with its `-master` suffix (the API checked it).
    version: String,
    /// What is new in it (Markdown); may be empty.
    #[serde(default)]
    info: String,
}

pub struct BuildMasterForAll;

#[async_trait::async_trait]
impl Kind for BuildMasterForAll {
    const NAME: &'static str = "build_master_for_all";
    const LOCK: LockScope = LockScope::None;
    const FAN_OUT: bool = true;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let db = ctx.engine().db.clone();
        ctx.step("servers").await?;
        let servers = servers::list(&db, false).await?;
        anyhow::ensure!(
            !servers.is_empty(),
            "no active server: register one with POST /servers/"
        );
        let targets: Vec<Target> = servers.iter().map(Target::server).collect();
        ctx.step("builds").await?;
        // One build per server: per-server parallelism does not matter, every server at once.
        let how = FanOut {
            parallel: 1,
            canary: false,
            stop_on_error: false,
        };
        let version = params.version.clone();
        let fanned = fanout::run::<BuildMaster>(
            ctx,
            targets,
            how,
            |_| json!({ "version": version, "if_exists": "skip" }),
        )
        .await;

        // A cancelled release writes no lab (retry_failed writes them once the builds are done).
        anyhow::ensure!(!ctx.is_cancelled(), "the operation was cancelled");

        // Each server's build: this run's child, or `ok` in the run a retry_failed retries.
        let children: HashMap<i64, operations::OperationRow> = operations::children(&db, ctx.op.id)
            .await?
            .into_iter()
            .filter_map(|row| row.server_id.map(|id| (id, row)))
            .collect();
        let ok_before: HashSet<i64> = serde_json::from_str::<Retry>(&ctx.op.params)
            .map(|r| r.skip.into_iter().map(|(server, _)| server).collect())
            .unwrap_or_default();
        let built: Vec<&ServerRow> = servers
            .iter()
            .filter(|s| {
                children
                    .get(&s.id)
                    .map_or(ok_before.contains(&s.id), |c| c.status == "ok")
            })
            .collect();

        ctx.step("versions").await?;
        let mut labs = HashMap::new();
        for server in &built {
            labs.insert(server.id, clients::active_on(&db, server.id).await?);
        }
        let ctx_ref: &OpContext = ctx;
        let writes = built.iter().map(|server| {
            let (labs, params) = (&labs[&server.id], &params);
            async move { (server.id, write_server(ctx_ref, server, labs, params).await) }
        });
        let written: HashMap<i64, Vec<Value>> = futures::future::join_all(writes)
            .await
            .into_iter()
            .collect();

        let mut failed_labs = Vec::new();
        let report: Vec<Value> = servers
            .iter()
            .map(|s| {
                let child = children.get(&s.id);
                let labs = written.get(&s.id).cloned().unwrap_or_default();
                failed_labs.extend(
                    labs.iter()
                        .filter(|l| l["status"] != "ok")
                        .map(|l| format!("{} on {}: {}", l["subdomain"].as_str().unwrap_or("?"), s.name, l["error"].as_str().unwrap_or("?"))),
                );
                json!({
                    "server_id": s.id,
                    "server": s.name,
                    "build": match child {
                        Some(c) => json!({
                            "operation_id": c.id,
                            "status": c.status,
                            "error": c.error,
                            "built": c.result.as_deref()
                                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                                .map(|r| r["built"].clone()),
                        }),
                        None if ok_before.contains(&s.id) => json!({"status": "ok", "in_an_earlier_run": true}),
                        None => json!({"status": "not_started"}),
                    },
                    "labs": labs,
                })
            })
            .collect();
        let lab_count: usize = written.values().map(Vec::len).sum();
        let result = json!({
            "version": params.version,
            "servers": report,
            "counts": {
                "servers": servers.len(),
                "built": built.len(),
                "labs": lab_count,
                "labs_written": lab_count - failed_labs.len(),
            },
        });
        // The servers without the image, each with why (the child's own error).
        let missing: Vec<String> = servers
            .iter()
            .filter(|s| !built.iter().any(|b| b.id == s.id))
            .map(|s| match children.get(&s.id) {
                Some(c) => format!(
                    "{} (operation {}, {}: {})",
                    s.name,
                    c.id,
                    c.status,
                    c.error.as_deref().unwrap_or("no error recorded")
                ),
                None => format!("{} (not started)", s.name),
            })
            .collect();
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!(
                "{} is not built on {} of {} server(s): {}",
                params.version,
                missing.len(),
                servers.len(),
                missing.join("; ")
            ));
        } else if let Err(err) = fanned {
            why.push(format!("{err:#}"));
        }
        if !failed_labs.is_empty() {
            why.push(format!(
                "the version's row could not be written into {} lab(s): {}",
                failed_labs.len(),
                failed_labs.join("; ")
            ));
        }
        if !why.is_empty() {
            why.push(format!(
                "{} server(s) built it and {} lab(s) have its row. POST /operations/{}/retry_failed \
                 builds on the other servers and writes every lab's row again",
                built.len(),
                lab_count - failed_labs.len(),
                ctx.op.id
            ));
        }
        if why.is_empty() {
            ctx.info(format!(
                "{} built on {} server(s), its row in {lab_count} lab(s)",
                params.version,
                built.len()
            ));
            return Ok(result);
        }
        Err(FailedWith {
            message: why.join("; "),
            result,
        }
        .into())
    }
}

/// Writes the version's row into each of `labs` on `server`, one after another; returns each
/// lab's outcome.
async fn write_server(
    ctx: &OpContext,
    server: &ServerRow,
    labs: &[ClientRow],
    params: &Params,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(labs.len());
    for client in labs {
        let (id, subdomain) = (client.id, client.subdomain.clone());
        let started = std::time::Instant::now();
        let written = write_lab(ctx, server, client, params).await;
        ctx.add_remote_time(started);
        match written {
            Ok(()) => {
                ctx.info(format!(
                    "{subdomain} ({}): cloud_versions holds {}",
                    server.name, params.version
                ));
                out.push(json!({"client_id": id, "subdomain": subdomain, "status": "ok"}));
            }
            Err(err) => {
                let error = format!("{err:#}");
                ctx.info(format!("{subdomain} ({}): {error}", server.name));
                out.push(json!({"client_id": id, "subdomain": subdomain, "status": "error", "error": error}));
            }
        }
    }
    out
}

/// The version's row in one lab's `cloud_versions` (created when missing), as the lab's own
/// SQL user, read back.
async fn write_lab(
    ctx: &OpContext,
    server: &ServerRow,
    client: &clients::ClientRow,
    params: &Params,
) -> anyhow::Result<()> {
    let secrets = ClientSecrets::open(&ctx.engine().cipher, client)?;
    let mut sql = labdata::connect(ctx, server, client, &secrets.db_password).await?;
    sql.execute(&labdata::statement(ctx, server, "cloud_versions")?, &[])
        .await
        .context("creating cloud_versions in the lab's database")?;
    let version = SqlValue::Text(params.version.clone());
    sql.execute(
        &labdata::statement(ctx, server, "version_insert")?,
        &[
            version.clone(),
            SqlValue::Text(params.info.clone()),
            SqlValue::Time(Utc::now().naive_utc()),
        ],
    )
    .await
    .context("writing the version into the lab's cloud_versions")?;
    let held = sql
        .fetch_row(&labdata::statement(ctx, server, "version_get")?, &[version])
        .await
        .context("reading the version back from the lab's cloud_versions")?
        .and_then(|row| row.into_iter().next().flatten());
    anyhow::ensure!(
        held.as_deref() == Some(params.info.as_str()),
        "the lab's cloud_versions does not hold the info just written for {}",
        params.version
    );
    Ok(())
}
