//! `images`: the LIMS image versions present on a server.

use serde_json::{Value, json};

use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::operations::LockScope;

pub struct Images;

#[async_trait::async_trait]
impl Kind for Images {
    const NAME: &'static str = "images";
    const LOCK: LockScope = LockScope::None;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        let repo = ctx.engine().settings.image_repo.clone();
        let data = ctx.script(scripts::IMAGES).arg(&repo).run().await?;
        let images: Vec<Value> = data
            .iter()
            .filter_map(|line| line.strip_prefix("::image "))
            .filter_map(|json| serde_json::from_str::<Value>(json).ok())
            .collect();
        ctx.info(format!("{} image(s) of {repo}", images.len()));
        Ok(json!({ "repository": repo, "images": images }))
    }
}
