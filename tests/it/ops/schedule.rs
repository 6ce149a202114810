//! The daily schedule (driven here with the test's own clock) and the certificate check it
//! starts: certbot on the test host renews what expires within the given days, and nginx then
//! serves the new certificate.

use std::time::Duration;

use alfa_cloud::ops::schedule;
use alfa_cloud::store::leases;
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

/// Sets a client's licence end in our row (as a renewal recorded elsewhere would).
async fn set_licence_end(app: &TestApp, id: i64, at: chrono::DateTime<Utc>) {
    use alfa_cloud::store::Db;
    let sql = "UPDATE clients SET license_expires_at = $1 WHERE id = $2";
    match &app.engine.db {
        Db::Sqlite(pool) => sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}

/// The reminders' thresholds with the test's clock: 30, 7 and 1 days before and the day the
/// licence ends, each once — even when two ticks run at once — from 09:00 in the client's time
/// zone, again after a renewal, never for a billing type not reminded; every one a mail that
/// arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn licence_reminders_go_out_once_at_each_threshold_from_nine_in_the_clients_time_zone() {
    let smtp = crate::support::smtp::Smtp::start().await;
    // The certificate check is set to start after every tick below.
    let app = super::mail::mail_app(
        Backend::Postgres,
        true,
        &smtp.url(),
        &[("ALFA_CERT_CHECK_AT", "23:59")],
    )
    .await;
    let paid = super::mail::registered_active(
        &app,
        &[("billing_type", "PAID"), ("timezone", "Europe/Moscow")],
    )
    .await;
    let demo = super::mail::registered_active(
        &app,
        &[("billing_type", "DEMO"), ("timezone", "Europe/Moscow")],
    )
    .await;
    // The licence ends on 30 June 2031 in Moscow (UTC+3).
    let ends = Utc.with_ymd_and_hms(2031, 6, 30, 12, 0, 0).unwrap();
    set_licence_end(&app, paid, ends).await;
    set_licence_end(&app, demo, ends).await;
    let utc = |m: u32, d: u32, h: u32| Utc.with_ymd_and_hms(2031, m, d, h, 0, 0).unwrap();
    let tick = |at| schedule::tick(&app.engine, at);

    // A second worker process on the same database.
    let extra: Vec<(String, String)> = app
        .env()
        .into_iter()
        .filter(|(k, _)| k != "ALFA_DATABASE_URL" && k != "ALFA_DATA_DIR" && k != "ALFA_SECRET_KEY")
        .collect();
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let other = TestApp::build(
        &app.database_url,
        &app.data_dir.join("b"),
        &app.secret_key,
        &extra,
    )
    .await;
    let other = other.state().engine.clone();

    // 30 days before, 08:00 in Moscow: not yet; 09:00: due. Two schedulers tick at once, and
    // the reminder goes out once; the same tick twice on one of them too.
    assert!(tick(utc(5, 31, 5)).await.unwrap().started.is_empty());
    let (a, b, c) = tokio::join!(
        tick(utc(5, 31, 6)),
        tick(utc(5, 31, 6)),
        schedule::tick(&other, utc(5, 31, 6))
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(a.holds && !c.holds, "one scheduler at a time: {a:?} {c:?}");
    let mut sent: Vec<i64> = a
        .started
        .into_iter()
        .chain(b.started)
        .chain(c.started)
        .collect();
    assert_eq!(sent.len(), 1, "one reminder 30 days before: {sent:?}");
    // The first scheduler goes away; the other takes over and sends nothing twice.
    leases::release(&app.engine.db, schedule::LEASE, &app.engine.worker_id)
        .await
        .unwrap();
    let taken = schedule::tick(&other, utc(5, 31, 7)).await.unwrap();
    assert!(taken.holds && taken.started.is_empty(), "{taken:?}");
    leases::release(&app.engine.db, schedule::LEASE, &other.worker_id)
        .await
        .unwrap();
    assert!(
        tick(utc(6, 1, 7)).await.unwrap().started.is_empty(),
        "29 days: nothing new"
    );
    for (m, d) in [(6, 23), (6, 29), (6, 30)] {
        let started = tick(utc(m, d, 6)).await.unwrap().started;
        assert_eq!(started.len(), 1, "{d}.{m}: {started:?}");
        sent.extend(started);
        assert!(
            tick(utc(m, d, 20)).await.unwrap().started.is_empty(),
            "once on {d}.{m}"
        );
    }
    assert!(
        tick(utc(7, 1, 6)).await.unwrap().started.is_empty(),
        "the day after: nothing"
    );

    // Renewed to 31 December: its reminders start again.
    set_licence_end(
        &app,
        paid,
        Utc.with_ymd_and_hms(2031, 12, 31, 12, 0, 0).unwrap(),
    )
    .await;
    let renewed = tick(utc(12, 1, 6)).await.unwrap().started;
    assert_eq!(renewed.len(), 1, "{renewed:?}");
    sent.extend(renewed);

    for op in &sent {
        let done = wait_op(&app, *op, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, *op).await);
        assert_eq!(
            done["client_id"], paid,
            "only the PAID client is reminded: {done}"
        );
        assert_eq!(done["kind"], "client_mail");
        assert_eq!(done["requested_by"], "scheduler");
    }
    let mails = smtp.wait_for(sent.len()).await;
    assert_eq!(
        mails.len(),
        5,
        "30, 7, 1, 0 days, and 30 days before the renewed end"
    );
    let listed = app
        .get(&format!("/clients/{paid}/mails"))
        .await
        .expect(200)
        .json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(5),
        "{listed}"
    );
}

