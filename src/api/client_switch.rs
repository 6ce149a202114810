//! Switching a lab to another image version: `GET /clients/{id}/switch/{image_name}` (Mol,
//! Basic Auth) and `GET /clients/{subdomain}/update_to/{version}` (the lab's own LIMS, with
//! `Authorization: Bearer {ALFA_CLOUD_TOKEN}` of its `.env`; the admin's Basic Auth works too).
//! Both run the `client_switch` operation (see `ops/kinds/client_switch.rs`) on an `active`
//! client and answer 202 with its id.
//!
//! A lab's token authorises that lab only: a token that is not the token of a client with this
//! subdomain — another lab's, or none of ours — is 403, and counts as a failed login of the
//! caller's address (the same lockout as Basic Auth: after 10 in 5 minutes, 429 for 15).
//! A lab is accepted at most once per `ALFA_UPDATE_TO_INTERVAL` (429 with `Retry-After`),
//! counted from the operations in the database so the limit holds across API processes.

use axum::Extension;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AdminUser, ClientIp, client_ip, require_admin};
use super::clients::{check_active, load};
use super::input::parse_id;
use super::operations::submit;
use crate::crypto::purpose;
use crate::domain::{Subdomain, VersionTag};
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::kinds::client_switch::{ClientSwitch, SwitchParams};
use crate::ops::{Kind as _, On};
use crate::state::AppState;
use crate::store::admin::{self, Failure};
use crate::store::clients::{self, ClientRow};
use crate::store::operations;

/// The two text segments of a path (`/clients/{id}/switch/{image_name}`); a malformed one is
/// a JSON 400 like every error.
pub struct TwoSegments(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for TwoSegments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path((a, b))| TwoSegments(a, b))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The lab that called with its own token (set by [`lab_or_admin`]).
#[derive(Clone, Debug)]
pub struct LabCaller {
    pub client_id: i64,
}

fn version(field: &str, raw: &str) -> ApiResult<VersionTag> {
    VersionTag::parse(raw).map_err(|problem| ApiError::field(field, problem))
}

/// Switch the lab to image `{image_repo}:{image_name}`, safely: its database is dumped first
/// (kept under `{base_dir}/backups/c{id}/`), then the compose project moves to the image, the
/// migrations run and `/up` is probed through nginx. If migrate or the probe fails, the lab is
/// put back on its previous image (and the dump restored when migrate had started) and the
/// operation ends `error` saying "rolled back to X" with the dump's path. `version_tag`
/// changes only on success. An image absent on the server fails the operation before anything
/// changes.
#[utoipa::path(get, path = "/clients/{id}/switch/{image_name}", tag = "clients",
    params(("id" = i64, Path), ("image_name" = String, Path, description = "A version tag of the image repository, e.g. 1.3-master")),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active", body = crate::error::ErrorBody),
        (status = 422, description = "`image_name` is not a version tag", body = crate::error::ErrorBody)))]
pub async fn switch(
    State(state): State<AppState>,
    TwoSegments(id, image_name): TwoSegments,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let version = version("image_name", &image_name)?;
    let client = load(&state, id).await?;
    check_active(&client)?;
    submit_switch(&state, &user, &client, &version).await
}

async fn submit_switch(
    state: &AppState,
    user: &AdminUser,
    client: &ClientRow,
    version: &VersionTag,
) -> ApiResult<Response> {
    let params = serde_json::to_value(SwitchParams {
        version: version.as_str().to_owned(),
    })
    .map_err(|e| ApiError::Internal(e.into()))?;
    submit::<ClientSwitch>(state, user, On::client(client.server_id, client.id), params).await
}

/// Called by a lab's own LIMS to move itself to `version` (the same safe switch as
/// `/clients/{id}/switch/{image_name}`). Authorised by that lab's token
/// (`Authorization: Bearer {ALFA_CLOUD_TOKEN}`), or by the admin's Basic Auth — then a
/// subdomain that names clients under several domains is 409, listing them. A lab is
/// accepted at most once per `ALFA_UPDATE_TO_INTERVAL`.
#[utoipa::path(get, path = "/clients/{subdomain}/update_to/{version}", tag = "clients",
    params(("subdomain" = String, Path, description = "The lab's subdomain"),
        ("version" = String, Path, description = "A version tag of the image repository, e.g. 1.3-master")),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 202, body = super::operations::Queued),
        (status = 401, description = "No credentials, or wrong Basic credentials (with Basic and Bearer challenges)", body = crate::error::ErrorBody),
        (status = 403, description = "The token is not this lab's", body = crate::error::ErrorBody),
        (status = 404, description = "No client has this subdomain (Basic Auth)", body = crate::error::ErrorBody),
        (status = 409, description = "The client is not active, or (Basic Auth) the subdomain names several clients", body = crate::error::ErrorBody),
        (status = 422, description = "`subdomain` or `version` is not valid", body = crate::error::ErrorBody),
        (status = 429, description = "This lab asked within ALFA_UPDATE_TO_INTERVAL, or this address is locked out after failed logins (Retry-After)", body = crate::error::ErrorBody),
        (status = 503, description = "The database is not answering, or no admin account exists yet", body = crate::error::ErrorBody)))]
