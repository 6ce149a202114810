//! Probes, docs, metrics, the audit trail, error shapes and secrets at rest.

use reqwest::Method;

use crate::on_both_backends;
use crate::support::{Backend, Body, form};

on_both_backends! {
    async fn health_and_ready_answer(app) {
        assert_eq!(app.get("/health").await.expect(200).json()["status"], "ok");
        assert_eq!(app.get("/ready").await.expect(200).json()["status"], "ready");
    }

    async fn the_openapi_document_describes_every_endpoint(app) {
        let doc = app.get("/openapi.json").await.expect(200).json();
        assert_eq!(doc, serde_json::to_value(alfa_cloud::api::openapi()).unwrap(), "the contract check reads the document the app serves");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/servers", "/servers/", "/servers/{id}", "/clients", "/clients/", "/clients/{id}",
            "/clients/billing_types", "/clients/{id}/expire_date", "/cloud_admin_password",
            "/audit", "/metrics", "/health", "/ready",
        ] {
            assert!(paths.contains_key(path), "{path} missing from /openapi.json");
        }
        assert_eq!(doc["components"]["securitySchemes"]["basic"]["scheme"], "basic");
        let page = app.get("/docs/").await.expect(200);
        assert!(page.text.contains("swagger"), "docs page: {}", &page.text[..200.min(page.text.len())]);
        assert!(!page.text.contains("https://"), "docs assets must be served locally, not from a CDN");
    }

    async fn metrics_count_requests_by_route_and_status(app) {
        app.get("/servers").await.expect(200);
        app.get("/servers/999").await.expect(404);
        let text = app.get("/metrics").await.expect(200).text;
        assert!(text.contains(r#"alfa_http_requests_total{route="/servers",method="GET",status="200"} 1"#), "{text}");
        assert!(text.contains(r#"alfa_http_requests_total{route="/servers/{id}",method="GET",status="404"} 1"#), "{text}");
        assert!(text.contains("alfa_http_request_duration_seconds_bucket"), "{text}");
    }

    async fn every_mutating_request_is_audited_newest_first_without_secrets(app) {
        let server = app.create_server(&[("sql_password", "audited-secret-1")]).await;
        app.post("/clients/", form(&[("name", "bad")])).await.expect(422);
        let trail = app.get("/audit").await.expect(200).json();
        assert_eq!(trail["total"], 2);
        let items = trail["items"].as_array().unwrap();
        assert_eq!(items[0]["path"], "/clients/");
        assert_eq!(items[0]["status"], 422);
        assert_eq!(items[1]["path"], "/servers/");
        assert_eq!(items[1]["status"], 201);
        assert_eq!(items[1]["method"], "POST");
        assert_eq!(items[1]["username"], "admin");
        assert_eq!(items[1]["ip"], "127.0.0.1");
        assert_eq!(items[1]["target_kind"], "server");
        assert_eq!(items[1]["target_id"], server);
        assert_eq!(items[1]["fields"]["sql_password"], "***");
        assert_eq!(items[1]["fields"]["name"], "srv");
        assert_eq!(items[1]["request_id"].as_str().unwrap().len(), 26);
        app.get("/servers").await.expect(200);
        assert_eq!(app.get("/audit").await.json()["total"], 2, "reads are not audited");
        assert_eq!(app.get("/audit?per_page=1&page=2").await.json()["items"][0]["path"], "/servers/");
    }

    async fn every_error_is_json_with_a_code_and_a_message(app) {
        let reply = app.get("/no/such/thing").await.expect(404);
        assert_eq!(reply.json()["error"], "not_found");
        let reply = app.call(Method::PATCH, "/servers", Body::None).await.expect(405);
        assert_eq!(reply.json()["error"], "method_not_allowed");
        let reply = app.call(Method::POST, "/servers/", Body::Json(serde_json::json!([1, 2]))).await.expect(400);
        assert!(reply.json()["message"].as_str().unwrap().contains("object"));
        let raw = reqwest::Client::new()
            .post(format!("{}/servers/", app.base))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 400);
        let body: serde_json::Value = raw.json().await.unwrap();
        assert_eq!(body["error"], "bad_request");
        let raw = reqwest::Client::new()
            .post(format!("{}/servers/", app.base))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
            .header("content-type", "text/csv")
            .body("a,b")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 400);
        assert!(raw.headers().contains_key("x-request-id"));
    }

    async fn a_body_over_the_limit_is_413_in_the_json_error_shape(app) {
        let big = "x".repeat(2 * 1024 * 1024 + 1024);
        let reply = app.post("/servers/", form(&[("name", big.as_str())])).await.expect(413);
        assert_eq!(reply.json()["error"], "payload_too_large");
        assert!(reply.json()["message"].as_str().unwrap().contains("2097152"), "{}", reply.text);
    }

    async fn a_path_segment_that_is_not_utf8_is_a_json_400(app) {
        for path in ["/servers/check_host/%FF", "/servers/%FF", "/clients/%C3%28/createlog"] {
            let reply = app.get(path).await.expect(400);
            assert_eq!(reply.json()["error"], "bad_request", "{path}");
            assert!(reply.headers["content-type"].to_str().unwrap().starts_with("application/json"), "{path}");
        }
    }

    async fn an_overlong_uri_is_a_json_414(app) {
        let path = format!("/servers?all={}", "1".repeat(20_000));
        let reply = app.get(&path).await.expect(414);
        assert_eq!(reply.json()["error"], "uri_too_long");
        assert_eq!(reply.json()["fields"], serde_json::json!({}));
    }

    async fn secrets_are_encrypted_at_rest(app) {
        let server = app.create_server(&[("sql_password", "plain-sql-needle")]).await;
        app.create_client(server, &[("password", "plain-lab-needle")]).await;
        let dump = match app.backend {
            Backend::Sqlite => {
                let path = app.data_dir.join("alfa-cloud.db");
                let mut text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                let wal = path.with_extension("db-wal");
                if let Ok(bytes) = std::fs::read(wal) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
                text
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
                let rows: Vec<(Option<String>,)> = sqlx::query_as("SELECT sql_password_enc FROM servers UNION ALL SELECT password_enc FROM clients")
                    .fetch_all(&pool).await.unwrap();
                pool.close().await;
                format!("{rows:?}")
            }
        };
        assert!(dump.contains("v1:"), "sealed values are stored");
        assert!(!dump.contains("plain-sql-needle"));
        assert!(!dump.contains("plain-lab-needle"));
    }

    async fn the_data_survives_a_restart_on_the_same_database(app) {
        app.create_server(&[("name", "persisted")]).await;
        let again = crate::support::TestApp::build(&app.database_url, &app.data_dir, &app.secret_key, &[]).await;
        assert!(again.generated_admin_password.is_none(), "the admin is created once");
        let base = format!("http://{}", again.local_addr());
        tokio::spawn(again.run_until(std::future::pending()));
        let servers: serde_json::Value = reqwest::Client::new()
            .get(format!("{base}/servers"))
            .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(servers[0]["name"], "persisted");
    }
}

#[tokio::test]
async fn a_first_start_creates_the_sqlite_file_its_folder_and_a_generated_admin_password() {
    let root = std::env::temp_dir().join(format!("alfa-first-{}", ulid::Ulid::generate()));
    let data = root.join("deep/data");
    let settings = alfa_cloud::config::Settings::from_vars([
        ("ALFA_DATA_DIR".to_owned(), data.display().to_string()),
        ("ALFA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
    ])
    .unwrap();
    let app = alfa_cloud::startup::Application::build(settings)
        .await
        .unwrap();
    assert!(data.join("alfa-cloud.db").exists());
    let key = data.join("secret.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let password = app
        .generated_admin_password
        .clone()
        .expect("a generated password");
    assert!(password.len() >= 16);
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let status = reqwest::Client::new()
        .get(format!("{base}/servers"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    std::fs::remove_dir_all(root).unwrap();
}
