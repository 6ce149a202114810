//! Liveness and readiness probes (no authentication).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "service", security(()),
    responses((status = 200, body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The database answers; 503 otherwise.
#[utoipa::path(get, path = "/ready", tag = "service", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, axum::Json<Health>) {
    if state.db.ping().await {
        (StatusCode::OK, axum::Json(Health { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Health {
                status: "database unavailable",
            }),
        )
    }
}

/// `/health` and `/ready`: public, no credentials.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}
