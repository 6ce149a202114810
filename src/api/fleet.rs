//! Actions on servers that run on the fleet: checks, images, reboots, host keys, and the key
//! the workers log in with. (A client's own actions are in `clients_actions.rs`.)

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::AuditTarget;
use super::auth::AdminUser;
use super::input::{Id, Params, Segment, parse_int};
use super::operations::submit;
use crate::domain::{BaseDir, Host, SqlKind, UnixUser};
use crate::error::{ApiError, ApiResult, Problems};
use crate::ops::CheckReport;
use crate::ops::{On, kinds};
use crate::state::AppState;
use crate::store::servers;

/// `/servers/check_host/*`, `/servers/{id}/<action>` and `/ssh_public_key`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_host))
        .routes(routes!(images))
        .routes(routes!(reboot_server))
        .routes(routes!(cert_check))
        .routes(routes!(forget_host_key))
        .routes(routes!(ssh_public_key))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    /// Default 22.
    ssh_port: Option<String>,
    /// Default www-data.
    ssh_user: Option<String>,
    /// Default /srv.
    base_dir: Option<String>,
    /// The SQL server the clients' databases live on: mariadb (default) or postgres. The
    /// `sql_listen` check looks for it on `sql_port`.
    sql_kind: Option<String>,
    /// Default 3306 for mariadb, 5432 for postgres. `sql_listen` passes when something listens
    /// on this port on 0.0.0.0, `::` or the docker0 address (where containers reach
    /// host.docker.internal), and its hint says how to make the SQL server do so.
    sql_port: Option<String>,
}

/// Check that a host is reachable and set up for deploying (answers within 20 s).
#[utoipa::path(get, path = "/servers/check_host/{host_ip}", tag = "fleet",
    params(("host_ip" = String, Path), CheckParams),
    responses((status = 200, body = CheckReport), (status = 422, body = crate::error::ErrorBody)))]
pub async fn check_host(
    State(state): State<AppState>,
    Segment(host): Segment,
    Params(p): Params<CheckParams>,
) -> ApiResult<Json<CheckReport>> {
    let mut problems = Problems::default();
    let host = problems.check("host_ip", Host::parse(&host));
    let port = match p.ssh_port.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => problems.check("ssh_port", parse_int(v, 1, 65535)),
        None => Some(22),
    };
    let user = problems.check(
        "ssh_user",
        UnixUser::parse(
            p.ssh_user
                .as_deref()
                .filter(|v| !v.is_empty())
                .unwrap_or("www-data"),
        ),
    );
    let base_dir = problems.check(
        "base_dir",
        BaseDir::parse(
            p.base_dir
                .as_deref()
                .filter(|v| !v.is_empty())
                .unwrap_or("/srv"),
        ),
    );
    let sql_kind = match p.sql_kind.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => problems.check("sql_kind", SqlKind::parse(v)),
        None => Some(SqlKind::Mariadb),
    };
    let sql_port = match (p.sql_port.as_deref().filter(|v| !v.is_empty()), sql_kind) {
        (Some(v), _) => problems.check("sql_port", parse_int(v, 1, 65535)),
        (None, Some(kind)) => Some(i64::from(kind.default_port())),
        (None, None) => None,
    };
    problems.into_result()?;
    let (Some(host), Some(port), Some(user), Some(base_dir), Some(sql_kind), Some(sql_port)) =
        (host, port, user, base_dir, sql_kind, sql_port)
    else {
        unreachable!("problems were empty");
    };
    let port = u16::try_from(port).expect("validated range");
    let sql_port = u16::try_from(sql_port).expect("validated range");
    let report = state
        .engine
        .check_host(
            &host.to_string(),
            port,
            user.as_str(),
            base_dir.as_str(),
            sql_kind,
            sql_port,
        )
        .await?;
    Ok(Json(report))
}

/// Server `id`, or 404.
pub(super) async fn server(state: &AppState, id: i64) -> ApiResult<servers::ServerRow> {
    servers::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("server {id} does not exist")))
}

/// List the LIMS image versions on a server (an operation; its result holds the images).
#[utoipa::path(get, path = "/servers/{id}/images", tag = "fleet", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody)))]
pub async fn images(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    server(&state, id).await?;
    submit::<kinds::images::Images>(&state, &user, On::server(id), json!({})).await
}

/// Reboot a server (an operation that excludes every other operation on it).
#[utoipa::path(get, path = "/servers/{id}/reboot_server", tag = "fleet", params(("id" = i64, Path)),
    responses((status = 202, body = super::operations::Queued), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reboot_server(
    State(state): State<AppState>,
    Id(id): Id,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    server(&state, id).await?;
    submit::<kinds::reboot_server::RebootServer>(&state, &user, On::server(id), json!({})).await
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct CertCheckParams {
    /// Renew what expires within this many days (default `ALFA_CERT_RENEW_DAYS`, 14).
    days: Option<String>,
}

/// Check the certificates of every active client on a server now, renewing those that expire
/// within `days` (the scheduler runs this daily at `ALFA_CERT_CHECK_AT`). An operation; its
/// result lists each certificate with its days left and what was done.
#[utoipa::path(get, path = "/servers/{id}/cert_check", tag = "fleet", params(("id" = i64, Path), CertCheckParams),
    responses((status = 202, body = super::operations::Queued), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn cert_check(
    State(state): State<AppState>,
    Id(id): Id,
    Params(params): Params<CertCheckParams>,
    Extension(user): Extension<AdminUser>,
) -> ApiResult<Response> {
    let mut problems = Problems::default();
    let days = match params.days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => problems.check("days", parse_int(raw, 1, 3650)),
    };
    problems.into_result()?;
    server(&state, id).await?;
    submit::<kinds::cert_check::CertCheck>(&state, &user, On::server(id), json!({ "days": days }))
        .await
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HostKeyForgotten {
    pub server_id: i64,
    /// Always false: the next connection records the key the server shows.
    pub host_key_known: bool,
}

/// Forget a server's recorded SSH host key (after a reinstall): the next connection records
/// the new one.
#[utoipa::path(post, path = "/servers/{id}/forget_host_key", tag = "fleet", params(("id" = i64, Path)),
    responses((status = 200, body = HostKeyForgotten), (status = 404, body = crate::error::ErrorBody)))]
pub async fn forget_host_key(State(state): State<AppState>, Id(id): Id) -> ApiResult<Response> {
    let row = server(&state, id).await?;
    state.engine.forget_host_key(&row).await?;
    tracing::warn!(
        server.id = id,
        "host key forgotten: the next connection trusts whatever key the server shows"
    );
    let mut response = Json(HostKeyForgotten {
        server_id: id,
        host_key_known: false,
    })
    .into_response();
    response
        .extensions_mut()
        .insert(AuditTarget { kind: "server", id });
    Ok(response)
}

/// The public key the workers log in with: put it in each server's `authorized_keys`.
#[utoipa::path(get, path = "/ssh_public_key", tag = "fleet",
    responses((status = 200, description = "an OpenSSH public key line", content_type = "text/plain")))]
pub async fn ssh_public_key(State(state): State<AppState>) -> ApiResult<String> {
    Ok(state.engine.ssh_public_key.clone())
}
