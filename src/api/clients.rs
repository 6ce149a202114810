//! `/clients`: the labs' clouds.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::AuditTarget;
use super::auth::AdminUser;
use super::client_input::{ClientInput, ExpireDateInput, validate};
use super::input::{Id, Input, Params, check_text, pagination, parse_int, present, required};
use crate::domain::{ClientState, parse_datetime};
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::kinds::Kind;
use crate::state::AppState;
use crate::store::clients::{self, BillingType, ClientQuery, ClientRow, SortKey, WriteError};
use crate::store::operations::NewOperation;
use crate::store::servers;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub id: i64,
    pub server_id: i64,
    pub name: String,
    pub short_name: String,
    pub admin_f: String,
    pub admin_i: String,
    pub admin_o: String,
    /// The administrator's login in the LIMS: 1 to 64 of letters a-z and A-Z, digits, '.',
    /// '_', '@' and '-', starting with a letter or digit.
    pub admin_login: String,
    /// Whether a lab admin password is stored; the password itself is never returned.
    pub password_set: bool,
    pub subdomain: String,
    /// The lab's cloud: `https://subdomain.domain`.
    pub url: String,
    pub email: String,
    pub phone: String,
    pub city: String,
    pub timezone: String,
    pub version_tag: String,
    pub allowed_ips: Vec<String>,
    pub config: String,
    pub license: String,
    pub license_expires_at: Option<DateTime<Utc>>,
    pub billing_type: String,
    #[schema(example = "pending")]
    pub state: String,
    /// Whether the cloud answered its last probe; null until probed.
    pub available: Option<bool>,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ClientRow> for ClientView {
    fn from(row: ClientRow) -> Self {
        Self {
            id: row.id,
            server_id: row.server_id,
            name: row.name,
            short_name: row.short_name,
            admin_f: row.admin_f,
            admin_i: row.admin_i,
            admin_o: row.admin_o,
            admin_login: row.admin_login,
            password_set: row.password_enc.is_some(),
            subdomain: row.subdomain,
            url: format!("https://{}", row.fqdn),
            email: row.email,
            phone: row.phone,
            city: row.city,
            timezone: row.timezone,
            version_tag: row.version_tag,
            allowed_ips: serde_json::from_str(&row.allowed_ips).unwrap_or_default(),
            config: row.config,
            license: row.license,
            license_expires_at: row.license_expires_at,
            billing_type: row.billing_type,
            state: row.state,
            available: row.available,
            checked_at: row.checked_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
pub struct ListParams {
    /// Page number, from 1.
    page: Option<String>,
    /// Clients per page, 1 to 200 (default 50).
    per_page: Option<String>,
    server_id: Option<String>,
    billing_type: Option<String>,
    state: Option<String>,
    /// Text the name, short name or subdomain contains (any case).
    q: Option<String>,
    /// id (default), name, subdomain, created_at or license_expires_at.
    sort: Option<String>,
    /// asc (default) or desc.
    order: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// Clients, paged, filtered and sorted.
#[utoipa::path(get, path = "/clients", tag = "clients", params(ListParams),
    responses((status = 200, body = ClientPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Params(params): Params<ListParams>,
) -> ApiResult<axum::response::Response> {
    let mut p = Problems::default();
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (page, per_page) = pagination(&mut p, params.page.as_deref(), params.per_page.as_deref());
    let server_id =
        nonempty(&params.server_id).and_then(|v| p.check("server_id", parse_int(&v, 1, i64::MAX)));
    let client_state =
        nonempty(&params.state).and_then(|v| p.check("state", ClientState::parse(&v)));
    let sort = match nonempty(&params.sort) {
        None => SortKey::Id,
        Some(v) => SortKey::parse(&v).unwrap_or_else(|| {
            p.add("sort", format!("must be one of: {}", SortKey::NAMES));
            SortKey::Id
        }),
    };
    let descending = match nonempty(&params.order).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            p.add("order", "must be asc or desc");
            false
        }
    };
    let q = nonempty(&params.q);
    if let Some(q) = &q {
        p.check("q", check_text(q, 100, true));
    }
    p.into_result()?;
    let query = ClientQuery {
        server_id,
        billing_type: nonempty(&params.billing_type),
        state: client_state,
        q,
        sort,
        descending,
        page,
        per_page,
    };
    // The version is read before the page: a write in between makes the cached page look
    // older than it is, never newer, so it is only ever rebuilt too early. No cache, no read.
    let cached = if state.pages.enabled() {
        let version = clients::data_version(&state.db).await?;
        let key = format!("{query:?}");
        if let Some(body) = state.pages.get(&key, version) {
            return Ok(json_bytes(body));
        }
        Some((key, version))
    } else {
        None
    };
    let rows = clients::list(&state.db, &query).await?;
    let body = serde_json::to_vec(&ClientPage {
        items: rows.items.into_iter().map(ClientView::from).collect(),
        total: rows.total,
        page,
        per_page,
    })
    .map_err(|e| ApiError::Internal(e.into()))?;
    let body = axum::body::Bytes::from(body);
    if let Some((key, version)) = cached {
        state.pages.put(key, version, body.clone());
    }
    Ok(json_bytes(body))
}

fn json_bytes(body: axum::body::Bytes) -> axum::response::Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn load(state: &AppState, id: i64) -> ApiResult<ClientRow> {
    clients::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("client {id} does not exist")))
}

/// One client.
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<axum::Json<ClientView>> {
    Ok(axum::Json(load(&state, id).await?.into()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: i64,
    #[schema(example = "pending")]
    pub state: String,
    /// The creation operation: poll `/clients/{id}/createlog`.
    pub operation_id: i64,
    #[schema(example = "queued")]
    pub status: String,
}

/// Create a client (202 with its id; it starts `pending`), or update one when `id` is given.
#[utoipa::path(post, path = "/clients/", tag = "clients",
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = Accepted), (status = 200, body = ClientView),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    Extension(user): Extension<AdminUser>,
    Input(input): Input<ClientInput>,
) -> ApiResult<Response> {
    match present(&input.id) {
        Some(v) => {
            let id = parse_int(v, 1, i64::MAX).map_err(|e| ApiError::field("id", e))?;
            update_client(&state, id, &input).await
        }
        None => create_client(&state, &user, &input).await,
    }
}

/// Update a client's data.
#[utoipa::path(put, path = "/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    request_body(content = ClientInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Id(id): Id,
    Input(input): Input<ClientInput>,
) -> ApiResult<Response> {
    update_client(&state, id, &input).await
}

