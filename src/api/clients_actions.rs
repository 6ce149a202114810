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
use super::clients::{ClientView, check_active, load, load_active};
use super::input::{Id, Input, Params, check_text, parse_bool, parse_int, present, required};
use super::operations::submit;
use crate::domain::{ClientState, parse_datetime};
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::kinds::client_update::{self, ClientUpdate};
use crate::ops::{On, kinds, new_operation};
use crate::state::AppState;
use crate::store::clients::{self, ClientRow, WriteError, Written};
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

/// A client after a change, with the operation that applies the change on its server.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientUpdated {
    #[serde(flatten)]
    pub client: ClientView,
    /// The operation applying the change on the lab's server (`GET /operations/{id}`); null
    /// when nothing there changes — only fields of ours changed, or the client is `pending`
    /// or `error` and its creation (or the retry of it) writes the new values.
    pub operation_id: Option<i64>,
}

/// Create a client (202 with its id; it starts `pending`), or update one when `id` is given.
/// A new client gets the lowest free port of its server's `client_ports` and fresh secrets
/// (app key, SQL password, API token), none of which the API ever returns.
#[utoipa::path(post, path = "/clients/", tag = "clients",
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = Accepted), (status = 200, body = ClientUpdated),
        (status = 404, description = "The `id` sent names no client", body = crate::error::ErrorBody),
        (status = 409, description = "Every port of the server's `client_ports` range is taken \
            (the message names the server and its range); or, on update, the change touches the \
            lab's server while the client is being created, deleted or is deleted",
            body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    Extension(user): Extension<AdminUser>,
    Input(input): Input<ClientInput>,
) -> ApiResult<Response> {
    match present(&input.id) {
        Some(v) => {
            let id = parse_int(v, 1, i64::MAX).map_err(|e| ApiError::field("id", e))?;
            update_client(&state, &user, id, &input).await
        }
        None => create_client(&state, &user, &input).await,
    }
}

/// The same as `POST /clients/`: the panel posts with the slash, scripts often without.
#[utoipa::path(post, path = "/clients", tag = "clients",
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = Accepted), (status = 200, body = ClientUpdated),
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

/// Update a client's data (absent fields keep their values). The fields the lab's server
/// follows (`allowed_ips`, `timezone`, names, `email`, `config`, licence, `password`) are
/// applied there by one operation, `operation_id` (see the `client_update` kind); the answer
/// already shows the new values.
#[utoipa::path(put, path = "/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientUpdated), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The change touches the lab's server while the client is \
            being created, deleted or is deleted (the message says its state)", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
    Input(input): Input<ClientInput>,
) -> ApiResult<Response> {
    update_client(&state, &user, id, &input).await
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

async fn update_client(
    state: &AppState,
    user: &AdminUser,
    id: i64,
    input: &ClientInput,
) -> ApiResult<Response> {
    let stored = load(state, id).await?;
    let spec = validate(state, input, Some(&stored)).await?;
    let changes = client_update::changes(&stored, &spec, &state.cipher);
    let apply = if changes.is_empty() {
        None
    } else if applies_now(&stored)? {
        Some(new_operation::<ClientUpdate>(
            On::client(stored.server_id, id),
            serde_json::to_value(&changes).map_err(|e| ApiError::Internal(e.into()))?,
            &user.0,
        ))
    } else {
        None
    };
    let operation_id = match clients::update(&state.db, id, &stored.state, &spec, apply.as_ref())
        .await
        .map_err(write_error)?
    {
        Written::Done(operation_id) => operation_id,
        Written::Missed => return Err(changed_meanwhile(state, id).await),
    };
    if let Some(op) = operation_id {
        state.engine.push(&[op]).await;
    }
    tracing::info!(client.id = id, changed = ?changes.changed, op.id = ?operation_id, "client updated");
    updated(state, id, operation_id).await
}

/// Whether a change of `client` that touches its server is applied there now (`active`), or
/// left to its creation, which writes the row's values when it runs (`pending`) or is retried
/// (`error`). Being created, deleted or deleted: 409 saying so.
fn applies_now(client: &ClientRow) -> ApiResult<bool> {
    match ClientState::parse(&client.state) {
        Ok(ClientState::Active) => Ok(true),
        Ok(ClientState::Pending | ClientState::Error) => Ok(false),
        _ => check_active(client).map(|()| false),
    }
}

/// The answer when a guarded write found the client gone or in another state.
async fn changed_meanwhile(state: &AppState, id: i64) -> ApiError {
    match load(state, id).await {
        Ok(client) => ApiError::Conflict(format!(
            "client {id} became {} while this request was handled: send it again",
            client.state
        )),
        Err(err) => err,
    }
}

/// 200 with the client's view and the operation applying the change.
async fn updated(state: &AppState, id: i64, operation_id: Option<i64>) -> ApiResult<Response> {
    let body = ClientUpdated {
        client: ClientView::from(load(state, id).await?),
        operation_id,
    };
    let mut response = axum::Json(body).into_response();
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

/// Set the last day the lab may use its cloud: in our row at once, and in the lab's
/// `cloud_settings` by the operation `operation_id` (null when the date does not change, or
/// the client's creation writes it). `sender` is recorded with the change and in that
/// operation's log.
#[utoipa::path(post, path = "/clients/{id}/expire_date", tag = "clients", params(("id" = i64, Path)),
    request_body(content = ExpireDateInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientUpdated), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is being created, deleted or is deleted (the \
            message says its state)", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn expire_date(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
    Input(input): Input<ExpireDateInput>,
) -> ApiResult<Response> {
    let mut p = Problems::default();
    let sender = required(&mut p, "sender", &input.sender)
        .and_then(|v| p.check("sender", check_text(v, 100, true)));
    let at = required(&mut p, "license_expires_at", &input.license_expires_at)
        .and_then(|v| p.check("license_expires_at", parse_datetime(v)));
    p.into_result()?;
    let (sender, at) = (sender.expect("checked"), at.expect("checked"));
    let client = load(&state, id).await?;
    let apply = if client.license_expires_at == Some(at) || !applies_now(&client)? {
        None
    } else {
        Some(
            new_operation::<kinds::client_expire_date::ClientExpireDate>(
                On::client(client.server_id, id),
                json!({ "sender": sender, "license_expires_at": at }),
                &user.0,
            ),
        )
    };
    let operation_id = match clients::set_license_expiry(
        &state.db,
        id,
        &client.state,
        at,
        &sender,
        apply.as_ref(),
    )
    .await?
    {
        Written::Done(operation_id) => operation_id,
        Written::Missed => return Err(changed_meanwhile(&state, id).await),
    };
    if let Some(op) = operation_id {
        state.engine.push(&[op]).await;
    }
    tracing::info!(client.id = id, sender = %sender, license_expires_at = %at, op.id = ?operation_id, "licence end date changed");
    updated(&state, id, operation_id).await
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
