//! `/containers/{server_id}/prune` (GET and POST): the `prune` operation on a server — the
//! LIMS images nothing uses removed (the newest `ALFA_KEEP_IMAGES` unused kept), then the
//! dangling images and the build cache (see [`crate::ops::kinds::prune`]). `?dry_run=1`: the
//! plan only. Answered 202; the operation's result says what was (or would be) removed and the
//! space freed.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AdminUser;
use super::fleet::server;
use super::input::{Id, Input, Params, Text, parse_bool};
use super::operations::submit;
use crate::error::{ApiResult, Problems};
use crate::ops::On;
use crate::ops::kinds::prune::Prune;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(prune, prune_post))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PruneParams {
    /// `1`: only say what would be removed (default `0`).
    dry_run: Option<String>,
}

/// The same in a POST's body (form-data or JSON), over the query's.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct PruneBody {
    /// `1`: only say what would be removed (default `0`).
    dry_run: Option<Text>,
}

async fn start(
    state: &AppState,
    user: &AdminUser,
    server_id: i64,
    dry_run: Option<&str>,
) -> ApiResult<Response> {
    let mut problems = Problems::default();
    let dry_run = match dry_run.map(str::trim) {
        None | Some("") => Some(false),
        Some(v) => problems.check("dry_run", parse_bool(v)),
    };
    problems.into_result()?;
    server(state, server_id).await?;
    submit::<Prune>(
        state,
        user,
        On::server(server_id),
        json!({ "dry_run": dry_run.unwrap_or(false) }),
    )
    .await
}

/// Delete the image versions nothing on the server uses: the images of `{image_repo}` that no
/// client of the server's machine in the records (in any state but deleted), no container
/// (running or stopped) and no compose file under `{base_dir}/docker/clients/` names, except
/// the newest `ALFA_KEEP_IMAGES` (3) of them; then dangling images (`docker image prune
/// --force`) and the build cache (`docker builder prune --force`) — never `-a`, never
/// `--volumes`, never `system prune` (it would remove stopped clients' containers). An
/// operation holding the server lock; its result lists every image with what was done and
/// why, what was removed and the space freed.
#[utoipa::path(get, path = "/containers/{server_id}/prune", tag = "fleet",
    params(("server_id" = i64, Path), PruneParams),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn prune(
    State(state): State<AppState>,
    Id(server_id): Id,
    Params(p): Params<PruneParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start(&state, &user, server_id, p.dry_run.as_deref()).await
}

/// The same as `GET /containers/{server_id}/prune`; `dry_run` in the query, or as form-data or
/// JSON.
#[utoipa::path(post, path = "/containers/{server_id}/prune", tag = "fleet",
    params(("server_id" = i64, Path), PruneParams),
    request_body(content = PruneBody, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn prune_post(
    State(state): State<AppState>,
    Id(server_id): Id,
    Params(p): Params<PruneParams>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<PruneBody>,
) -> ApiResult<Response> {
    // An empty field (a form's empty input, a JSON null) is absent.
    let dry_run = body
        .dry_run
        .map(|t| t.0)
        .filter(|v| !v.trim().is_empty())
        .or(p.dry_run);
    start(&state, &user, server_id, dry_run.as_deref()).await
}
