//! What moves and copies need beyond the creation's steps: a client's files and dumps carried
//! from one server to another through the worker (checked by digest on both ends), the
//! maintenance switch of a move's source, and whether two servers reach the same database.

use anyhow::Context as _;
use rand::Rng as _;
use serde::Deserialize;

use super::{ClientSecrets, Place, labdata};
use crate::ops::OpContext;
use crate::ops::sql::SqlValue;
use crate::remote::{RECEIVE_FILE, scripts};
use crate::store::clients::ClientRow;
use crate::store::servers::ServerRow;

/// What a client's folder holds that the target renders itself (or that is the source's own
/// state): never copied, never compared. Paths relative to the folder, as tar and find see them.
pub const RENDERED: &[&str] = &[
    "./.env",
    "./docker-compose.yml",
    "./php/add_vars.ini",
    "./maintenance",
    "./maintenance.on",
    "./.alfa-client",
];

/// What a move to `target` would break, said as the rule (the API answers it with 409; the
/// operation checks again when it starts).
pub fn move_refusal(source: &ServerRow, client: &ClientRow, target: &ServerRow) -> Option<String> {
    if target.id == source.id {
        return Some(format!(
            "client {} is already on server {}: a move needs another server",
            client.id, target.name
        ));
    }
    if !target.active {
        return Some(format!(
            "server {} is inactive and takes no clients: activate it first",
            target.name
        ));
    }
    if target.sql_kind != source.sql_kind {
        return Some(format!(
            "a client moves only between servers of the same sql_kind: server {} runs {}, server \
             {} runs {}",
            source.name, source.sql_kind, target.name, target.sql_kind
        ));
    }
    if target.host == source.host
        && target.ssh_port == source.ssh_port
        && target.base_dir.trim_end_matches('/') == source.base_dir.trim_end_matches('/')
    {
        return Some(format!(
            "servers {} and {} are the same machine and base_dir ({}:{}, {}): there is nothing to \
             move",
            source.name, target.name, target.host, target.ssh_port, target.base_dir
        ));
    }
    None
}

/// The client's name on `target`: the same subdomain under the target's domain.
pub fn fqdn_on(client: &ClientRow, target: &ServerRow) -> String {
    format!("{}.{}", client.subdomain, target.domain)
}

/// A file's or a folder's digest (`jobs/transfer_digest.sh`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Digest {
    pub kind: String,
    pub entries: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// The digest of `path` on `server`, without the `excludes`.
pub async fn digest(
    ctx: &OpContext,
    server: &ServerRow,
    path: &str,
    excludes: &[&str],
) -> anyhow::Result<Digest> {
    let data = ctx
        .script_on(server, scripts::TRANSFER_DIGEST)
        .arg(path)
        .args(excludes.iter().copied())
        .run()
        .await?;
    data.iter()
        .find_map(|line| line.strip_prefix("::digest "))
        .and_then(|json| serde_json::from_str(json).ok())
        .with_context(|| {
            format!(
                "transfer_digest.sh on server {} printed no ::digest line",
                server.name
            )
        })
}

/// Where a move receives the client's files on `place`'s server before they become its folder.
pub fn staging_dir(place: &Place) -> String {
    format!(
        "{}/docker/clients/.incoming-{}",
        place.base_dir, place.subdomain
    )
}