async fn create_client(
    state: &AppState,
    user: &AdminUser,
    input: &ClientInput,
) -> ApiResult<Response> {
    let spec = validate(state, input, None).await?;
    let server = servers::get(&state.db, spec.server_id)
        .await?
        .ok_or_else(|| ApiError::field("server_id", "no such server"))?;
    let creation = NewOperation {
        kind: Kind::ClientCreate.name(),
        server_id: Some(server.id),
        client_id: None,
        parent_id: None,
        lock_scope: Kind::ClientCreate.lock_scope(),
        requested_by: user.0.clone(),
        params: serde_json::json!({ "subdomain": spec.subdomain.as_str(), "version_tag": spec.version_tag.as_str() }),
        max_attempts: 3,
    };
    // Client and creation operation commit together; the push comes after, and a queue that
    // is down only delays the operation (the sweeper pushes it later).
    let (id, operation_id) = clients::insert(&state.db, &spec, &server.domain, &creation)
        .await
        .map_err(write_error)?;
    state.engine.push(&[operation_id]).await;
    tracing::info!(client.id = id, client.subdomain = %spec.subdomain, server.id = server.id, op.id = operation_id, "client registered");
    let body = Accepted {
        id,
        state: ClientState::Pending.as_str().to_owned(),
        operation_id,
        status: "queued".to_owned(),
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "client", id });
    Ok(response)
}

async fn update_client(state: &AppState, id: i64, input: &ClientInput) -> ApiResult<Response> {
    let stored = load(state, id).await?;
    let spec = validate(state, input, Some(&stored)).await?;
    clients::update(&state.db, id, &spec)
        .await
        .map_err(write_error)?;
    tracing::info!(client.id = id, "client updated");
    let mut response = axum::Json(ClientView::from(load(state, id).await?)).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "client", id });
    Ok(response)
}

fn write_error(err: WriteError) -> ApiError {
    match err {
        WriteError::FqdnTaken => ApiError::field(
            "subdomain",
            "is already used by another client on this domain",
        ),
        WriteError::Db(e) => e.into(),
    }
}

/// Set the last day the lab may use its cloud. `sender` is recorded with the change.
#[utoipa::path(post, path = "/clients/{id}/expire_date", tag = "clients", params(("id" = i64, Path)),
    request_body(content = ExpireDateInput, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn expire_date(
    State(state): State<AppState>,
    Id(id): Id,
    Input(input): Input<ExpireDateInput>,
) -> ApiResult<Response> {
    let mut p = Problems::default();
    let sender = required(&mut p, "sender", &input.sender)
        .and_then(|v| p.check("sender", check_text(v, 100, true)));
    let at = required(&mut p, "license_expires_at", &input.license_expires_at)
        .and_then(|v| p.check("license_expires_at", parse_datetime(v)));
    p.into_result()?;
    let (sender, at) = (sender.expect("checked"), at.expect("checked"));
    if !clients::set_license_expiry(&state.db, id, at, &sender).await? {
        return Err(ApiError::NotFound(format!("client {id} does not exist")));
    }
    tracing::info!(client.id = id, sender = %sender, license_expires_at = %at, "licence end date changed");
    let mut response = axum::Json(ClientView::from(load(&state, id).await?)).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "client", id });
    Ok(response)
}

/// All billing types.
#[utoipa::path(get, path = "/clients/billing_types", tag = "clients",
    responses((status = 200, body = Vec<BillingType>)))]
pub async fn billing_types(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<BillingType>>> {
    Ok(axum::Json(clients::billing_types(&state.db).await?))
}
