//! The mails to a lab: `send_success` (the welcome mail: URL, login, password), `send_expire`
//! (the licence ends soon), each an operation (`client_mail`) on an `active` client, answered
//! 202; and `mails`, what was sent. Without SMTP configured the sends answer 503.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::AdminUser;
use super::clients::{load, load_active};
use super::input::{Id, Params, pagination};
use super::operations::submit;
use crate::error::{ApiError, ApiResult, Problems};
use crate::mail::MailKind;
use crate::ops::{On, kinds};
use crate::state::AppState;
use crate::store::mails::{self, MailRow};

/// Mail the lab's administrator that its cloud is ready: its URL, the admin login and
/// password. The password is the kept one (`password_set`); when none is kept, a new one is
/// generated and written into the lab first. Once sent, the kept password is erased
/// (`password_set` false) unless `ALFA_KEEP_ADMIN_PASSWORD=1`.
#[utoipa::path(get, path = "/clients/{id}/send_success", tag = "clients", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active, or has no e-mail address", body = crate::error::ErrorBody),
        (status = 503, description = "No SMTP server is configured (`ALFA_SMTP_URL`)", body = crate::error::ErrorBody)))]
pub async fn send_success(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    send(&state, &user, id, MailKind::Success).await
}

/// Mail the lab's administrator that its licence ends soon: the date
/// (`license_expires_at`, in the client's time zone) and the days left.
#[utoipa::path(get, path = "/clients/{id}/send_expire", tag = "clients", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active, has no e-mail address or no \
            licence end date", body = crate::error::ErrorBody),
        (status = 503, description = "No SMTP server is configured (`ALFA_SMTP_URL`)", body = crate::error::ErrorBody)))]
pub async fn send_expire(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    send(&state, &user, id, MailKind::Expire).await
}

async fn send(state: &AppState, user: &AdminUser, id: i64, kind: MailKind) -> ApiResult<Response> {
    if state.engine.mailer.is_none() {
        return Err(ApiError::Unavailable(
            "no mail can be sent: no SMTP server is configured (set ALFA_SMTP_URL and \
             ALFA_MAIL_FROM, then restart)"
                .into(),
        ));
    }
    let client = load_active(state, id).await?;
    if client.email.is_empty() {
        return Err(ApiError::Conflict(format!(
            "client {id} has no e-mail address to send to: set one with PUT /clients/{id}"
        )));
    }
    if kind == MailKind::Expire && client.license_expires_at.is_none() {
        return Err(ApiError::Conflict(format!(
            "client {id} has no licence end date: set one with POST /clients/{id}/expire_date"
        )));
    }
    submit::<kinds::client_mail::ClientMail>(
        state,
        user,
        On::client(client.server_id, id),
        json!({ "mail": kind.as_str() }),
    )
    .await
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct MailListParams {
    /// Page number, from 1.
    page: Option<String>,
    /// Mails per page, 1 to 200 (default 50).
    per_page: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MailPage {
    /// Newest first.
    pub items: Vec<MailRow>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// The mails sent to the lab, or that could not be sent, newest first, with the SMTP
/// server's reply.
#[utoipa::path(get, path = "/clients/{id}/mails", tag = "clients", params(("id" = i64, Path), MailListParams),
    responses((status = 200, body = MailPage), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Id(id): Id,
    Params(params): Params<MailListParams>,
) -> ApiResult<axum::Json<MailPage>> {
    let mut p = Problems::default();
    let (page, per_page) = pagination(&mut p, params.page.as_deref(), params.per_page.as_deref());
    p.into_result()?;
    load(&state, id).await?;
    let (total, items) = mails::list(&state.db, id, page, per_page).await?;
    Ok(axum::Json(MailPage {
        items,
        total,
        page,
        per_page,
    }))
}
