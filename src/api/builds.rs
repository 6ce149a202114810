//! Image builds on a server: `/containers/{server_id}/build_dev[/{new_version}]` and
//! `/containers/{server_id}/build_master[/{new_version}]`, each answering GET and POST with 202
//! and the operation (`build_dev` / `build_master`, holding the server lock). Without a version
//! the operation takes the next patch after the highest of the branch on the server; a version
//! gets the branch's suffix (`-dev`, `-master`) unless it ends so already.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AdminUser;
use super::client_switch::TwoSegments;
use super::input::Id;
use super::operations::submit;
use crate::error::{ApiError, ApiResult};
use crate::ops::On;
use crate::ops::kinds::build::{BuildDev, BuildMaster};
use crate::ops::kinds::build_version::{self, Branch};
use crate::state::AppState;
use crate::store::servers;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(build_dev))
        .routes(routes!(build_dev_next))
        .routes(routes!(build_master))
        .routes(routes!(build_master_next))
}

async fn server_exists(state: &AppState, id: i64) -> ApiResult<()> {
    servers::get(&state.db, id)
        .await?
        .map(drop)
        .ok_or_else(|| ApiError::NotFound(format!("server {id} does not exist")))
}

fn server_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{raw:?} is not an id: ids are positive whole numbers"
        ))
    })
}

/// Validates the request and submits the build of `branch` on server `id`.
async fn start(
    state: &AppState,
    user: &AdminUser,
    branch: Branch,
    id: i64,
    version: Option<&str>,
) -> ApiResult<Response> {
    let version = version
        .map(|raw| {
            build_version::requested(branch, raw)
                .map_err(|problem| ApiError::field("new_version", problem))
        })
        .transpose()?;
    server_exists(state, id).await?;
    let params = json!({ "version": version.as_ref().map(|v| v.as_str()) });
    match branch {
        Branch::Dev => submit::<BuildDev>(state, user, On::server(id), params).await,
        Branch::Master => submit::<BuildMaster>(state, user, On::server(id), params).await,
    }
}

/// Build image `{image_repo}:{new_version}-dev` from branch dev on the server: fetch and
/// check out dev in `{base_dir}/git`, its code into `{base_dir}/www` with `composer install`
/// and `npm ci && npm run build`, the tree without `.git` into `{base_dir}/docker` (never
/// touching `docker/clients`), then `docker build`. An image of that version already on the
/// server ends the operation `error` (a tag is never built twice).
#[utoipa::path(method(get, post), path = "/containers/{server_id}/build_dev/{new_version}", tag = "fleet",
    params(("server_id" = i64, Path), ("new_version" = String, Path, description = "e.g. 1.3.1 or 1.3.1-dev")),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "`new_version` is not a version of this branch", body = crate::error::ErrorBody)))]
pub async fn build_dev(
    State(state): State<AppState>,
    TwoSegments(id, version): TwoSegments,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start(&state, &user, Branch::Dev, server_id(&id)?, Some(&version)).await
}

/// The same as `/containers/{server_id}/build_dev/{new_version}`, with the next version: the
/// patch after the highest `-dev` version among the server's images (`1.3.1-dev` →
/// `1.3.2-dev`; none yet: `1.0.0-dev`).
#[utoipa::path(method(get, post), path = "/containers/{server_id}/build_dev", tag = "fleet",
    params(("server_id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn build_dev_next(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start(&state, &user, Branch::Dev, id, None).await
}

/// Build image `{image_repo}:{new_version}-master` from branch master on the server (a
/// release), as `build_dev` does from dev.
#[utoipa::path(method(get, post), path = "/containers/{server_id}/build_master/{new_version}", tag = "fleet",
    params(("server_id" = i64, Path), ("new_version" = String, Path, description = "e.g. 1.3 or 1.3-master")),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "`new_version` is not a version of this branch", body = crate::error::ErrorBody)))]
pub async fn build_master(
    State(state): State<AppState>,
    TwoSegments(id, version): TwoSegments,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start(
        &state,
        &user,
        Branch::Master,
        server_id(&id)?,
        Some(&version),
    )
    .await
}

/// The same as `/containers/{server_id}/build_master/{new_version}`, with the next version:
/// the patch after the highest `-master` version among the server's images (`1.3.1-master` →
/// `1.3.2-master`; none yet: `1.0.0-master`).
#[utoipa::path(method(get, post), path = "/containers/{server_id}/build_master", tag = "fleet",
    params(("server_id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn build_master_next(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start(&state, &user, Branch::Master, id, None).await
}
