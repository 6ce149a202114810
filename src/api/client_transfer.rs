//! A lab's data or the lab itself to another place: `copy_to` (its database into a stage lab)
//! and `move_to` (the lab to another server). Each is an operation, answered 202 with its id;
//! what the rules refuse is a 409 naming the rule, checked here and again when it runs.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::auth::AdminUser;
use super::clients::load_active;
use super::fleet::server;
use super::input::parse_id;
use super::operations::submit;
use crate::error::{ApiError, ApiResult};
use crate::ops::On;
use crate::ops::kinds::{client_copy, client_move};
use crate::state::AppState;
use crate::store::transfer as moves;

/// The two ids of `/clients/{id}/…/{other}`; anything but positive whole numbers is a 400.
pub struct TwoIds(pub i64, pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TwoIds {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Self(parse_id(&a)?, parse_id(&b)?))
    }
}

/// Copy client `id`'s database into client `client_id` (the target), keeping the target's
/// administrator, its own settings (name, admin, licence, config, maintenance, version), its
/// URL, keys and secrets; then restart the target and probe it. Only between clients on
/// `stage` servers, into a DEMO or TEST client, of the same `sql_kind`; the operation is the
/// target's.
#[utoipa::path(get, path = "/clients/{id}/copy_to/{client_id}", tag = "clients",
    params(("id" = i64, Path, description = "The source client"),
        ("client_id" = i64, Path, description = "The target client, overwritten")),
    responses((status = 202, body = super::operations::Queued),
        (status = 400, description = "An id is not a positive whole number", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "A client is not active, or a rule refuses the copy (not \
            stage, target not DEMO/TEST, other sql_kind, the same client); the message names it",
            body = crate::error::ErrorBody)))]
pub async fn copy_to(
    State(state): State<AppState>,
    TwoIds(id, target_id): TwoIds,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let source = load_active(&state, id).await?;
    let target = load_active(&state, target_id).await?;
    let source_server = server(&state, source.server_id).await?;
    let target_server = server(&state, target.server_id).await?;
    if let Some(why) = client_copy::refusal(&source_server, &source, &target_server, &target) {
        return Err(ApiError::Conflict(why));
    }
    submit::<client_copy::ClientCopy>(
        &state,
        &user,
        On::client(target.server_id, target.id),
        json!({ "source_id": source.id }),
    )
    .await
}

/// Move client `id` to server `server_id`: made there at the same version (database, files,
/// vhost, container, certificate, probe) while the source shows its maintenance page, then
/// removed from the source. A failure before that undoes the target's half and the source
/// serves as before. Under another domain the lab's name changes with it.
#[utoipa::path(get, path = "/clients/{id}/move_to/{server_id}", tag = "clients",
    params(("id" = i64, Path), ("server_id" = i64, Path, description = "The target server")),
    responses((status = 202, body = super::operations::Queued),
        (status = 400, description = "An id is not a positive whole number", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active, or the move is refused (the same \
            server, an inactive one, another sql_kind, the name taken under the target's domain, \
            no free port); the message names it", body = crate::error::ErrorBody)))]
pub async fn move_to(
    State(state): State<AppState>,
    TwoIds(id, server_id): TwoIds,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let client = load_active(&state, id).await?;
    let target = server(&state, server_id).await?;
    let source = server(&state, client.server_id).await?;
    if let Some(why) = crate::ops::lifecycle::transfer::move_refusal(&source, &client, &target) {
        return Err(ApiError::Conflict(why));
    }
    let fqdn = crate::ops::lifecycle::transfer::fqdn_on(&client, &target);
    if let Some(holder) = moves::fqdn_holder(&state.db, &fqdn, client.id).await? {
        return Err(ApiError::Conflict(format!(
            "{fqdn} is the name of client {holder} under server {}'s domain: the lab cannot move \
             there with its subdomain",
            target.name
        )));
    }
    if moves::free_port(&state.db, target.id).await?.is_none() {
        return Err(ApiError::Conflict(format!(
            "every port of server {}'s client_ports ({}) is taken: widen the range first",
            target.name,
            target.client_ports()
        )));
    }
    submit::<client_move::ClientMove>(
        &state,
        &user,
        On::client(client.server_id, client.id),
        json!({ "server_id": target.id }),
    )
    .await
}
