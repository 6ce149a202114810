//! The probe loop: `GET /clients` tells the truth about each active client — whether its app
//! answers through nginx, its maintenance flag, the version it runs, its users — within an
//! interval of a change, from one prober across every worker.

use std::sync::atomic::Ordering;

use alfa_cloud::store::leases;
use serde_json::Value;

use super::engine::client_on;
use super::*;
use crate::on_both_queues;

/// The interval the tests probe at.
const INTERVAL: &str = "1s";
/// Long enough for a few passes on a busy machine; the tests wait for a change, not a time.
const LIMIT: Duration = Duration::from_secs(30);

/// An app whose worker probes every second.
async fn probing_app(slot: usize) -> TestApp {
    super::engine::app_with(slot, &[("ALFA_PROBE_INTERVAL", INTERVAL)]).await
}

/// Client `id` as the list shows it.
async fn listed(app: &TestApp, id: i64) -> Value {
    let page = app
        .get("/clients?per_page=200&sort=id&order=desc")
        .await
        .expect(200)
        .json();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("client {id} is not in the list: {page}"))
}

/// Waits until the listed client `id` satisfies `holds` (described by `what`).
async fn listed_until(app: &TestApp, id: i64, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
    eventually(
        LIMIT,
        format!("client {id} to be listed {what}"),
        || async {
            let client = listed(app, id).await;
            if holds(&client) {
                Ok(client)
            } else {
                Err(client.to_string())
            }
        },
    )
    .await
}

/// `docker compose VERB` of the client's project, through sudo as the product runs it (the
/// stand-in's app belongs to root, so a stop as the login user could not end it).
fn compose(host: &Host, sub: &str, verb: &str) {
    let file = format!("{}/docker/clients/{sub}/docker-compose.yml", host.base_dir);
    let docker = host.dir.join("bin/docker").display().to_string();
    testbed::testbed(&[
        "ssh",
        &host.name,
        "sudo",
        "-n",
        &docker,
        "compose",
        "-p",
        &format!("alfa_{sub}"),
        "-f",
        &file,
        verb,
    ]);
}

