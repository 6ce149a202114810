//! The handlers that change a client or start an action on it: create, update, licence end,
//! reboot. Their routes are declared in `clients.rs`.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::audit::AuditTarget;
use super::auth::AdminUser;
use super::client_input::{ClientInput, ExpireDateInput, new_client_secrets, validate};
use super::clients::{ClientView, load, load_active};
use super::input::{Id, Input, Params, check_text, parse_bool, parse_int, present, required};
use super::operations::submit;
use crate::domain::{ClientState, parse_datetime};
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::{On, kinds, new_operation};
use crate::state::AppState;
use crate::store::clients::{self, WriteError};
use crate::store::servers;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: i64,
    #[schema(example = "pending")]
    pub state: String,
    /// The creation operation: poll `/clients/{id}/createlog`.
    pub operation_id: i64,
    #[schema(example = "queued")]
    pub status: String,
}

/// Create a client (202 with its id; it starts `pending`), or update one when `id` is given.
/// A new client gets the lowest free port of its server's `client_ports` and fresh secrets
/// (app key, SQL password, API token), none of which the API ever returns.
#[utoipa::path(post, path = "/clients/", tag = "clients",
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = Accepted), (status = 200, body = ClientView),
        (status = 404, description = "The `id` sent names no client", body = crate::error::ErrorBody),
        (status = 409, description = "Every port of the server's `client_ports` range is taken; \
            the message names the server and its range", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    Extension(user): Extension<AdminUser>,
    Input(input): Input<ClientInput>,
) -> ApiResult<Response> {
    match present(&input.id) {
        Some(v) => {
            let id = parse_int(v, 1, i64::MAX).map_err(|e| ApiError::field("id", e))?;
            update_client(&state, id, &input).await
        }
        None => create_client(&state, &user, &input).await,
    }
}

/// The same as `POST /clients/`: the panel posts with the slash, scripts often without.
#[utoipa::path(post, path = "/clients", tag = "clients",
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = Accepted), (status = 200, body = ClientView),
        (status = 404, description = "The `id` sent names no client", body = crate::error::ErrorBody),
        (status = 409, description = "As for `POST /clients/`", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn save_unslashed(
    state: State<AppState>,
    user: Extension<AdminUser>,
    input: Input<ClientInput>,
) -> ApiResult<Response> {
    save(state, user, input).await
}

/// Update a client's data.
#[utoipa::path(put, path = "/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Id(id): Id,
    Input(input): Input<ClientInput>,
) -> ApiResult<Response> {
    update_client(&state, id, &input).await
}

async fn create_client(
    state: &AppState,
    user: &AdminUser,
    input: &ClientInput,
) -> ApiResult<Response> {
    let spec = validate(state, input, None).await?;
    let server = servers::get(&state.db, spec.server_id)
        .await?
        .ok_or_else(|| ApiError::field("server_id", "no such server"))?;
    let creation = new_operation::<kinds::client_create::ClientCreate>(
        On::server(server.id),
        serde_json::json!({ "subdomain": spec.subdomain.as_str(), "version_tag": spec.version_tag.as_str() }),
        &user.0,
    );
    // Client and creation operation commit together; the push comes after, and a queue that
    // is down only delays the operation (the sweeper pushes it later).
    let secrets = new_client_secrets(&state.cipher);
    let (id, operation_id) = clients::insert(&state.db, &spec, &secrets, &server.domain, &creation)
        .await
        .map_err(write_error)?;
    state.engine.push(&[operation_id]).await;
    tracing::info!(client.id = id, client.subdomain = %spec.subdomain, server.id = server.id, op.id = operation_id, "client registered");
    let body = Accepted {
        id,
        state: ClientState::Pending.as_str().to_owned(),
        operation_id,
        status: "queued".to_owned(),
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "client", id });
    Ok(response)
}

async fn update_client(state: &AppState, id: i64, input: &ClientInput) -> ApiResult<Response> {
    let stored = load(state, id).await?;
    let spec = validate(state, input, Some(&stored)).await?;
    clients::update(&state.db, id, &spec)
        .await
        .map_err(write_error)?;
    tracing::info!(client.id = id, "client updated");
    let mut response = axum::Json(ClientView::from(load(state, id).await?)).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "client", id });
    Ok(response)
}

fn write_error(err: WriteError) -> ApiError {
    match err {
        WriteError::FqdnTaken => ApiError::field(
            "subdomain",
            "is already used by another client on this domain",
        ),
        WriteError::PortsExhausted { server, range } => ApiError::Conflict(format!(
            "server {server} has no free client port: every port of its client_ports range \
             {range} is taken; widen the range (POST /servers/ client_ports) or use another server"
        )),
        WriteError::ServerGone(id) => {
            ApiError::field("server_id", format!("server {id} does not exist"))
        }
        WriteError::Db(e) => e.into(),
    }
}

/// Set the last day the lab may use its cloud. `sender` is recorded with the change.
#[utoipa::path(post, path = "/clients/{id}/expire_date", tag = "clients", params(("id" = i64, Path)),
    request_body(content = ExpireDateInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn expire_date(
    State(state): State<AppState>,
    Id(id): Id,
    Input(input): Input<ExpireDateInput>,
) -> ApiResult<Response> {
    let mut p = Problems::default();
    let sender = required(&mut p, "sender", &input.sender)
        .and_then(|v| p.check("sender", check_text(v, 100, true)));
    let at = required(&mut p, "license_expires_at", &input.license_expires_at)
        .and_then(|v| p.check("license_expires_at", parse_datetime(v)));
    p.into_result()?;
    let (sender, at) = (sender.expect("checked"), at.expect("checked"));
    if !clients::set_license_expiry(&state.db, id, at, &sender).await? {
        return Err(ApiError::NotFound(format!("client {id} does not exist")));
    }
    tracing::info!(client.id = id, sender = %sender, license_expires_at = %at, "licence end date changed");
    let mut response = axum::Json(ClientView::from(load(&state, id).await?)).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "client", id });
    Ok(response)
}

/// Restart a client's container (an operation).
#[utoipa::path(get, path = "/clients/{id}/reboot", tag = "clients", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active (being created, failed, being deleted, deleted)", body = crate::error::ErrorBody)))]
pub async fn reboot(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let client = load_active(&state, id).await?;
    submit::<kinds::client_reboot::ClientReboot>(
        &state,
        &user,
        On::client(client.server_id, id),
        json!({}),
    )
    .await
}

#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct DeleteParams {
    /// Also drop the client's database and SQL user, after a gzip dump kept under
    /// `{base_dir}/backups/c{id}/` (default false: the database is kept).
    drop_database: Option<String>,
}

/// Take a client off its server (an operation: `deleting`, then `deleted`): container, vhost,
/// certificate and folder removed; with `drop_database=1` its database and user too, after a
/// dump. The row stays for the audit trail, and the subdomain is free for a new client.
#[utoipa::path(delete, path = "/clients/{id}", tag = "clients", params(("id" = i64, Path), DeleteParams),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<DeleteParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let drop_database = match p.drop_database.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => parse_bool(v).map_err(|e| ApiError::field("drop_database", e))?,
        None => false,
    };
    let client = load(&state, id).await?;
    if client.state == ClientState::Deleted.as_str() {
        return Err(ApiError::Conflict(format!(
            "client {id} is already deleted"
        )));
    }
    tracing::info!(client.id = id, drop_database, "client deletion requested");
    submit::<kinds::client_delete::ClientDelete>(
        &state,
        &user,
        On::client(client.server_id, id),
        json!({ "drop_database": drop_database }),
    )
    .await
}