/// Copies the client's files (its folder but [`RENDERED`]) from `from` into its folder on
/// `to`: received in a staging folder, compared by digest with the source, then renamed into
/// place (a folder an earlier attempt left there is replaced).
pub async fn copy_files(
    ctx: &OpContext,
    from: &ServerRow,
    to: &ServerRow,
    client: &ClientRow,
) -> anyhow::Result<()> {
    let source = Place::of(from, client);
    let target = Place::of(to, client);
    let staging = staging_dir(&target);
    ctx.script_on(to, scripts::TRANSFER_STAGE)
        .args([target.base_dir.as_str(), target.subdomain.as_str(), "fresh"])
        .run()
        .await?;
    let excludes: Vec<String> = RENDERED.iter().map(|p| format!("--exclude={p}")).collect();
    let mut send = vec!["tar", "-C", source.client_dir.as_str(), "--anchored"];
    send.extend(excludes.iter().map(String::as_str));
    send.extend(["-cf", "-", "."]);
    let piped = ctx
        .pipe(
            from,
            &send,
            to,
            &["tar", "-C", staging.as_str(), "-xpf", "-"],
        )
        .await?;
    let sent = digest(ctx, from, &source.client_dir, RENDERED).await?;
    let received = digest(ctx, to, &staging, RENDERED).await?;
    anyhow::ensure!(
        sent == received,
        "the files of {} differ between server {} ({} entries, {} bytes, sha256 {}) and what \
         server {} received ({} entries, {} bytes, sha256 {}): did the app write during the \
         copy? Move again",
        client.subdomain,
        from.name,
        sent.entries,
        sent.bytes,
        sent.sha256,
        to.name,
        received.entries,
        received.bytes,
        received.sha256
    );
    ctx.info(format!(
        "copied {} entries of {} ({} bytes in files, {} bytes of tar) from server {} to server \
         {}: the same on both ends (listing sha256 {})",
        sent.entries, source.client_dir, sent.bytes, piped.bytes, from.name, to.name, sent.sha256
    ));
    ctx.script_on(to, scripts::TRANSFER_PLACE)
        .args([target.base_dir, target.subdomain, client.id.to_string()])
        .run()
        .await?;
    Ok(())
}

/// Copies the file `path` on `from` to `to_path` on `to` (mode 0600, its folder made 0700 when
/// missing, written under a temporary name and renamed), and checks that both ends hold the
/// bytes that passed.
pub async fn copy_file(
    ctx: &OpContext,
    from: &ServerRow,
    path: &str,
    to: &ServerRow,
    to_path: &str,
) -> anyhow::Result<()> {
    let piped = ctx
        .pipe(
            from,
            &["cat", "--", path],
            to,
            &["bash", "-c", RECEIVE_FILE, "alfa-receive", to_path, "600"],
        )
        .await?;
    let sent = digest(ctx, from, path, &[]).await?;
    let received = digest(ctx, to, to_path, &[]).await?;
    for (end, seen) in [(&from.name, &sent), (&to.name, &received)] {
        anyhow::ensure!(
            seen.bytes == piped.bytes && seen.sha256 == piped.sha256,
            "{to_path} on server {end} ({} bytes, sha256 {}) is not what was sent ({} bytes, \
             sha256 {}): copy again",
            seen.bytes,
            seen.sha256,
            piped.bytes,
            piped.sha256
        );
    }
    ctx.info(format!(
        "copied {path} ({} bytes) from server {} to {to_path} on server {}: sha256 {} on both ends",
        piped.bytes, from.name, to.name, piped.sha256
    ));
    Ok(())
}

/// Turns the client's maintenance page on or off on `server` (`{client_dir}/maintenance.on`,
/// which the vhost checks on every request), and checks through nginx that users see it (or
/// no longer do): `jobs/client_maintenance.sh`, the maintain action's own switch. The lab's
/// `maintenance` setting is left alone: it is the operator's (a shared database would carry a
/// move's flag to the target).
pub async fn maintenance(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    on: bool,
) -> anyhow::Result<()> {
    let place = Place::of(server, client);
    let address = match server.listen_address.as_str() {
        "" => "127.0.0.1".to_owned(),
        address => address.to_owned(),
    };
    ctx.script_on(server, scripts::CLIENT_MAINTENANCE)
        .args([
            place.base_dir,
            place.subdomain,
            if on { "on" } else { "off" }.to_owned(),
            client.fqdn.clone(),
            server.https_port.to_string(),
            address,
        ])
        .run()
        .await?;
    Ok(())
}

