//! A client created end to end on the test hosts, as the panel asks for it: its database and
//! admin in real MariaDB / PostgreSQL, its files, its vhost in the host's real nginx, its
//! (stand-in) container, its certificate from Pebble through real certbot, and an https
//! request through nginx; then failures, retry and DELETE.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::support::multipart;

/// Client ports of the test apps: each server gets a block of its own, since the fake apps of
/// every test host listen on the same 127.0.0.1.
static NEXT_PORTS: AtomicI64 = AtomicI64::new(0);

/// This test process's first client port: a random block of 200, so that the fake apps a
/// previous run left on the shared hosts (until `scripts/testbed reset`) rarely meet ours.
fn port_base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| 20000 + (rand::random::<u32>() % 45) as i64 * 200)
}

/// The https port the test hosts' nginx serves clients on (each host on its own address).
pub const HTTPS_PORT: &str = "8443";

/// The SQL login scripts/testbed made for `host`: (user, password).
pub fn sql_login(host: &Host) -> (String, String) {
    let env = std::fs::read_to_string(host.dir.join("sql.env")).expect("the host has SQL logins");
    let get = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in sql.env"))
            .to_owned()
    };
    (get("MARIADB_USER"), get("MARIADB_PASSWORD"))
}

/// Registers `host` as a server clients can be created on, with `sql_kind` (mariadb or
/// postgres); starts the host's nginx. Returns the server's id.
pub async fn lifecycle_server(app: &TestApp, host: &Host, sql_kind: &str) -> i64 {
    testbed::testbed(&["nginx-start", &host.name]);
    let bed = testbed::get();
    let (user, password) = sql_login(host);
    let block = NEXT_PORTS.fetch_add(1, Ordering::Relaxed);
    let first = port_base() + block * 10;
    let ports = format!("{first}-{}", first + 9);
    let name = unique(&format!("{}-", host.name));
    app.create_server(&[
        ("name", &name),
        ("host", &host.addr),
        ("domain", &format!("{name}.test")),
        ("ssh_port", &bed.ssh_port.to_string()),
        ("ssh_user", &bed.user),
        ("base_dir", &host.base_dir),
        ("sql_kind", sql_kind),
        (
            "sql_port",
            if sql_kind == "mariadb" {
                "3306"
            } else {
                "5432"
            },
        ),
        ("sql_user", &user),
        ("sql_password", &password),
        ("http_port", &bed.http_port.to_string()),
        ("https_port", HTTPS_PORT),
        ("listen_address", &host.addr),
        (
            "letsencrypt_dir",
            &host.dir.join("letsencrypt/config").display().to_string(),
        ),
        ("db_host_for_clients", "127.0.0.1"),
        ("client_ports", &ports),
    ])
    .await
}

