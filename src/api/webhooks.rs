//! `/webhooks/deliveries`: every operation ending sent (or being sent) to `ALFA_WEBHOOK_URL`,
//! with its tries and the receiver's last answer.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::input::{Params, pagination, parse_int};
use crate::error::{ApiResult, Problems};
use crate::state::AppState;
use crate::store::webhooks::{self, DeliveryQuery, DeliveryRow};

/// `/webhooks/*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub operation_id: i64,
    /// The attempt whose end this is (0: cancelled before it ever started).
    pub attempt: i64,
    /// pending, delivered or failed (every try used up).
    pub status: String,
    /// POSTs so far.
    pub tries: i64,
    /// When the next try is due (pending only).
    pub next_try_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer; null when none came (timeout, refused) or not tried.
    pub last_status_code: Option<i64>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body POSTed: operation_id, attempt, kind, status, client_id, server_id,
    /// finished_at, error.
    #[schema(value_type = Object)]
    pub event: Value,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> Self {
        Self {
            next_try_at: (row.status == "pending").then_some(row.next_try_at),
            id: row.id,
            operation_id: row.operation_id,
            attempt: row.attempt,
            status: row.status,
            tries: row.tries,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            event: serde_json::from_str(&row.body).unwrap_or(Value::Null),
        }
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    page: Option<String>,
    per_page: Option<String>,
    /// pending, delivered or failed.
    status: Option<String>,
    operation_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// Webhook deliveries, newest first (none when `ALFA_WEBHOOK_URL` is unset).
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "webhooks", params(ListParams),
    responses((status = 200, body = DeliveryPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Params(p): Params<ListParams>,
) -> ApiResult<axum::Json<DeliveryPage>> {
    let mut problems = Problems::default();
    let (page, per_page) = pagination(&mut problems, p.page.as_deref(), p.per_page.as_deref());
    let operation_id = p
        .operation_id
        .as_deref()
        .filter(|v| !v.is_empty())
        .and_then(|v| problems.check("operation_id", parse_int(v, 1, i64::MAX)));
    let status = p.status.filter(|s| !s.is_empty());
    if status
        .as_deref()
        .is_some_and(|s| !["pending", "delivered", "failed"].contains(&s))
    {
        problems.add("status", "must be one of: pending, delivered, failed");
    }
    problems.into_result()?;
    let query = DeliveryQuery {
        status,
        operation_id,
        page,
        per_page,
    };
    let rows = webhooks::list(&state.db, &query).await?;
    Ok(axum::Json(DeliveryPage {
        items: rows.items.into_iter().map(DeliveryView::from).collect(),
        total: rows.total,
        page,
        per_page,
    }))
}
