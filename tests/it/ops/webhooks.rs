//! Webhooks to Mol: every operation ending POSTed once, signed, retried until taken, and
//! recorded for `GET /webhooks/deliveries`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha2::Sha256;

use super::faults::{Worker, spawn_worker};
use super::*;
use crate::on_both_queues;

const SECRET: &str = "whsec-test-7f3a9c";

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

impl Seen {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// A webhook receiver on loopback: records each request and answers the queued statuses in
/// turn, then 200.
pub(super) struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    pub(super) async fn start(answers: &[u16]) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let answers = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/hooks/alfa",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (record, answers) = (record.clone(), answers.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map_or(String::new(), |v| v.to_str().unwrap().to_owned())
                    };
                    record.lock().unwrap().push(Seen {
                        signature: header("x-alfa-signature"),
                        content_type: header("content-type"),
                        body: body.to_vec(),
                    });
                    let status = answers.lock().unwrap().pop_front().unwrap_or(200);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/alfa", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, seen }
    }

    /// The requests about operation `id`.
    fn about(&self, id: i64) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.json()["operation_id"] == id)
            .cloned()
            .collect()
    }

    /// Waits until `count` requests about operation `id` arrived.
    pub(super) async fn wait_for(&self, id: i64, count: usize) -> Vec<Seen> {
        eventually(
            Duration::from_secs(20),
            format!("{count} POSTs about operation {id}"),
            || async {
                let seen = self.about(id);
                if seen.len() >= count {
                    Ok(seen)
                } else {
                    Err(format!("{} so far", seen.len()))
                }
            },
        )
        .await
    }
}

