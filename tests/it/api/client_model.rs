//! What a client gets at creation for its lifecycle: a port of its server's range, sealed
//! secrets, a required e-mail, `keep_on_error`; and a deleted client's name is free again.

use alfa_cloud::crypto::{Cipher, purpose};
use alfa_cloud::store::clients;
use futures::StreamExt as _;
use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::json;

use super::server_settings::db;
use crate::on_both_backends;
use crate::support::{Body, form};

fn alphanumeric(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

on_both_backends! {
    async fn sixteen_concurrent_creations_on_one_server_get_sixteen_distinct_ports(app) {
        let server = app.create_server(&[("client_ports", "21000-21999")]).await.to_string();
        let replies: Vec<_> = futures::stream::iter(0..16)
            .map(|i| {
                let (app, server) = (&app, &server);
                async move {
                    let sub = format!("lab{i}");
                    app.post("/clients/", form(&[
                        ("server_id", server), ("name", "Lab"), ("admin_login", "adm"), ("subdomain", &sub),
                        ("version_tag", "1.0-master"), ("email", "adm@lab.example"),
                    ])).await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut ports = Vec::new();
        for reply in replies {
            let id = reply.expect(202).json()["id"].as_i64().unwrap();
            ports.push(app.get(&format!("/clients/{id}")).await.json()["client_port"].as_i64().unwrap());
        }
        ports.sort_unstable();
        assert_eq!(ports, (21000..21016).collect::<Vec<i64>>(), "the lowest free ports, each once");
    }

    async fn a_server_with_every_client_port_taken_refuses_a_new_client_with_409(app) {
        let server = app.create_server(&[("name", "small"), ("client_ports", "30000-30001")]).await;
        let first = app.create_client(server, &[("subdomain", "one")]).await;
        app.create_client(server, &[("subdomain", "two")]).await;
        let fields = [("server_id", server.to_string()), ("name", "Lab".into()), ("admin_login", "adm".into()), ("subdomain", "three".into()), ("version_tag", "1.0-master".into()), ("email", "adm@lab.example".into())];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = app.post("/clients/", form(&fields)).await.expect(409);
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("server small") && message.contains("30000-30001"), "{message}");
        assert_eq!(app.get(&format!("/clients?server_id={server}")).await.json()["total"], 2, "nothing was registered");
        // A deleted client's port is free again.
        clients::mark_deleted(&db(&app).await, first).await.unwrap();
        let third = app.post("/clients/", form(&fields)).await.expect(202).json()["id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/clients/{third}")).await.json()["client_port"], 30000);
        assert_eq!(app.get(&format!("/clients/{first}")).await.json()["client_port"], serde_json::Value::Null);
    }

    async fn a_new_clients_generated_secrets_are_sealed_and_never_returned(app) {
        let server = app.create_server(&[]).await;
        let id = app.create_client(server, &[]).await;
        let shown = app.get(&format!("/clients/{id}")).await.expect(200).json();
        for flag in ["password_set", "app_key_set", "db_password_set", "cloud_token_set"] {
            assert_eq!(shown[flag], true, "{flag}: {shown}");
        }
        // The sealed values open with the master key for their own column only, have the
        // promised shapes, and from now on the support layer fails any response carrying one.
        let row = clients::get(&db(&app).await, id).await.unwrap().unwrap();
        let cipher = Cipher::from_encoded(&app.secret_key).unwrap();
        let open = |purpose: &str, sealed: &Option<String>| cipher.open(purpose, sealed.as_deref().unwrap()).unwrap().expose_secret().to_owned();
        let password = open(purpose::CLIENT_ADMIN_PASSWORD, &row.password_enc);
        let app_key = open(purpose::CLIENT_APP_KEY, &row.app_key_enc);
        let db_password = open(purpose::CLIENT_DB_PASSWORD, &row.db_password_enc);
        let token = open(purpose::CLIENT_CLOUD_TOKEN, &row.cloud_token_enc);
        assert!(alphanumeric(&password, 16), "generated lab password {password:?}");
        assert!(alphanumeric(&db_password, 32));
        assert!(alphanumeric(&token, 40));
        let key = app_key.strip_prefix("base64:").expect("a Laravel key");
        use base64::Engine as _;
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(key).unwrap().len(), 32);
        assert!(cipher.open(purpose::CLIENT_APP_KEY, row.cloud_token_enc.as_deref().unwrap()).is_err());
        for secret in [&password, &app_key, key, &db_password, &token] {
            app.secret(secret);
        }
        let other = app.create_client(server, &[("subdomain", "other")]).await;
        let other = clients::get(&db(&app).await, other).await.unwrap().unwrap();
        assert_ne!(open(purpose::CLIENT_CLOUD_TOKEN, &other.cloud_token_enc), token, "fresh per client");
        app.get(&format!("/clients/{id}")).await.expect(200);
        app.get("/clients").await.expect(200);
        app.get(&format!("/clients/{id}/createlog")).await.expect(200);
        app.get(&format!("/operations?client_id={id}")).await.expect(200);
        app.call(Method::PUT, &format!("/clients/{id}"), form(&[("city", "Kazan")])).await.expect(200);
        app.get("/audit").await.expect(200);
    }

    async fn email_is_required_at_creation_but_not_on_update(app) {
        let server = app.create_server(&[]).await.to_string();
        let fields = [("server_id", server.as_str()), ("name", "Lab"), ("admin_login", "adm"), ("subdomain", "mail"), ("version_tag", "1.0-master")];
        let reply = app.post("/clients/", form(&fields)).await.expect(422);
        assert_eq!(reply.field_problems("email"), ["is required"]);
        assert_eq!(reply.json()["fields"].as_object().unwrap().len(), 1, "{}", reply.text);
        let id = app.create_client(server.parse().unwrap(), &[]).await;
        let updated = app.call(Method::PUT, &format!("/clients/{id}"), form(&[("city", "Omsk")])).await.expect(200).json();
        assert_eq!(updated["email"], "ivan@lab.example");
    }

    async fn a_deleted_clients_subdomain_can_be_given_to_a_new_client(app) {
        let server = app.create_server(&[("domain", "reuse.test")]).await;
        let old = app.create_client(server, &[("subdomain", "central")]).await;
        let fields = [("server_id", server.to_string()), ("name", "Lab".into()), ("admin_login", "adm".into()), ("subdomain", "central".into()), ("version_tag", "1.0-master".into()), ("email", "adm@lab.example".into())];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = app.post("/clients/", form(&fields)).await.expect(422);
        assert!(reply.field_problems("subdomain")[0].contains("already used"));
        clients::mark_deleted(&db(&app).await, old).await.unwrap();
        assert_eq!(app.get(&format!("/clients/{old}")).await.json()["state"], "deleted");
        let new = app.post("/clients/", form(&fields)).await.expect(202).json()["id"].as_i64().unwrap();
        let shown = app.get(&format!("/clients/{new}")).await.json();
        assert_eq!(shown["url"], "https://central.reuse.test");
        assert_eq!(shown["client_port"], 20000, "the deleted client's port too");
        // Still one live client per name.
        let reply = app.post("/clients/", form(&fields)).await.expect(422);
        assert!(!reply.field_problems("subdomain").is_empty());
    }

    async fn keep_on_error_is_stored_and_shown_and_defaults_to_false(app) {
        let server = app.create_server(&[]).await;
        let plain = app.create_client(server, &[("subdomain", "plain")]).await;
        assert_eq!(app.get(&format!("/clients/{plain}")).await.json()["keep_on_error"], false);
        for (i, value) in ["1", "true"].into_iter().enumerate() {
            let sub = format!("kept{i}");
            let id = app.create_client(server, &[("subdomain", &sub), ("keep_on_error", value)]).await;
            assert_eq!(app.get(&format!("/clients/{id}")).await.json()["keep_on_error"], true, "{value}");
            let row = clients::get(&db(&app).await, id).await.unwrap().unwrap();
            assert!(row.keep_on_error);
        }
        let json = app
            .post("/clients/", Body::Json(json!({
                "server_id": server, "name": "J", "admin_login": "j", "subdomain": "json",
                "version_tag": "1.0-master", "email": "j@lab.example", "keep_on_error": false,
            })))
            .await
            .expect(202)
            .json()["id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/clients/{json}")).await.json()["keep_on_error"], false);
        let server = server.to_string();
        let reply = app
            .post("/clients/", form(&[("server_id", &server), ("name", "L"), ("admin_login", "l"), ("subdomain", "bad"), ("version_tag", "1.0-master"), ("email", "l@lab.example"), ("keep_on_error", "maybe")]))
            .await
            .expect(422);
        assert!(!reply.field_problems("keep_on_error").is_empty());
    }
}
