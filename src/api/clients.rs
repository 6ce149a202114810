//! `/clients`: the labs' clouds. Every `/clients/*` route is declared here; the handlers that
//! change a client are in `clients_actions.rs`, the commands run in a lab (migrate, …) in
//! `client_commands.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::client_commands as commands;
use super::clients_actions as actions;
use super::input::{Id, Params, check_text, pagination, parse_int};
use super::operations::{LogParams, parse_after, read_log, status_text};
use crate::domain::ClientState;
use crate::error::{ApiError, ApiResult, Problems};
use crate::state::{AppState, CachedPage};
use crate::store::clients::{self, BillingType, ClientQuery, ClientRow, SortKey};

/// `/clients` and everything under it.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, actions::save_unslashed))
        .routes(routes!(actions::save))
        .routes(routes!(billing_types))
        .routes(routes!(get, actions::put, actions::delete))
        .routes(routes!(actions::expire_date))
        .routes(routes!(actions::reboot))
        .routes(routes!(commands::migrate))
        .routes(routes!(commands::demo_enable))
        .routes(routes!(commands::demo_disable))
        .routes(routes!(commands::maintain))
        .routes(routes!(commands::admin_password))
        .routes(routes!(super::client_transfer::copy_to))
        .routes(routes!(super::client_transfer::move_to))
        .routes(routes!(super::client_switch::switch))
        .routes(routes!(createlog))
        .routes(routes!(super::client_mail::send_success))
        .routes(routes!(super::client_mail::send_expire))
        .routes(routes!(super::client_mail::list))
}

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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The port its container publishes on 127.0.0.1 of its server (from the server's
    /// `client_ports`); null once deleted.
    pub client_port: Option<i64>,
    /// Whether its Laravel `APP_KEY` is stored; the key itself is never returned.
    pub app_key_set: bool,
    /// Whether the password of its own SQL login is stored; never returned.
    pub db_password_set: bool,
    /// Whether its token for this API (`ALFA_CLOUD_TOKEN`) is stored; never returned.
    pub cloud_token_set: bool,
    /// Keep what a failed creation made, for inspection, instead of undoing it.
    pub keep_on_error: bool,
    /// The language of the mails it is sent: `ru` or `en`.
    #[schema(example = "ru")]
    pub locale: String,
    /// Whether its app answered `GET /up` through nginx at the last probe (every
    /// `ALFA_PROBE_INTERVAL`); null until probed or while it is not active.
    pub available: Option<bool>,
    /// When it was last probed.
    pub checked_at: Option<DateTime<Utc>>,
    /// Whether its maintenance page is on; null when its server could not be asked.
    pub maintenance: Option<bool>,
    /// The image version its running container was started from; null when none runs.
    pub running_version: Option<String>,
    /// Users in its LIMS (rows of its database's `users` table); null when that could not be
    /// read.
    pub users_count: Option<i64>,
    /// Why the last probe found it unavailable or could not read a figure; empty when all
    /// went well, null until probed.
    pub probe_error: Option<String>,
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
            created_at: row.created_at,
            updated_at: row.updated_at,
            client_port: row.client_port,
            app_key_set: row.app_key_enc.is_some(),
            db_password_set: row.db_password_enc.is_some(),
            cloud_token_set: row.cloud_token_enc.is_some(),
            keep_on_error: row.keep_on_error,
            locale: row.locale,
            available: row.probe.available,
            checked_at: row.probe.checked_at,
            maintenance: row.probe.maintenance,
            running_version: row.probe.running_version,
            users_count: row.probe.users_count,
            probe_error: row.probe.probe_error,
        }
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
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
    let body = if state.pages.enabled() {
        cached_page(&state, &query).await?
    } else {
        let (total, items) = clients::page_json(&state.db, &query).await?;
        page_body(&items, total, page, per_page)
    };
    Ok(json_bytes(body))
}

