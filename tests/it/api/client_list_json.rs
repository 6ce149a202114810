//! `GET /clients` builds its pages in SQL: every listed client must be byte for byte the
//! client `GET /clients/{id}` serves (serde), with the probe results joined, cache on or off.

use alfa_cloud::store::clients;
use alfa_cloud::store::probes::{self, Outcome};

use crate::on_both_backends;
use crate::support::{Options, TestApp};

/// Two clients with characters JSON must escape, one of them probed.
async fn seed(app: &TestApp) -> Vec<i64> {
    let server = app.create_server(&[("domain", "lims.example.com")]).await;
    let a = app
        .create_client(
            server,
            &[
                ("subdomain", "quotes"),
                ("name", r#"Лаборатория "Кавычки" \ slash/ 🧪"#),
                ("config", "line one\nline two"),
                ("allowed_ips", r#"["10.0.0.0/8","203.0.113.7"]"#),
                ("license_expires_at", "2027-12-31 10:30:00"),
            ],
        )
        .await;
    let b = app
        .create_client(server, &[("subdomain", "plain"), ("name", "Plain")])
        .await;
    let outcome = Outcome {
        client_id: a,
        available: true,
        maintenance: Some(false),
        running_version: Some("1.3-master".into()),
        users_count: Some(12),
        error: String::new(),
    };
    probes::record(&app.engine.db, &[outcome], chrono::Utc::now())
        .await
        .unwrap();
    vec![a, b]
}

/// Every listed client is the same text as its own GET.
async fn listed_as_served(app: &TestApp, ids: &[i64]) {
    for sort in ["id", "name", "created_at"] {
        let page = app
            .get(&format!("/clients?sort={sort}&order=desc"))
            .await
            .expect(200);
        for id in ids {
            let one = app.get(&format!("/clients/{id}")).await.expect(200);
            assert!(
                page.text.contains(&one.text),
                "client {id} is listed differently from GET /clients/{id} (sort {sort}):\nlist: {}\none:  {}",
                page.text,
                one.text
            );
        }
    }
}

on_both_backends! {
    async fn a_listed_client_is_the_client_itself_byte_for_byte(app) {
        let ids = seed(&app).await;
        listed_as_served(&app, &ids).await;
        let uncached = TestApp::spawn_with(app.backend, Options {
            env: vec![("ALFA_PAGE_CACHE_MB".into(), "0".into())],
            ..Options::default()
        })
        .await;
        let ids = seed(&uncached).await;
        listed_as_served(&uncached, &ids).await;
        let listed = uncached.get("/clients").await.expect(200).json();
        assert_eq!(listed["items"][0]["available"], true);
        assert_eq!(listed["items"][0]["users_count"], 12);
        assert_eq!(listed["items"][0]["running_version"], "1.3-master");
        assert_eq!(listed["items"][1]["available"], serde_json::Value::Null);
    }

    async fn a_cached_page_shows_fresh_probe_results_without_being_invalidated(app) {
        let ids = seed(&app).await;
        let first = app.get("/clients").await.expect(200).json();
        assert_eq!(first["items"][0]["available"], true);
        let (clients_before, probes_before) = clients::data_versions(&app.engine.db).await.unwrap();
        let down = Outcome {
            client_id: ids[0],
            available: false,
            maintenance: Some(true),
            running_version: None,
            users_count: None,
            error: "https://quotes.lims.example.com:443/up answered HTTP 502".into(),
        };
        probes::record(&app.engine.db, &[down], chrono::Utc::now()).await.unwrap();
        let (clients_after, probes_after) = clients::data_versions(&app.engine.db).await.unwrap();
        assert_eq!(clients_after, clients_before, "a probe write must not touch the clients' data version");
        assert!(probes_after > probes_before, "a probe write bumps the probe results' version");
        let second = app.get("/clients").await.expect(200).json();
        assert_eq!(second["items"][0]["available"], false, "{second}");
        assert_eq!(second["items"][0]["maintenance"], true);
        assert_eq!(second["items"][0]["probe_error"], "https://quotes.lims.example.com:443/up answered HTTP 502");
        assert_eq!(second["items"][1], first["items"][1], "the unprobed client is as cached");
        listed_as_served(&app, &ids).await;
    }
}
