//! `PUT /clients/{id}` and `POST /clients/{id}/expire_date` on active labs: what changed is
//! applied on the lab (its settings, its administrator), what did not is left alone.

use std::time::Duration;

use reqwest::Method;

use super::actions::{admin_row, ok_op, setting};
use super::lifecycle::active_lab;
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_and_expire_date_apply_what_they_change_on_the_lab() {
    // PostgreSQL and Redis here, SQLite and the embedded queue above: the writes that store a
    // change and its operation together run on both.
    let app = ops_app(Backend::Postgres, true).await;
    let lab = active_lab(&app, 3, "postgres").await;
    let client = format!("/clients/{}", lab.id);

    // The licence end: our row at once, the lab's cloud_settings by the operation.
    let reply = app
        .post(
            &format!("{client}/expire_date"),
            form(&[
                ("sender", "manager@vendor"),
                ("license_expires_at", "2029-03-31"),
            ]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(reply["license_expires_at"], "2029-03-31T00:00:00Z");
    let log = ok_op(&app, reply["operation_id"].as_i64().unwrap()).await;
    assert!(log.iter().any(|l| l.contains("manager@vendor")), "{log:#?}");
    assert_eq!(
        setting(&app, &lab, "license_expires_at").await,
        "2029-03-31T00:00:00+00:00"
    );

    // Fields of ours alone change nothing on the server.
    let reply = app
        .call(Method::PUT, &client, form(&[("phone", "+7 900 111-11-11")]))
        .await
        .expect(200)
        .json();
    assert_eq!(reply["phone"], "+7 900 111-11-11");
    assert!(reply["operation_id"].is_null(), "{reply}");

    // allowed_ips: the vhost, and nginx refusing an address outside the list.
    let reply = app
        .call(
            Method::PUT,
            &client,
            form(&[("allowed_ips", r#"["10.9.8.7"]"#)]),
        )
        .await
        .expect(200)
        .json();
    ok_op(&app, reply["operation_id"].as_i64().unwrap()).await;
    let vhost = std::fs::read_to_string(
        std::path::Path::new(&lab.host.base_dir).join(format!("nginx/{}.conf", lab.subdomain)),
    )
    .unwrap();
    assert!(vhost.contains("allow 10.9.8.7;"), "{vhost}");
    let refused = super::creation::https_get(&lab.host, &lab.fqdn, "/").await;
    assert_eq!(refused.status(), 403);
    let reply = app
        .call(
            Method::PUT,
            &client,
            form(&[("allowed_ips", r#"["127.0.0.0/8"]"#)]),
        )
        .await
        .expect(200)
        .json();
    ok_op(&app, reply["operation_id"].as_i64().unwrap()).await;
    let allowed = super::creation::https_get(&lab.host, &lab.fqdn, "/").await;
    assert_eq!(allowed.status(), 200);

    // Time zone, name, e-mail and password in one operation: files and container, the lab's
    // settings, its administrator.
    let recreations = |host: &Host| {
        host.calls_matching(&format!(
            "compose -p alfa_{} up -d --force-recreate",
            lab.subdomain
        ))
        .len()
    };
    let before = recreations(&lab.host);
    let password = "Put-admin-pass-2";
    app.secret(password);
    let new_email = format!("boss@{}.example", lab.subdomain);
    let reply = app
        .call(
            Method::PUT,
            &client,
            form(&[
                ("timezone", "Asia/Yekaterinburg"),
                ("name", "Северная лаборатория"),
                ("email", &new_email),
                ("password", password),
            ]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(reply["timezone"], "Asia/Yekaterinburg");
    let log = ok_op(&app, reply["operation_id"].as_i64().unwrap()).await;
    assert!(!log.iter().any(|l| l.contains(password)), "{log:#?}");
    let env = super::lifecycle::env_file(&lab.host, &lab.subdomain);
    assert_eq!(
        super::lifecycle::env_value(&env, "APP_TIMEZONE"),
        "Asia/Yekaterinburg"
    );
    assert_eq!(
        super::lifecycle::env_value(&env, "APP_NAME"),
        "Северная лаборатория"
    );
    let ini = std::fs::read_to_string(
        std::path::Path::new(&lab.host.base_dir)
            .join(format!("docker/clients/{}/php/add_vars.ini", lab.subdomain)),
    )
    .unwrap();
    assert!(ini.contains("date.timezone = Asia/Yekaterinburg"), "{ini}");
    assert_eq!(
        recreations(&lab.host),
        before + 1,
        "the container was recreated once"
    );
    assert_eq!(
        setting(&app, &lab, "lab_name").await,
        "Северная лаборатория"
    );
    assert_eq!(setting(&app, &lab, "admin_email").await, new_email);
    let (name, hash) = admin_row(&app, &lab, &new_email).await;
    assert_eq!(name, "Иванов Иван Иванович");
    assert!(
        bcrypt::verify(password, &hash).unwrap(),
        "the lab's hash verifies the PUT password"
    );
    let up = super::creation::https_get(&lab.host, &lab.fqdn, "/up").await;
    assert_eq!(up.status(), 200);

    // A failed application says what the lab still runs; its retry applies the stored row.
    let rule = serde_json::json!({
        "match": format!("alfa_{} up --force-recreate", lab.subdomain),
        "times": 1, "exit": 1, "stderr": "Error response from daemon: no space left on device",
    });
    lab.host.add_faults("fail", rule.clone());
    let reply = app
        .call(Method::PUT, &client, form(&[("timezone", "Europe/Samara")]))
        .await
        .expect(200)
        .json();
    assert_eq!(
        reply["timezone"], "Europe/Samara",
        "the view shows the new value at once"
    );
    let op = reply["operation_id"].as_i64().unwrap();
    let failed = wait_op(&app, op, Duration::from_secs(90)).await;
    lab.host.remove_faults("fail", &rule);
    assert_eq!(failed["status"], "error");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("still run with the previous")
            && error.contains(&format!("/operations/{op}/retry")),
        "{error}"
    );
    app.post(
        &format!("/operations/{op}/retry"),
        crate::support::Body::None,
    )
    .await
    .expect(202);
    ok_op(&app, op).await;
    assert_eq!(
        recreations(&lab.host),
        before + 3,
        "recreated again by the retry"
    );
}
