//! `deploy` of a server (`/server/{id}/deploy`, `/servers/{id}/deploy`) and `reconfigurate` of
//! every active server (`/clients/reconfigurate`), GET as Mol calls them or POST. Both are
//! fan-outs answered 202 with the parent operation: `?parallel=`, `?canary=1`,
//! `?stop_on_error=1` as for `migrate_all`, and `?dry_run=1` (report only, change nothing);
//! reconfigurate also `?remove_stale=1`. A POST may send the same options as form fields or
//! JSON instead of the query.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AdminUser;
use super::fleet::server;
use super::input::{Id, Input, Params, Text, parse_bool, present};
use super::operations::submit;
use super::server_all::fan_out_from;
use crate::error::{ApiResult, Problems};
use crate::ops::On;
use crate::ops::kinds::deploy::Deploy;
use crate::ops::kinds::reconfigurate::Reconfigurate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deploy_get))
        .routes(routes!(deploy_post))
        .routes(routes!(deploy_servers_get))
        .routes(routes!(deploy_servers_post))
        .routes(routes!(reconfigurate_get))
        .routes(routes!(reconfigurate_post))
}

/// The options of a deploy or a reconfigurate, from the query (or a POST's body).
#[derive(Deserialize, Default, Clone, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Options {
    /// Children running at once per server (1–64; default `ALFA_FANOUT_PER_SERVER`, 4).
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    parallel: Option<Text>,
    /// `1`: one child first, the rest only if it succeeds.
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    canary: Option<Text>,
    /// `1`: no new child after one failed (default: go on).
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    stop_on_error: Option<Text>,
    /// `1`: report what would change, change nothing.
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    dry_run: Option<Text>,
    /// reconfigurate only, `1`: take keys `.env.example` no longer has out of the `.env` files
    /// (never those the template writes); default: report them and keep them.
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    remove_stale: Option<Text>,
}

impl Options {
    /// The body's options laid over the query's (an empty body field is absent, as for
    /// migrate_all's).
    fn over(self, body: Options) -> Options {
        let over = |body: Option<Text>, query: Option<Text>| {
            body.filter(|t| !t.as_str().trim().is_empty()).or(query)
        };
        Options {
            parallel: over(body.parallel, self.parallel),
            canary: over(body.canary, self.canary),
            stop_on_error: over(body.stop_on_error, self.stop_on_error),
            dry_run: over(body.dry_run, self.dry_run),
            remove_stale: over(body.remove_stale, self.remove_stale),
        }
    }

    /// The operation's parameters (validated: 422 naming each bad field).
    pub fn params(&self, state: &AppState, reconfigurate: bool) -> ApiResult<Value> {
        let mut problems = Problems::default();
        let how = fan_out_from(
            state,
            &mut problems,
            [
                present(&self.parallel),
                present(&self.canary),
                present(&self.stop_on_error),
            ],
        );
        let mut flag = |name: &str, field: &Option<Text>| match present(field) {
            None => Some(false),
            Some(v) => problems.check(name, parse_bool(v)),
        };
        let dry_run = flag("dry_run", &self.dry_run);
        let remove_stale = flag("remove_stale", &self.remove_stale);
        if !reconfigurate && remove_stale == Some(true) {
            problems.add(
                "remove_stale",
                "belongs to /clients/reconfigurate: deploy keeps every key a .env holds",
            );
        }
        problems.into_result()?;
        let mut params = json!({
            "parallel": how.parallel,
            "canary": how.canary,
            "stop_on_error": how.stop_on_error,
            "dry_run": dry_run.unwrap_or(false),
        });
        if reconfigurate {
            params["remove_stale"] = json!(remove_stale.unwrap_or(false));
        }
        Ok(params)
    }
}

async fn start_deploy(
    state: &AppState,
    user: &AdminUser,
    id: i64,
    options: &Options,
) -> ApiResult<Response> {
    let params = options.params(state, false)?;
    server(state, id).await?;
    submit::<Deploy>(state, user, On::server(id), params).await
}

