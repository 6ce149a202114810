//! The fields of a server and their rules, shared by create and update.

use serde::Deserialize;

use super::input::{Text, check_text, parse_bool, parse_int, present};
use crate::crypto::purpose;
use crate::domain::{
    BaseDir, ClientPorts, DomainName, Environment, Host, ListenAddress, ServerSecret, SqlKind,
    UnixUser,
};
use crate::error::{ApiError, Problems};
use crate::state::AppState;
use crate::store::servers::{ServerRow, ServerSpec};

/// The fields of `POST /servers/`. With `id` it updates that server; absent fields keep their
/// values, and an absent or empty `sql_password` keeps the stored one. While the server has
/// clients that are not deleted, `domain`, `base_dir`, `sql_kind`, `sql_port`, `http_port`,
/// `https_port`, `listen_address` and a `client_ports` range leaving a client's port out are
/// refused with 409 naming those clients: move or delete them first.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ServerInput {
    pub id: Option<Text>,
    /// Display name, unique.
    pub name: Option<Text>,
    /// IP address or DNS name the backend reaches the server at.
    pub host: Option<Text>,
    /// The domain clients live under (`subdomain.domain`).
    pub domain: Option<Text>,
    pub sql_user: Option<Text>,
    /// Write-only. 8 to 256 characters: a shorter secret cannot be masked in operation logs.
    pub sql_password: Option<Text>,
    /// Default 22.
    pub ssh_port: Option<Text>,
    /// Default www-data.
    pub ssh_user: Option<Text>,
    /// Default /srv.
    pub base_dir: Option<Text>,
    /// production (default) or stage.
    pub environment: Option<Text>,
    /// mariadb (default) or postgres.
    pub sql_kind: Option<Text>,
    /// Default 3306 for mariadb, 5432 for postgres.
    pub sql_port: Option<Text>,
    /// ACME directory URL; empty means Let's Encrypt.
    pub acme_directory: Option<Text>,
    /// Default true.
    pub active: Option<Text>,
    /// The port nginx serves the clients' vhosts on for HTTP (redirects to HTTPS and certbot's
    /// challenges), 1-65535. Default 80, as on a standard Debian server.
    pub http_port: Option<Text>,
    /// The port nginx serves the clients' vhosts on for HTTPS, 1-65535. Default 443.
    pub https_port: Option<Text>,
    /// The IPv4 or IPv6 address of this server the vhosts listen on
    /// (`listen {listen_address}:{port}`); empty (the default) listens on all addresses.
    pub listen_address: Option<Text>,
    /// certbot's configuration folder: certificates are read from
    /// `{letsencrypt_dir}/live/{subdomain.domain}/`. An absolute path of letters, digits,
    /// '.', '_', '-' and '/', without '..'. Default /etc/letsencrypt (Debian's certbot).
    pub letsencrypt_dir: Option<Text>,
    /// The host name or IP address a client's container connects to for its database
    /// (`DB_HOST`). Default host.docker.internal, which each container maps to the docker
    /// host's gateway; the SQL server must then listen where the docker bridge reaches it
    /// (check_host's `sql_listen` check says how).
    pub db_host_for_clients: Option<Text>,
    /// The ports client containers publish on 127.0.0.1 of this server, `A-B` with
    /// 1024 <= A <= B <= 65535; each client gets the lowest free one. Default 20000-29999
    /// (free on a standard Debian server). While the server has clients, a new range must
    /// still contain every client's port.
    pub client_ports: Option<Text>,
}

/// The value a field will have: the request's when sent, else the stored one.
fn merged<'a>(sent: &'a Option<Text>, stored: Option<&'a str>) -> Option<&'a str> {
    match sent {
        Some(text) => Some(text.as_str()),
        None => stored,
    }
}

