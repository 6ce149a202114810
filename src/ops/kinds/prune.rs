//! `prune`: removes the LIMS images (`{image_repo}:*`) nothing on a server uses, keeping the
//! newest `ALFA_KEEP_IMAGES` unused ones (a fresh build waits there to be switched to), then
//! the dangling images and the build cache (`jobs/prune.sh`). Holds the server lock, so no
//! switch, creation or build runs meanwhile. `params.dry_run`: the plan, nothing removed.
//!
//! In use, and never removed: an image whose version a client of this machine that is not
//! deleted has in the records (any state: running, stopped, in error, being created), one a
//! container of any state uses (`docker ps -a`: docker itself refuses to remove those without
//! `-f`, which is never given), and one a compose file under `{base_dir}/docker/clients/`
//! names (a client the records do not know, or a switch left half done).
//!
//! Never `docker system prune`: it also removes stopped containers, and a stopped client's
//! `docker compose start`/`restart` needs its container. Never `-a`, never `--volumes`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ops::{Kind, OpContext};
use crate::remote::scripts;
use crate::store::images;
use crate::store::operations::LockScope;

pub struct Prune;

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(default)]
    dry_run: bool,
}

/// One `::image` line: an image of the repository (an id and its tags), newest first.
#[derive(Debug, Deserialize, Serialize)]
struct Planned {
    tag: String,
    tags: Vec<String>,
    id: String,
    created: String,
    size: String,
    /// `keep` or `remove`.
    action: String,
    why: String,
}

/// One `::removed` line: a tag removed; `deleted` when it was the image's last tag.
#[derive(Debug, Deserialize, Serialize)]
struct Removed {
    tag: String,
    id: String,
    size: String,
    deleted: bool,
}

/// One `::reclaimed` line: what `docker image prune` / `docker builder prune` freed.
#[derive(Debug, Deserialize, Serialize)]
struct Reclaimed {
    what: String,
    space: String,
    items: u64,
    /// Why nothing was asked of docker (a docker without `builder prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// One `::dangling` line (dry run): an image `docker image prune` would remove.
#[derive(Debug, Deserialize, Serialize)]
struct Dangling {
    id: String,
    size: String,
}

fn lines<T: serde::de::DeserializeOwned>(data: &[String], prefix: &str) -> anyhow::Result<Vec<T>> {
    data.iter()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|json| {
            serde_json::from_str(json).map_err(|e| {
                anyhow::anyhow!("prune.sh printed a line that is not {prefix}{{…}}: {e}: {json}")
            })
        })
        .collect()
}

/// Bytes of a size as docker prints it (`360MB`, `1.2GB`, `0B`, `512kB`; decimal units, as
/// docker's; `KiB`-style binary units too). `None` when it is not a size.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" | "" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    // Sizes are far below 2^53: the product is exact enough and non-negative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some((number * factor).round() as u64)
}

/// A byte count as docker prints one: three significant digits, decimal units.
pub fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mut n = bytes as f64;
    for unit in ["B", "kB", "MB", "GB"] {
        if n < 1000.0 {
            return format!("{}{unit}", significant(n));
        }
        n /= 1000.0;
    }
    format!("{}TB", significant(n))
}