/// The settings that send webhooks to `receiver`, with quick retries.
fn hook_env(receiver: &Receiver) -> Vec<(String, String)> {
    let mut env = fast_env();
    env.extend(
        [
            ("ALFA_WEBHOOK_URL", receiver.url.as_str()),
            ("ALFA_WEBHOOK_SECRET", SECRET),
            ("ALFA_WEBHOOK_RETRY_BASE", "100ms"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

pub(super) async fn hook_app(
    slot: usize,
    receiver: &Receiver,
    worker: bool,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut env = hook_env(receiver);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let backend = if slot == 0 {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    let app = TestApp::spawn_with(
        backend,
        Options {
            redis: slot == 1,
            worker,
            env,
            kinds: None,
        },
    )
    .await;
    app.secret(SECRET);
    app
}

/// Asserts that `seen` carries the signature of its exact bytes under [`SECRET`].
#[track_caller]
fn assert_signed(seen: &Seen) {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&seen.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        seen.signature,
        format!("sha256={hex}"),
        "the signature verifies with the secret"
    );
    assert_eq!(seen.content_type, "application/json");
}

/// The one delivery of operation `id`, once it left `pending`.
async fn settled_delivery(app: &TestApp, id: i64) -> Value {
    eventually(
        Duration::from_secs(20),
        format!("operation {id}'s delivery to settle"),
        || async {
            let page = app
                .get(&format!("/webhooks/deliveries?operation_id={id}"))
                .await
                .expect(200)
                .json();
            assert_eq!(page["total"], 1, "one event per ending: {page}");
            let delivery = page["items"][0].clone();
            if delivery["status"] == "pending" {
                Err(delivery.to_string())
            } else {
                Ok(delivery)
            }
        },
    )
    .await
}

/// Asserts that the event's fields are the operation's.
#[track_caller]
fn assert_event_is(event: &Value, op: &Value) {
    let wanted = json!({
        "operation_id": op["id"], "attempt": op["attempt"], "kind": op["kind"],
        "status": op["status"], "client_id": op["client_id"], "server_id": op["server_id"],
        "finished_at": op["finished_at"], "error": op["error"],
    });
    assert_eq!(event, &wanted);
}

on_both_queues! {
    async fn an_operation_that_ends_ok_is_posted_once_signed_with_the_secret(_app, slot) {
        let receiver = Receiver::start(&[]).await;
        let app = hook_app(slot, &receiver, true, &[]).await;
        let server = register(&app, testbed::get().host(1)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        let op = wait_op(&app, id, Duration::from_secs(30)).await;
        assert_eq!(op["status"], "ok", "{op}");
        let seen = receiver.wait_for(id, 1).await;
        assert_signed(&seen[0]);
        assert_event_is(&seen[0].json(), &op);
        assert_eq!(seen[0].json()["server_id"], server);
        let delivery = settled_delivery(&app, id).await;
        assert_eq!((delivery["status"].as_str(), delivery["tries"].as_i64()), (Some("delivered"), Some(1)), "{delivery}");
        assert_eq!(delivery["last_status_code"], 200);
        assert_eq!(delivery["event"], seen[0].json());
        assert_eq!(receiver.about(id).len(), 1, "a delivered event is not sent again");
        let delivered = app.get("/webhooks/deliveries?status=delivered").await.expect(200).json();
        assert!(delivered["items"].as_array().unwrap().iter().any(|d| d["operation_id"] == id), "{delivered}");
        app.get("/webhooks/deliveries?status=sleeping").await.expect(422);
    }

    async fn a_receiver_that_answers_500_gets_the_same_event_again_until_it_takes_it(_app, slot) {
        let receiver = Receiver::start(&[500]).await;
        let app = hook_app(slot, &receiver, true, &[]).await;
        let server = register(&app, testbed::get().host(2)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        assert_eq!(wait_op(&app, id, Duration::from_secs(30)).await["status"], "ok");
        let seen = receiver.wait_for(id, 2).await;
        assert_eq!(seen[0].body, seen[1].body, "the same event, byte for byte");
        assert_signed(&seen[1]);
        let delivery = settled_delivery(&app, id).await;
        assert_eq!((delivery["status"].as_str(), delivery["tries"].as_i64()), (Some("delivered"), Some(2)), "{delivery}");
        assert_eq!(delivery["last_status_code"], 200);
        assert_eq!(receiver.about(id).len(), 2);
    }

    async fn a_delivery_that_runs_out_of_tries_ends_failed_with_the_last_answer(_app, slot) {
        let receiver = Receiver::start(&[503, 503, 503]).await;
        let app = hook_app(slot, &receiver, true, &[("ALFA_WEBHOOK_MAX_TRIES", "2")]).await;
        let server = register(&app, testbed::get().host(3)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        wait_op(&app, id, Duration::from_secs(30)).await;
        let delivery = settled_delivery(&app, id).await;
        assert_eq!((delivery["status"].as_str(), delivery["tries"].as_i64()), (Some("failed"), Some(2)), "{delivery}");
        assert_eq!(delivery["last_status_code"], 503);
        assert!(delivery["last_error"].as_str().unwrap().contains("127.0.0.1"), "names the receiver: {delivery}");
        assert!(delivery["next_try_at"].is_null() && delivery["delivered_at"].is_null(), "{delivery}");
        assert_eq!(receiver.about(id).len(), 2, "no try after the last");
        let failed = app.get(&format!("/webhooks/deliveries?status=failed&operation_id={id}")).await.expect(200).json();
        assert_eq!(failed["total"], 1);
    }

    async fn an_operation_that_ends_in_error_is_posted_with_its_error(_app, slot) {
        // An image repository of its own, so the injected failure hits only this test's call.
        let repo = unique("repo-");
        let receiver = Receiver::start(&[]).await;
        let app = hook_app(slot, &receiver, true, &[("ALFA_IMAGE_REPO", &repo)]).await;
        let host = testbed::get().host(1);
        let server = register(&app, host).await;
        host.add_faults("fail", json!({"match": format!("images {repo}"), "stderr": "registry unreachable", "times": 1}));
        let id = start(&app, &format!("/servers/{server}/images")).await;
        let op = wait_op(&app, id, Duration::from_secs(30)).await;
        assert_eq!(op["status"], "error", "{op}");
        let seen = receiver.wait_for(id, 1).await;
        assert_signed(&seen[0]);
        assert_event_is(&seen[0].json(), &op);
        assert!(seen[0].json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{:?}", seen[0].json());
    }

    async fn a_queued_operation_cancelled_with_no_worker_running_is_sent_once_a_worker_starts(_app, slot) {
        let receiver = Receiver::start(&[]).await;
        let app = hook_app(slot, &receiver, false, &[]).await;
        let server = register(&app, testbed::get().host(2)).await;
        let id = start(&app, &format!("/servers/{server}/images")).await;
        let reply = app.post(&format!("/operations/{id}/cancel"), support::Body::None).await.expect(202).json();
        assert_eq!(reply["status"], "cancelled");
        let op = app.get(&format!("/operations/{id}")).await.expect(200).json();
        let page = app.get(&format!("/webhooks/deliveries?operation_id={id}")).await.expect(200).json();
        assert_eq!(page["total"], 1, "recorded with the ending, before any worker runs: {page}");
        assert_eq!((page["items"][0]["status"].as_str(), page["items"][0]["tries"].as_i64()), (Some("pending"), Some(0)));
        assert_event_is(&page["items"][0]["event"], &op);
        assert_eq!(op["attempt"], 0, "it never started");
        let _worker: Worker = spawn_worker(&app);
        let seen = receiver.wait_for(id, 1).await;
        assert_signed(&seen[0]);
        assert_eq!(seen[0].json()["status"], "cancelled");
        assert_eq!(settled_delivery(&app, id).await["status"], "delivered");
    }

    async fn two_worker_processes_starting_together_send_each_event_once(_app, slot) {
        let receiver = Receiver::start(&[]).await;
        let app = hook_app(slot, &receiver, false, &[]).await;
        let server = register(&app, testbed::get().host(2)).await;
        let mut ids = Vec::new();
        for _ in 0..13 {
            let id = start(&app, &format!("/servers/{server}/images")).await;
            app.post(&format!("/operations/{id}/cancel"), support::Body::None).await.expect(202);
            ids.push(id);
        }
        // One due delivery claimed by eight at once: one claim wins it.
        let probe = ids.pop().unwrap();
        let page = app.get(&format!("/webhooks/deliveries?operation_id={probe}")).await.expect(200).json();
        let delivery = page["items"][0]["id"].as_i64().unwrap();
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        let claims = futures::future::join_all(
            (0..8).map(|_| alfa_cloud::store::webhooks::claim(&app.engine.db, delivery, until)),
        )
        .await;
        let won = claims.into_iter().map(Result::unwrap).filter(Option::is_some).count();
        assert_eq!(won, 1, "one of eight claims of one delivery wins it");
        // Two dispatchers start at once and find the same twelve due deliveries.
        let _a: Worker = spawn_worker(&app);
        let _b: Worker = spawn_worker(&app);
        for id in ids {
            receiver.wait_for(id, 1).await;
            let settled = settled_delivery(&app, id).await;
            assert_eq!((settled["status"].as_str(), settled["tries"].as_i64()), (Some("delivered"), Some(1)), "{settled}");
            assert_eq!(receiver.about(id).len(), 1, "operation {id}'s event was POSTed once");
        }
    }
}

#[test]
fn a_webhook_url_without_a_secret_is_refused_at_start_up() {
    let settings = |pairs: &[(&str, &str)]| {
        alfa_cloud::config::Settings::from_vars(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let err = settings(&[("ALFA_WEBHOOK_URL", "https://mol.example.com/hooks")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ALFA_WEBHOOK_SECRET"), "{err}");
    let err = settings(&[
        ("ALFA_WEBHOOK_URL", "ftp://mol.example.com/"),
        ("ALFA_WEBHOOK_SECRET", SECRET),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("ALFA_WEBHOOK_URL") && err.contains("http(s)"),
        "{err}"
    );
    let ok = settings(&[
        ("ALFA_WEBHOOK_URL", "https://mol.example.com/hooks"),
        ("ALFA_WEBHOOK_SECRET", SECRET),
    ])
    .unwrap();
    assert_eq!(
        ok.webhook.as_ref().map(|w| w.host()),
        Some("mol.example.com")
    );
    assert!(
        !format!("{ok:?}").contains(SECRET),
        "the secret never shows in the settings' Debug"
    );
}
