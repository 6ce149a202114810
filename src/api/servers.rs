//! `/servers`: the fleet's servers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::AuditTarget;
use super::input::{Id, Input, Params, parse_bool, parse_int, present};
use super::server_input::{ServerInput, validate};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::servers::{self, DeleteOutcome, ServerRow, WriteError};

/// `/servers` and `/servers/{id}` (the actions on a server are in `fleet.rs`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, save_unslashed))
        .routes(routes!(save))
        .routes(routes!(get, delete))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ServerView {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub domain: String,
    pub ssh_port: i64,
    pub ssh_user: String,
    pub base_dir: String,
    #[schema(value_type = String, example = "production")]
    pub environment: String,
    #[schema(value_type = String, example = "mariadb")]
    pub sql_kind: String,
    pub sql_port: i64,
    pub sql_user: String,
    /// Whether an SQL password is stored; the password itself is never returned.
    pub sql_password_set: bool,
    /// ACME directory URL for certificates; empty means Let's Encrypt.
    pub acme_directory: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether an SSH host key was recorded at the first connection.
    pub host_key_known: bool,
    /// Whether the server answered over SSH at the last check (null: never checked).
    pub reachable: Option<bool>,
    pub reachable_checked_at: Option<DateTime<Utc>>,
    /// The last check_host result (null: never checked).
    #[schema(value_type = Option<Object>)]
    pub last_check: Option<serde_json::Value>,
    /// The port the clients' vhosts listen on for HTTP (redirects and ACME challenges).
    #[schema(example = 80)]
    pub http_port: i64,
    /// The port the clients' vhosts listen on for HTTPS.
    #[schema(example = 443)]
    pub https_port: i64,
    /// The IP address the vhosts listen on; empty: all addresses.
    #[schema(example = "")]
    pub listen_address: String,
    /// certbot's configuration folder.
    #[schema(example = "/etc/letsencrypt")]
    pub letsencrypt_dir: String,
    /// The host name or IP a client's container reaches the SQL server at.
    #[schema(example = "host.docker.internal")]
    pub db_host_for_clients: String,
    /// The ports client containers publish on 127.0.0.1, `A-B`.
    #[schema(example = "20000-29999")]
    pub client_ports: String,
}

impl From<ServerRow> for ServerView {
    fn from(row: ServerRow) -> Self {
        let client_ports = row.client_ports();
        Self {
            id: row.id,
            name: row.name,
            host: row.host,
            domain: row.domain,
            ssh_port: row.ssh_port,
            ssh_user: row.ssh_user,
            base_dir: row.base_dir,
            environment: row.environment,
            sql_kind: row.sql_kind,
            sql_port: row.sql_port,
            sql_user: row.sql_user,
            sql_password_set: row.sql_password_enc.is_some(),
            acme_directory: row.acme_directory,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            host_key_known: row.host_key.is_some(),
            reachable: row.reachable,
            reachable_checked_at: row.reachable_checked_at,
            last_check: row
                .last_check
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok()),
            client_ports,
            http_port: row.http_port,
            https_port: row.https_port,
            listen_address: row.listen_address,
            letsencrypt_dir: row.letsencrypt_dir,
            db_host_for_clients: row.db_host_for_clients,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `1` to include inactive servers.
    all: Option<String>,
}

/// The active servers (all of them with `?all=1`).
#[utoipa::path(get, path = "/servers", tag = "servers", params(ListParams),
    responses((status = 200, body = Vec<ServerView>)))]
pub async fn list(
    State(state): State<AppState>,
    Params(params): Params<ListParams>,
) -> ApiResult<axum::Json<Vec<ServerView>>> {
    let all = match params.all.as_deref() {
        None | Some("") => false,
        Some(v) => parse_bool(v).map_err(|e| ApiError::field("all", e))?,
    };
    let rows = servers::list(&state.db, all).await?;
    Ok(axum::Json(rows.into_iter().map(ServerView::from).collect()))
}

/// One server.
#[utoipa::path(get, path = "/servers/{id}", tag = "servers", params(("id" = i64, Path)),
    responses((status = 200, body = ServerView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<axum::Json<ServerView>> {
    let row = servers::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("server {id} does not exist")))?;
    Ok(axum::Json(row.into()))
}

/// Create a server, or update one when `id` is given.
#[utoipa::path(post, path = "/servers/", tag = "servers",
    request_body(content = ServerInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = ServerView), (status = 200, body = ServerView),
        (status = 404, description = "The `id` sent names no server", body = crate::error::ErrorBody),
        (status = 409, description = "The update changes what the server's clients were set up \
            for (domain, base_dir, sql_kind, sql_port, http_port, https_port, listen_address, or a \
            client_ports range leaving a client's port out) while it has clients that are not \
            deleted; the message names them", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    Input(input): Input<ServerInput>,
) -> ApiResult<Response> {
    let id = match present(&input.id) {
        Some(v) => Some(parse_int(v, 1, i64::MAX).map_err(|e| ApiError::field("id", e))?),
        None => None,
    };
    let stored = match id {
        Some(id) => Some(
            servers::get(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("server {id} does not exist")))?,
        ),
        None => None,
    };
    let spec = validate(&state, &input, stored.as_ref())?;
    let (id, status) = match id {
        Some(id) => {
            servers::update(&state.db, id, &spec)
                .await
                .map_err(write_error)?;
            (id, StatusCode::OK)
        }
        None => (
            servers::insert(&state.db, &spec)
                .await
                .map_err(write_error)?,
            StatusCode::CREATED,
        ),
    };
    let row = servers::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("server {id} does not exist")))?;
    tracing::info!(server.id = id, server.name = %row.name, "server saved");
    let mut response = (status, axum::Json(ServerView::from(row))).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "server", id });
    Ok(response)
}

/// The same as `POST /servers/`: the panel posts with the slash, scripts often without.
#[utoipa::path(post, path = "/servers", tag = "servers",
    request_body(content = ServerInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = ServerView), (status = 200, body = ServerView),
        (status = 404, description = "The `id` sent names no server", body = crate::error::ErrorBody),
        (status = 409, description = "As for `POST /servers/`", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn save_unslashed(
    state: State<AppState>,
    input: Input<ServerInput>,
) -> ApiResult<Response> {
    save(state, input).await
}

fn write_error(err: WriteError) -> ApiError {
    match err {
        WriteError::NameTaken => ApiError::field("name", "is already used by another server"),
        err @ WriteError::HasClients { .. } => ApiError::Conflict(err.to_string()),
        WriteError::Db(e) => e.into(),
    }
}

/// Remove a server's record. Refused (409) while it has clients.
#[utoipa::path(delete, path = "/servers/{id}", tag = "servers", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> ApiResult<StatusCode> {
    match servers::delete(&state.db, id).await? {
        DeleteOutcome::Deleted => {
            tracing::info!(server.id = id, "server deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        DeleteOutcome::NotFound => Err(ApiError::NotFound(format!("server {id} does not exist"))),
        DeleteOutcome::HasClients(n) => Err(ApiError::Conflict(format!(
            "server {id} still has {n} client(s): move or delete them first"
        ))),
    }
}
