//! Commands in the client's running app: `php artisan migrate --force` and the seeders.

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
