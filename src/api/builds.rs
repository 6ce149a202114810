//! Image builds on a server: `/containers/{server_id}/build_dev[/{new_version}]` and
//! `/containers/{server_id}/build_master[/{new_version}]`, each answering GET and POST with 202
//! and the operation (`build_dev` / `build_master`, holding the server lock). Without a version
//! the operation takes the next patch after the highest of the branch on the server; a version
//! gets the branch's suffix (`-dev`, `-master`) unless it ends so already.
//! `/containers/build_master_for_all/` (GET or POST, `version` and `info`) builds a release on
//! every active server and writes it into every lab's `cloud_versions`.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AdminUser;
use super::client_switch::TwoSegments;
use super::fleet::server;
use super::input::{Id, Input, Params, Text, check_text, parse_id, present, required};
use super::operations::submit;
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::On;
use crate::ops::kinds::build::{BuildDev, BuildMaster};
use crate::ops::kinds::build_all::BuildMasterForAll;
use crate::ops::kinds::build_version::{self, Branch};
use crate::state::AppState;
use crate::store::servers;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(build_dev))
        .routes(routes!(build_dev_next))
        .routes(routes!(build_master))
        .routes(routes!(build_master_next))
        .routes(routes!(build_master_for_all))
        .routes(routes!(build_master_for_all_unslashed))
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
    server(state, id).await?;
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
    start(&state, &user, Branch::Dev, parse_id(&id)?, Some(&version)).await
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
        parse_id(&id)?,
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

/// The longest `info` accepted (characters).
const INFO_MAX: usize = 65_535;

/// The fields of `build_master_for_all`: in the body (form-data or JSON) or, for a GET, the
/// query string.
#[derive(Deserialize, Default, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ForAllInput {
    /// The release's version, e.g. `1.3` or `1.3-master` (`-master` is appended when missing).
    pub version: Option<Text>,
    /// What is new in it, preferably Markdown (up to 65,535 characters; may be empty).
    pub info: Option<Text>,
}

async fn start_for_all(
    state: &AppState,
    user: &AdminUser,
    query: ForAllInput,
    body: ForAllInput,
) -> ApiResult<Response> {
    let pick = |body: Option<Text>, query: Option<Text>| {
        if present(&body).is_some() {
            body
        } else {
            query
        }
    };
    let version = pick(body.version, query.version);
    let info = pick(body.info, query.info);
    let mut p = Problems::default();
    let version = required(&mut p, "version", &version)
        .and_then(|raw| p.check("version", build_version::requested(Branch::Master, raw)));
    let info = p.check(
        "info",
        check_text(present(&info).unwrap_or_default(), INFO_MAX, false).and_then(|text| {
            if text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                Err("must be text: no control characters but line breaks and tabs".into())
            } else {
                Ok(text)
            }
        }),
    );
    p.into_result()?;
    let (Some(version), Some(info)) = (version, info) else {
        unreachable!("problems were reported above");
    };
    if servers::list(&state.db, false).await?.is_empty() {
        return Err(ApiError::Conflict(
            "there is no active server to build on: register one with POST /servers/".into(),
        ));
    }
    let params = json!({ "version": version.as_str(), "info": info });
    submit::<BuildMasterForAll>(state, user, On::default(), params).await
}

/// A release on every active server: a parent operation with one `build_master` child per
/// server (every server at once, each holding its server's lock; a server that has the image
/// already builds nothing), then the version and `info` written into the `cloud_versions`
/// table of every active lab on the servers whose build ended ok. The result lists each server
/// (its build) and each lab; the operation ends `error` naming a server whose build failed or
/// a lab whose row could not be written (`POST /operations/{id}/retry_failed` runs the failed
/// servers again, and writes every lab's row again).
#[utoipa::path(method(get, post), path = "/containers/build_master_for_all/", tag = "fleet",
    params(ForAllInput),
    request_body(content = ForAllInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued),
        (status = 409, description = "There is no active server", body = crate::error::ErrorBody),
        (status = 422, description = "`version` is missing or not a master version, or `info` is too long", body = crate::error::ErrorBody)))]
pub async fn build_master_for_all(
    State(state): State<AppState>,
    Extension(user): Extension<AdminUser>,
    Params(query): Params<ForAllInput>,
    Input(body): Input<ForAllInput>,
) -> ApiResult<Response> {
    start_for_all(&state, &user, query, body).await
}

/// The same as `/containers/build_master_for_all/`.
#[utoipa::path(method(get, post), path = "/containers/build_master_for_all", tag = "fleet",
    params(ForAllInput),
    request_body(content = ForAllInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued),
        (status = 409, description = "There is no active server", body = crate::error::ErrorBody),
        (status = 422, description = "As for `/containers/build_master_for_all/`", body = crate::error::ErrorBody)))]
pub async fn build_master_for_all_unslashed(
    State(state): State<AppState>,
    Extension(user): Extension<AdminUser>,
    Params(query): Params<ForAllInput>,
    Input(body): Input<ForAllInput>,
) -> ApiResult<Response> {
    start_for_all(&state, &user, query, body).await
}
