//! The first operations: check_host, images, reboots, client creation's preflight.

use std::time::Duration;

use super::*;
use crate::on_both_queues;

on_both_queues! {
    async fn images_lists_the_lims_versions_on_the_server(app, _slot) {
        let server = register(&app, testbed::get().host(1)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        let op = wait_op(&app, id, Duration::from_secs(30)).await;
        assert_eq!(op["status"], "ok", "{op}");
        let tags: Vec<&str> = op["result"]["images"].as_array().unwrap().iter().map(|i| i["tag"].as_str().unwrap()).collect();
        assert!(tags.contains(&"1.0-master") && tags.contains(&"1.1-dev"), "{tags:?}");
        assert!(log_text(&app, id).await.iter().any(|l| l.starts_with("step: ")), "step lines are stored as such");
        let server = app.get(&format!("/servers/{server}")).await.json();
        assert_eq!(server["host_key_known"], true, "the first connection records the host key");
        assert_eq!(server["reachable"], true, "{server}");
    }

    async fn a_subdomain_someone_uses_on_the_server_fails_the_preflight_and_nothing_is_undone(app, _slot) {
        let host = testbed::get().host(2);
        let server = register(&app, host).await;
        let sub = unique("c");
        host.prepare_client(&sub, "1.0-master");
        let (client, op) = create_client(&app, server, &sub, "1.0-master").await;
        let log = eventually(Duration::from_secs(30), "createlog to say completed", || async {
            let page = app.get(&format!("/clients/{client}/createlog")).await.expect(200).json();
            if page["completed"].is_null() { Err(page.to_string()) } else { Ok(page) }
        }).await;
        assert_eq!(log["completed"], "error", "{log}");
        assert_eq!(log["operation_id"], op);
        let lines: Vec<&str> = log["log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert!(lines.iter().any(|l| l.contains(&format!("subdomain {sub} is already in use"))), "{lines:?}");
        assert!(!lines.contains(&"undo"), "someone else's folder is not undone: {lines:?}");
        let folder = std::path::Path::new(&host.base_dir).join(format!("docker/clients/{sub}"));
        assert!(folder.join("docker-compose.yml").exists(), "the other one's files are untouched");
        // The cursor returns only newer lines.
        let next = log["next"].as_i64().unwrap();
        let again = app.get(&format!("/clients/{client}/createlog?after={next}")).await.json();
        assert!(again["log"].as_array().unwrap().is_empty());
        assert_eq!(again["next"], next);
    }

    async fn a_client_on_an_unreachable_server_ends_its_creation_with_the_reason(app, _slot) {
        let server = app.create_server(&[("name", &unique("gone-")), ("host", "127.0.0.99"), ("ssh_port", "2222"), ("domain", &format!("{}.test", unique("d")))]).await;
        let (client, op) = create_client(&app, server, &unique("c"), "1.0-master").await;
        let op = wait_op(&app, op, Duration::from_secs(30)).await;
        assert_eq!(op["status"], "error");
        let page = app.get(&format!("/clients/{client}/createlog")).await.json();
        assert_eq!(page["completed"], "error");
        let text = page["log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("127.0.0.99"), "the log names the server: {text}");
        assert_eq!(app.get(&format!("/clients/{client}")).await.json()["state"], "error");
    }

    async fn a_missing_image_fails_the_preflight_and_names_the_versions_there(app, _slot) {
        let server = register(&app, testbed::get().host(1)).await;
        let (client, op) = create_client(&app, server, &unique("c"), "9.9-master").await;
        let op = wait_op(&app, op, Duration::from_secs(30)).await;
        assert_eq!(op["status"], "error");
        let text = log_text(&app, op["id"].as_i64().unwrap()).await.join("\n");
        assert!(text.contains("alfa-lims:9.9-master is not on this server") && text.contains("1.0-master"), "{text}");
        assert_eq!(app.get(&format!("/clients/{client}")).await.json()["state"], "error");
    }

    async fn check_host_answers_with_each_check(app, _slot) {
        let host = testbed::get().host(1);
        let server = register(&app, host).await;
        assert!(app.get(&format!("/servers/{server}")).await.json()["last_check"].is_null());
        let path = format!("/servers/check_host/{}?ssh_port=2222&ssh_user=alfa&base_dir={}", host.addr, host.base_dir);
        let report = app.get(&path).await.expect(200).json();
        let checks = report["checks"].as_array().unwrap();
        let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert!(checks[0]["ok"] == true, "ssh login: {report}");
        for expected in ["git", "docker", "nginx"] {
            assert!(names.iter().any(|n| n.contains(expected)), "{expected} missing in {names:?}");
        }
        assert!(checks.iter().all(|c| c["detail"].is_string() && c["hint"].is_string()));
        // A registered server keeps its last check and its reachability.
        let shown = app.get(&format!("/servers/{server}")).await.json();
        assert_eq!(shown["last_check"]["checks"], report["checks"], "{shown}");
        assert_eq!(shown["reachable"], true);
        let bad = app.get("/servers/check_host/127.0.0.99?ssh_port=2222").await.expect(200).json();
        assert_eq!(bad["ok"], false);
        assert!(bad["checks"][0]["detail"].as_str().unwrap().contains("127.0.0.99"));
        let invalid = app.get("/servers/check_host/bad%20host?ssh_port=99999").await.expect(422);
        assert!(!invalid.field_problems("host_ip").is_empty());
        assert!(!invalid.field_problems("ssh_port").is_empty());
    }

    async fn reboot_server_reaches_the_servers_reboot(app, _slot) {
        let host = testbed::get().host(3 + _slot);
        let server = register(&app, host).await;
        let before = host.calls_matching("shutdown").len() + host.calls_matching("reboot").len();
        let id = start(&app, &format!("/servers/{server}/reboot_server")).await;
        assert_eq!(wait_op(&app, id, Duration::from_secs(30)).await["status"], "ok");
        eventually(Duration::from_secs(5), "the reboot to reach the server", || async {
            let now = host.calls_matching("shutdown").len() + host.calls_matching("reboot").len();
            if now > before { Ok(()) } else { Err(format!("{now} reboot call(s)")) }
        }).await;
        let audit = app.get("/audit").await.json();
        assert!(audit["items"].as_array().unwrap().iter().any(|e| e["path"] == format!("/servers/{server}/reboot_server")), "GET actions are audited");
    }

    async fn the_ssh_public_key_is_shown_for_authorized_keys(app, _slot) {
        let key = app.get("/ssh_public_key").await.expect(200).text;
        assert!(key.starts_with("ssh-ed25519 "), "{key}");
    }
}
