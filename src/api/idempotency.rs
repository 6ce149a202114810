//! `Idempotency-Key` on POST: a retried request (same key, same path) gets the first
//! request's answer, and its operation, instead of starting a second one. Keys live 24 hours
//! in the shared database, so a retry that lands on another API process is caught too.
//!
//! The key is stored with a SHA-256 of the request (method, path and fields): the same key on
//! a different request is a client's bug, answered 422, never with the other request's answer.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::AdminUser;
use super::input::DecodedBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::idempotency::{self, KeyState};

const HEADER: &str = "idempotency-key";
/// Largest answer kept for replay.
const MAX_BODY: usize = 1024 * 1024;

pub async fn replay_or_run(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> ApiResult<Response> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let Some(raw) = request.headers().get(HEADER) else {
        return Ok(next.run(request).await);
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the Idempotency-Key header must be 1 to 200 visible ASCII characters".into(),
            )
        })?;
    let user = request
        .extensions()
        .get::<AdminUser>()
        .map(|u| u.0.as_str())
        .unwrap_or_default();
    let scoped = format!("{user} POST {} {key}", request.uri().path());
    let (request, hash) = request_hash(request).await?;
    match idempotency::begin(&state.db, &scoped, &hash).await? {
        KeyState::Mismatch => Err(ApiError::field(
            "Idempotency-Key",
            "was already used for a different request (another method, path or body): \
             send a new key with a new request",
        )),
        KeyState::Done { status, body } => {
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            response
                .headers_mut()
                .insert("idempotency-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        KeyState::InProgress => Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being handled; retry in a moment".into(),
        )),
        KeyState::New => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("reading the answer to keep it: {e}"))
            })?;
            // Server errors are not kept: the client may retry with the same key.
            let keep = (!parts.status.is_server_error())
                .then(|| std::str::from_utf8(&bytes).ok())
                .flatten()
                .map(|text| (parts.status.as_u16(), text));
            idempotency::finish(&state.db, &scoped, keep).await?;
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
    }
}

/// SHA-256 (hex) of the method, the path and the request's fields. The fields as decoded (the
/// audit layer leaves them in the request), not the raw bytes: a retry that re-encodes the same
/// form gets a new multipart boundary, and is still the same request. A body that did not
/// decode is hashed as sent.
async fn request_hash(request: Request) -> ApiResult<(Request, String)> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(request.method().as_str());
    hasher.update(b"\n");
    hasher.update(request.uri().path());
    hasher.update(b"\n");
    let request = match request.extensions().get::<DecodedBody>() {
        // serde_json's map is ordered by key: the same fields always serialise alike.
        Some(DecodedBody(fields)) => {
            hasher.update(serde_json::Value::Object(fields.clone()).to_string());
            request
        }
        None => {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, super::input::BODY_LIMIT)
                .await
                .map_err(|_| super::input::too_large())?;
            hasher.update(&bytes);
            Request::from_parts(parts, Body::from(bytes))
        }
    };
    let hash = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((request, hash))
}
