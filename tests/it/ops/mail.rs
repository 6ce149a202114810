//! Mail to the labs through a real SMTP server (aiosmtpd on loopback, a Maildir per test):
//! the welcome mail with URL, login and password, the licence reminder, Russian by default
//! and English by the client's `locale`, the kept password erased after the welcome mail,
//! the `mails` record, and 503 without SMTP. A mail that fails, and one run again: mail_failures.rs.

use std::time::Duration;

use alfa_cloud::domain::ClientState;
use alfa_cloud::store::clients;
use reqwest::Method;
use serde_json::Value;

use super::lifecycle::{active_lab, db_rows};
use super::*;
use crate::support::Options;
use crate::support::smtp::{self, Received, Smtp};

const FROM: &str = "Alfa Cloud <cloud@alfa.test>";

/// An app with a worker, mailing through the SMTP server at `smtp_url`, with `extra` settings.
pub(super) async fn mail_app(
    backend: Backend,
    redis: bool,
    smtp_url: &str,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut env = fast_env();
    env.push(("ALFA_SMTP_URL".into(), smtp_url.into()));
    env.push(("ALFA_MAIL_FROM".into(), FROM.into()));
    env.push(("ALFA_MAIL_REPLY_TO".into(), "support@alfa.test".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TestApp::spawn_with(
        backend,
        Options {
            redis,
            worker: true,
            env,
            kinds: None,
        },
    )
    .await
}

/// A client made `active` without a lab behind it (its server is an address nothing answers
/// SSH on; its creation fails, then the row is set active): enough for mails that do not
/// touch the lab (the licence reminder; the welcome mail of a kept password).
pub(super) async fn registered_active(app: &TestApp, fields: &[(&str, &str)]) -> i64 {
    let name = unique("nohost-");
    let server = app
        .create_server(&[
            ("name", &name),
            ("host", "127.0.0.1"),
            ("ssh_port", &smtp::free_port().to_string()),
            ("domain", &format!("{name}.test")),
        ])
        .await;
    let id = app.create_client(server, fields).await;
    eventually(Duration::from_secs(90), "the creation to fail", || async {
        let view = app.get(&format!("/clients/{id}")).await.expect(200).json();
        match view["state"].as_str() {
            Some("error") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    clients::set_state(&app.engine.db, id, ClientState::Active)
        .await
        .unwrap();
    id
}

/// Waits for operation `op` to end `ok`, showing its log otherwise.
pub(super) async fn ok(app: &TestApp, op: i64) -> Value {
    let done = wait_op(app, op, Duration::from_secs(60)).await;
    assert_eq!(
        done["status"],
        "ok",
        "{done:#?}\n{:#?}",
        log_text(app, op).await
    );
    done
}

pub(super) fn view(reply: crate::support::Reply) -> Value {
    reply.expect(200).json()
}

/// The value after `label` on its line of the text part.
fn line_value(mail: &Received, label: &str) -> String {
    mail.plain
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("{label:?} in {}", mail.plain))
        .trim()
        .to_owned()
}

fn assert_both_parts(mail: &Received) {
    assert!(
        mail.types.iter().any(|t| t == "text/plain") && mail.types.iter().any(|t| t == "text/html"),
        "{:?}",
        mail.types
    );
}

/// Whole days from today to 2027-12-31 in Moscow (the labs' time zone and licence end).
fn days_to_licence_end() -> i64 {
    let tz: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(2027, 12, 31).unwrap();
    (end - chrono::Utc::now().with_timezone(&tz).date_naive()).num_days()
}

async fn a_lab_gets_its_welcome_mail_once_with_its_password_and_reminders_without_it(
    backend: Backend,
    redis: bool,
    host: usize,
) {
    let smtp = Smtp::start().await;
    let app = mail_app(backend, redis, &smtp.url(), &[]).await;
    let lab = active_lab(&app, host, "mariadb").await;
    let admin = format!("admin@{}.example", lab.subdomain);
    let password = format!("Lab-pass-{}", lab.subdomain);
    let path = format!("/clients/{}", lab.id);
    assert_eq!(view(app.get(&path).await)["password_set"], true);
    assert_eq!(view(app.get(&path).await)["locale"], "ru");

    let op = start(&app, &format!("{path}/send_success")).await;
    ok(&app, op).await;
    let welcome = smtp.wait_for(1).await.remove(0);
    assert!(welcome.rcpt_to.contains(&admin), "{welcome:#?}");
    assert!(
        welcome.to.contains(&admin) && welcome.to.contains("Иванов Иван Иванович"),
        "{welcome:#?}"
    );
    assert_eq!(
        welcome.subject,
        "Облако «Центральная лаборатория» готово к работе"
    );
    assert!(
        welcome.raw_subject.to_lowercase().starts_with("=?utf-8?"),
        "{welcome:#?}"
    );
    assert!(welcome.from.contains("cloud@alfa.test") && welcome.reply_to == "support@alfa.test");
    assert_both_parts(&welcome);
    for part in [&welcome.plain, &welcome.html] {
        for expected in [
            password.as_str(),
            &format!("https://{}", lab.fqdn),
            "ivanov",
            &admin,
            "Центральная лаборатория",
        ] {
            assert!(part.contains(expected), "{expected:?} in {part}");
        }
    }
    let log = log_text(&app, op).await.join("\n");
    assert!(log.contains(&admin) && log.contains("250"), "{log}");
    assert!(!log.contains(&password), "{log}");
    // The lab has it now: no longer kept.
    assert_eq!(view(app.get(&path).await)["password_set"], false);

    let op = start(&app, &format!("{path}/send_expire")).await;
    ok(&app, op).await;
    let reminder = smtp.wait_for(2).await.remove(1);
    assert!(reminder.rcpt_to.contains(&admin));
    assert_eq!(
        reminder.subject,
        "Лицензия «Центральная лаборатория» заканчивается 31.12.2027"
    );
    assert_both_parts(&reminder);
    assert_eq!(
        line_value(&reminder, "Осталось дней:"),
        format!("{}.", days_to_licence_end())
    );
    assert!(!reminder.plain.contains(&password) && !reminder.html.contains(&password));

    // No password kept: a new one goes into the lab first, then into the mail.
    let op = start(&app, &format!("{path}/send_success")).await;
    ok(&app, op).await;
    let second = smtp.wait_for(3).await.remove(2);
    let new_password = line_value(&second, "Пароль:");
    app.secret(&new_password);
    assert_ne!(new_password, password);
    assert!(second.html.contains(&new_password));
    let hash = db_rows(
        "mariadb",
        &lab.db(&app),
        &format!("SELECT password FROM users WHERE email = '{admin}'"),
    )
    .await;
    assert!(bcrypt::verify(&new_password, &hash[0]).unwrap(), "{hash:?}");
    assert_eq!(view(app.get(&path).await)["password_set"], false);

    let mails = view(app.get(&format!("{path}/mails")).await);
    assert_eq!(mails["total"], 3);
    let items = mails["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["success", "expire", "success"], "newest first");
    for item in items {
        assert_eq!(item["result"], "sent");
        assert_eq!(item["to_addr"], admin.as_str());
        assert!(
            item["smtp_reply"].as_str().unwrap().starts_with("250"),
            "{item}"
        );
        assert!(
            item["message_id"]
                .as_str()
                .unwrap()
                .ends_with("@alfa.test>"),
            "{item}"
        );
    }
    assert_eq!(items[1]["subject"], reminder.subject.as_str());
}

mod a_lab_gets_its_welcome_mail_once_with_its_password_and_reminders_without_it {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn embedded() {
        super::a_lab_gets_its_welcome_mail_once_with_its_password_and_reminders_without_it(
            Backend::Sqlite,
            false,
            3,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis() {
        super::a_lab_gets_its_welcome_mail_once_with_its_password_and_reminders_without_it(
            Backend::Postgres,
            true,
            4,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_english_lab_gets_english_mails_and_the_password_stays_kept_when_asked() {
    let smtp = Smtp::start().await;
    let app = mail_app(
        Backend::Sqlite,
        false,
        &smtp.url(),
        &[("ALFA_KEEP_ADMIN_PASSWORD", "1")],
    )
    .await;
    let id = registered_active(
        &app,
        &[
            ("locale", "en"),
            ("password", "Keep-pass-12345"),
            ("license_expires_at", "2030-01-15"),
        ],
    )
    .await;
    let path = format!("/clients/{id}");
    assert_eq!(view(app.get(&path).await)["locale"], "en");

    let op = start(&app, &format!("{path}/send_success")).await;
    ok(&app, op).await;
    let welcome = smtp.wait_for(1).await.remove(0);
    assert_eq!(welcome.subject, "The cloud of Central Lab is ready");
    assert_both_parts(&welcome);
    assert_eq!(line_value(&welcome, "Password:"), "Keep-pass-12345");
    assert!(welcome.html.contains("Keep-pass-12345"));
    assert_eq!(view(app.get(&path).await)["password_set"], true);

    let op = start(&app, &format!("{path}/send_expire")).await;
    ok(&app, op).await;
    let reminder = smtp.wait_for(2).await.remove(1);
    assert_eq!(
        reminder.subject,
        "The licence of Central Lab ends on 2030-01-15"
    );
    assert!(
        !reminder.plain.contains("Keep-pass-12345") && !reminder.html.contains("Keep-pass-12345")
    );

    let mails = view(app.get(&format!("{path}/mails")).await);
    let kinds: Vec<&str> = mails["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["expire", "success"]);
}

crate::on_both_backends! {
    async fn without_smtp_the_mail_endpoints_answer_503_and_a_bad_locale_is_refused(app) {
        let server = app.create_server(&[]).await;
        let id = app.create_client(server, &[]).await;
        for mail in ["send_success", "send_expire"] {
            let reply = app.get(&format!("/clients/{id}/{mail}")).await.expect(503);
            assert!(reply.text.contains("ALFA_SMTP_URL"), "{}", reply.text);
        }
        assert_eq!(app.get(&format!("/clients/{id}")).await.expect(200).json()["locale"], "ru");
        let bad = app
            .post("/clients/", form(&[("server_id", &server.to_string()), ("name", "X"),
                ("admin_login", "x"), ("subdomain", "other"), ("email", "x@lab.example"),
                ("version_tag", "1.0-master"), ("locale", "de")]))
            .await
            .expect(422)
            .json();
        assert!(bad["fields"]["locale"].is_array(), "{bad}");
        let put = format!("/clients/{id}");
        let bad = app
            .call(Method::PUT, &put, form(&[("locale", "EN")]))
            .await
            .expect(422)
            .json();
        assert!(bad["fields"]["locale"].is_array(), "{bad}");
        let changed = app.call(Method::PUT, &put, form(&[("locale", "en")])).await.expect(200).json();
        assert_eq!(changed["locale"], "en");
        assert!(changed["operation_id"].is_null(), "the locale is ours alone: {changed}");
        let listed = app.get("/clients").await.expect(200).json();
        assert_eq!(listed["items"][0]["locale"], "en");
        let mails = app.get(&format!("/clients/{id}/mails")).await.expect(200).json();
        assert_eq!(mails["total"], 0);
    }
}