/// `{"items":[…],"total":…,"page":…,"per_page":…}`: `ClientPage` as serde writes it.
fn page_body(items: &str, total: i64, page: u32, per_page: u32) -> axum::body::Bytes {
    format!(r#"{{"items":[{items}],"total":{total},"page":{page},"per_page":{per_page}}}"#).into()
}

/// A page from the cache: its clients' part as cached while no client changed, its probe
/// fields as fresh as the probe results (read again, for its clients only, when they moved).
async fn cached_page(state: &AppState, query: &ClientQuery) -> ApiResult<axum::body::Bytes> {
    // The versions are read before the page: a write in between makes the cached page look
    // older than it is, never newer, so it is only ever rebuilt too early.
    let (version, probes_version) = clients::data_versions(&state.db).await?;
    let key = format!("{query:?}");
    let cached = state.pages.get(&key, version);
    if let Some(cached) = &cached
        && cached.probes_version == probes_version
    {
        return Ok(cached.body.clone());
    }
    let (total, parts) = match cached {
        Some(cached) => (cached.total, cached.parts.clone()),
        None => {
            let (total, parts) = clients::page_parts(&state.db, query).await?;
            let parts: Arc<[(i64, String)]> = parts.into_iter().map(|p| (p.id, p.client)).collect();
            (total, parts)
        }
    };
    let ids: Vec<i64> = parts.iter().map(|(id, _)| *id).collect();
    let probes = clients::probe_parts(&state.db, &ids).await?;
    let mut items = String::with_capacity(parts.iter().map(|(_, c)| c.len() + 160).sum());
    for (i, (id, client)) in parts.iter().enumerate() {
        if i > 0 {
            items.push(',');
        }
        items.push_str(client);
        items.push_str(probes.get(id).map_or(clients::UNPROBED, String::as_str));
    }
    let body = page_body(&items, total, query.page, query.per_page);
    state.pages.put(
        key,
        version,
        Arc::new(CachedPage {
            total,
            parts,
            probes_version,
            body: body.clone(),
        }),
    );
    Ok(body)
}

fn json_bytes(body: axum::body::Bytes) -> axum::response::Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

pub(super) async fn load(state: &AppState, id: i64) -> ApiResult<ClientRow> {
    clients::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("client {id} does not exist")))
}

/// The client, when it is `active`: an action on a client that is being created, failed, is
/// being deleted or is deleted answers 409 saying its state and what to do.
pub(super) async fn load_active(state: &AppState, id: i64) -> ApiResult<ClientRow> {
    let client = load(state, id).await?;
    check_active(&client)?;
    Ok(client)
}

/// 409 unless `client` is `active`, naming its state and the way out of it.
pub(super) fn check_active(client: &ClientRow) -> ApiResult<()> {
    let id = client.id;
    let what_to_do = match ClientState::parse(&client.state) {
        Ok(ClientState::Active) => return Ok(()),
        Ok(ClientState::Pending | ClientState::Creating) => {
            format!("wait until its creation ends (GET /clients/{id}/createlog)")
        }
        Ok(ClientState::Error) => format!(
            "its last creation failed: retry it (POST /operations/{{id}}/retry with the id \
             createlog names) or DELETE /clients/{id}"
        ),
        Ok(ClientState::Deleting) => "it is being deleted".to_owned(),
        Ok(ClientState::Deleted) => "it was deleted".to_owned(),
        Err(_) => "its state is unknown to this version".to_owned(),
    };
    Err(ApiError::Conflict(format!(
        "client {id} is {}, not active: {what_to_do}",
        client.state
    )))
}

/// One client.
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<axum::Json<ClientView>> {
    Ok(axum::Json(load(&state, id).await?.into()))
}

/// All billing types.
#[utoipa::path(get, path = "/clients/billing_types", tag = "clients",
    responses((status = 200, body = Vec<BillingType>)))]
pub async fn billing_types(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<BillingType>>> {
    Ok(axum::Json(clients::billing_types(&state.db).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreateLog {
    /// null while the creation runs; then "ok" or "error".
    pub completed: Option<String>,
    pub status: String,
    pub status_text: String,
    /// The log lines after `after`.
    pub log: Vec<String>,
    /// Pass as `after` to get only newer lines.
    pub next: i64,
    pub operation_id: i64,
}

/// The client's creation log, in the shape the panel polls.
#[utoipa::path(get, path = "/clients/{id}/createlog", tag = "clients", params(("id" = i64, Path), LogParams),
    responses((status = 200, body = CreateLog), (status = 404, body = crate::error::ErrorBody)))]
pub async fn createlog(
    State(state): State<AppState>,
    Id(id): Id,
    Params(p): Params<LogParams>,
) -> ApiResult<axum::Json<CreateLog>> {
    let after = parse_after(p.after.as_deref())?;
    let client = load(&state, id).await?;
    let op_id = client
        .creation_operation_id
        .ok_or_else(|| ApiError::NotFound(format!("client {id} has no creation operation")))?;
    let (row, lines, complete) = read_log(&state, op_id, after).await?;
    let completed = complete.then(|| if row.status == "ok" { "ok" } else { "error" }.to_owned());
    Ok(axum::Json(CreateLog {
        completed,
        next: lines.last().map_or(after, |l| l.seq),
        status_text: status_text(&row),
        status: row.status,
        log: lines.into_iter().map(|l| l.line).collect(),
        operation_id: op_id,
    }))
}