/// Whether the operator put the lab in maintenance (`maintenance` = `1` in its
/// `cloud_settings`, as `maintain/1` writes it).
pub async fn in_maintenance(
    ctx: &OpContext,
    server: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<bool> {
    use crate::ops::sql::SqlConn;
    let mut sql = labdata::connect(ctx, server, client, &secrets.db_password).await?;
    let value: Option<Option<String>> = match &mut sql.conn {
        SqlConn::Mariadb(conn) => {
            sqlx::query_scalar("SELECT `value` FROM cloud_settings WHERE `key` = 'maintenance'")
                .fetch_optional(&mut *conn)
                .await
        }
        SqlConn::Postgres(conn) => {
            sqlx::query_scalar("SELECT value FROM cloud_settings WHERE key = 'maintenance'")
                .fetch_optional(&mut *conn)
                .await
        }
    }
    .context("reading the lab's maintenance setting")?;
    Ok(value.flatten().as_deref() == Some("1"))
}

/// Whether `target`'s SQL reaches the very database the client has through `source`'s (two
/// servers sharing one SQL server): a random marker row is written into the client's database
/// through the source and deleted through the target; the target deleting it is the proof.
/// Anything that leaves the answer in doubt is an error, never a guess: a wrong "separate"
/// would restore over, then drop, the only copy of the lab's data.
pub async fn same_database(
    ctx: &OpContext,
    source: &ServerRow,
    target: &ServerRow,
    client: &ClientRow,
    secrets: &ClientSecrets,
) -> anyhow::Result<bool> {
    let name = ctx.client_db_name(client.id);
    let exists = ctx
        .sql_on(target)
        .await?
        .database_exists(&name)
        .await
        .with_context(|| format!("asking server {}'s SQL for database {name}", target.name))?;
    if !exists {
        return judge(false, 0);
    }
    let key = format!("alfa_move_marker_{}", random_token());
    let now = chrono::Utc::now().naive_utc();
    let mut here = labdata::connect(ctx, source, client, &secrets.db_password).await?;
    here.execute(
        &labdata::statement(ctx, source, "set_setting")?,
        &[
            SqlValue::Text(key.clone()),
            SqlValue::Text("1".to_owned()),
            SqlValue::Time(now),
        ],
    )
    .await
    .with_context(|| {
        format!(
            "writing a marker into database {name} on server {}",
            source.name
        )
    })?;
    let delete = labdata::statement(ctx, target, "delete_setting")?;
    let seen = match labdata::connect(ctx, target, client, &secrets.db_password).await {
        Ok(mut there) => there
            .execute(&delete, &[SqlValue::Text(key.clone())])
            .await
            .with_context(|| {
                format!(
                    "looking for the marker in database {name} on server {}",
                    target.name
                )
            })?,
        Err(err) => anyhow::bail!(
            "server {} has a database {name}, but the client's own login is refused there \
             ({err:#}): it is not this client's database as the source knows it. Drop that \
             database on server {} (after checking what it holds), then move again",
            target.name,
            target.name
        ),
    };
    // Gone already when the target deleted it; otherwise it is still in the source's database.
    here.execute(&delete, &[SqlValue::Text(key)]).await?;
    judge(true, seen)
}

/// The decision of [`same_database`]: whether the target has a database of the client's name,
/// and how many marker rows it deleted there.
fn judge(exists_on_target: bool, deleted_there: u64) -> anyhow::Result<bool> {
    match (exists_on_target, deleted_there) {
        (false, _) => Ok(false),
        (true, 0) => Ok(false),
        (true, 1) => Ok(true),
        (true, n) => anyhow::bail!("the marker was found {n} times: refusing to guess"),
    }
}

/// 24 random letters and digits.
fn random_token() -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marker_deleted_through_the_target_means_the_same_database() {
        assert!(!judge(false, 0).unwrap(), "no database there: separate");
        assert!(
            !judge(true, 0).unwrap(),
            "a database of that name without the marker: separate"
        );
        assert!(
            judge(true, 1).unwrap(),
            "the marker seen through the target: the same"
        );
        assert!(judge(true, 2).is_err(), "anything else is not guessed");
    }

    #[test]
    fn the_rendered_files_are_excluded_by_anchored_paths() {
        for path in RENDERED {
            assert!(path.starts_with("./") && !path.contains(".."), "{path}");
        }
        assert!(
            RENDERED.contains(&"./maintenance.on"),
            "the source's maintenance stays behind"
        );
    }
}
