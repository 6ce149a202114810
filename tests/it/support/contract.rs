//! The contract check: every answer a test receives through `TestApp::send` must be one the
//! OpenAPI document promises. The path and method exist in it, the query parameters sent are
//! declared in its query, the status is documented for them, the media type is the documented
//! one, and a JSON body validates against the documented schema (OpenAPI 3.1 schemas are JSON
//! Schema 2020-12). Any 5xx fails the test.
//!
//! Requests to what the document does not describe (an unknown path, a method a path does not
//! take) must get the JSON error shape with 404 or 405, or an answer every route may give
//! before routing (401, 429, 414).
//!
//! The document comes from `alfa_cloud::api::openapi()`, the same value the app serves (a
//! test checks that), built and compiled once per test binary: checking an answer costs a
//! lookup and one validation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use serde_json::{Value, json};

use super::Reply;

/// Status codes any request may get without its route being involved.
const BEFORE_ROUTING: &[u16] = &[401, 414, 429];

struct Contract {
    doc: Value,
    /// Path templates split into segments; `None` stands for a `{parameter}`.
    templates: Vec<(String, Vec<Option<String>>)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc = serde_json::to_value(alfa_cloud::api::openapi()).expect("the document is JSON");
        let templates = doc["paths"]
            .as_object()
            .expect("the document has paths")
            .keys()
            .map(|path| {
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                (path.clone(), segments)
            })
            .collect();
        Contract {
            doc,
            templates,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

impl Contract {
    /// The documented path a request path falls under: literal segments win over parameters,
    /// as in the router (`/clients/billing_types` before `/clients/{id}`).
    fn template(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| match t {
                        Some(literal) => literal == s,
                        None => !s.is_empty(),
                    })
            })
            .max_by_key(|(_, t)| t.iter().filter(|s| s.is_some()).count())
            .map(|(path, _)| path.as_str())
    }

    /// A validator for `schema`, whose `$ref`s point into the document's components.
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut validators = self.validators.lock().unwrap();
        validators
            .entry(key.to_owned())
            .or_insert_with(|| {
                let rooted = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "allOf": [schema],
                    "components": self.doc["components"],
                });
                Arc::new(jsonschema::draft202012::new(&rooted).unwrap_or_else(|e| {
                    panic!("contract: the schema of {key} is not valid JSON Schema: {e}")
                }))
            })
            .clone()
    }

    fn error_schema(&self) -> Value {
        json!({ "$ref": "#/components/schemas/ErrorBody" })
    }
}

/// Fails the test unless `reply` is an answer the document promises for `method path`.
#[track_caller]
pub fn check(method: &Method, path_and_query: &str, reply: &Reply) {
    let status = reply.status.as_u16();
    let what = format!("{method} {path_and_query} answered {status}");
    // 503 is an answer the API gives on purpose (a part not configured, such as SMTP), and
    // must then be documented for the operation like any other; other 5xx are faults.
    assert!(
        status < 500 || status == 503,
        "contract: {what}; a server error is never an answer: {}",
        reply.text
    );
    let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
    // Swagger UI and the document itself are served beside the API, not described in it.
    if path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/") {
        return;
    }
    let contract = contract();
    let operation = contract
        .template(path)
        .map(|t| {
            (
                t,
                &contract.doc["paths"][t][method.as_str().to_ascii_lowercase()],
            )
        })
        .filter(|(_, op)| op.is_object());
    let Some((template, operation)) = operation else {
        assert!(
            [404, 405].contains(&status) || BEFORE_ROUTING.contains(&status),
            "contract: {what}, but /openapi.json does not describe {method} {path}: {}",
            reply.text
        );
        validate_json(
            contract,
            "ErrorBody",
            &contract.error_schema(),
            &what,
            reply,
        );
        return;
    };
    // The query parameters a request sends are declared for the operation, in the query.
    if let Some(query) = path_and_query.split_once('?').map(|(_, q)| q) {
        for name in query
            .split('&')
            .filter_map(|pair| pair.split('=').next())
            .filter(|n| !n.is_empty())
        {
            let declared = operation["parameters"].as_array().is_some_and(|params| {
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "query")
            });
            assert!(
                declared,
                "contract: {method} {path_and_query} sends the query parameter {name:?}, which \
                 /openapi.json does not declare in the query of {method} {template}"
            );
        }
    }
    let documented = &operation["responses"][status.to_string()];
    let documented = if documented.is_object() {
        documented
    } else {
        &operation["responses"]["default"]
    };
    assert!(
        documented.is_object(),
        "contract: {what}, a status /openapi.json does not document for {method} {template} \
         (documented: {:?}): {}",
        operation["responses"]
            .as_object()
            .map(|r| r.keys().collect::<Vec<_>>()),
        reply.text
    );
    let media_type = reply
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let content = documented["content"].as_object();
    match (media_type, content) {
        (None, _) if reply.text.is_empty() => {}
        (None, _) => panic!(
            "contract: {what} with a body but no Content-Type: {}",
            reply.text
        ),
        (Some(media_type), Some(content)) => {
            let Some(entry) = content.get(&media_type) else {
                panic!(
                    "contract: {what} as {media_type}, but {method} {template} documents {:?} for it",
                    content.keys().collect::<Vec<_>>()
                );
            };
            if media_type == "application/json"
                && let Some(schema) = entry.get("schema")
            {
                let key = format!("{method} {template} {status}");
                validate_json(contract, &key, schema, &what, reply);
            }
        }
        (Some(media_type), None) => assert!(
            reply.text.is_empty(),
            "contract: {what} with a {media_type} body, but {method} {template} documents no \
             body for it: {}",
            reply.text
        ),
    }
}

#[track_caller]
fn validate_json(contract: &Contract, key: &str, schema: &Value, what: &str, reply: &Reply) {
    let body: Value = serde_json::from_str(&reply.text).unwrap_or_else(|e| {
        panic!(
            "contract: {what} with a body that is not JSON ({e}): {}",
            reply.text
        )
    });
    let validator = contract.validator(key, schema);
    let problems: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "contract: {what} with a body that does not match its documented schema:\n  {}\nbody: {}",
        problems.join("\n  "),
        reply.text
    );
}
