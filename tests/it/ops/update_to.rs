//! `GET /clients/{subdomain}/update_to/{version}`: the lab's own switch, authorised by the
//! lab's token (or the API's Basic Auth), checked where a user would see it.

use reqwest::Method;

use super::lifecycle::{Lab, active_lab, env_file, env_value, lab_on_server};
use super::switch::{remove, running_image, serves, version_tag};
use super::*;
use crate::support::{Body, Reply};

/// `update_to` as the lab's LIMS calls it, with the token of its `.env`.
async fn update_to(app: &TestApp, lab: &Lab, version: &str, token: Option<&str>) -> Reply {
    let path = format!("/clients/{}/update_to/{version}", lab.subdomain);
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("authorization", b)])
        .unwrap_or_default();
    app.send_with(Method::GET, &path, Body::None, None, &headers)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn update_to_switches_only_the_lab_whose_token_it_carries() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            redis: false,
            worker: true,
            env: fast_env()
                .into_iter()
                .chain([("ALFA_UPDATE_TO_INTERVAL".to_owned(), "1h".to_owned())])
                .collect(),
            kinds: None,
        },
    )
    .await;
    let lab = active_lab(&app, 8, "mariadb").await;
    let other = lab_on_server(&app, lab.server, &lab.host, "mariadb").await;
    let token = env_value(&env_file(&lab.host, &lab.subdomain), "ALFA_CLOUD_TOKEN");
    let other_token = env_value(&env_file(&other.host, &other.subdomain), "ALFA_CLOUD_TOKEN");
    app.secret(&token);
    app.secret(&other_token);

    let none = update_to(&app, &lab, "1.1-dev", None).await.expect(401);
    let challenges: Vec<&str> = none
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer"))
            && challenges.iter().any(|c| c.starts_with("Basic")),
        "{challenges:?}"
    );
    update_to(&app, &lab, "1.1-dev", Some(&other_token))
        .await
        .expect(403);
    update_to(&app, &lab, "1.1-dev", Some("not-a-token"))
        .await
        .expect(403);
    // Nothing was started by the refused calls.
    assert_eq!(version_tag(&app, &lab).await, "1.0-master");

    let reply = update_to(&app, &lab, "1.1-dev", Some(&token))
        .await
        .expect(202)
        .json();
    let op = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
    assert_eq!(done["requested_by"], format!("lab:{}", lab.subdomain));
    assert_eq!(done["client_id"], lab.id, "the token's own lab");
    assert_eq!(running_image(&lab), "alfa-lims:1.1-dev");
    serves(&lab, "alfa-lims:1.1-dev").await;
    assert_eq!(version_tag(&app, &lab).await, "1.1-dev");
    assert_eq!(version_tag(&app, &other).await, "1.0-master");
    let audit = app.get("/audit?per_page=200").await.expect(200).json();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["username"] == format!("lab:{}", lab.subdomain)
                && e["status"] == 202
                && e["target_id"] == op),
        "the audit trail names the lab: {audit:#}"
    );

    // Within the interval, the lab is told when to come back.
    let again = update_to(&app, &lab, "1.0-master", Some(&token))
        .await
        .expect(429);
    let retry: u64 = again.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");

    // The admin is not limited, and names the lab by its subdomain.
    let op = start(
        &app,
        &format!("/clients/{}/update_to/1.0-master", lab.subdomain),
    )
    .await;
    assert_eq!(
        wait_op(&app, op, Duration::from_secs(120)).await["status"],
        "ok"
    );
    assert_eq!(version_tag(&app, &lab).await, "1.0-master");

    // A subdomain that names clients under two domains: the admin must say which (by id).
    let second = super::lifecycle::lifecycle_server(&app, &lab.host, "mariadb").await;
    let fields = super::lifecycle::lab_fields(second, &lab.subdomain);
    let (twin, creation) = super::lifecycle::post_lab(&app, &fields).await;
    let conflict = app
        .get(&format!("/clients/{}/update_to/1.1-dev", lab.subdomain))
        .await
        .expect(409)
        .json();
    let message = conflict["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("id {}", lab.id)) && message.contains(&format!("id {twin}")),
        "{message}"
    );
    // (its creation fails at the preflight: the subdomain is in use on that host)
    wait_op(&app, creation, Duration::from_secs(60)).await;
    remove(&app, &lab).await;
    remove(&app, &other).await;

    // Guessing tokens is guessing passwords: the address is locked out, even for the right one.
    for _ in 0..10 {
        update_to(&app, &other, "1.1-dev", Some("guess"))
            .await
            .expect(403);
    }
    update_to(&app, &other, "1.1-dev", Some(&other_token))
        .await
        .expect(429);
}
