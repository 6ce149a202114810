//! HTTP Basic Auth of the one admin, the brute-force lockout, and password changes.
//!
//! argon2 costs ~20 ms per check, so a credential that verified once is remembered (see
//! [`crate::accounts::CredentialCache`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::input::{Input, Text, required};
use crate::error::{ApiError, ApiResult, Problems};
use crate::state::AppState;
use crate::store::admin::{self, AuthSnapshot, Failure};
use crate::{accounts, crypto};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The authenticated admin's name, for the audit trail and logs.
#[derive(Clone, Debug)]
pub struct AdminUser(pub String);

/// The caller's address: the socket peer, or the last `X-Forwarded-For` hop when configured.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

pub fn client_ip(request: &Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let encoded = header.strip_prefix(b"Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Lets a request through only with the admin's credentials and from an address not locked out.
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> ApiResult<Response> {
    let ip = client_ip(&request, state.settings.trust_forwarded_for);
    let snapshot = admin::auth_snapshot(&state.db, &ip)
        .await?
        .ok_or_else(|| ApiError::Unavailable("no admin account exists yet".into()))?;
    let now = chrono::Utc::now();
    if let Some(until) = snapshot.locked_until.filter(|until| *until > now) {
        return Err(ApiError::TooManyRequests {
            retry_after: retry_after(until, now),
        });
    }
    let Some(header) = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec())
    else {
        return Err(ApiError::Unauthorized);
    };
    if !credential_ok(&state, &header, &snapshot).await? {
        return Err(match admin::record_failure(&state.db, &ip).await? {
            Failure::Counted(Some(until)) => {
                tracing::warn!(client.ip = %ip, locked_until = %until, "too many failed logins: address locked out");
                ApiError::Unauthorized
            }
            Failure::Counted(None) => {
                tracing::info!(client.ip = %ip, "failed login");
                ApiError::Unauthorized
            }
            // Failures that arrived together with the one that locked the address out: they
            // are past the limit, so they learn nothing about the password.
            Failure::LockedOut(until) => ApiError::TooManyRequests {
                retry_after: retry_after(until, chrono::Utc::now()),
            },
        });
    }
    if snapshot.failures.is_some() {
        admin::clear_failures(&state.db, &ip).await?;
    }
    request
        .extensions_mut()
        .insert(AdminUser(snapshot.username));
    request.extensions_mut().insert(ClientIp(ip));
    Ok(next.run(request).await)
}

/// Whole seconds until `until`, at least 1 (for `Retry-After`).
fn retry_after(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from((until - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// Whether `header` holds the admin's credentials: from the cache, or by an argon2 check that
/// is then remembered.
async fn credential_ok(
    state: &AppState,
    header: &[u8],
    snapshot: &AuthSnapshot,
) -> ApiResult<bool> {
    let cache = &state.credentials;
    let fingerprint = cache.fingerprint(header, &snapshot.password_hash);
    if cache.contains(&fingerprint) {
        return Ok(true);
    }
    let _slot = cache
        .verify_slot()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    // Requests that waited for a slot with the same credential find it verified by now.
    if cache.contains(&fingerprint) {
        return Ok(true);
    }
    let header = header.to_vec();
    let stored_user = snapshot.username.clone();
    let stored_hash = snapshot.password_hash.clone();
    let valid = tokio::task::spawn_blocking(move || match basic_credentials(&header) {
        Some((user, password)) => {
            // Both checks always run, so timing tells nothing about which one failed.
            let password_ok = crypto::verify_password(&password, &stored_hash);
            let user_ok: bool = user.as_bytes().ct_eq(stored_user.as_bytes()).into();
            password_ok && user_ok
        }
        None => false,
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    if valid {
        cache.insert(fingerprint);
    }
    Ok(valid)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordInput {
    /// The new password: at least 12 characters, different from the current one.
    password: Option<Text>,
    /// The same password again.
    confirm_password: Option<Text>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub changed: bool,
}

/// Change the password of this API. The old one stops working at once.
#[utoipa::path(post, path = "/cloud_admin_password", tag = "auth",
    request_body(content = PasswordInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Changed), (status = 422, body = crate::error::ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Input(input): Input<PasswordInput>,
) -> ApiResult<axum::Json<Changed>> {
    let mut problems = Problems::default();
    let password = required(&mut problems, "password", &input.password);
    let confirm = required(&mut problems, "confirm_password", &input.confirm_password);
    let (Some(password), Some(confirm)) = (password, confirm) else {
        return Err(ApiError::Validation(problems));
    };
    accounts::validate_new_password(&state.db, password, Some(confirm))
        .await?
        .into_result()?;
    accounts::set_password(&state.db, password).await?;
    Ok(axum::Json(Changed { changed: true }))
}

/// `/cloud_admin_password`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_password))
}
