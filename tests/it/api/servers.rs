//! `/servers`.

use reqwest::Method;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{Body, form, multipart};

on_both_backends! {
    async fn a_server_created_from_a_form_gets_its_defaults_and_hides_its_password(app) {
        app.secret("form-sql-secret");
        let reply = app
            .post("/servers/", form(&[
                ("name", "Moscow 1"), ("host", "10.0.0.5"), ("domain", "lims.example.com"),
                ("sql_user", "alfa"), ("sql_password", "form-sql-secret"),
            ]))
            .await
            .expect(201);
        let server = reply.json();
        assert_eq!(server["name"], "Moscow 1");
        assert_eq!(server["ssh_port"], 22);
        assert_eq!(server["ssh_user"], "www-data");
        assert_eq!(server["base_dir"], "/srv");
        assert_eq!(server["environment"], "production");
        assert_eq!(server["sql_kind"], "mariadb");
        assert_eq!(server["sql_port"], 3306);
        assert_eq!(server["acme_directory"], "");
        assert_eq!(server["active"], true);
        assert_eq!(server["sql_password_set"], true);
        assert!(server.get("sql_password").is_none());
        let id = server["id"].as_i64().unwrap();
        let fetched = app.get(&format!("/servers/{id}")).await.expect(200).json();
        assert_eq!(fetched, server);
    }

    async fn a_server_can_be_created_from_json_and_multipart_alike(app) {
        app.secret("json-sql-secret");
        app.secret("multi-sql-secret");
        let json = app
            .post("/servers", Body::Json(json!({
                "name": "pg", "host": "db.internal", "domain": "pg.example.com",
                "sql_user": "alfa", "sql_password": "json-sql-secret",
                "sql_kind": "postgres", "ssh_port": 2222, "environment": "stage", "active": true,
            })))
            .await
            .expect(201)
            .json();
        assert_eq!(json["sql_port"], 5432);
        assert_eq!(json["ssh_port"], 2222);
        assert_eq!(json["environment"], "stage");
        let multi = app
            .post("/servers/", multipart(&[
                ("name", "mp"), ("host", "10.0.0.9"), ("domain", "mp.example.com"),
                ("sql_user", "alfa"), ("sql_password", "multi-sql-secret"), ("base_dir", "/data/alfa/"),
            ]))
            .await
            .expect(201)
            .json();
        assert_eq!(multi["base_dir"], "/data/alfa");
    }

    async fn an_update_keeps_absent_fields_and_the_stored_password(app) {
        let id = app.create_server(&[("name", "old"), ("ssh_port", "2200")]).await;
        let reply = app
            .post("/servers/", form(&[("id", &id.to_string()), ("name", "new"), ("sql_password", "")]))
            .await
            .expect(200)
            .json();
        assert_eq!(reply["name"], "new");
        assert_eq!(reply["ssh_port"], 2200);
        assert_eq!(reply["domain"], "lab.test");
        assert_eq!(reply["sql_password_set"], true);
    }

    async fn updating_a_missing_server_is_404(app) {
        let reply = app.post("/servers/", form(&[("id", "999"), ("name", "x")])).await.expect(404);
        assert_eq!(reply.json()["error"], "not_found");
    }

    async fn each_server_field_is_validated_by_name(app) {
        let reply = app.post("/servers/", form(&[])).await.expect(422);
        for field in ["name", "host", "domain", "sql_user", "sql_password"] {
            assert_eq!(reply.field_problems(field), ["is required"], "{field}");
        }
        let bad: &[(&str, &str)] = &[
            ("host", "bad host!"),
            ("domain", "nodots"),
            ("ssh_port", "70000"),
            ("ssh_user", "Root User"),
            ("base_dir", "relative/path"),
            ("environment", "qa"),
            ("sql_kind", "oracle"),
            ("sql_port", "port"),
            ("sql_user", "bad user;"),
            ("acme_directory", "ftp://x"),
            ("active", "maybe"),
            ("name", &"n".repeat(101)),
        ];
        for (field, value) in bad {
            let mut fields = vec![("name", "x"), ("host", "10.0.0.1"), ("domain", "a.example.com"), ("sql_user", "u"), ("sql_password", "p-0000000001")];
            fields.retain(|(k, _)| k != field);
            fields.push((field, value));
            app.secret("p-0000000001");
            let reply = app.post("/servers/", form(&fields)).await.expect(422);
            assert!(!reply.field_problems(field).is_empty(), "{field}={value}");
            assert_eq!(reply.json()["fields"].as_object().unwrap().len(), 1, "only {field} is wrong: {}", reply.text);
        }
    }

    async fn server_names_are_unique(app) {
        app.create_server(&[("name", "twin")]).await;
        let reply = app
            .post("/servers/", form(&[("name", "twin"), ("host", "10.0.0.2"), ("domain", "b.example.com"), ("sql_user", "u"), ("sql_password", "p-0000000002")]))
            .await
            .expect(422);
        assert!(reply.field_problems("name")[0].contains("already used"));
    }

    async fn inactive_servers_are_listed_only_with_all(app) {
        let on = app.create_server(&[("name", "on")]).await;
        let off = app.create_server(&[("name", "off"), ("active", "0")]).await;
        let ids = |v: serde_json::Value| -> Vec<i64> { v.as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect() };
        assert_eq!(ids(app.get("/servers").await.expect(200).json()), [on]);
        assert_eq!(ids(app.get("/servers?all=1").await.expect(200).json()), [on, off]);
        app.get("/servers?all=perhaps").await.expect(422);
    }

    async fn a_server_with_clients_cannot_be_deleted(app) {
        let busy = app.create_server(&[("name", "busy")]).await;
        let idle = app.create_server(&[("name", "idle"), ("domain", "idle.test")]).await;
        app.create_client(busy, &[]).await;
        let reply = app.call(Method::DELETE, &format!("/servers/{busy}"), Body::None).await.expect(409);
        assert!(reply.json()["message"].as_str().unwrap().contains("1 client"));
        app.call(Method::DELETE, &format!("/servers/{idle}"), Body::None).await.expect(204);
        app.get(&format!("/servers/{idle}")).await.expect(404);
        app.call(Method::DELETE, &format!("/servers/{idle}"), Body::None).await.expect(404);
    }

    async fn bad_ids_in_the_path_are_json_errors(app) {
        let reply = app.get("/servers/abc").await.expect(400);
        assert_eq!(reply.json()["error"], "bad_request");
        app.get("/servers/0").await.expect(400);
        app.get("/servers/42").await.expect(404);
    }

    async fn a_short_sql_password_is_refused_and_the_message_says_why(app) {
        for short in ["x", "1234567"] {
            let reply = app
                .post("/servers/", form(&[("name", "s"), ("host", "10.0.0.1"), ("domain", "a.example.com"), ("sql_user", "u"), ("sql_password", short)]))
                .await
                .expect(422);
            let problems = reply.field_problems("sql_password");
            assert!(problems[0].contains("at least 8") && problems[0].contains("mask"), "{problems:?}");
        }
        app.secret("12345678");
        app.post("/servers/", form(&[("name", "s"), ("host", "10.0.0.1"), ("domain", "a.example.com"), ("sql_user", "u"), ("sql_password", "12345678")]))
            .await
            .expect(201);
    }
}