/// A certificate certbot cannot renew: the check ends `error` naming it with the ACME server's
/// own error, Mol hears of it by webhook and the operator by mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_that_cannot_be_renewed_is_reported_by_webhook_and_to_the_operator_by_mail() {
    let smtp = crate::support::smtp::Smtp::start().await;
    let receiver = super::webhooks::Receiver::start(&[]).await;
    let smtp_url = smtp.url();
    let app = super::webhooks::hook_app(
        0,
        &receiver,
        true,
        &[
            ("ALFA_SMTP_URL", smtp_url.as_str()),
            ("ALFA_MAIL_FROM", "Alfa Cloud <cloud@alfa.test>"),
            ("ALFA_ADMIN_EMAIL", "ops@alfa.test"),
        ],
    )
    .await;
    let lab = active_lab(&app, 9, "mariadb").await;
    let refused = "Exiting abnormally:\nTraceback (most recent call last):\n  File \"x\", line 1\nacme.messages.Error: urn:ietf:params:acme:error:rateLimited :: too many certificates already issued\nAn unexpected error occurred:\nAttributeError: can't set attribute";
    let rule = serde_json::json!({"match": format!("renew --cert-name {}", lab.fqdn), "exit": 1, "stderr": refused});
    lab.host.add_faults("fail", rule.clone());
    let op = start(
        &app,
        &format!("/servers/{}/cert_check?days=3650", lab.server),
    )
    .await;
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    lab.host.remove_faults("fail", &rule);

    assert_eq!(done["status"], "error", "{:#?}", log_text(&app, op).await);
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&lab.fqdn)
            && error.contains("rateLimited :: too many certificates already issued"),
        "{error}"
    );
    let event = receiver.wait_for(op, 1).await[0].json();
    assert_eq!(
        (event["kind"].as_str(), event["status"].as_str()),
        (Some("cert_check"), Some("error")),
        "{event}"
    );
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].rcpt_to, "ops@alfa.test");
    assert!(
        mails[0].subject.contains("certificates on server"),
        "{}",
        mails[0].subject
    );
    assert!(mails[0].plain.contains(&lab.fqdn), "{}", mails[0].plain);
}
