//! The engine's promises: live logs, locks, cancel, idempotency, events, redaction.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::on_both_queues;

/// A client created end to end through the API on host `i` (running container, vhost,
/// certificate). Returns (server, client, subdomain).
pub async fn client_on(app: &TestApp, i: usize) -> (i64, i64, String) {
    let host = testbed::get().host(i);
    let server = super::lifecycle::lifecycle_server(app, host, "mariadb").await;
    let sub = unique("r");
    let (client, op) =
        super::lifecycle::post_lab(app, &super::lifecycle::lab_fields(server, &sub)).await;
    let done = wait_op(app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(app, op).await);
    (server, client, sub)
}

/// The app of a queue slot (0 embedded, 1 Redis) with extra settings.
pub async fn app_with(slot: usize, extra: &[(&str, &str)]) -> TestApp {
    let mut env = fast_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let backend = if slot == 0 {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    TestApp::spawn_with(
        backend,
        Options {
            redis: slot == 1,
            worker: true,
            env,
            kinds: None,
        },
    )
    .await
}

on_both_queues! {
    async fn a_line_reaches_the_log_while_the_command_still_runs(app, _slot) {
        let (_, client, sub) = client_on(&app, 1).await;
        let host = testbed::get().host(1);
        host.add_faults("sleep", json!({"match": format!("alfa_{sub} restart"), "seconds": 3}));
        let id = start(&app, &format!("/clients/{client}/reboot")).await;
        let started = Instant::now();
        let wanted = format!("restarting alfa_{sub}");
        let page = eventually(Duration::from_secs(3), "a live line of the running command", || async {
            let page = app.get(&format!("/operations/{id}/log")).await.json();
            let seen = page["lines"].as_array().unwrap().iter().any(|l| l["line"].as_str().unwrap().contains(&wanted));
            if seen { Ok(page) } else { Err(page.to_string()) }
        }).await;
        assert_eq!(page["status"], "running", "the line arrived before the command ended");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(wait_op(&app, id, Duration::from_secs(30)).await["status"], "ok");
        let seqs: Vec<i64> = app.get(&format!("/operations/{id}/log")).await.json()["lines"].as_array().unwrap().iter().map(|l| l["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "contiguous from 1");
    }

    async fn two_operations_on_one_client_run_one_after_the_other(app, _slot) {
        let (_, client, sub) = client_on(&app, 2).await;
        let host = testbed::get().host(2);
        host.add_faults("sleep", json!({"match": format!("alfa_{sub} restart"), "seconds": 1.5}));
        let first = start(&app, &format!("/clients/{client}/reboot")).await;
        let second = start(&app, &format!("/clients/{client}/reboot")).await;
        wait_status(&app, first, "running", Duration::from_secs(10)).await;
        let waiting = format!("queued: waiting for operation {first}");
        eventually(Duration::from_secs(5), "the second operation to wait for the first", || async {
            let op = app.get(&format!("/operations/{second}")).await.json();
            assert_ne!(op["status"], "running", "the second ran while the first held the client");
            if op["status_text"] == waiting.as_str() { Ok(()) } else { Err(op.to_string()) }
        }).await;
        assert_eq!(wait_op(&app, first, Duration::from_secs(30)).await["status"], "ok");
        assert_eq!(wait_op(&app, second, Duration::from_secs(30)).await["status"], "ok");
        let restarts: Vec<f64> = host.calls_matching(&format!("alfa_{sub} restart")).iter().map(|c| c["ts"].as_f64().unwrap()).collect();
        assert_eq!(restarts.len(), 2);
        assert!(restarts[1] - restarts[0] >= 1.5, "restarts overlapped: {restarts:?}");
    }

    async fn cancel_stops_a_running_remote_command(app, _slot) {
        let (_, client, sub) = client_on(&app, 1).await;
        let host = testbed::get().host(1);
        host.add_faults("hang", json!({"match": format!("alfa_{sub} restart")}));
        let id = start(&app, &format!("/clients/{client}/reboot")).await;
        wait_status(&app, id, "running", Duration::from_secs(10)).await;
        let pid = eventually(Duration::from_secs(10), "the remote command to start", || async {
            match host.calls_matching(&format!("alfa_{sub} restart")).first() {
                Some(call) => Ok(call["pid"].as_i64().unwrap()),
                None => Err("no call recorded".to_owned()),
            }
        }).await;
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        let reply = app.post(&format!("/operations/{id}/cancel"), support::Body::None).await.expect(202).json();
        assert_eq!(reply["status"], "cancelling");
        let op = wait_op(&app, id, Duration::from_secs(10)).await;
        assert_eq!(op["status"], "cancelled");
        eventually(Duration::from_secs(5), format!("the remote command {pid} to end"), || async {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() { Err("still running".to_owned()) } else { Ok(()) }
        }).await;
        app.post(&format!("/operations/{id}/cancel"), support::Body::None).await.expect(409);
    }

    async fn a_cancelled_queued_operation_never_starts(app, _slot) {
        let (_, client, sub) = client_on(&app, 2).await;
        let host = testbed::get().host(2);
        host.add_faults("sleep", json!({"match": format!("alfa_{sub} restart"), "seconds": 1}));
        let first = start(&app, &format!("/clients/{client}/reboot")).await;
        let second = start(&app, &format!("/clients/{client}/reboot")).await;
        let reply = app.post(&format!("/operations/{second}/cancel"), support::Body::None).await.expect(202).json();
        assert_eq!(reply["status"], "cancelled");
        // A third, queued after the cancelled one on the same client, runs only once the
        // queue has moved past the second: then the second had every chance to start.
        let third = start(&app, &format!("/clients/{client}/reboot")).await;
        assert_eq!(wait_op(&app, first, Duration::from_secs(30)).await["status"], "ok");
        assert_eq!(wait_op(&app, third, Duration::from_secs(30)).await["status"], "ok");
        assert_eq!(app.get(&format!("/operations/{second}")).await.json()["status"], "cancelled");
        assert_eq!(host.calls_matching(&format!("alfa_{sub} restart")).len(), 2, "first and third only");
    }

    async fn an_idempotency_key_returns_the_first_requests_operation(app, _slot) {
        let server = register(&app, testbed::get().host(1)).await;
        let sub = unique("i");
        let send = || {
            reqwest::Client::new()
                .post(format!("{}/clients/", app.base))
                .basic_auth("admin", Some(support::ADMIN_PASSWORD))
                .header("Idempotency-Key", format!("create-{sub}"))
                .form(&[("server_id", server.to_string()), ("name", "L".into()), ("admin_login", "a".into()), ("email", "a@lab.example".into()), ("subdomain", sub.clone()), ("version_tag", "1.0-master".into())])
                .send()
        };
        let first = send().await.unwrap();
        assert_eq!(first.status(), 202);
        let first: Value = first.json().await.unwrap();
        let second = send().await.unwrap();
        assert_eq!(second.status(), 202);
        assert_eq!(second.headers()["idempotency-replayed"], "true");
        let second: Value = second.json().await.unwrap();
        assert_eq!(first, second);
        let clients = app.get(&format!("/clients?q={sub}")).await.json();
        assert_eq!(clients["total"], 1);
    }

    async fn events_stream_lines_and_status_and_resume_after_a_cursor(app, _slot) {
        let server = register(&app, testbed::get().host(2)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        let read = |last: Option<i64>| {
            let mut request = reqwest::Client::new()
                .get(format!("{}/operations/{id}/events", app.base))
                .basic_auth("admin", Some(support::ADMIN_PASSWORD));
            if let Some(last) = last {
                request = request.header("Last-Event-ID", last.to_string());
            }
            request.send()
        };
        let body = tokio::time::timeout(Duration::from_secs(30), async { read(None).await.unwrap().text().await.unwrap() }).await.expect("the stream ends");
        let ids: Vec<i64> = body.lines().filter_map(|l| l.strip_prefix("id: ")).map(|v| v.parse().unwrap()).collect();
        assert!(ids.len() >= 3, "{body}");
        assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
        assert!(body.contains("event: status") && body.contains("event: end"), "{body}");
        let resumed = read(Some(2)).await.unwrap().text().await.unwrap();
        let resumed_ids: Vec<i64> = resumed.lines().filter_map(|l| l.strip_prefix("id: ")).map(|v| v.parse().unwrap()).collect();
        assert_eq!(resumed_ids, ids[2..].to_vec());
    }

    async fn secrets_in_remote_output_are_masked_before_they_are_stored(_app, slot) {
        // An image repository of its own, so the injected failure hits only this test's call.
        let repo = unique("repo-");
        let app = app_with(slot, &[("ALFA_IMAGE_REPO", &repo)]).await;
        let host = testbed::get().host(1);
        let server = register(&app, host).await;
        let password = format!("sql-{}", unique("pw"));
        app.secret(&password);
        app.post("/servers/", form(&[("id", &server.to_string()), ("sql_password", &password)])).await.expect(200);
        host.add_faults("fail", json!({"match": format!("images {repo}"), "stderr": format!("connect failed for password {password}"), "times": 1}));
        let id = start(&app, &format!("/servers/{server}/images")).await;
        assert_eq!(wait_op(&app, id, Duration::from_secs(30)).await["status"], "error");
        let log = log_text(&app, id).await.join("\n");
        assert!(log.contains("connect failed for password ***"), "{log}");
        assert!(!log.contains(&password));
    }

    async fn list_filters_operations_by_kind_status_and_target(app, _slot) {
        let server = register(&app, testbed::get().host(1)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        wait_op(&app, id, Duration::from_secs(30)).await;
        let page = app.get(&format!("/operations?kind=images&server_id={server}")).await.expect(200).json();
        assert_eq!(page["total"], 1);
        assert_eq!(page["items"][0]["id"], id);
        assert_eq!(app.get(&format!("/operations?status=running&server_id={server}")).await.json()["total"], 0);
        app.get("/operations?status=sleeping").await.expect(422);
        app.get("/operations/999999").await.expect(404);
    }
}
