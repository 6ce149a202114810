//! The client's files under `{base_dir}/docker/clients/{subdomain}/`: `.env`, the compose
//! file, `php/add_vars.ini` and the maintenance page, rendered from `templates/client/` and
//! `templates/nginx/maintenance.html`, each written atomically (secrets travel on stdin).

use secrecy::ExposeSecret as _;
use serde::Serialize;

use super::{ClientSecrets, Place};
use crate::domain::SqlKind;
use crate::ops::OpContext;
use crate::remote::scripts;
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// The values of `templates/client/env`.
#[derive(Serialize)]
pub struct EnvFile<'a> {
    pub app_name: &'a str,
    pub app_url: String,
    pub app_timezone: &'a str,
    pub app_key: &'a str,
    pub db_connection: &'static str,
    pub db_host: &'a str,
    pub db_port: i64,
    pub db_database: String,
    pub db_username: String,
    pub db_password: &'a str,
    pub alfa_cloud_url: &'a str,
    pub alfa_cloud_token: &'a str,
    pub alfa_client_id: i64,
}

/// The values of `templates/client/docker-compose.yml`.
#[derive(Serialize)]
pub struct ComposeFile<'a> {
    pub project: String,
    pub image: String,
    pub client_port: i64,
    pub client_dir: &'a str,
}

#[derive(Serialize)]
struct PhpSettings<'a> {
    timezone: &'a str,
}

#[derive(Serialize)]
struct MaintenancePage<'a> {
    lab_name: &'a str,
    fqdn: &'a str,
}

/// The lab's address as its users reach it (the port only when it is not 443).
pub fn app_url(server: &ServerRow, client: &ClientRow) -> String {
    if server.https_port == 443 {
        format!("https://{}", client.fqdn)
    } else {
        format!("https://{}:{}", client.fqdn, server.https_port)
    }
}

/// The client's port on the server's loopback, allocated at registration.
pub fn client_port(client: &ClientRow) -> anyhow::Result<i64> {
    client.client_port.ok_or_else(|| {
        anyhow::anyhow!(
            "client {} has no port allocated (registered before the lifecycle existed: recreate it)",
            client.id
        )
    })
}

/// One rendered file of a client: its path under the client's folder, text and mode.
pub struct Rendered {
    pub name: &'static str,
    pub text: String,
    pub mode: u32,
}

/// Renders every file of the client's folder from today's templates and rows (`.env`,
/// `docker-compose.yml`, `php/add_vars.ini`, the maintenance page), writing nothing.
pub fn render(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<Vec<Rendered>> {
    let place = Place::of(server, client);
    let kind = SqlKind::parse(&server.sql_kind).map_err(|e| anyhow::anyhow!("sql_kind {e}"))?;
    let env = EnvFile {
        app_name: &client.name,
        app_url: app_url(server, client),
        app_timezone: &client.timezone,
        app_key: secrets.app_key.expose_secret(),
        db_connection: match kind {
            SqlKind::Mariadb => "mysql",
            SqlKind::Postgres => "pgsql",
        },
        db_host: &server.db_host_for_clients,
        db_port: server.sql_port,
        db_database: ctx.client_db_name(client.id),
        db_username: ctx.client_db_name(client.id),
        db_password: secrets.db_password.expose_secret(),
        alfa_cloud_url: &ctx.engine().settings.public_url,
        alfa_cloud_token: secrets.cloud_token.expose_secret(),
        alfa_client_id: client.id,
    };
    let compose = ComposeFile {
        project: format!("alfa_{}", client.subdomain),
        image: format!(
            "{}:{}",
            ctx.engine().settings.image_repo,
            client.version_tag
        ),
        client_port: client_port(client)?,
        client_dir: &place.client_dir,
    };
    Ok(vec![
        Rendered {
            name: ".env",
            text: ctx.render("client/env", &env)?,
            mode: 0o640,
        },
        Rendered {
            name: "docker-compose.yml",
            text: ctx.render("client/docker-compose.yml", &compose)?,
            mode: 0o644,
        },
        Rendered {
            name: "php/add_vars.ini",
            text: ctx.render(
                "client/add_vars.ini",
                &PhpSettings {
                    timezone: &client.timezone,
                },
            )?,
            mode: 0o644,
        },
        Rendered {
            name: "maintenance/index.html",
            text: ctx.render(
                "nginx/maintenance.html",
                &MaintenancePage {
                    lab_name: &client.name,
                    fqdn: &client.fqdn,
                },
            )?,
            mode: 0o644,
        },
    ])
}

/// Creates the client's folders and writes every file (all of them each time: what was
/// already there is replaced by the same content).
pub async fn write(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<()> {
    let place = Place::of(server, client);
    ctx.script_on(server, scripts::CLIENT_DIRS)
        .args([place.base_dir.clone(), place.subdomain.clone()])
        .run()
        .await?;
    // Marks the folder as this client's: the preflight of a retry then knows it is not in use
    // by someone else.
    ctx.upload_on(
        server,
        &format!("{}/.alfa-client", place.client_dir),
        format!("{}\n", client.id).as_bytes(),
        0o644,
    )
    .await?;
    for file in render(ctx, server, client, secrets)? {
        ctx.upload_on(
            server,
            &format!("{}/{}", place.client_dir, file.name),
            file.text.as_bytes(),
            file.mode,
        )
        .await?;
    }
    ctx.info(format!(
        "wrote .env, docker-compose.yml, php/add_vars.ini and the maintenance page in {}",
        place.client_dir
    ));
    Ok(())
}

/// Writes only the client's compose file, naming the image of `version` (a switch, and its
/// rollback): `.env` and the other files stay as they are, and no secret is opened. Returns
/// the image it names (`{image_repo}:{version}`).
pub async fn write_compose(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    version: &str,
) -> anyhow::Result<String> {
    let place = Place::of(server, client);
    let image = format!("{}:{version}", ctx.engine().settings.image_repo);
    let compose = ComposeFile {
        project: format!("alfa_{}", client.subdomain),
        image: image.clone(),
        client_port: client_port(client)?,
        client_dir: &place.client_dir,
    };
    let text = ctx.render("client/docker-compose.yml", &compose)?;
    ctx.upload(
        &format!("{}/docker-compose.yml", place.client_dir),
        text.as_bytes(),
        0o644,
    )
    .await?;
    ctx.info(format!(
        "{}/docker-compose.yml names the image {image}",
        place.client_dir
    ));
    Ok(image)
}

/// The text of `path` on `server`, or `None` when there is no such file. Read with one plain
/// command whose output never reaches the log (a `.env` holds secrets).
pub async fn read(
    ctx: &OpContext,
    server: &ServerRow,
    path: &str,
) -> anyhow::Result<Option<String>> {
    let started = std::time::Instant::now();
    let out = ctx
        .engine()
        .remote
        .exec(
            &crate::ops::target(server),
            &["cat", "--", path],
            std::time::Duration::from_secs(60),
        )
        .await;
    ctx.add_remote_time(started);
    let out = out.map_err(|err| crate::ops::describe(server, err))?;
    match out.exit_code {
        0 => Ok(Some(out.stdout)),
        _ if out.stderr.contains("No such file or directory") => Ok(None),
        code => anyhow::bail!(
            "reading {path} on server {} failed (exit code {code}): {}; check that {} may read it",
            server.name,
            out.stderr.trim(),
            server.ssh_user
        ),
    }
}
