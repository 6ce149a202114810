//! Many requests at once: no write fails because the database is busy, and the login lockout
//! counts every failure exactly once.

use futures::StreamExt as _;
use reqwest::Method;

use crate::on_both_backends;
use crate::support::{ADMIN, Body, form};

/// Requests in flight at once.
const PARALLEL: usize = 16;

on_both_backends! {
    async fn a_hundred_deletes_and_other_writes_sixteen_at_a_time_never_answer_a_server_error(app) {
        let server_for_clients = app.create_server(&[("name", "hub"), ("domain", "hub.test")]).await;
        let mut doomed = Vec::new();
        for i in 0..100 {
            let name = format!("doomed-{i}");
            let domain = format!("d{i}.test");
            doomed.push(app.create_server(&[("name", &name), ("domain", &domain)]).await);
        }
        // Deletes interleaved with every other kind of write the API makes: server updates
        // (a transaction over two tables), client creation (client + operation), licence
        // changes (client + event), audit rows and idempotency keys with each of them.
        let client = app.create_client(server_for_clients, &[("subdomain", "steady")]).await;
        let mut requests: Vec<(Method, String, Body)> = Vec::new();
        for (i, id) in doomed.iter().enumerate() {
            requests.push((Method::DELETE, format!("/servers/{id}"), Body::None));
            match i % 4 {
                0 => requests.push((
                    Method::POST,
                    "/servers/".into(),
                    form(&[("id", &server_for_clients.to_string()), ("ssh_port", &(2000 + i).to_string())]),
                )),
                1 => requests.push((
                    Method::POST,
                    "/clients/".into(),
                    form(&[
                        ("server_id", &server_for_clients.to_string()), ("name", "Lab"), ("admin_login", "adm"),
                        ("subdomain", &format!("lab{i}")), ("version_tag", "1.0-master"), ("email", "adm@lab.example"),
                    ]),
                )),
                2 => requests.push((
                    Method::POST,
                    format!("/clients/{client}/expire_date"),
                    form(&[("sender", "mol"), ("license_expires_at", &format!("2030-01-{:02}", i % 28 + 1))]),
                )),
                _ => requests.push((Method::PUT, format!("/clients/{client}"), form(&[("city", &format!("City {i}"))]))),
            }
        }
        let replies: Vec<_> = futures::stream::iter(requests)
            .map(|(method, path, body)| {
                let app = &app;
                async move { (method.clone(), path.clone(), app.call(method, &path, body).await) }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let failed: Vec<String> = replies
            .iter()
            .filter(|(_, _, reply)| reply.status.is_server_error())
            .map(|(method, path, reply)| format!("{method} {path}: {} {}", reply.status, reply.text))
            .collect();
        assert!(failed.is_empty(), "{} of {} writes failed:\n{}", failed.len(), replies.len(), failed.join("\n"));
        for id in &doomed {
            app.get(&format!("/servers/{id}")).await.expect(404);
        }
    }

    async fn fifty_wrong_passwords_at_once_get_at_most_ten_refusals_and_then_only_lockouts(app) {
        let replies: Vec<_> = futures::stream::iter(0..50)
            .map(|_| app.send(Method::GET, "/servers", Body::None, Some((ADMIN, "wrong-guess"))))
            .buffer_unordered(50)
            .collect()
            .await;
        let refused = replies.iter().filter(|r| r.status == 401).count();
        let locked = replies.iter().filter(|r| r.status == 429).count();
        assert_eq!(refused + locked, 50, "every answer is 401 or 429: {replies:?}");
        assert!(refused <= 10, "{refused} wrong passwords were answered 401 (at most 10 may be)");
        assert_eq!(refused, 10, "the first ten failures are each answered 401");
        let reply = app.get("/servers").await.expect(429);
        assert_eq!(reply.json()["error"], "too_many_requests");
    }
}
