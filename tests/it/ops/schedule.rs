//! The daily schedule (driven here with the test's own clock) and the certificate check it
//! starts: certbot on the test host renews what expires within the given days, and nginx then
//! serves the new certificate.

use std::time::Duration;

use alfa_cloud::ops::schedule;
use chrono::{TimeZone, Utc};

use super::lifecycle::*;
use super::*;

/// The serial of the certificate nginx serves for `fqdn` on the lab's host.
fn served_serial(lab: &Lab) -> String {
    let script = format!(
        "echo | openssl s_client -connect {}:{} -servername {} 2>/dev/null | openssl x509 -noout -serial",
        lab.host.addr, HTTPS_PORT, lab.fqdn
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let serial = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        serial.starts_with("serial="),
        "nginx serves no certificate for {}: {serial}",
        lab.fqdn
    );
    serial
}

async fn cert_check(app: &TestApp, server: i64, days: Option<u32>) -> (Value, Vec<String>) {
    let path = match days {
        Some(days) => format!("/servers/{server}/cert_check?days={days}"),
        None => format!("/servers/{server}/cert_check"),
    };
    let op = start(app, &path).await;
    let done = wait_op(app, op, Duration::from_secs(120)).await;
    (done, log_text(app, op).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_certificate_check_renews_only_what_expires_soon_and_nginx_serves_the_new_one() {
    let app = ops_app(Backend::Sqlite, false).await;
    let lab = active_lab(&app, 9, "mariadb").await;
    let before = served_serial(&lab);

    // Pebble's certificates are valid for years: nothing expires within 14 days.
    let (done, log) = cert_check(&app, lab.server, None).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    let certs = done["result"]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{done}");
    assert_eq!(
        (certs[0]["name"].as_str(), certs[0]["action"].as_str()),
        (Some(lab.fqdn.as_str()), Some("ok"))
    );
    assert_eq!(served_serial(&lab), before);

    // Within 3,650 days, it does: certbot renews it and nginx serves the new one.
    let (done, log) = cert_check(&app, lab.server, Some(3650)).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(
        done["result"]["certificates"][0]["action"], "renewed",
        "{done}"
    );
    let after = served_serial(&lab);
    assert_ne!(after, before, "nginx serves the renewed certificate");
    assert_eq!(
        super::creation::https_get(&lab.host, &lab.fqdn, "/up")
            .await
            .status(),
        200
    );

    app.get(&format!("/servers/{}/cert_check?days=0", lab.server))
        .await
        .expect(422);
    app.get(&format!("/servers/{}/cert_check?days=x", lab.server))
        .await
        .expect(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_schedule_starts_the_certificate_check_once_a_day_from_its_hour() {
    let app = ops_app(Backend::Postgres, true).await;
    let first = register(&app, testbed::get().host(9)).await;
    let second = register(&app, testbed::get().host(10)).await;
    let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2031, 5, d, h, m, 0).unwrap();

    let early = schedule::tick(&app.engine, at(1, 2, 59)).await.unwrap();
    assert!(
        early.holds && early.started.is_empty(),
        "nothing before ALFA_CERT_CHECK_AT (03:00): {early:?}"
    );

    // Two ticks at once (say, after a lease hand-over): the day's check starts once.
    let (a, b) = tokio::join!(
        schedule::tick(&app.engine, at(1, 3, 0)),
        schedule::tick(&app.engine, at(1, 3, 0))
    );
    let mut started: Vec<i64> = a
        .unwrap()
        .started
        .into_iter()
        .chain(b.unwrap().started)
        .collect();
    started.sort();
    assert_eq!(started.len(), 2, "one check per active server: {started:?}");
    let mut servers = Vec::new();
    for id in &started {
        let op = app.get(&format!("/operations/{id}")).await.json();
        assert_eq!(op["kind"], "cert_check");
        assert_eq!(op["requested_by"], "scheduler");
        servers.push(op["server_id"].as_i64().unwrap());
    }
    servers.sort();
    assert_eq!(servers, [first, second]);

    let later = schedule::tick(&app.engine, at(1, 23, 0)).await.unwrap();
    assert!(later.started.is_empty(), "once a day: {later:?}");
    let next_day = schedule::tick(&app.engine, at(2, 3, 1)).await.unwrap();
    assert_eq!(
        next_day.started.len(),
        2,
        "again the next day: {next_day:?}"
    );
    for id in started.iter().chain(&next_day.started) {
        assert_eq!(
            wait_op(&app, *id, Duration::from_secs(60)).await["status"],
            "ok"
        );
    }
}
