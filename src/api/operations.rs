//! `/operations`: what the workers do, their logs, and cancelling (the live event stream is
//! in `events.rs`).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::AuditTarget;
use super::auth::AdminUser;
use super::input::{Id, Params, pagination, parse_int};
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::{Cancel, Kind, On, Retry};
use crate::state::AppState;
use crate::store::operations::{self, OperationQuery, OperationRow};
use crate::store::oplog::{self, LogLine};
use crate::store::steps::{self, StepRow};

/// Most lines one `/log` answer carries; the cursor fetches the rest.
const LOG_PAGE: i64 = 1000;

#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationView {
    pub id: i64,
    pub kind: String,
    pub server_id: Option<i64>,
    pub client_id: Option<i64>,
    pub parent_id: Option<i64>,
    /// queued, running, ok, error or cancelled.
    pub status: String,
    /// The status for a person, e.g. `queued: waiting for operation 12`.
    pub status_text: String,
    pub requested_by: String,
    /// The request's parameters, secrets removed.
    #[schema(value_type = Object)]
    pub params: Value,
    pub attempt: i64,
    pub max_attempts: i64,
    /// What the operation found (e.g. the images); null until it ends, or when it has none.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Children of a fan-out, counted by status (`GET /operations/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub children: Option<Value>,
    /// The named steps of every attempt, in order (`GET /operations/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepRow>>,
}

pub fn status_text(row: &OperationRow) -> String {
    match (row.status.as_str(), row.status_detail.is_empty()) {
        ("queued", false) => format!("queued: {}", row.status_detail),
        ("running", _) if row.cancel_requested => "running: cancelling".to_owned(),
        (status, _) => status.to_owned(),
    }
}

impl From<OperationRow> for OperationView {
    fn from(row: OperationRow) -> Self {
        Self {
            status_text: status_text(&row),
            id: row.id,
            kind: row.kind,
            server_id: row.server_id,
            client_id: row.client_id,
            parent_id: row.parent_id,
            status: row.status,
            requested_by: row.requested_by,
            params: serde_json::from_str(&row.params).unwrap_or(Value::Null),
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            result: row
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            error: row.error,
            cancel_requested: row.cancel_requested,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            children: None,
            steps: None,
        }
    }
}

/// `/operations/*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(log))
        .routes(routes!(super::events::events))
        .routes(routes!(cancel))
        .routes(routes!(retry))
}

/// The answer of every endpoint that starts an operation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Queued {
    pub operation_id: i64,
    #[schema(example = "queued")]
    pub status: String,
}

/// Submits an operation of kind `K` on behalf of the caller and answers 202 with its id.
pub async fn submit<K: Kind>(
    state: &AppState,
    user: &AdminUser,
    on: On,
    params: Value,
) -> ApiResult<Response> {
    let id = state.engine.submit::<K>(on, params, &user.0).await?;
    Ok(accepted(id))
}

pub fn accepted(operation_id: i64) -> Response {
    let body = Queued {
        operation_id,
        status: "queued".into(),
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    response.extensions_mut().insert(AuditTarget {
        kind: "operation",
        id: operation_id,
    });
    response
}

pub(super) async fn load(state: &AppState, id: i64) -> ApiResult<OperationRow> {
    operations::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("operation {id} does not exist")))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    page: Option<String>,
    per_page: Option<String>,
    kind: Option<String>,
    /// queued, running, ok, error or cancelled.
    status: Option<String>,
    server_id: Option<String>,
    client_id: Option<String>,
    parent_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationPage {
    pub items: Vec<OperationView>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// Operations, newest first.
#[utoipa::path(get, path = "/operations", tag = "operations", params(ListParams),
    responses((status = 200, body = OperationPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Params(p): Params<ListParams>,
) -> ApiResult<axum::Json<OperationPage>> {
    let mut problems = Problems::default();
    let (page, per_page) = pagination(&mut problems, p.page.as_deref(), p.per_page.as_deref());
    let mut id = |name: &str, v: &Option<String>| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .and_then(|v| problems.check(name, parse_int(v, 1, i64::MAX)))
    };
    let (server_id, client_id, parent_id) = (
        id("server_id", &p.server_id),
        id("client_id", &p.client_id),
        id("parent_id", &p.parent_id),
    );
    let status = p.status.filter(|s| !s.is_empty());
    if status
        .as_deref()
        .is_some_and(|s| !["queued", "running", "ok", "error", "cancelled"].contains(&s))
    {
        problems.add(
            "status",
            "must be one of: queued, running, ok, error, cancelled",
        );
    }
    problems.into_result()?;
    let query = OperationQuery {
        kind: p.kind.filter(|k| !k.is_empty()),
        status,
        server_id,
        client_id,
        parent_id,
        page,
        per_page,
    };
    let rows = operations::list(&state.db, &query).await?;
    Ok(axum::Json(OperationPage {
        items: rows.items.into_iter().map(OperationView::from).collect(),
        total: rows.total,
        page,
        per_page,
    }))
}

/// One operation, with its steps and its children's summary.
#[utoipa::path(get, path = "/operations/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = OperationView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<axum::Json<OperationView>> {
    let row = load(&state, id).await?;
    let children = operations::children_summary(&state.db, id).await?;
    let mut view = OperationView::from(row);
    if !children.is_empty() {
        let total: i64 = children.iter().map(|(_, n)| n).sum();
        let mut map = serde_json::Map::new();
        map.insert("total".into(), total.into());
        for (status, n) in children {
            map.insert(status, n.into());
        }
        view.children = Some(Value::Object(map));
    }
    view.steps = Some(steps::list(&state.db, id).await?);
    Ok(axum::Json(view))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Return lines after this sequence number (0 or absent: from the start).
    pub(super) after: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Pass as `after` to get only newer lines.
    pub next: i64,
    pub status: String,
    pub status_text: String,
    /// Whether the operation ended and `lines` holds the end of its log.
    pub finished: bool,
}