/// Re-creates every config of every active client of the server (`.env`, `php/add_vars.ini`,
/// compose file, maintenance page, nginx vhost) from today's templates and data, keeping each
/// lab's secrets and the `.env` keys reconfigurate added; writes only what differs, tests and
/// reloads nginx once, recreates only the containers whose files changed. A parent operation
/// (server lock) with one `client_deploy` child per client; its result reports each client's
/// changed files (`.env`: keys added/removed/changed, secret-looking values `***`; others: a
/// short line diff). `migrate_all` should follow.
#[utoipa::path(get, path = "/server/{id}/deploy", tag = "fleet", params(("id" = i64, Path), Options),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn deploy_get(
    State(state): State<AppState>,
    Id(id): Id,
    Params(options): Params<Options>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_deploy(&state, &user, id, &options).await
}

/// The same as `GET /server/{id}/deploy`; the options may come as form fields or JSON.
#[utoipa::path(post, path = "/server/{id}/deploy", tag = "fleet", params(("id" = i64, Path), Options),
    request_body(content = Options, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn deploy_post(
    State(state): State<AppState>,
    Id(id): Id,
    Params(options): Params<Options>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<Options>,
) -> ApiResult<Response> {
    start_deploy(&state, &user, id, &options.over(body)).await
}

/// The same as `GET /server/{id}/deploy`.
#[utoipa::path(get, path = "/servers/{id}/deploy", tag = "fleet", params(("id" = i64, Path), Options),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn deploy_servers_get(
    State(state): State<AppState>,
    Id(id): Id,
    Params(options): Params<Options>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_deploy(&state, &user, id, &options).await
}

/// The same as `POST /server/{id}/deploy`.
#[utoipa::path(post, path = "/servers/{id}/deploy", tag = "fleet", params(("id" = i64, Path), Options),
    request_body(content = Options, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn deploy_servers_post(
    State(state): State<AppState>,
    Id(id): Id,
    Params(options): Params<Options>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<Options>,
) -> ApiResult<Response> {
    start_deploy(&state, &user, id, &options.over(body)).await
}

async fn start_reconfigurate(
    state: &AppState,
    user: &AdminUser,
    options: &Options,
) -> ApiResult<Response> {
    let params = options.params(state, true)?;
    submit::<Reconfigurate>(state, user, On::default(), params).await
}

/// On every active server: `git pull` (fast-forward only) of master in `{base_dir}/git`, then
/// every active client's `.env` merged with the repository's `.env.example` — new keys added
/// with the example's values, existing values kept, keys the example dropped reported (and
/// removed with `remove_stale=1`, never those the template writes) — and the containers whose
/// `.env` changed recreated. A parent operation with one `server_reconfigurate` child per
/// server (each holding its server's lock); a server whose checkout is dirty or diverged fails
/// alone. `dry_run=1`: `git fetch` only, `.env.example` read from `origin/master`, nothing
/// written.
#[utoipa::path(get, path = "/clients/reconfigurate", tag = "fleet", params(Options),
    responses((status = 202, body = super::operations::Queued), (status = 422, body = crate::error::ErrorBody)))]
pub async fn reconfigurate_get(
    State(state): State<AppState>,
    Params(options): Params<Options>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    start_reconfigurate(&state, &user, &options).await
}

/// The same as `GET /clients/reconfigurate`; the options may come as form fields or JSON.
#[utoipa::path(post, path = "/clients/reconfigurate", tag = "fleet", params(Options),
    request_body(content = Options, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn reconfigurate_post(
    State(state): State<AppState>,
    Params(options): Params<Options>,
    Extension(user): Extension<AdminUser>,
    Input(body): Input<Options>,
) -> ApiResult<Response> {
    start_reconfigurate(&state, &user, &options.over(body)).await
}
