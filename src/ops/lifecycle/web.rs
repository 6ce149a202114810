//! What makes a client reachable: its nginx vhost (installed under the server's nginx lock,
//! tested, reloaded, removed again when nginx refuses it), its container, its certificate and
//! the probe through nginx; and the teardown of all of it.

use std::time::Duration;

use serde::Serialize;

use super::Place;
use super::files::client_port;
use crate::ops::OpContext;
use crate::remote::scripts;
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// The values of `templates/nginx/vhost.conf`.
#[derive(Serialize)]
pub struct Vhost<'a> {
    pub fqdn: &'a str,
    pub subdomain: &'a str,
    pub client_id: i64,
    pub listen_http: String,
    pub listen_https: String,
    pub https_port: i64,
    /// False before a certificate exists (http only), true after (http redirects to https).
    pub https: bool,
    pub client_port: i64,
    pub allowed_ips: Vec<String>,
    pub acme_root: String,
    pub client_dir: &'a str,
    pub cert_fullchain: String,
    pub cert_key: String,
}

/// Renders the client's vhost (`https`: with its certificate, as an active client has it).
pub fn render_vhost(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    https: bool,
) -> anyhow::Result<String> {
    let place = Place::of(server, client);
    let live = format!(
        "{}/live/{}",
        server.letsencrypt_dir.trim_end_matches('/'),
        client.fqdn
    );
    let vhost = Vhost {
        fqdn: &client.fqdn,
        subdomain: &client.subdomain,
        client_id: client.id,
        listen_http: server.listen_on(server.http_port),
        listen_https: server.listen_on(server.https_port),
        https_port: server.https_port,
        https,
        client_port: client_port(client)?,
        allowed_ips: serde_json::from_str(&client.allowed_ips).unwrap_or_default(),
        acme_root: format!("{}/acme", place.base_dir),
        client_dir: &place.client_dir,
        cert_fullchain: format!("{live}/fullchain.pem"),
        cert_key: format!("{live}/privkey.pem"),
    };
    ctx.render("nginx/vhost.conf", &vhost)
}

/// Renders the client's vhost and installs it: upload beside the live one, then the job
/// script swaps it in under the server's nginx lock, runs `nginx -t` and reloads, or puts the
/// previous state back and fails with nginx's own message.
pub async fn install_vhost(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    https: bool,
) -> anyhow::Result<()> {
    let place = Place::of(server, client);
    let text = render_vhost(ctx, server, client, https)?;
    let staged = format!("{}/nginx/{}.conf.new", place.base_dir, place.subdomain);
    ctx.upload_on(server, &staged, text.as_bytes(), 0o644)
        .await?;
    ctx.script_on(server, scripts::VHOST_INSTALL)
        .args([place.base_dir, place.subdomain])
        .run()
        .await?;
    Ok(())
}

/// Starts the compose project, waits (bounded) for the app's `/up`, runs its migrations.
pub async fn start_container(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<()> {
    let place = Place::of(server, client);
    let wait = ctx.engine().settings.app_ready_timeout;
    ctx.script_on(server, scripts::CONTAINER_UP)
        .args([
            place.base_dir,
            place.subdomain,
            client_port(client)?.to_string(),
            wait.as_secs().max(1).to_string(),
        ])
        // The wait, plus the image start and the migrations.
        .timeout(wait + Duration::from_secs(600))
        .run()
        .await?;
    Ok(())
}

/// Obtains the client's certificate (skipped while a valid one is held); returns its serial.
pub async fn certificate(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<Option<String>> {
    let place = Place::of(server, client);
    let email = ctx.engine().settings.acme_email.clone().unwrap_or_default();
    let data = ctx
        .script_on(server, scripts::CERTIFICATE)
        .args([
            place.base_dir,
            client.fqdn.clone(),
            email,
            server.acme_directory.clone(),
        ])
        .run()
        .await?;
    Ok(data
        .iter()
        .filter_map(|line| line.strip_prefix("::cert "))
        .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .find_map(|cert| cert["serial"].as_str().map(str::to_owned)))
}

/// The lab answers `/up` through nginx over https, with the certificate of serial `serial`
/// (the certificate step's; `None`: the one certbot holds).
pub async fn probe(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    serial: Option<String>,
) -> anyhow::Result<()> {
    let address = match server.listen_address.as_str() {
        "" => "127.0.0.1".to_owned(),
        address => address.to_owned(),
    };
    ctx.script_on(server, scripts::PROBE)
        .args([client.fqdn.clone(), server.https_port.to_string(), address])
        .args(serial)
        .run()
        .await?;
    Ok(())
}

/// Removes everything the client has on its server but its database: container, vhost,
/// certificate, folder. Safe to run again.
pub async fn remove(ctx: &OpContext, server: &ServerRow, client: &ClientRow) -> anyhow::Result<()> {
    let place = Place::of(server, client);
    ctx.script_on(server, scripts::CLIENT_REMOVE)
        .args([place.base_dir, place.subdomain, client.fqdn.clone()])
        .run()
        .await?;
    Ok(())
}

/// Starts (or recreates, when its compose file changed) the compose project and waits
/// (bounded) for the app's `/up`, without running its migrations; returns the image the
/// project's `app` service runs now, as docker reports it.
pub async fn start_app(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<Option<String>> {
    let place = Place::of(server, client);
    let wait = ctx.engine().settings.app_ready_timeout;
    let data = ctx
        .script(scripts::CONTAINER_UP)
        .args([
            place.base_dir,
            place.subdomain,
            client_port(client)?.to_string(),
            wait.as_secs().max(1).to_string(),
            "no-migrate".to_owned(),
        ])
        .timeout(wait + Duration::from_secs(600))
        .run()
        .await?;
    Ok(data
        .iter()
        .filter_map(|line| line.strip_prefix("::running "))
        .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .find(|running| running["service"] == "app")
        .and_then(|running| running["image"].as_str().map(str::to_owned)))
}