fn significant(n: f64) -> String {
    let text = if n >= 100.0 {
        format!("{n:.0}")
    } else if n >= 10.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[async_trait::async_trait]
impl Kind for Prune {
    const NAME: &'static str = "prune";
    const LOCK: LockScope = LockScope::Server;

    async fn run(&self, ctx: &mut OpContext) -> anyhow::Result<Value> {
        // Unreadable parameters fail the operation: never a prune where a dry run was asked.
        let params: Params = serde_json::from_str(&ctx.op.params)?;
        let server = ctx.server()?.clone();
        let repo = ctx.engine().settings.image_repo.clone();
        let keep = ctx.engine().settings.keep_images;
        let versions = images::versions_on_host(&ctx.engine().db, &server.host).await?;
        ctx.info(format!(
            "{} on server {}: images of {repo} nothing uses, but the newest {keep} of them \
             (ALFA_KEEP_IMAGES); the records name {} version(s) on this machine: {}",
            if params.dry_run {
                "dry run of a prune (nothing is removed)"
            } else {
                "prune"
            },
            server.name,
            versions.len(),
            if versions.is_empty() {
                "none".to_owned()
            } else {
                versions.join(", ")
            }
        ));
        let data = ctx
            .script(scripts::PRUNE)
            .arg(server.base_dir.clone())
            .arg(repo.clone())
            .arg(keep.to_string())
            .arg(if params.dry_run { "dry-run" } else { "apply" })
            .args(versions.iter().cloned())
            .run()
            .await?;
        let planned: Vec<Planned> = lines(&data, "::image ")?;
        let kept = planned.iter().filter(|p| p.action == "keep").count();
        if params.dry_run {
            let dangling: Vec<Dangling> = lines(&data, "::dangling ")?;
            let would: Vec<&Planned> = planned.iter().filter(|p| p.action == "remove").collect();
            let bytes: u64 = would
                .iter()
                .map(|p| parse_size(&p.size).unwrap_or(0))
                .chain(dangling.iter().map(|d| parse_size(&d.size).unwrap_or(0)))
                .sum();
            ctx.info(format!(
                "dry run: would remove {} image(s) of {repo} ({}) and {} dangling image(s), \
                 about {} (and the unused build cache); {kept} kept",
                would.len(),
                tags(would.iter().copied()),
                dangling.len(),
                human_size(bytes)
            ));
            return Ok(json!({
                "server_id": server.id, "repository": repo, "keep": keep, "dry_run": true,
                "images": planned, "would_remove": would, "dangling": dangling,
                "removed": [], "space_to_free": human_size(bytes), "bytes_to_free": bytes,
            }));
        }
        let removed: Vec<Removed> = lines(&data, "::removed ")?;
        let reclaimed: Vec<Reclaimed> = lines(&data, "::reclaimed ")?;
        let size_of = |what: &str| reclaimed.iter().find(|r| r.what == what);
        // Images: their sizes as `docker images` shows them (layers an image shares with a
        // kept one are counted, though they stay); the rest: what docker says it reclaimed.
        let bytes: u64 = removed
            .iter()
            .filter(|r| r.deleted)
            .map(|r| parse_size(&r.size).unwrap_or(0))
            .chain(reclaimed.iter().map(|r| parse_size(&r.space).unwrap_or(0)))
            .sum();
        let removed_tags: Vec<&str> = removed.iter().map(|r| r.tag.as_str()).collect();
        ctx.info(format!(
            "removed {} image(s) of {repo} ({}), kept {kept}; dangling images: {}, build cache: \
             {}; about {} freed",
            removed.iter().filter(|r| r.deleted).count(),
            if removed_tags.is_empty() {
                "none".to_owned()
            } else {
                removed_tags.join(", ")
            },
            size_of("dangling_images").map_or("0B", |r| r.space.as_str()),
            size_of("build_cache").map_or("0B", |r| r.space.as_str()),
            human_size(bytes)
        ));
        let dangling = size_of("dangling_images");
        let cache = size_of("build_cache");
        Ok(json!({
            "server_id": server.id, "repository": repo, "keep": keep, "dry_run": false,
            "images": planned, "removed": removed,
            "dangling": dangling, "build_cache": cache,
            "space_freed": human_size(bytes), "bytes_freed": bytes,
        }))
    }
}

fn tags<'a>(images: impl Iterator<Item = &'a Planned>) -> String {
    let all: Vec<String> = images.map(|p| p.tags.join("+")).collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print_as_docker_does() {
        assert_eq!(parse_size("360MB"), Some(360_000_000));
        assert_eq!(parse_size("1.2GB"), Some(1_200_000_000));
        assert_eq!(parse_size("0B"), Some(0));
        assert_eq!(parse_size("512kB"), Some(512_000));
        assert_eq!(parse_size("2KiB"), Some(2048));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(360_000_000), "360MB");
        assert_eq!(human_size(1_081_000_000), "1.08GB");
        assert_eq!(human_size(54_200_000), "54.2MB");
    }
}
