//! `build_dev` and `build_master`: a new LIMS image `{image_repo}:{version}` built on a server
//! from branch dev or master of its clone `{base_dir}/git` (`jobs/build.sh`: git, www,
//! composer, front end, docker, image), holding the server lock, within `ALFA_BUILD_TIMEOUT`.
//!
//! The version is the one asked for (`params.version`, already given its branch's suffix by
//! the API) or, when none was, the next patch after the highest of the branch among the
//! server's images ([`build_version::next`]). A tag is never built twice: an image already
//! there ends the operation `error` naming it — unless it is this operation's own (an earlier
//! attempt, lost with its worker, got as far as the build: its step `build {version}` says
//! which version it chose, so a retry never picks the next one), or the request said
//! `if_exists: skip` (a `build_master_for_all` run again): then `ok`, nothing rebuilt. build.sh
//! holds a lock of the server's own, so a build an earlier attempt left running on the server
//! is waited for, and checks the tag again under it.

use serde::Deserialize;
use serde_json::{Value, json};

use super::build_version::{self, Branch};
use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;
use crate::store::steps;

/// What a build is asked to do.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BuildParams {
    /// The version with its branch's suffix; `None`: the next one.
    pub version: Option<String>,
    /// `skip`: an image of that version already there ends the build `ok` (not rebuilt).
    pub if_exists: Option<String>,
}

/// The step that builds `version`: its name records the version chosen for the attempts after.
const BUILD_STEP: &str = "build ";

pub struct BuildDev;

#[async_trait::async_trait]
impl Kind for BuildDev {
    const NAME: &'static str = "build_dev";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        build(ctx, Branch::Dev).await
    }
}

pub struct BuildMaster;

#[async_trait::async_trait]
impl Kind for BuildMaster {
    const NAME: &'static str = "build_master";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        build(ctx, Branch::Master).await
    }
}

/// The version an earlier attempt of this operation began to build, if one did.
async fn earlier_version(ctx: &OpContext) -> anyhow::Result<Option<String>> {
    Ok(steps::list(&ctx.engine().db, ctx.op.id)
        .await?
        .into_iter()
        .filter(|s| s.attempt < ctx.attempt)
        .filter_map(|s| s.name.strip_prefix(BUILD_STEP).map(str::to_owned))
        .next_back())
}

async fn build(ctx: &mut OpContext, branch: Branch) -> anyhow::Result<Value> {
    let params: BuildParams = serde_json::from_str(&ctx.op.params)?;
    let settings = ctx.engine().settings.clone();
    let repo = settings.image_repo.clone();
    let server = ctx.server()?.clone();

    ctx.step("images").await?;
    let tags: Vec<String> = super::images::list(ctx, &repo)
        .await?
        .iter()
        .filter_map(|image| image["tag"].as_str().map(str::to_owned))
        .collect();
    let earlier = earlier_version(ctx).await?;
    let version = match (&earlier, &params.version) {
        (Some(version), _) => {
            ctx.info(format!(
                "an earlier attempt of this operation began building {version}: building that version"
            ));
            version.clone()
        }
        (None, Some(version)) => build_version::requested(branch, version)
            .map_err(|problem| anyhow::anyhow!("version {version:?} {problem}"))?
            .to_string(),
        (None, None) => {
            let next = build_version::next(branch, &tags);
            ctx.info(format!(
                "no version asked for: {next}, the next patch after the highest {} version on server {}",
                branch.as_str(),
                server.name
            ));
            next
        }
    };
    let image = format!("{repo}:{version}");
    let skip = params.if_exists.as_deref() == Some("skip");
    let summary = |built: bool| {
        json!({
            "server_id": server.id,
            "server": server.name,
            "branch": branch.as_str(),
            "version": version,
            "image": image,
            "built": built,
        })
    };
    if tags.contains(&version) {
        if earlier.is_some() {
            ctx.info(format!(
                "{image} is on server {}: an earlier attempt of this operation built it",
                server.name
            ));
            return Ok(summary(false));
        }
        if skip {
            ctx.info(format!(
                "{image} is already on server {}: nothing to build",
                server.name
            ));
            return Ok(summary(false));
        }
        anyhow::bail!(
            "the image {image} already exists on server {}: build another version (without a \
             version, /containers/{}/build_{} builds {})",
            server.name,
            server.id,
            branch.as_str(),
            build_version::next(branch, &tags)
        );
    }

    ctx.step(&format!("{BUILD_STEP}{version}")).await?;
    // The image may appear meanwhile only from this operation's own earlier attempt (a build
    // it left running, which build.sh waits for) or, for a fan-out, a run that raced this one.
    let if_exists = if earlier.is_some() || skip {
        "keep"
    } else {
        "fail"
    };
    let data = ctx
        .script(scripts::BUILD)
        .arg(&server.base_dir)
        .arg(branch.as_str())
        .arg(&repo)
        .arg(&version)
        .arg(if_exists)
        .timeout(settings.build_timeout)
        .run()
        .await?;
    let built = data
        .iter()
        .filter_map(|line| line.strip_prefix("::built "))
        .find_map(|json| serde_json::from_str::<Value>(json).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "build.sh ended on server {} without naming the image it built: see the log",
                server.name
            )
        })?;
    let mut result = summary(built["built"] == true);
    result["commit"] = built["commit"].clone();
    result["image_id"] = built["id"].clone();
    if built["built"] == true {
        ctx.info(format!(
            "{image} built on server {} from {} at {}",
            server.name,
            branch.as_str(),
            built["commit"].as_str().unwrap_or("?")
        ));
    }
    Ok(result)
}
