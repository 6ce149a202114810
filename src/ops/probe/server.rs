//! One server's share of a probe pass: one `probe_clients.sh` over its SSH connection, the
//! users of each client through one port forward, then its results stored in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::crypto::purpose;
use crate::domain::SqlKind;
use crate::ops::Engine;
use crate::ops::sql::{Login, SqlConn};
use crate::ops::{describe, target};
use crate::remote::{Job, Line, Redactor, RunOpts, Stream, scripts};
use crate::store::probes::{self, Outcome, Target};
use crate::store::servers::{self, ServerRow};

/// curls at once on a server.
const PARALLEL: usize = 16;
/// How long one client's `/up` may take.
const CURL_TIMEOUT_SECS: u64 = 5;
/// Client databases read at once per server.
const SQL_PARALLEL: usize = 8;
/// How long counting one client's users may take (login included).
const SQL_TIMEOUT: Duration = Duration::from_secs(5);

/// One `::client` line of probe_clients.sh.
#[derive(Debug, Deserialize)]
struct ClientLine {
    subdomain: String,
    status: u16,
    why: String,
    maintenance: bool,
    docker: bool,
    image: String,
    state: String,
}

/// Probes `clients` of `server` and stores what it found; returns it (also when storing
/// failed, which is logged).
pub async fn probe(engine: &Engine, server: &ServerRow, clients: &[Target]) -> Vec<Outcome> {
    let started = std::time::Instant::now();
    let (web, users) = tokio::join!(web(engine, server, clients), users(engine, server, clients));
    let outcomes: Vec<Outcome> = clients
        .iter()
        .map(|client| outcome(server, client, &web, users.get(&client.id)))
        .collect();
    if let Err(err) = probes::record(&engine.db, &outcomes, Utc::now()).await {
        tracing::warn!(server.id = server.id, error = %err, "could not store the probe results");
    }
    tracing::debug!(
        server.id = server.id,
        clients = outcomes.len(),
        available = outcomes.iter().filter(|o| o.available).count(),
        ms = started.elapsed().as_millis(),
        "probed the server's clients"
    );
    outcomes
}

fn outcome(
    server: &ServerRow,
    client: &Target,
    web: &Result<HashMap<String, ClientLine>, String>,
    users: Option<&Result<i64, String>>,
) -> Outcome {
    let mut problems = Vec::new();
    let (available, maintenance, running_version) = match web {
        Err(why) => {
            problems.push(why.clone());
            (false, None, None)
        }
        Ok(lines) => match lines.get(&client.subdomain) {
            None => {
                problems.push(format!(
                    "probe_clients.sh on server {} reported nothing for {}",
                    server.name, client.subdomain
                ));
                (false, None, None)
            }
            Some(line) => {
                if line.status != 200 {
                    problems.push(format!(
                        "https://{}:{}/up answered {} on server {}, not 200: check its container \
                         (docker compose -p alfa_{} ps, logs) and its vhost",
                        client.fqdn, server.https_port, line.why, server.name, client.subdomain
                    ));
                }
                if !line.docker {
                    problems.push(format!(
                        "docker ps failed on server {}: its version is unknown (run check_host)",
                        server.name
                    ));
                }
                let running = (line.state == "running")
                    .then(|| version_of(&line.image))
                    .flatten();
                (line.status == 200, Some(line.maintenance), running)
            }
        },
    };
    let users_count = match users {
        Some(Ok(count)) => Some(*count),
        Some(Err(why)) => {
            problems.push(why.clone());
            None
        }
        None => None,
    };
    Outcome {
        client_id: client.id,
        available,
        maintenance,
        running_version,
        users_count,
        error: problems.join("; "),
    }
}

/// The tag of `repo:tag` (not of a registry's `host:port/repo`); none for `<none>`.
fn version_of(image: &str) -> Option<String> {
    let (_, tag) = image.rsplit_once(':')?;
    (!tag.contains('/') && !tag.is_empty() && tag != "<none>").then(|| tag.to_owned())
}

