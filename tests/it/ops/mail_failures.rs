//! Mail that does not go as planned, through a real SMTP server (aiosmtpd on loopback): tries
//! and a retry while the server is down, a recipient the server refuses, and an operation run
//! again after a lost worker, which must not send its mail twice.

use std::time::Duration;

use super::mail::{mail_app, ok, registered_active, view};
use super::*;
use crate::support::Body;
use crate::support::smtp::{self, Smtp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mail_while_smtp_is_down_fails_naming_the_server_and_is_sent_on_retry_once_it_is_up() {
    let port = smtp::free_port();
    let app = mail_app(Backend::Sqlite, false, &smtp::url(port), &[]).await;
    let id = registered_active(&app, &[("license_expires_at", "2030-01-15")]).await;
    let path = format!("/clients/{id}");

    let op = start(&app, &format!("{path}/send_expire")).await;
    let failed = wait_op(&app, op, Duration::from_secs(60)).await;
    assert_eq!(failed["status"], "error");
    let error = failed["error"].as_str().unwrap();
    let server = format!("127.0.0.1:{port}");
    assert!(
        error.contains(&server) && error.contains("3 tries"),
        "{error}"
    );
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(
        error.contains(&format!("POST /operations/{op}/retry")),
        "{error}"
    );
    let log = log_text(&app, op).await.join("\n");
    assert!(
        log.contains("try 1 of 3 failed") && log.contains("try 2 of 3 failed"),
        "{log}"
    );
    let mails = view(app.get(&format!("{path}/mails")).await);
    assert_eq!(mails["items"][0]["result"], "error");
    assert!(
        mails["items"][0]["smtp_reply"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{mails}"
    );

    let smtp = Smtp::start_on(port).await;
    app.post(&format!("/operations/{op}/retry"), Body::None)
        .await
        .expect(202);
    ok(&app, op).await;
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(
        mail.subject,
        "Лицензия «Central Lab» заканчивается 15.01.2030"
    );
    let mails = view(app.get(&format!("{path}/mails")).await);
    assert_eq!(mails["total"], 2);
    assert_eq!(mails["items"][0]["result"], "sent");
    assert_eq!(mails["items"][0]["operation_id"], op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_recipient_ends_the_mail_at_once_with_the_servers_reply() {
    let smtp = Smtp::start_refusing().await;
    let app = mail_app(Backend::Sqlite, false, &smtp.url(), &[]).await;
    let id = registered_active(&app, &[("license_expires_at", "2030-01-15")]).await;
    let op = start(&app, &format!("/clients/{id}/send_expire")).await;
    let failed = wait_op(&app, op, Duration::from_secs(60)).await;
    assert_eq!(failed["status"], "error");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("No such mailbox here"),
        "{error}"
    );
    assert!(error.contains(&format!("PUT /clients/{id}")), "{error}");
    let log = log_text(&app, op).await.join("\n");
    assert!(
        !log.contains("try 1 of 3 failed"),
        "a 5xx is not tried again: {log}"
    );
    let mails = view(app.get(&format!("/clients/{id}/mails")).await);
    assert_eq!(mails["total"], 1);
    assert_eq!(mails["items"][0]["result"], "error");
    assert!(
        mails["items"][0]["smtp_reply"]
            .as_str()
            .unwrap()
            .contains("550"),
        "{mails}"
    );
}

/// A worker lost between the mail's send and the operation's end (its row still says
/// running, its lease ran out: what a killed worker leaves) makes the operation run again; the
/// next attempt finds the mail recorded and does not send it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mail_operation_run_again_after_a_lost_worker_does_not_send_its_mail_twice() {
    let smtp = Smtp::start().await;
    let app = mail_app(Backend::Sqlite, false, &smtp.url(), &[]).await;
    let id = registered_active(&app, &[("license_expires_at", "2030-01-15")]).await;
    let op = start(&app, &format!("/clients/{id}/send_expire")).await;
    ok(&app, op).await;
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    let alfa_cloud::store::Db::Sqlite(pool) = &app.engine.db else {
        unreachable!("an SQLite app")
    };
    sqlx::query(
        "UPDATE operations SET status = 'running', worker_id = 'a-lost-worker', \
         lease_until = $2, finished_at = NULL, result = NULL WHERE id = $1",
    )
    .bind(op)
    .bind(chrono::Utc::now() - chrono::Duration::minutes(1))
    .execute(pool)
    .await
    .unwrap();
    let again = eventually(
        Duration::from_secs(60),
        "the second attempt to end",
        || async {
            let view = app
                .get(&format!("/operations/{op}"))
                .await
                .expect(200)
                .json();
            if view["attempt"] == 2 && view["status"] != "running" {
                Ok(view)
            } else {
                Err(view.to_string())
            }
        },
    )
    .await;
    assert_eq!(again["status"], "ok", "{again}");
    let log = log_text(&app, op).await.join("\n");
    assert!(log.contains("already sent its mail to"), "{log}");
    assert_eq!(smtp.messages().await.len(), 1, "the mail was sent once");
    let mails = view(app.get(&format!("/clients/{id}/mails")).await);
    assert_eq!(mails["total"], 1, "{mails}");
}
