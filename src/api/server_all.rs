//! Fan-outs over a server's clients: `migrate_all` and `switch_all` (SPEC spells them under
//! `/server/`; `/servers/` answers too), and `retry_failed` of such a fan-out. Each is a parent
//! operation holding the server lock with one child per active client (see
//! [`crate::ops::fanout`]), answered 202. `?parallel=` (children at once, default
//! `ALFA_FANOUT_PER_SERVER`), `?canary=1` (one first, the rest only if it succeeds),
//! `?stop_on_error=1` (no new child after a failure). Each answers GET and POST; a POST may
//! send these as form-data or JSON as well (a body field wins over the query's).

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
use super::input::{Id, Input, Params, Text, parse_bool, parse_id, parse_int};
use super::operations::{accepted, load, submit};
use crate::domain::VersionTag;
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::On;
use crate::ops::fanout::{FanOut, Retry};
use crate::ops::kinds::server_all::{MigrateAll, SwitchAll};
use crate::state::AppState;
use crate::store::operations;
use crate::store::operations::NewOperation;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(migrate_all, migrate_all_post))
        .routes(routes!(migrate_all_servers, migrate_all_servers_post))
        .routes(routes!(switch_all, switch_all_post))
        .routes(routes!(switch_all_servers, switch_all_servers_post))
        .routes(routes!(retry_failed))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct FanOutParams {
    /// Children running at once on the server (1–64; default `ALFA_FANOUT_PER_SERVER`, 4).
    parallel: Option<String>,
    /// `1`: one client first, the rest only if it succeeds.
    canary: Option<String>,
    /// `1`: no new client after one failed (default: go on).
    stop_on_error: Option<String>,
}

/// The same settings in a POST's body (form-data or JSON), over those of the query.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct FanOutBody {
    /// Children running at once on the server (1–64; default `ALFA_FANOUT_PER_SERVER`, 4).
    parallel: Option<Text>,
    /// `1`: one client first, the rest only if it succeeds.
    canary: Option<Text>,
    /// `1`: no new client after one failed (default: go on).
    stop_on_error: Option<Text>,
}

impl FanOutParams {
    /// The query's settings with the body's laid over them.
    fn with_body(self, body: FanOutBody) -> Self {
        // An empty field (a form's empty input, a JSON null) is absent.
        let over = |body: Option<Text>, query: Option<String>| {
            body.map(|t| t.0).filter(|v| !v.trim().is_empty()).or(query)
        };
        Self {
            parallel: over(body.parallel, self.parallel),
            canary: over(body.canary, self.canary),
            stop_on_error: over(body.stop_on_error, self.stop_on_error),
        }
    }
}

fn fan_out(state: &AppState, p: &FanOutParams) -> ApiResult<FanOut> {
    let mut problems = Problems::default();
    let how = fan_out_from(
        state,
        &mut problems,
        [
            p.parallel.as_deref(),
            p.canary.as_deref(),
            p.stop_on_error.as_deref(),
        ],
    );
    problems.into_result()?;
    Ok(how)
}

/// A fan-out's settings from the raw `parallel`, `canary` and `stop_on_error` of a request
/// (absent or empty: `ALFA_FANOUT_PER_SERVER`, off, off); a bad one is a problem naming it.
pub(super) fn fan_out_from(
    state: &AppState,
    problems: &mut Problems,
    [parallel, canary, stop_on_error]: [Option<&str>; 3],
) -> FanOut {
    let parallel = match parallel.map(str::trim) {
        None | Some("") => Some(state.settings.fanout_per_server as i64),
        Some(v) => problems.check("parallel", parse_int(v, 1, 64)),
    };
    let mut flag = |name: &str, v: Option<&str>| match v.map(str::trim) {
        None | Some("") => Some(false),
        Some(v) => problems.check(name, parse_bool(v)),
    };
    FanOut {
        parallel: parallel.and_then(|n| usize::try_from(n).ok()).unwrap_or(4),
        canary: flag("canary", canary).unwrap_or(false),
        stop_on_error: flag("stop_on_error", stop_on_error).unwrap_or(false),
    }
}

async fn start_migrate_all(
    state: &AppState,
    user: &AdminUser,
    id: i64,
    p: &FanOutParams,
) -> ApiResult<Response> {
    let how = fan_out(state, p)?;
    server(state, id).await?;
    submit::<MigrateAll>(
        state,
        user,
        On::server(id),
        serde_json::to_value(how).map_err(|e| ApiError::Internal(e.into()))?,
    )
    .await
}

/// `php artisan migrate --force` in every active client of the server: a parent operation
/// (holding the server lock) with one `client_migrate` child per client.
#[utoipa::path(get, path = "/server/{id}/migrate_all", tag = "fleet", params(("id" = i64, Path), FanOutParams),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn migrate_all(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_migrate_all(&state, &user, id, &p).await
}

