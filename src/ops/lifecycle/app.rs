//! Commands in the client's running app: `php artisan migrate --force` and the seeders; and
//! recreating its container with rewritten files.

use crate::ops::OpContext;
use crate::remote::scripts;
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// `php artisan migrate --force` in the client's app service, its output streamed.
pub async fn migrate(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<()> {
    artisan(ctx, server, client, "migrate", &["--force"]).await
}

/// `php artisan db:seed --class={class} --force` (`class` a setting, checked at start).
pub async fn seed(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    class: &str,
) -> anyhow::Result<()> {
    let class = format!("--class={class}");
    artisan(ctx, server, client, "db:seed", &[&class, "--force"]).await
}

/// Recreates the client's container with its rewritten files (`.env`, compose file,
/// `add_vars.ini`) and waits for its `/up` (`jobs/client_recreate.sh`).
pub async fn recreate(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<()> {
    let place = super::Place::of(server, client);
    let wait = ctx.engine().settings.app_ready_timeout;
    ctx.script_on(server, scripts::CLIENT_RECREATE)
        .args([
            place.base_dir,
            place.subdomain,
            super::files::client_port(client)?.to_string(),
            wait.as_secs().max(1).to_string(),
        ])
        .timeout(wait + std::time::Duration::from_secs(300))
        .run()
        .await?;
    Ok(())
}

async fn artisan(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    command: &str,
    options: &[&str],
) -> anyhow::Result<()> {
    ctx.script_on(server, scripts::CLIENT_ARTISAN)
        .args([
            server.base_dir.clone(),
            client.subdomain.clone(),
            command.to_owned(),
        ])
        .args(options.iter().copied())
        .run()
        .await?;
    Ok(())
}