/// The `::client` lines of one probe_clients.sh run, by subdomain; or why there are none.
async fn web(
    engine: &Engine,
    server: &ServerRow,
    clients: &[Target],
) -> Result<HashMap<String, ClientLine>, String> {
    let address = match server.listen_address.as_str() {
        "" => "127.0.0.1".to_owned(),
        address => address.to_owned(),
    };
    let mut args = vec![
        server.base_dir.clone(),
        server.https_port.to_string(),
        address,
        PARALLEL.to_string(),
        CURL_TIMEOUT_SECS.to_string(),
    ];
    for client in clients {
        args.push(client.subdomain.clone());
        args.push(client.fqdn.clone());
    }
    let rounds = u64::try_from(clients.len().div_ceil(PARALLEL)).unwrap_or(u64::MAX);
    let opts = RunOpts {
        timeout: Duration::from_secs(20 + CURL_TIMEOUT_SECS.saturating_mul(rounds)),
        cancel: CancellationToken::new(),
        redactor: Redactor::new(Vec::new()),
    };
    let job = Job {
        script: scripts::PROBE_CLIENTS,
        args: &args,
        env: &[],
    };
    let mut lines = HashMap::new();
    let mut last_error = String::new();
    let on_line = |line: Line| match line.stream {
        Stream::Out => {
            if let Some(json) = line.text.strip_prefix("::client ")
                && let Ok(parsed) = serde_json::from_str::<ClientLine>(json)
            {
                lines.insert(parsed.subdomain.clone(), parsed);
            }
        }
        Stream::Err if !line.text.trim().is_empty() => last_error = line.text,
        Stream::Err => {}
    };
    let run = engine
        .remote
        .run(&target(server), &job, on_line, opts)
        .await;
    let reachable = !matches!(run, Err(crate::remote::RemoteError::Unreachable { .. }));
    if let Err(err) = servers::set_reachable(&engine.db, server.id, reachable).await {
        tracing::warn!(server.id = server.id, error = %err, "could not store the server's reachability");
    }
    match run {
        Ok(outcome) => {
            if let Some(key) = &outcome.learned_host_key
                && let Err(err) = servers::set_host_key(&engine.db, server.id, key).await
            {
                tracing::warn!(server.id = server.id, error = %err, "could not record the host key");
            }
            if outcome.exit_code != 0 && lines.is_empty() {
                return Err(format!(
                    "probe_clients.sh failed on server {} with exit code {}: {}",
                    server.name,
                    outcome.exit_code,
                    if last_error.is_empty() {
                        "it printed no error"
                    } else {
                        &last_error
                    }
                ));
            }
            Ok(lines)
        }
        Err(err) => Err(format!("{:#}", describe(server, err))),
    }
}

/// Each client's users count, or why it could not be read: as the client's own SQL login,
/// through one port forward to the server's SQL, a few clients at a time.
async fn users(
    engine: &Engine,
    server: &ServerRow,
    clients: &[Target],
) -> HashMap<i64, Result<i64, String>> {
    let failed_all = |why: String| clients.iter().map(|c| (c.id, Err(why.clone()))).collect();
    let kind = match SqlKind::parse(&server.sql_kind) {
        Ok(kind) => kind,
        Err(e) => return failed_all(format!("server {} has sql_kind {e}", server.name)),
    };
    let Ok(port) = u16::try_from(server.sql_port) else {
        return failed_all(format!("server {} has sql_port out of range", server.name));
    };
    let forward = match engine.remote.forward(&target(server), port).await {
        Ok(forward) => forward,
        Err(err) => {
            return failed_all(format!("users not counted: {:#}", describe(server, err)));
        }
    };
    let forward = &forward;
    // Owned targets: a stream over borrowed ones trips the compiler's higher-ranked lifetime
    // check once the future is spawned.
    futures::stream::iter(clients.to_vec())
        .map(|client| async move {
            let counted = tokio::time::timeout(SQL_TIMEOUT, count(engine, server, kind, forward, &client))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "counting the users of client {} on server {} took over {}s: is its SQL server overloaded?",
                        client.id,
                        server.name,
                        SQL_TIMEOUT.as_secs()
                    ))
                });
            (client.id, counted)
        })
        .buffer_unordered(SQL_PARALLEL)
        .collect()
        .await
}

async fn count(
    engine: &Engine,
    server: &ServerRow,
    kind: SqlKind,
    forward: &crate::remote::Forward,
    client: &Target,
) -> Result<i64, String> {
    let sealed = client.db_password_enc.as_deref().ok_or_else(|| {
        format!(
            "client {} has no database password stored: its users cannot be counted (recreate it)",
            client.id
        )
    })?;
    let password = engine
        .cipher
        .open(purpose::CLIENT_DB_PASSWORD, sealed)
        .map_err(|e| {
            format!(
                "cannot open the database password of client {}: {e:#}",
                client.id
            )
        })?;
    let name = format!("{}{}", engine.settings.client_db_prefix, client.id);
    let login = Login {
        user: &name,
        password: &password,
        database: Some(&name),
    };
    let mut conn = SqlConn::through(forward, kind, &server.name, &login)
        .await
        .map_err(|e| format!("users not counted: {e:#}"))?;
    let counted = conn.count("SELECT COUNT(*) FROM users").await.map_err(|e| {
        format!(
            "users not counted: SELECT COUNT(*) FROM users in database {name} on server {} failed: {e:#} (did artisan migrate run?)",
            server.name
        )
    });
    conn.close().await;
    counted
}

#[cfg(test)]
mod tests {
    use super::version_of;

    #[test]
    fn the_version_is_the_tag_of_the_image() {
        assert_eq!(
            version_of("alfa-lims:1.3-master").as_deref(),
            Some("1.3-master")
        );
        assert_eq!(
            version_of("registry.example:5000/alfa-lims:1.3.1-dev").as_deref(),
            Some("1.3.1-dev")
        );
        assert_eq!(version_of("registry.example:5000/alfa-lims"), None);
        assert_eq!(version_of("<none>:<none>"), None);
        assert_eq!(version_of("sha256"), None);
    }
}