on_both_queues! {
    async fn the_list_shows_what_the_probe_saw_and_a_stopped_container_goes_unavailable(app, slot) {
        let app = { drop(app); probing_app(slot).await };
        let host = testbed::get().host(3 + slot);
        let (_, client, sub) = client_on(&app, 3 + slot).await;
        let seen = listed_until(&app, client, "available", |c| c["available"] == true).await;
        assert_eq!(seen["maintenance"], false, "{seen}");
        assert_eq!(seen["running_version"], "1.0-master", "{seen}");
        assert_eq!(seen["users_count"], 1, "the lab's administrator: {seen}");
        assert_eq!(seen["probe_error"], "", "{seen}");
        assert!(seen["checked_at"].is_string(), "{seen}");

        let flag = format!("{}/docker/clients/{sub}/maintenance.on", host.base_dir);
        std::fs::write(&flag, "").unwrap();
        let seen = listed_until(&app, client, "in maintenance", |c| c["maintenance"] == true).await;
        assert_eq!(seen["available"], true, "/up answers in maintenance too: {seen}");
        std::fs::remove_file(&flag).unwrap();

        compose(host, &sub, "stop");
        let seen = listed_until(&app, client, "unavailable", |c| c["available"] == false).await;
        assert_eq!(seen["running_version"], Value::Null, "{seen}");
        let why = seen["probe_error"].as_str().unwrap();
        assert!(why.contains(&format!("alfa_{sub}")) && why.contains("not 200"), "{why}");

        compose(host, &sub, "start");
        listed_until(&app, client, "available again", |c| c["available"] == true && c["probe_error"] == "").await;
    }

    async fn a_down_servers_clients_go_unavailable_and_the_others_stay_probed(app, slot) {
        let app = { drop(app); probing_app(slot).await };
        let (down, lost, _) = client_on(&app, 5 + slot).await;
        let (_, kept, _) = client_on(&app, 7 + slot).await;
        listed_until(&app, lost, "available", |c| c["available"] == true).await;
        listed_until(&app, kept, "available", |c| c["available"] == true).await;

        // Nothing listens on port 1: the server is down as far as SSH can tell.
        app.post("/servers/", form(&[("id", &down.to_string()), ("ssh_port", "1")])).await.expect(200);
        let seen = listed_until(&app, lost, "unavailable", |c| c["available"] == false).await;
        let why = seen["probe_error"].as_str().unwrap();
        assert!(why.contains("cannot reach"), "the reason names the unreachable server: {why}");
        assert_eq!(seen["maintenance"], Value::Null, "unknown, not false: {seen}");
        let before = listed(&app, kept).await["checked_at"].clone();
        listed_until(&app, kept, "probed again meanwhile", |c| {
            c["available"] == true && c["checked_at"] != before
        })
        .await;

        let port = testbed::get().ssh_port.to_string();
        app.post("/servers/", form(&[("id", &down.to_string()), ("ssh_port", &port)])).await.expect(200);
        listed_until(&app, lost, "available again", |c| c["available"] == true).await;
    }

    async fn only_one_worker_probes_at_a_time(app, slot) {
        let a = { drop(app); probing_app(slot).await };
        let mut env: Vec<(String, String)> = a.env();
        env.push(("ALFA_PROBE_INTERVAL".into(), INTERVAL.into()));
        let extra: Vec<(&str, &str)> = env
            .iter()
            .filter(|(k, _)| k != "ALFA_DATABASE_URL" && k != "ALFA_DATA_DIR" && k != "ALFA_SECRET_KEY")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let b = TestApp::build(&a.database_url, &a.data_dir.join("b"), &a.secret_key, &extra).await;
        let b_engine = b.state().engine.clone();
        tokio::spawn(b.run_with_worker(std::future::pending()));
        let passes = || {
            (
                a.engine.probe_stats.passes.load(Ordering::Relaxed),
                b_engine.probe_stats.passes.load(Ordering::Relaxed),
            )
        };
        let (pa, pb) = eventually(LIMIT, "five probe passes between the two workers", || async {
            let (pa, pb) = passes();
            if pa + pb >= 5 { Ok((pa, pb)) } else { Err(format!("{pa} + {pb}")) }
        })
        .await;
        assert!(pa == 0 || pb == 0, "both workers probed: {pa} and {pb} passes");
        let prober = if pa > 0 { &a.engine.worker_id } else { &b_engine.worker_id };
        let holder = leases::holder(&a.engine.db, alfa_cloud::ops::probe::LEASE).await.unwrap();
        assert_eq!(holder.as_ref(), Some(prober), "the lease names the worker that probes");
    }

    async fn a_lease_has_one_holder_until_released_or_expired(app, _slot) {
        let db = &app.engine.db;
        let name = unique("lease-");
        let ttl = Duration::from_secs(60);
        assert!(leases::try_acquire(db, &name, "a", ttl).await.unwrap());
        assert!(!leases::try_acquire(db, &name, "b", ttl).await.unwrap(), "b took a's lease");
        assert!(leases::try_acquire(db, &name, "a", ttl).await.unwrap(), "a renews by acquiring");
        assert!(leases::renew(db, &name, "a", ttl).await.unwrap());
        assert!(!leases::renew(db, &name, "b", ttl).await.unwrap(), "b renewed a's lease");
        leases::release(db, &name, "b").await.unwrap();
        assert_eq!(leases::holder(db, &name).await.unwrap().as_deref(), Some("a"), "b released a's lease");
        leases::release(db, &name, "a").await.unwrap();
        assert!(leases::try_acquire(db, &name, "b", Duration::ZERO).await.unwrap(), "a released lease is free");
        // b's lease expired the moment it was taken.
        let taken = eventually(LIMIT, "c to take b's expired lease", || async {
            match leases::try_acquire(db, &name, "c", ttl).await.unwrap() {
                true => Ok(()),
                false => Err("still b's".to_owned()),
            }
        });
        taken.await;
        assert!(!leases::renew(db, &name, "b", ttl).await.unwrap(), "b lost it to c");
    }
}
