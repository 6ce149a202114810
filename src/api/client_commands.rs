//! The commands run in a lab's app, its database or its files: migrate, the demo data, the
//! maintenance page, the admin password. Each is an operation on an `active` client (409
//! otherwise), answered 202 with its id. Mol calls them with GET, but for `admin_password`.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::auth::AdminUser;
use super::clients::load_active;
use super::input::{Id, Input, Text, parse_id, required};
use super::operations::{accepted, submit};
use crate::crypto::purpose;
use crate::domain::LabPassword;
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::{On, kinds, new_operation};
use crate::state::AppState;
use crate::store::clients::{self, Written};

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

/// Add the demo data to the lab: its demo seeder (`ALFA_DEMO_SEEDER`, `php artisan db:seed
/// --class=… --force`), output in the log.
#[utoipa::path(get, path = "/clients/{id}/demo_enable", tag = "clients", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active", body = crate::error::ErrorBody)))]
pub async fn demo_enable(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    demo(&state, &user, id, true).await
}

/// Remove the demo data from the lab: its inverse demo seeder (`ALFA_DEMO_INVERSE_SEEDER`).
#[utoipa::path(get, path = "/clients/{id}/demo_disable", tag = "clients", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active", body = crate::error::ErrorBody)))]
pub async fn demo_disable(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    demo(&state, &user, id, false).await
}

async fn demo(state: &AppState, user: &AdminUser, id: i64, enable: bool) -> ApiResult<Response> {
    let client = load_active(state, id).await?;
    submit::<kinds::client_demo::ClientDemo>(
        state,
        user,
        On::client(client.server_id, id),
        json!({ "enable": enable }),
    )
    .await
}

/// Switch the lab's maintenance page on (`1`) or off (`0`): the `maintenance` setting in its
/// `cloud_settings`, and its vhost, which answers the lab's users 503 with the maintenance page
/// while on (`/up` is not affected). The operation ends `ok` once nginx, asked from the server,
/// serves the page (on) or no longer does (off).
#[utoipa::path(get, path = "/clients/{id}/maintain/{flag}", tag = "clients",
    params(("id" = i64, Path), ("flag" = String, Path, description = "1: maintenance on; 0: off")),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active", body = crate::error::ErrorBody),
        (status = 422, description = "`flag` is not 1 or 0", body = crate::error::ErrorBody)))]
pub async fn maintain(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let Path((id, flag)) = path.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id = parse_id(&id)?;
    let on = match flag.as_str() {
        "1" => true,
        "0" => false,
        _ => {
            return Err(ApiError::field(
                "flag",
                format!("must be 1 (maintenance on) or 0 (off), not {flag:?}"),
            ));
        }
    };
    let client = load_active(&state, id).await?;
    submit::<kinds::client_maintain::ClientMaintain>(
        &state,
        &user,
        On::client(client.server_id, id),
        json!({ "on": on }),
    )
    .await
}

/// The fields of `POST /clients/{id}/admin_password`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct AdminPasswordInput {
    /// The lab administrator's new password: at least 10 characters and at most 72 bytes
    /// (bcrypt ignores the rest). Write-only.
    pub password: Option<Text>,
    /// The same password again.
    pub confirm_password: Option<Text>,
}

/// Set a new password for the lab's administrator. It is kept (sealed) at once — `password_set`,
/// and what the welcome mail sends — and written into the lab's `users` table as a bcrypt hash
/// by the operation, which ends `ok` once the hash read back verifies it. Should it fail, the
/// lab keeps its previous password until the operation is retried.
#[utoipa::path(post, path = "/clients/{id}/admin_password", tag = "clients", params(("id" = i64, Path)),
    request_body(content = AdminPasswordInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn admin_password(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
    Input(input): Input<AdminPasswordInput>,
) -> ApiResult<Response> {
    let client = load_active(&state, id).await?;
    let mut p = Problems::default();
    let password = required(&mut p, "password", &input.password)
        .and_then(|v| p.check("password", LabPassword::parse(v)));
    let confirm = required(&mut p, "confirm_password", &input.confirm_password);
    if let (Some(password), Some(confirm)) = (&password, confirm)
        && password.expose() != confirm
    {
        p.add("confirm_password", "does not match password");
    }
    p.into_result()?;
    let password = password.expect("checked");
    let sealed = state
        .cipher
        .seal(purpose::CLIENT_ADMIN_PASSWORD, password.expose());
    let op = new_operation::<kinds::client_admin_password::ClientAdminPassword>(
        On::client(client.server_id, id),
        json!({}),
        &user.0,
    );
    // Kept first, then applied by the operation: the operation reads the password from the
    // row (so a retry applies the latest one, and the log masks it), and a failure leaves
    // a kept password that the retry applies.
    match clients::set_admin_password(&state.db, id, &sealed, &op).await? {
        Written::Done(Some(operation_id)) => {
            state.engine.push(&[operation_id]).await;
            tracing::info!(
                client.id = id,
                op.id = operation_id,
                "lab admin password set"
            );
            Ok(accepted(operation_id))
        }
        _ => Err(ApiError::Conflict(format!(
            "client {id} stopped being active while this request was handled: send it again \
             once it is active"
        ))),
    }
}
