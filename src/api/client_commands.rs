//! The commands run in a lab's app or on its files: migrate, …. Each is an operation on an
//! `active` client (409 otherwise), answered 202 with its id. Mol calls them with GET.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::auth::AdminUser;
use super::clients::load_active;
use super::input::Id;
use super::operations::submit;
use crate::error::ApiResult;
use crate::ops::{On, kinds};
use crate::state::AppState;

/// Run the lab's database migrations (`php artisan migrate --force`), output in the log.
#[utoipa::path(get, path = "/clients/{id}/migrate", tag = "clients", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active", body = crate::error::ErrorBody)))]
pub async fn migrate(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let client = load_active(&state, id).await?;
    submit::<kinds::client_migrate::ClientMigrate>(
        &state,
        &user,
        On::client(client.server_id, id),
        json!({}),
    )
    .await
}
