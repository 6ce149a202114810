//! The HTTP API: one file per resource, each handler thin (parse → one call → map).

pub mod audit;
pub mod auth;
pub mod builds;
pub mod client_commands;
mod client_input;
pub mod client_mail;
pub mod client_switch;
pub mod client_transfer;
pub mod clients;
pub mod clients_actions;
pub mod deploy;
mod doc;
pub mod events;
pub mod fleet;
pub mod health;
mod idempotency;
pub mod input;
pub mod metrics;
pub mod operations;
pub mod prune;
pub mod server_all;
mod server_input;
pub mod servers;
pub mod webhooks;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::state::AppState;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Copy)]
struct MakeUlid;

impl MakeRequestId for MakeUlid {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        ulid::Ulid::generate()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The routes that need the admin's credentials, with their OpenAPI document.
fn protected() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .merge(servers::router())
        .merge(fleet::router())
        .merge(clients::router())
        .merge(operations::router())
        .merge(auth::router())
        .merge(audit::router())
        .merge(metrics::router())
        .merge(webhooks::router())
        .merge(server_all::router())
        .merge(builds::router())
        .merge(deploy::router())
        .merge(prune::router())
}

/// The OpenAPI document of the whole API, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = protected().split_for_parts();
    doc.merge(health::router().split_for_parts().1);
    doc.merge(client_switch::lab_router().split_for_parts().1);
    doc::complete(&mut doc);
    doc
}

/// The whole API with its middleware, and its OpenAPI document.
pub fn router(state: AppState) -> Router {
    let (protected, _) = protected().split_for_parts();
    let protected = protected
        .layer(from_fn_with_state(
            state.clone(),
            idempotency::replay_or_run,
        ))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(state.clone(), auth::require_admin));
    let (public, _) = health::router().split_for_parts();
    // update_to: a lab's own Bearer token, or the admin's Basic Auth.
    let (lab, _) = client_switch::lab_router().split_for_parts();
    let lab = lab
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(
            state.clone(),
            client_switch::lab_or_admin,
        ));
    let doc = openapi();

    Router::new()
        .merge(public)
        .merge(protected)
        .merge(lab)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take that method")
        })
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeUlid))
        .layer(axum::middleware::from_fn(input::limit_uri))
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message, "fields": {} });
    (status, axum::Json(body)).into_response()
}
