//! The clients the benchmarks work on, prepared directly rather than created (creation is
//! bench-create's business): rows through the API then marked active, and on the test hosts
//! what a creation would leave: the docker stand-in's compose projects running their fake
//! apps, https vhosts in the hosts' real nginx, and each client's own database and login in
//! the machine's MariaDB (with a `users` table), named in the client's `.env` as a creation
//! writes them, so the stand-in's `php artisan` works on the client's real database.

use alfa_cloud::crypto::purpose;
use alfa_cloud::store::clients;
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;

use crate::support::TestApp;
use crate::support::testbed::{self, Host};

/// Clients per host.
pub const PER_HOST: usize = 50;
pub const HTTPS_PORT: &str = "8443";

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &ulid::Ulid::generate().to_string().to_lowercase()[20..]
    )
}

pub fn sql_env(host: &Host, key: &str) -> String {
    let env = std::fs::read_to_string(host.dir.join("sql.env")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing from {}/sql.env", host.dir.display()))
        .to_owned()
}

/// A server on `host` whose clients' ports start at `first_port`.
pub async fn server(app: &TestApp, host: &Host, first_port: u16) -> i64 {
    testbed::testbed(&["nginx-start", &host.name]);
    let bed = testbed::get();
    let name = unique(&format!("{}-", host.name));
    app.create_server(&[
        ("name", &name),
        ("host", &host.addr),
        ("domain", &format!("{name}.test")),
        ("ssh_port", &bed.ssh_port.to_string()),
        ("ssh_user", &bed.user),
        ("base_dir", &host.base_dir),
        ("sql_kind", "mariadb"),
        ("sql_port", "3306"),
        ("sql_user", &sql_env(host, "MARIADB_USER")),
        ("sql_password", &sql_env(host, "MARIADB_PASSWORD")),
        ("http_port", &bed.http_port.to_string()),
        ("https_port", HTTPS_PORT),
        ("listen_address", &host.addr),
        ("db_host_for_clients", "127.0.0.1"),
        ("client_ports", &format!("{first_port}-{}", first_port + 99)),
    ])
    .await
}

/// One prepared client: (id, subdomain, fqdn, port).
pub type Prepared = (i64, String, String, i64);

/// Registers `PER_HOST` clients on `server` and leaves on `host` what their creation would:
/// the compose project running its fake app, an https vhost, a database with 3 users.
pub async fn clients_on(app: &TestApp, host: &Host, server: i64, cert: &str) -> Vec<Prepared> {
    let mut made = Vec::new();
    for _ in 0..PER_HOST {
        let sub = unique("p");
        let id = app.create_client(server, &[("subdomain", &sub)]).await;
        let row = clients::get(&app.engine.db, id).await.unwrap().unwrap();
        made.push((id, sub, row.fqdn, row.client_port.unwrap()));
    }
    // Each up on its own: one that fails leaves its client unavailable, which the pass reports.
    let mut script = String::new();
    for (id, sub, fqdn, port) in &made {
        let dir = format!("{}/docker/clients/{sub}", host.base_dir);
        std::fs::create_dir_all(format!("{dir}/public")).unwrap();
        std::fs::write(format!("{dir}/.env"), env_file(app, *id).await).unwrap();
        std::fs::write(
            format!("{dir}/docker-compose.yml"),
            format!(
                "services:\n  app:\n    image: alfa-lims:1.0-master\n    env_file: .env\n    \
                 ports:\n      - \"127.0.0.1:{port}:80\"\n"
            ),
        )
        .unwrap();
        std::fs::write(
            format!("{}/nginx/{sub}.conf", host.base_dir),
            format!(
                "server {{\n    listen {addr}:{HTTPS_PORT} ssl;\n    server_name {fqdn};\n    \
                 ssl_certificate {cert}.crt;\n    ssl_certificate_key {cert}.key;\n    \
                 location / {{ proxy_pass http://{addr}:{port}; }}\n}}\n",
                addr = host.addr
            ),
        )
        .unwrap();
        script.push_str(&format!(
            "docker compose -p alfa_{sub} -f {dir}/docker-compose.yml up -d 2>/dev/null\n"
        ));
    }
    // As root, as the product's jobs do: the certificates of other vhosts are root's.
    script.push_str("sudo -n \"$(command -v nginx)\" -s reload\n");
    testbed::testbed(&["ssh", &host.name, "bash", "-c", &shell_quote(&script)]);
    databases(app, host, &made).await;
    made
}

/// The `.env` keys the stand-in's `php artisan` reads: the client's own database and login.
async fn env_file(app: &TestApp, id: i64) -> String {
    let row = clients::get(&app.engine.db, id).await.unwrap().unwrap();
    let password = app
        .engine
        .cipher
        .open(
            purpose::CLIENT_DB_PASSWORD,
            row.db_password_enc.as_deref().unwrap(),
        )
        .unwrap();
    let name = format!("{}{id}", app.engine.settings.client_db_prefix);
    format!(
        "APP_NAME=bench\nDB_CONNECTION=mysql\nDB_HOST=127.0.0.1\nDB_PORT=3306\n\
         DB_DATABASE={name}\nDB_USERNAME={name}\nDB_PASSWORD=\"{}\"\n",
        password.expose_secret()
    )
}

pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Each client's own database and login (as creation makes them), with a `users` table.
pub async fn databases(app: &TestApp, host: &Host, made: &[Prepared]) {
    let mut admin = sqlx::MySqlConnection::connect(&sql_env(host, "MARIADB_URL"))
        .await
        .expect("the host's MariaDB login works (scripts/test.sh starts MariaDB)");
    for (id, ..) in made {
        let row = clients::get(&app.engine.db, *id).await.unwrap().unwrap();
        let password = app
            .engine
            .cipher
            .open(
                purpose::CLIENT_DB_PASSWORD,
                row.db_password_enc.as_deref().unwrap(),
            )
            .unwrap();
        let name = format!("{}{id}", app.engine.settings.client_db_prefix);
        let pw = password.expose_secret();
        for statement in [
            format!("CREATE DATABASE IF NOT EXISTS `{name}`"),
            format!("CREATE USER IF NOT EXISTS '{name}'@'%' IDENTIFIED BY '{pw}'"),
            format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'%'"),
            format!(
                "CREATE TABLE IF NOT EXISTS `{name}`.users (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                 name VARCHAR(255), email VARCHAR(255))"
            ),
            format!(
                "INSERT INTO `{name}`.users (name, email) VALUES ('a','a@x'),('b','b@x'),('c','c@x')"
            ),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

/// Undoes what [`clients_on`] made.
pub async fn cleanup(app: &TestApp, host: &Host, made: &[Prepared]) {
    let mut script = String::new();
    for (_, sub, ..) in made {
        let dir = format!("{}/docker/clients/{sub}", host.base_dir);
        script.push_str(&format!(
            "docker compose -p alfa_{sub} -f {dir}/docker-compose.yml down 2>/dev/null || true\n"
        ));
    }
    testbed::testbed(&["ssh", &host.name, "bash", "-c", &shell_quote(&script)]);
    for (_, sub, ..) in made {
        let _ = std::fs::remove_dir_all(format!("{}/docker/clients/{sub}", host.base_dir));
        let _ = std::fs::remove_file(format!("{}/nginx/{sub}.conf", host.base_dir));
    }
    let reload = "sudo -n \"$(command -v nginx)\" -s reload || true";
    testbed::testbed(&["ssh", &host.name, "bash", "-c", &shell_quote(reload)]);
    if let Ok(mut admin) = sqlx::MySqlConnection::connect(&sql_env(host, "MARIADB_URL")).await {
        for (id, ..) in made {
            let name = format!("{}{id}", app.engine.settings.client_db_prefix);
            for statement in [
                format!("DROP DATABASE IF EXISTS `{name}`"),
                format!("DROP USER IF EXISTS '{name}'@'%'"),
            ] {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&mut admin)
                    .await;
            }
        }
    }
}

/// A self-signed certificate for every bench vhost: returns the path without `.crt`/`.key`.
pub fn certificate(dir: &std::path::Path) -> String {
    let base = dir.join("bench-cert").display().to_string();
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=bench",
        ])
        .args([
            "-keyout",
            &format!("{base}.key"),
            "-out",
            &format!("{base}.crt"),
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(
        status.success(),
        "openssl could not make the bench certificate"
    );
    base
}