pub async fn update_to(
    State(state): State<AppState>,
    TwoSegments(subdomain, raw_version): TwoSegments,
    Extension(user): Extension<AdminUser>,
    lab: Option<Extension<LabCaller>>,
) -> ApiResult<Response> {
    let mut problems = Problems::default();
    let subdomain = problems.check("subdomain", Subdomain::parse(&subdomain));
    let version = problems.check("version", VersionTag::parse(&raw_version));
    problems.into_result()?;
    let (Some(subdomain), Some(version)) = (subdomain, version) else {
        unreachable!("problems were empty");
    };
    let client = match lab {
        Some(Extension(ref lab)) => load(&state, lab.client_id).await?,
        None => only_client(&state, &subdomain).await?,
    };
    check_active(&client)?;
    if lab.is_some() {
        rate_limit(&state, &client).await?;
    }
    submit_switch(&state, &user, &client, &version).await
}

/// The one client with this subdomain (for the admin, who has no token to pick one with).
async fn only_client(state: &AppState, subdomain: &Subdomain) -> ApiResult<ClientRow> {
    let mut found = clients::by_subdomain(&state.db, subdomain.as_str()).await?;
    match found.len() {
        0 => Err(ApiError::NotFound(format!(
            "no client has the subdomain {subdomain}"
        ))),
        1 => Ok(found.remove(0)),
        _ => Err(ApiError::Conflict(format!(
            "the subdomain {subdomain} names several clients: {}; switch one by id with \
             GET /clients/{{id}}/switch/{{image_name}}",
            found
                .iter()
                .map(|c| format!("{} (id {})", c.fqdn, c.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// 429 when the lab's previous `update_to` was accepted less than the interval ago.
async fn rate_limit(state: &AppState, client: &ClientRow) -> ApiResult<()> {
    let interval = state.settings.update_to_interval;
    let Some(last) =
        operations::last_requested(&state.db, client.id, ClientSwitch::NAME, "lab:").await?
    else {
        return Ok(());
    };
    let elapsed = (Utc::now() - last).to_std().unwrap_or_default();
    if elapsed >= interval {
        return Ok(());
    }
    let wait = (interval - elapsed).as_secs_f64().ceil().max(1.0) as u64;
    Err(ApiError::RateLimited {
        message: format!(
            "this lab asked for an update {} s ago: one update_to is accepted per {} s; try \
             again in {wait} s",
            elapsed.as_secs(),
            interval.as_secs()
        ),
        retry_after: wait,
    })
}

/// `update_to`'s authentication: a Bearer token is a lab's own (checked against the sealed
/// tokens of the clients with the path's subdomain, in constant time); anything else goes
/// through the admin's Basic Auth. Both count failures against the caller's address.
pub async fn lab_or_admin(
    State(state): State<AppState>,
    TwoSegments(subdomain, _): TwoSegments,
    mut request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = bearer else {
        let mut response = match require_admin(State(state), request, next).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        };
        if response.status() == axum::http::StatusCode::UNAUTHORIZED {
            response.headers_mut().append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"alfa-cloud\""),
            );
        }
        return response;
    };
    let ip = client_ip(&request, state.settings.trust_forwarded_for);
    match lab_client(&state, &ip, &subdomain, &token).await {
        Ok(client_id) => {
            let extensions = request.extensions_mut();
            extensions.insert(AdminUser(format!("lab:{subdomain}")));
            extensions.insert(ClientIp(ip));
            extensions.insert(LabCaller { client_id });
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

/// The client whose token `token` is, among those with `subdomain`; a failed login of `ip`
/// otherwise.
async fn lab_client(state: &AppState, ip: &str, subdomain: &str, token: &str) -> ApiResult<i64> {
    let snapshot = admin::auth_snapshot(&state.db, ip)
        .await?
        .ok_or_else(|| ApiError::Unavailable("no admin account exists yet".into()))?;
    let now = Utc::now();
    if let Some(until) = snapshot.locked_until.filter(|until| *until > now) {
        return Err(ApiError::TooManyRequests {
            retry_after: seconds_until(until),
        });
    }
    let candidates = if Subdomain::parse(subdomain).is_ok() {
        clients::by_subdomain(&state.db, subdomain).await?
    } else {
        Vec::new()
    };
    let mut found = None;
    for client in &candidates {
        let Some(sealed) = client.cloud_token_enc.as_deref() else {
            continue;
        };
        let Ok(own) = state.cipher.open(purpose::CLIENT_CLOUD_TOKEN, sealed) else {
            tracing::warn!(
                client.id = client.id,
                "the client's cloud token cannot be opened"
            );
            continue;
        };
        // Every candidate is compared, so timing does not tell which one matched.
        let equal: bool = own
            .expose_secret()
            .as_bytes()
            .ct_eq(token.as_bytes())
            .into();
        if equal && found.is_none() {
            found = Some(client.id);
        }
    }
    if let Some(id) = found {
        if snapshot.failures.is_some() {
            admin::clear_failures(&state.db, ip).await?;
        }
        return Ok(id);
    }
    match admin::record_failure(&state.db, ip).await? {
        Failure::LockedOut(until) => Err(ApiError::TooManyRequests {
            retry_after: seconds_until(until),
        }),
        Failure::Counted(_) => {
            tracing::info!(client.ip = %ip, client.subdomain = %subdomain, "update_to with a token that is not the lab's");
            Err(ApiError::Forbidden(format!(
                "this token does not authorise updates of {subdomain}: a lab may update only itself, with the ALFA_CLOUD_TOKEN of its own .env"
            )))
        }
    }
}

/// Whole seconds until `until`, at least 1 (for `Retry-After`).
fn seconds_until(until: chrono::DateTime<Utc>) -> u64 {
    u64::try_from((until - Utc::now()).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// `update_to`: the one route with its own authentication ([`lab_or_admin`]).
pub fn lab_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_to))
}
