//! The audit trail: every mutating request is recorded with who, from where, what and the
//! outcome; fields that hold secrets are replaced before anything is stored.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower_http::request_id::RequestId;

use super::auth::{AdminUser, ClientIp};
use super::input::{self, BODY_LIMIT, DecodedBody, Params, pagination};
use crate::error::{ApiResult, Problems};
use crate::state::AppState;
use crate::store::audit::{self, NewAuditEntry};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What a handler acted on, left in its response's extensions for the trail.
#[derive(Clone, Copy, Debug)]
pub struct AuditTarget {
    pub kind: &'static str,
    pub id: i64,
}

/// A field whose name contains one of these is a secret: its value never reaches the trail.
const SECRET_MARKERS: &[&str] = &["password", "secret", "token", "key"];

pub fn redact(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            if SECRET_MARKERS.iter().any(|m| lower.contains(m)) {
                (name.clone(), Value::String("***".into()))
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

/// Records mutating requests. The body is decoded once here and handed to the handler.
pub async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> ApiResult<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(record_read(&state, request, next).await);
    }
    let who = Who::of(&request);
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| input::too_large())?;
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fields = match input::decode(content_type.as_deref(), bytes.clone()).await {
        Ok(fields) => {
            let redacted = redact(&fields);
            parts.extensions.insert(DecodedBody(fields));
            Value::Object(redacted)
        }
        Err(_) => serde_json::json!({ "_body": "not decodable" }),
    };
    let response = next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await;
    let target = response.extensions().get::<AuditTarget>().copied();
    who.write(&state, response.status().as_u16(), target, fields)
        .await;
    Ok(response)
}

/// Reads are not audited, but the panel's API starts actions with GET (`/reboot`,
/// `/reboot_server`, …): a GET whose handler says what it acted on is recorded too.
async fn record_read(state: &AppState, request: Request, next: Next) -> Response {
    let who = Who::of(&request);
    let query: Map<String, Value> = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let response = next.run(request).await;
    if let Some(target) = response.extensions().get::<AuditTarget>().copied() {
        who.write(
            state,
            response.status().as_u16(),
            Some(target),
            Value::Object(redact(&query)),
        )
        .await;
    }
    response
}

/// Who made a request, from where, to what.
struct Who {
    username: String,
    ip: String,
    request_id: String,
    method: String,
    path: String,
}

impl Who {
    fn of(request: &Request) -> Self {
        let ext = request.extensions();
        Self {
            username: ext
                .get::<AdminUser>()
                .map(|u| u.0.clone())
                .unwrap_or_default(),
            ip: ext
                .get::<ClientIp>()
                .map(|ip| ip.0.clone())
                .unwrap_or_default(),
            request_id: ext
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
        }
    }

    async fn write(
        self,
        state: &AppState,
        status: u16,
        target: Option<AuditTarget>,
        fields: Value,
    ) {
        let path_id = self.path.split('/').find_map(|s| s.parse::<i64>().ok());
        let entry = NewAuditEntry {
            username: self.username,
            ip: self.ip,
            method: self.method,
            target_kind: target.map(|t| t.kind),
            target_id: target.map(|t| t.id).or(path_id),
            path: self.path,
            status,
            fields: fields.to_string(),
            request_id: self.request_id,
        };
        // The action already happened: a failed audit write is logged, not turned into an error.
        if let Err(err) = audit::insert(&state.db, &entry).await {
            tracing::error!(error = %err, path = %entry.path, "could not write the audit trail");
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Page number, from 1.
    page: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    per_page: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    id: i64,
    at: DateTime<Utc>,
    username: String,
    ip: String,
    method: String,
    path: String,
    status: i64,
    target_kind: Option<String>,
    target_id: Option<i64>,
    /// The request's fields; secrets shown as "***".
    #[schema(value_type = Object)]
    fields: Value,
    request_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    items: Vec<AuditEntry>,
    total: i64,
    page: u32,
    per_page: u32,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    Params(params): Params<AuditParams>,
) -> ApiResult<axum::Json<AuditPage>> {
    let mut problems = Problems::default();
    let (page, per_page) = pagination(
        &mut problems,
        params.page.as_deref(),
        params.per_page.as_deref(),
    );
    problems.into_result()?;
    let rows = audit::list(&state.db, page, per_page).await?;
    Ok(axum::Json(AuditPage {
        items: rows
            .items
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                username: r.username,
                ip: r.ip,
                method: r.method,
                path: r.path,
                status: r.status,
                target_kind: r.target_kind,
                target_id: r.target_id,
                fields: serde_json::from_str(&r.fields).unwrap_or(Value::Null),
                request_id: r.request_id,
            })
            .collect(),
        total: rows.total,
        page,
        per_page,
    }))
}

/// `/audit`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}
