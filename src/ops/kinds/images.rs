//! `images`: the LIMS image versions present on a server.

use serde_json::{Value, json};

use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;

pub struct Images;

/// The images of `repo` on the operation's server (`jobs/images.sh`'s `::image` lines), newest
/// first: `tag`, `id`, `created`, `size`.
pub async fn list(ctx: &OpContext, repo: &str) -> anyhow::Result<Vec<Value>> {
    Ok(ctx
        .script(scripts::IMAGES)
        .arg(repo)
        .run()
        .await?
        .iter()
        .filter_map(|line| line.strip_prefix("::image "))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .collect())
}

#[async_trait::async_trait]
impl Kind for Images {
    const NAME: &'static str = "images";
    const LOCK: LockScope = LockScope::None;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let repo = ctx.engine().settings.image_repo.clone();
        let images = list(ctx, &repo).await?;
        ctx.info(format!("{} image(s) of {repo}", images.len()));
        Ok(json!({ "repository": repo, "images": images }))
    }
}
