//! Server-wide operations: images, reboot.

use serde_json::{Value, json};

use super::OpContext;
use crate::remote::Script;

/// The LIMS image versions present on the server.
pub async fn images(ctx: &mut OpContext) -> anyhow::Result<Value> {
    let server = ctx.server().await?;
    let repo = ctx.engine.settings.image_repo.clone();
    let data = ctx.run(&server, Script::Images, vec![repo.clone()]).await?;
    let images: Vec<Value> = data
        .iter()
        .filter_map(|line| line.strip_prefix("::image "))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .collect();
    ctx.log.info(format!("{} image(s) of {repo}", images.len()));
    Ok(json!({ "repository": repo, "images": images }))
}

/// Reboots the server (the script schedules the reboot so the command can return).
pub async fn reboot(ctx: &mut OpContext) -> anyhow::Result<Value> {
    let server = ctx.server().await?;
    ctx.run(&server, Script::RebootServer, Vec::new()).await?;
    // The connection dies with the server; a fresh one is opened when it is back.
    ctx.engine.remote.forget(&super::target(&server)).await;
    Ok(json!({ "rebooting": true }))
}