/// The fields the panel posts for a new lab (multipart, as Mol sends them).
pub fn lab_fields(server: i64, subdomain: &str) -> Vec<(String, String)> {
    [
        ("server_id", server.to_string()),
        ("name", "Центральная лаборатория".to_owned()),
        ("short_name", "ЦЛ".to_owned()),
        ("admin_f", "Иванов".to_owned()),
        ("admin_i", "Иван".to_owned()),
        ("admin_o", "Иванович".to_owned()),
        ("admin_login", "ivanov".to_owned()),
        ("password", format!("Lab-pass-{subdomain}")),
        ("subdomain", subdomain.to_owned()),
        ("email", format!("admin@{subdomain}.example")),
        ("phone", "+7 900 000-00-00".to_owned()),
        ("city", "Казань".to_owned()),
        ("timezone", "Europe/Moscow".to_owned()),
        ("version_tag", "1.0-master".to_owned()),
        ("allowed_ips", "[]".to_owned()),
        ("config", "{\"turbo_start\": true}".to_owned()),
        ("license", "Лицензия №1".to_owned()),
        ("license_expires_at", "2027-12-31".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Posts a new lab; returns (client id, creation operation id).
pub async fn post_lab(app: &TestApp, fields: &[(String, String)]) -> (i64, i64) {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in &pairs {
        if *k == "password" {
            app.secret(v);
        }
    }
    let reply = app
        .post("/clients/", multipart(&pairs))
        .await
        .expect(202)
        .json();
    (
        reply["id"].as_i64().unwrap(),
        reply["operation_id"].as_i64().unwrap(),
    )
}

/// Polls createlog until it completes; returns its last page and the lines it showed while
/// the creation still ran.
pub async fn follow_createlog(app: &TestApp, client: i64) -> (Value, Vec<String>) {
    // (after, lines seen while running, every line)
    let state = std::sync::Mutex::new((0i64, Vec::<String>::new(), Vec::<String>::new()));
    let state = &state;
    let done = eventually(
        Duration::from_secs(120),
        "createlog to complete",
        || async move {
            let after = state.lock().unwrap().0;
            let page = app
                .get(&format!("/clients/{client}/createlog?after={after}"))
                .await
                .expect(200)
                .json();
            let mut state = state.lock().unwrap();
            state.0 = page["next"].as_i64().unwrap();
            for line in page["log"].as_array().unwrap() {
                let line = line.as_str().unwrap().to_owned();
                if page["completed"].is_null() {
                    state.1.push(line.clone());
                }
                state.2.push(line);
            }
            if page["completed"].is_null() {
                Err(format!(
                    "still running; last lines {:?}",
                    state.2.iter().rev().take(3).collect::<Vec<_>>()
                ))
            } else {
                Ok(page)
            }
        },
    )
    .await;
    let running = state.lock().unwrap().1.clone();
    (done, running)
}

/// The values the client's `.env` on the host holds (the test hosts' folders are local).
pub fn env_file(host: &Host, subdomain: &str) -> Vec<(String, String)> {
    let path =
        std::path::Path::new(&host.base_dir).join(format!("docker/clients/{subdomain}/.env"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

pub fn env_value(env: &[(String, String)], key: &str) -> String {
    env.iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} in .env: {env:?}"))
        .1
        .clone()
}

/// The database (and SQL user) of `client` in `app`: `{ALFA_CLIENT_DB_PREFIX}{id}`.
pub fn client_db(app: &TestApp, client: i64) -> String {
    let prefix = app
        .options
        .env
        .iter()
        .find(|(k, _)| k == "ALFA_CLIENT_DB_PREFIX")
        .map_or("alfa_c", |(_, v)| v.as_str());
    format!("{prefix}{client}")
}

/// An active lab, created end to end through the API.
#[derive(Clone, Debug)]
pub struct Lab {
    pub server: i64,
    pub id: i64,
    pub subdomain: String,
    pub fqdn: String,
    pub host: Host,
    pub sql_kind: String,
}

impl Lab {
    /// The lab's database (and SQL user) in `app`.
    pub fn db(&self, app: &TestApp) -> String {
        client_db(app, self.id)
    }
}

/// A lab created end to end on a new server of `sql_kind` on host `i` (1-based: 1 is h11),
/// `active` when this returns.
pub async fn active_lab(app: &TestApp, i: usize, sql_kind: &str) -> Lab {
    let host = testbed::get().host(i);
    let server = lifecycle_server(app, host, sql_kind).await;
    lab_on_server(app, server, host, sql_kind).await
}

/// A lab created end to end on `server` (registered on `host`).
pub async fn lab_on_server(app: &TestApp, server: i64, host: &Host, sql_kind: &str) -> Lab {
    let sub = unique("lab");
    let (id, op) = post_lab(app, &lab_fields(server, &sub)).await;
    let done = wait_op(app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(app, op).await);
    let view = app.get(&format!("/clients/{id}")).await.expect(200).json();
    assert_eq!(view["state"], "active");
    Lab {
        server,
        id,
        subdomain: sub,
        fqdn: view["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("https://")
            .to_owned(),
        host: host.clone(),
        sql_kind: sql_kind.to_owned(),
    }
}

/// The first column of every row `sql` returns in database `db`, as text, read as the SQL
/// server's superuser (root / postgres): what the lab's database really holds.
pub async fn db_rows(sql_kind: &str, db: &str, sql: &str) -> Vec<String> {
    use sqlx::{Connection as _, Row as _};
    // The same read on either engine's connection type.
    macro_rules! first_column {
        ($conn:ty, $url:expr) => {{
            let mut conn = <$conn>::connect(&$url)
                .await
                .unwrap_or_else(|e| panic!("database {db}: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql} in {db}: {e}"))
                .iter()
                .map(|row| {
                    row.try_get::<String, _>(0)
                        .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()))
                        .unwrap_or_else(|e| panic!("{sql}: first column as text: {e}"))
                })
                .collect()
        }};
    }
    if sql_kind == "mariadb" {
        first_column!(
            sqlx::MySqlConnection,
            format!("mysql://root@127.0.0.1:3306/{db}")
        )
    } else {
        first_column!(
            sqlx::PgConnection,
            format!("postgres://postgres@127.0.0.1:5432/{db}")
        )
    }
}