/// `migrate_all` as a POST: the settings in the query, or as form-data or JSON.
#[utoipa::path(post, path = "/server/{id}/migrate_all", tag = "fleet", params(("id" = i64, Path), FanOutParams),
    request_body(content = FanOutBody, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn migrate_all_post(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<FanOutBody>,
) -> ApiResult<Response> {
    start_migrate_all(&state, &user, id, &p.with_body(body)).await
}

/// The same as `/server/{id}/migrate_all`.
#[utoipa::path(get, path = "/servers/{id}/migrate_all", tag = "fleet", params(("id" = i64, Path), FanOutParams),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn migrate_all_servers(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_migrate_all(&state, &user, id, &p).await
}

/// The same as `POST /server/{id}/migrate_all`.
#[utoipa::path(post, path = "/servers/{id}/migrate_all", tag = "fleet", params(("id" = i64, Path), FanOutParams),
    request_body(content = FanOutBody, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn migrate_all_servers_post(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<FanOutBody>,
) -> ApiResult<Response> {
    start_migrate_all(&state, &user, id, &p.with_body(body)).await
}

async fn start_switch_all(
    state: &AppState,
    user: &AdminUser,
    segments: TwoSegments,
    p: &FanOutParams,
) -> ApiResult<Response> {
    let TwoSegments(id, image_name) = segments;
    let id = parse_id(&id)?;
    let version =
        VersionTag::parse(&image_name).map_err(|problem| ApiError::field("image_name", problem))?;
    let how = fan_out(state, p)?;
    server(state, id).await?;
    let mut params = serde_json::to_value(how).map_err(|e| ApiError::Internal(e.into()))?;
    params["version"] = json!(version.as_str());
    submit::<SwitchAll>(state, user, On::server(id), params).await
}

/// The safe switch (dump, switch, migrate, probe, rollback on failure) of every active client
/// of the server to `{image_repo}:{image_name}`: a parent operation (holding the server lock)
/// with one `client_switch` child per client. A client that fails is back on its old version;
/// the others are on the new one.
#[utoipa::path(get, path = "/server/{id}/switch_all/{image_name}", tag = "fleet",
    params(("id" = i64, Path), ("image_name" = String, Path), FanOutParams),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn switch_all(
    State(state): State<AppState>,
    segments: TwoSegments,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_switch_all(&state, &user, segments, &p).await
}

/// `switch_all` as a POST: the settings in the query, or as form-data or JSON.
#[utoipa::path(post, path = "/server/{id}/switch_all/{image_name}", tag = "fleet",
    params(("id" = i64, Path), ("image_name" = String, Path), FanOutParams),
    request_body(content = FanOutBody, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn switch_all_post(
    State(state): State<AppState>,
    segments: TwoSegments,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<FanOutBody>,
) -> ApiResult<Response> {
    start_switch_all(&state, &user, segments, &p.with_body(body)).await
}

/// The same as `/server/{id}/switch_all/{image_name}`.
#[utoipa::path(get, path = "/servers/{id}/switch_all/{image_name}", tag = "fleet",
    params(("id" = i64, Path), ("image_name" = String, Path), FanOutParams),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn switch_all_servers(
    State(state): State<AppState>,
    segments: TwoSegments,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_switch_all(&state, &user, segments, &p).await
}

/// The same as `POST /server/{id}/switch_all/{image_name}`.
#[utoipa::path(post, path = "/servers/{id}/switch_all/{image_name}", tag = "fleet",
    params(("id" = i64, Path), ("image_name" = String, Path), FanOutParams),
    request_body(content = FanOutBody, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn switch_all_servers_post(
    State(state): State<AppState>,
    segments: TwoSegments,
    Params(p): Params<FanOutParams>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<FanOutBody>,
) -> ApiResult<Response> {
    start_switch_all(&state, &user, segments, &p.with_body(body)).await
}

/// Run a fan-out again for only the targets it did not bring to `ok` (its failed children and
/// those it never started): a new parent operation of the same kind and settings, on the
/// same server. 409 unless the operation is a fan-out that has ended in error or was cancelled.
#[utoipa::path(post, path = "/operations/{id}/retry_failed", tag = "operations", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn retry_failed(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let op = load(&state, id).await?;
    let Some(kind) = state.engine.kinds.fan_out(&op.kind) else {
        return Err(ApiError::Conflict(format!(
            "operation {id} is a {}, not a fan-out: retry it with POST /operations/{id}/retry",
            op.kind
        )));
    };
    if op.status != "error" && op.status != "cancelled" {
        return Err(ApiError::Conflict(format!(
            "operation {id} is {}: only a fan-out that ended in error or was cancelled has failed targets to retry",
            op.status
        )));
    }
    let children = operations::children(&state.db, id).await?;
    let retry = NewOperation {
        kind,
        server_id: op.server_id,
        client_id: op.client_id,
        parent_id: None,
        lock_scope: op.lock_scope.parse().map_err(ApiError::Internal)?,
        requested_by: user.0.clone(),
        params: Retry::params_after(&op, &children),
        max_attempts: op.max_attempts,
    };
    let id = state.engine.submit_row(&retry).await?;
    Ok(accepted(id))
}
