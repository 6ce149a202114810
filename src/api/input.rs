//! Request bodies: the panel sends form-data (urlencoded or multipart), scripts send JSON.
//! Both become one JSON object and then the handler's input struct, so validation is the same
//! whatever the encoding.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::{ApiError, Problems};

/// The largest body accepted (bytes).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The longest path and query accepted (bytes), as nginx's default header buffer (8 KiB).
/// Hyper itself refuses a URI over 64 KiB before the app sees it, with an empty 414.
pub const URI_LIMIT: usize = 8 * 1024;

/// Refuses an overlong URI with the JSON 414, before anything else reads it.
pub async fn limit_uri(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if len > URI_LIMIT {
        return ApiError::UriTooLong(format!(
            "the path and query are {len} bytes; at most {URI_LIMIT} are accepted"
        ))
        .into_response();
    }
    next.run(request).await
}

/// The 413 for a body over [`BODY_LIMIT`] (or one that could not be read whole).
pub fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the body is larger than {BODY_LIMIT} bytes (or could not be read whole)"
    ))
}

/// A body already decoded into fields, left in the request's extensions by the audit layer so
/// the handler does not decode it again.
#[derive(Clone, Debug)]
pub struct DecodedBody(pub Map<String, Value>);

/// Decodes a body of any accepted encoding into an object of fields.
pub async fn decode(
    content_type: Option<&str>,
    bytes: Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let mime = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match mime.as_deref() {
        _ if bytes.is_empty() => Ok(Map::new()),
        Some("application/json") => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::BadRequest(
                "the JSON body must be an object".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(format!(
                "the JSON body is malformed: {e}"
            ))),
        },
        Some("application/x-www-form-urlencoded") | None => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("the form body is malformed: {e}")))?;
            Ok(pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect())
        }
        Some("multipart/form-data") => {
            let request = Request::builder()
                .header(CONTENT_TYPE, content_type.unwrap_or_default())
                .body(Body::from(bytes))
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let mut multipart = Multipart::from_request(request, &()).await.map_err(|e| {
                ApiError::BadRequest(format!("the multipart body is malformed: {e}"))
            })?;
            let mut map = Map::new();
            while let Some(field) = multipart.next_field().await.map_err(|e| {
                ApiError::BadRequest(format!("the multipart body is malformed: {e}"))
            })? {
                let Some(name) = field.name().map(str::to_owned) else {
                    continue;
                };
                if field.file_name().is_some() {
                    return Err(ApiError::field(&name, "file uploads are not accepted here"));
                }
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::field(&name, format!("is not readable text: {e}")))?;
                map.insert(name, Value::String(text));
            }
            Ok(map)
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "unsupported Content-Type {other}: send application/json, \
             application/x-www-form-urlencoded or multipart/form-data"
        ))),
    }
}

/// Extracts the body as `T`, whatever its encoding.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let fields = match parts.extensions.remove::<DecodedBody>() {
            Some(DecodedBody(fields)) => fields,
            None => {
                let content_type = parts
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = axum::body::to_bytes(body, BODY_LIMIT)
                    .await
                    .map_err(|_| too_large())?;
                decode(content_type.as_deref(), bytes).await?
            }
        };
        serde_json::from_value(Value::Object(fields))
            .map(Input)
            .map_err(|e| ApiError::BadRequest(format!("the body does not fit this request: {e}")))
    }
}

/// A field as sent: forms send every value as text, JSON may send numbers, booleans or
/// arrays. `Text` takes any of them as the text a form would have sent (arrays and objects as
/// their JSON), so one parser serves both encodings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Text(match Value::deserialize(deserializer)? {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }))
    }
}

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The value of an optional field, with empty text taken as absent (forms send empty inputs).
pub fn present(field: &Option<Text>) -> Option<&str> {
    field.as_ref().map(Text::as_str).filter(|s| !s.is_empty())
}

/// A required, non-empty field.
pub fn required<'a>(
    problems: &mut Problems,
    name: &str,
    field: &'a Option<Text>,
) -> Option<&'a str> {
    let value = present(field);
    if value.is_none() {
        problems.add(name, "is required");
    }
    value
}

/// Parses an integer field within `min..=max`.
pub fn parse_int(value: &str, min: i64, max: i64) -> Result<i64, String> {
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!("must be between {min} and {max}")),
        Err(_) => Err("must be a whole number".into()),
    }
}

/// Parses the boolean spellings forms and JSON use: 1/0, true/false, on/off, yes/no.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err("must be true or false (1 or 0)".into()),
    }
}

/// Free text up to `max` characters; `single_line` also refuses newlines.
pub fn check_text(value: &str, max: usize, single_line: bool) -> Result<String, String> {
    crate::domain::check_len(value, max)?;
    if single_line {
        crate::domain::check_single_line(value)?;
    }
    Ok(value.to_owned())
}

/// `page` and `per_page` with their defaults and limits.
pub fn pagination(
    problems: &mut Problems,
    page: Option<&str>,
    per_page: Option<&str>,
) -> (u32, u32) {
    let page = page
        .and_then(|p| problems.check("page", parse_int(p, 1, 1_000_000)))
        .unwrap_or(1);
    let per_page = per_page
        .and_then(|p| problems.check("per_page", parse_int(p, 1, 200)))
        .unwrap_or(50);
    (
        u32::try_from(page).unwrap_or(1),
        u32::try_from(per_page).unwrap_or(50),
    )
}

/// Query-string parameters as `T`; a malformed query string is a JSON 400 like every error.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Params)
            .map_err(|e| ApiError::BadRequest(format!("the query string is malformed: {e}")))
    }
}

/// The one text parameter of a path (`/servers/check_host/{host_ip}`); a segment that is not
/// UTF-8 is a JSON 400 like every error (axum's own rejection is plain text).
pub struct Segment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(raw)| Segment(raw))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// A numeric id from the path (`/servers/{id}`).
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Segment(raw) = Segment::from_request_parts(parts, state).await?;
        parse_id(&raw).map(Id)
    }
}

/// A path segment that must be an id (400 otherwise).
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{raw:?} is not an id: ids are positive whole numbers"
        ))
    })
}