pub(super) fn parse_after(after: Option<&str>) -> ApiResult<i64> {
    match after.filter(|a| !a.is_empty()) {
        None => Ok(0),
        Some(v) => parse_int(v, 0, i64::MAX).map_err(|e| ApiError::field("after", e)),
    }
}

/// Reads lines after the cursor. The status is read first, so a finished status with a
/// complete `lines` can never be followed by more lines.
pub(super) async fn read_log(
    state: &AppState,
    id: i64,
    after: i64,
) -> ApiResult<(OperationRow, Vec<LogLine>, bool)> {
    let row = load(state, id).await?;
    let lines = oplog::after(&state.db, id, after, LOG_PAGE).await?;
    let complete = row.is_finished() && (lines.len() as i64) < LOG_PAGE;
    Ok((row, lines, complete))
}

/// The operation's log after a cursor; poll with `after=next`.
#[utoipa::path(get, path = "/operations/{id}/log", tag = "operations", params(("id" = i64, Path), LogParams),
    responses((status = 200, body = LogPage), (status = 404, body = crate::error::ErrorBody)))]
pub async fn log(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<LogParams>,
) -> ApiResult<axum::Json<LogPage>> {
    let after = parse_after(p.after.as_deref())?;
    let (row, lines, finished) = read_log(&state, id, after).await?;
    Ok(axum::Json(LogPage {
        next: lines.last().map_or(after, |l| l.seq),
        status_text: status_text(&row),
        status: row.status,
        finished,
        lines,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CancelAnswer {
    pub operation_id: i64,
    /// `cancelled` (it had not started) or `cancelling` (its remote command is being stopped).
    pub status: String,
}

/// Cancel an operation: a queued one never starts; a running one has its remote command
/// stopped and ends `cancelled`. 409 when it already ended.
#[utoipa::path(post, path = "/operations/{id}/cancel", tag = "operations", params(("id" = i64, Path)),
    responses((status = 202, body = CancelAnswer), (status = 409, body = crate::error::ErrorBody)))]
pub async fn cancel(State(state): State<AppState>, Id(id): Id) -> ApiResult<Response> {
    load(&state, id).await?;
    let status = match state.engine.cancel(id).await? {
        Cancel::Cancelled => "cancelled",
        Cancel::Cancelling => "cancelling",
        Cancel::AlreadyEnded(status) => {
            return Err(ApiError::Conflict(format!(
                "operation {id} already ended ({status})"
            )));
        }
    };
    tracing::info!(op.id = id, status, "cancel requested");
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(CancelAnswer {
            operation_id: id,
            status: status.into(),
        }),
    )
        .into_response();
    response.extensions_mut().insert(AuditTarget {
        kind: "operation",
        id,
    });
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RetryAnswer {
    pub operation_id: i64,
    #[schema(example = "queued")]
    pub status: String,
    /// The attempt that will run.
    pub attempt: i64,
}

/// Run an operation that failed (or was cancelled) again, as a new attempt of the same
/// operation with a fresh budget of attempts: its steps skip what is already done, and its
/// log goes on after a marker line. 409 while it has not ended, or when it ended ok.
#[utoipa::path(post, path = "/operations/{id}/retry", tag = "operations", params(("id" = i64, Path)),
    responses((status = 202, body = RetryAnswer), (status = 409, body = crate::error::ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    load(&state, id).await?;
    let attempt = match state.engine.retry(id, &user.0).await? {
        Retry::Queued { attempt } => attempt,
        Retry::NotRetryable(status) => {
            return Err(ApiError::Conflict(format!(
                "operation {id} is {status}: only an operation that ended in error or was cancelled can be retried"
            )));
        }
    };
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(RetryAnswer {
            operation_id: id,
            status: "queued".into(),
            attempt,
        }),
    )
        .into_response();
    response.extensions_mut().insert(AuditTarget {
        kind: "operation",
        id,
    });
    Ok(response)
}
