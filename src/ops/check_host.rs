//! `check_host`: is a server reachable and set up for deploying? A read for the panel's
//! server form, so it answers synchronously (within 20 s), not as an operation.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::domain::SqlKind;
use crate::remote::{Job, Line, Redactor, RunOpts, Stream as RemoteStream, Target, scripts};
use crate::store::servers;

/// The whole check must answer within this.
pub const CHECK_BUDGET: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when it failed.
    pub hint: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Engine {
    /// Checks `user@host:port` with `base_dir`, and that the `sql_kind` server on `sql_port`
    /// listens where the docker bridge reaches it. A registered server at that address is
    /// checked with its recorded host key, and gets the result and its reachability stored.
    pub async fn check_host(
        &self,
        host: &str,
        port: u16,
        user: &str,
        base_dir: &str,
        sql_kind: SqlKind,
        sql_port: u16,
    ) -> anyhow::Result<CheckReport> {
        let server = servers::find_by_address(&self.db, host, i64::from(port)).await?;
        let target = Target {
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            host_key: server.as_ref().and_then(|s| s.host_key.clone()),
        };
        let mut lines = Vec::new();
        let opts = RunOpts {
            timeout: CHECK_BUDGET - Duration::from_secs(2),
            cancel: CancellationToken::new(),
            redactor: Redactor::new(Vec::new()),
        };
        let args = [
            base_dir.to_owned(),
            sql_kind.as_str().to_owned(),
            sql_port.to_string(),
        ];
        let job = Job {
            script: scripts::CHECK_HOST,
            args: &args,
            env: &[],
        };
        let run = tokio::time::timeout(
            CHECK_BUDGET,
            self.remote.run(
                &target,
                &job,
                |line: Line| {
                    if line.stream == RemoteStream::Out {
                        lines.push(line.text);
                    }
                },
                opts,
            ),
        )
        .await;
        let report = match run {
            Ok(Ok(outcome)) => {
                if let (Some(server), Some(key)) = (&server, &outcome.learned_host_key) {
                    servers::set_host_key(&self.db, server.id, key).await?;
                }
                let mut checks = vec![Check {
                    name: "ssh login".into(),
                    ok: true,
                    detail: format!("logged in as {user}@{host}:{port}"),
                    hint: String::new(),
                }];
                checks.extend(
                    lines
                        .iter()
                        .filter_map(|l| l.strip_prefix("::check "))
                        .filter_map(|json| serde_json::from_str::<Check>(json).ok()),
                );
                if checks.len() == 1 {
                    checks.push(Check {
                        name: "check script".into(),
                        ok: false,
                        detail: format!(
                            "check_host.sh reported nothing (exit code {})",
                            outcome.exit_code
                        ),
                        hint: "is bash installed and the login shell working?".into(),
                    });
                }
                CheckReport {
                    ok: checks.iter().all(|c| c.ok),
                    checks,
                }
            }
            Ok(Err(err)) => unreachable(user, host, port, &err.to_string()),
            Err(_) => unreachable(user, host, port, "no answer within 20 s"),
        };
        if let Some(server) = &server {
            let reachable = report.checks.first().is_some_and(|c| c.ok);
            servers::set_check(
                &self.db,
                server.id,
                &serde_json::to_value(&report)?,
                reachable,
            )
            .await?;
        }
        Ok(report)
    }
}

fn unreachable(user: &str, host: &str, port: u16, reason: &str) -> CheckReport {
    CheckReport {
        ok: false,
        checks: vec![Check {
            name: "ssh login".into(),
            ok: false,
            detail: format!("cannot log in as {user}@{host}:{port}: {reason}"),
            hint: "check the address and port, that sshd runs, and that the key from GET /ssh_public_key is in the user's authorized_keys".into(),
        }],
    }
}
