//! The OpenAPI document: its frame (title, tags, Basic Auth), and the answers every endpoint
//! can give whatever its handler says (credentials, lockout, malformed input, limits), added
//! in one place so that no endpoint's list can forget one.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

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
        (name = "webhooks", description = "Operation endings sent to ALFA_WEBHOOK_URL"),
        (name = "service", description = "Health and metrics"),
    )
)]
pub(super) struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        // A lab's own token (`ALFA_CLOUD_TOKEN` of its .env), for `update_to` only.
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the answers that middleware and extractors give to every operation they apply to, and
/// makes operation ids unique (several resources have a `list` or a `get`).
pub(super) fn complete(doc: &mut utoipa::openapi::OpenApi) {
    let mut ids = std::collections::HashMap::<String, usize>::new();
    for (_, _, item) in operations(doc) {
        if let Some(id) = &item.operation_id {
            *ids.entry(id.clone()).or_default() += 1;
        }
    }
    for (path, method, op) in operations(doc) {
        if let Some(id) = &op.operation_id
            && ids.get(id).copied().unwrap_or(0) > 1
        {
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            op.operation_id = Some(format!("{}_{id}", tag.unwrap_or_default()));
        }
        let has_query = op.parameters.iter().flatten().any(|p| {
            matches!(p, utoipa::openapi::RefOr::T(p)
                if p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
        });
        // Public operations declare `security(())`; the others inherit Basic Auth.
        if op.security.is_none() {
            add(
                op,
                401,
                "Missing or wrong credentials (with a Basic challenge)",
            );
            add(
                op,
                429,
                "Too many failed logins from this address: locked out (Retry-After)",
            );
            add(
                op,
                503,
                "The database is not answering, or no admin account exists yet",
            );
        }
        if path.contains('{') {
            add(
                op,
                400,
                "A path parameter is not valid (ids are positive whole numbers)",
            );
        }
        if path.contains("{id}") {
            add(op, 404, "No such item");
        }
        if has_query {
            add(op, 400, "The query string is malformed");
            add(
                op,
                422,
                "A query parameter is not valid (`fields` names it)",
            );
        }
        if op.request_body.is_some() {
            add(
                op,
                400,
                "The body is malformed or of an unsupported Content-Type",
            );
            add(op, 413, "The body is larger than 2 MiB");
            add(op, 422, "Invalid fields (`fields` names each problem)");
        }
        if method == "post" {
            // Every POST goes through the Idempotency-Key layer.
            add(
                op,
                400,
                "The Idempotency-Key header is not 1 to 200 visible ASCII characters",
            );
            add(
                op,
                409,
                "A request with this Idempotency-Key is still being handled",
            );
            add(
                op,
                422,
                "This Idempotency-Key was used for a different request",
            );
        }
        add(op, 414, "The path and query are longer than 8 KiB");
    }
}

/// Every operation of the document with its path and method.
fn operations(doc: &mut utoipa::openapi::OpenApi) -> Vec<(String, &'static str, &mut Operation)> {
    let mut all = Vec::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let PathItem {
            get,
            put,
            post,
            delete,
            patch,
            ..
        } = item;
        let methods = [
            ("get", get),
            ("put", put),
            ("post", post),
            ("delete", delete),
            ("patch", patch),
        ];
        for (method, op) in methods {
            if let Some(op) = op {
                all.push((path.clone(), method, op));
            }
        }
    }
    all
}

/// Documents `status` with the JSON error body, unless the operation already says it.
fn add(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}
