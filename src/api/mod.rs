//! The HTTP API: one file per resource, each handler thin (parse → one call → map).

pub mod audit;
pub mod auth;
mod client_input;
pub mod clients;
pub mod fleet;
pub mod health;
mod idempotency;
pub mod input;
pub mod metrics;
pub mod operations;
pub mod servers;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Alfa Cloud", description = "Fleet orchestration for the Alfa LIMS clouds, driven by the Mol admin panel. Every endpoint but /health, /ready, /openapi.json and /docs needs HTTP Basic Auth."),
    modifiers(&BasicAuth),
    security(("basic" = [])),
    tags(
        (name = "servers", description = "The fleet's servers"),
        (name = "clients", description = "The labs' clouds"),
        (name = "fleet", description = "Actions carried out on the servers"),
        (name = "operations", description = "Background operations and their live logs"),
        (name = "auth", description = "This API's own credentials"),
        (name = "audit", description = "Who did what"),
        (name = "service", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

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

/// The whole API with its middleware, and its OpenAPI document.
pub fn router(state: AppState) -> Router {
    let (protected, protected_doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(servers::list))
        .routes(routes!(servers::save))
        .routes(routes!(servers::get, servers::delete))
        .routes(routes!(clients::list))
        .routes(routes!(clients::save))
        .routes(routes!(clients::billing_types))
        .routes(routes!(clients::get, clients::put))
        .routes(routes!(clients::expire_date))
        .routes(routes!(operations::list))
        .routes(routes!(operations::get))
        .routes(routes!(operations::log))
        .routes(routes!(operations::events))
        .routes(routes!(operations::cancel))
        .routes(routes!(operations::createlog))
        .routes(routes!(fleet::check_host))
        .routes(routes!(fleet::images))
        .routes(routes!(fleet::reboot_server))
        .routes(routes!(fleet::reboot_client))
        .routes(routes!(fleet::forget_host_key))
        .routes(routes!(fleet::ssh_public_key))
        .routes(routes!(auth::change_password))
        .routes(routes!(audit::list))
        .routes(routes!(metrics::render))
        .split_for_parts();
    // The panel posts to `/servers/` and `/clients/`; accept the slash-less spelling too.
    let protected = protected
        .route("/servers", post(servers::save))
        .route("/clients", post(clients::save))
        .layer(from_fn_with_state(
            state.clone(),
            idempotency::replay_or_run,
        ))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(state.clone(), auth::require_admin));

    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .split_for_parts();
    let mut doc = protected_doc;
    doc.merge(public_doc);

    Router::new()
        .merge(public)
        .merge(protected)
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