pub fn validate(
    state: &AppState,
    input: &ServerInput,
    stored: Option<&ServerRow>,
) -> Result<ServerSpec, ApiError> {
    let mut p = Problems::default();
    let mut need = |name: &str, value: Option<&str>| -> Option<String> {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => Some(v.to_owned()),
            None => {
                p.add(name, "is required");
                None
            }
        }
    };
    let name = need("name", merged(&input.name, stored.map(|s| s.name.as_str())));
    let host = need("host", merged(&input.host, stored.map(|s| s.host.as_str())));
    let domain = need(
        "domain",
        merged(&input.domain, stored.map(|s| s.domain.as_str())),
    );
    let sql_user = need(
        "sql_user",
        merged(&input.sql_user, stored.map(|s| s.sql_user.as_str())),
    );

    let name = name.and_then(|v| p.check("name", check_text(&v, 100, true)));
    let host = host.and_then(|v| p.check("host", Host::parse(&v)));
    let domain = domain.and_then(|v| p.check("domain", DomainName::parse(&v)));
    let sql_user = sql_user.and_then(|v| p.check("sql_user", check_sql_user(&v)));

    let ssh_port = match present(&input.ssh_port) {
        Some(v) => p.check("ssh_port", parse_int(v, 1, 65535)),
        None => Some(stored.map_or(22, |s| s.ssh_port)),
    };
    let ssh_user = match present(&input.ssh_user) {
        Some(v) => p.check("ssh_user", UnixUser::parse(v)),
        None => UnixUser::parse(stored.map_or("www-data", |s| s.ssh_user.as_str())).ok(),
    };
    let base_dir = match present(&input.base_dir) {
        Some(v) => p.check("base_dir", BaseDir::parse(v)),
        None => BaseDir::parse(stored.map_or("/srv", |s| s.base_dir.as_str())).ok(),
    };
    let environment = match present(&input.environment) {
        Some(v) => p.check("environment", Environment::parse(v)),
        None => Environment::parse(stored.map_or("production", |s| s.environment.as_str())).ok(),
    };
    let sql_kind = match present(&input.sql_kind) {
        Some(v) => p.check("sql_kind", SqlKind::parse(v)),
        None => SqlKind::parse(stored.map_or("mariadb", |s| s.sql_kind.as_str())).ok(),
    };
    let sql_port = match (present(&input.sql_port), stored, sql_kind) {
        (Some(v), _, _) => p.check("sql_port", parse_int(v, 1, 65535)),
        // A changed kind without a port takes the new kind's default port.
        (None, Some(s), Some(kind)) if s.sql_kind == kind.as_str() => Some(s.sql_port),
        (None, _, Some(kind)) => Some(i64::from(kind.default_port())),
        (None, _, None) => None,
    };
    let acme_directory = match &input.acme_directory {
        Some(v) => p.check("acme_directory", check_acme_url(v.as_str())),
        None => Some(stored.map(|s| s.acme_directory.clone()).unwrap_or_default()),
    };
    let port = |p: &mut Problems, name: &str, sent: &Option<Text>, stored: Option<i64>, default| {
        match present(sent) {
            Some(v) => p.check(name, parse_int(v, 1, 65535)),
            None => Some(stored.unwrap_or(default)),
        }
    };
    let http_port = port(
        &mut p,
        "http_port",
        &input.http_port,
        stored.map(|s| s.http_port),
        80,
    );
    let https_port = port(
        &mut p,
        "https_port",
        &input.https_port,
        stored.map(|s| s.https_port),
        443,
    );
    // Sent empty means "all addresses", so an empty value is not "absent" here.
    let listen_address = match &input.listen_address {
        Some(v) => p.check("listen_address", ListenAddress::parse(v.as_str())),
        None => ListenAddress::parse(stored.map_or("", |s| s.listen_address.as_str())).ok(),
    };
    let letsencrypt_dir = match present(&input.letsencrypt_dir) {
        Some(v) => p.check("letsencrypt_dir", BaseDir::parse(v)),
        None => {
            BaseDir::parse(stored.map_or("/etc/letsencrypt", |s| s.letsencrypt_dir.as_str())).ok()
        }
    };
    let db_host_for_clients = match present(&input.db_host_for_clients) {
        Some(v) => p.check("db_host_for_clients", Host::parse(v)),
        None => {
            Host::parse(stored.map_or("host.docker.internal", |s| s.db_host_for_clients.as_str()))
                .ok()
        }
    };
    let client_ports = match (present(&input.client_ports), stored) {
        (Some(v), _) => p.check("client_ports", ClientPorts::parse(v)),
        (None, Some(s)) => ClientPorts::parse(&s.client_ports()).ok(),
        (None, None) => Some(ClientPorts::DEFAULT),
    };
    let active = match present(&input.active) {
        Some(v) => p.check("active", parse_bool(v)),
        None => Some(stored.is_none_or(|s| s.active)),
    };
    let sql_password_enc = match present(&input.sql_password) {
        Some(v) => p
            .check("sql_password", ServerSecret::parse(v))
            .map(|v| state.cipher.seal(purpose::SERVER_SQL_PASSWORD, v.expose())),
        None if stored.is_none() => {
            p.add("sql_password", "is required");
            None
        }
        None => None,
    };
    if p.is_empty() {
        Ok(ServerSpec {
            name: name.expect("checked"),
            host: host.expect("checked"),
            domain: domain.expect("checked"),
            ssh_port: u16::try_from(ssh_port.expect("checked")).expect("in range"),
            ssh_user: ssh_user.expect("checked"),
            base_dir: base_dir.expect("checked"),
            environment: environment.expect("checked"),
            sql_kind: sql_kind.expect("checked"),
            sql_port: u16::try_from(sql_port.expect("checked")).expect("in range"),
            sql_user: sql_user.expect("checked"),
            sql_password_enc,
            acme_directory: acme_directory.expect("checked"),
            active: active.expect("checked"),
            http_port: u16::try_from(http_port.expect("checked")).expect("in range"),
            https_port: u16::try_from(https_port.expect("checked")).expect("in range"),
            listen_address: listen_address.expect("checked"),
            letsencrypt_dir: letsencrypt_dir.expect("checked"),
            db_host_for_clients: db_host_for_clients.expect("checked"),
            client_ports: client_ports.expect("checked"),
        })
    } else {
        Err(ApiError::Validation(p))
    }
}

fn check_sql_user(value: &str) -> Result<String, String> {
    if value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Ok(value.to_owned())
    } else {
        Err("must be 1 to 64 of letters, digits, '_', '-' and '.'".into())
    }
}

fn check_acme_url(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && value.len() <= 300
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"') =>
        {
            Ok(value.to_owned())
        }
        _ => Err("must be an http(s) URL of an ACME directory, or empty for Let's Encrypt".into()),
    }
}
