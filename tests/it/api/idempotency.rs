//! `Idempotency-Key`: a retried POST gets the first answer; the key with another request is
//! refused.

use reqwest::Method;

use crate::on_both_backends;
use crate::support::form;

fn server_form(name: &str) -> crate::support::Body {
    form(&[
        ("name", name),
        ("host", "10.0.0.7"),
        ("domain", "idem.example.com"),
        ("sql_user", "alfa"),
        ("sql_password", "idem-sql-pass"),
    ])
}

on_both_backends! {
    async fn a_retried_post_with_the_same_key_replays_the_first_answer(app) {
        app.secret("idem-sql-pass");
        let key = [("Idempotency-Key", "create-srv-1")];
        let first = app.call_with(Method::POST, "/servers/", server_form("idem"), &key).await.expect(201);
        let again = app.call_with(Method::POST, "/servers/", server_form("idem"), &key).await.expect(201);
        assert_eq!(again.headers["idempotency-replayed"], "true");
        assert_eq!(first.json()["id"], again.json()["id"]);
        assert_eq!(app.get("/servers").await.json().as_array().unwrap().len(), 1);
    }

    async fn the_same_key_with_another_body_is_refused_naming_the_key(app) {
        app.secret("idem-sql-pass");
        let key = [("Idempotency-Key", "create-srv-2")];
        app.call_with(Method::POST, "/servers/", server_form("first"), &key).await.expect(201);
        let reply = app.call_with(Method::POST, "/servers/", server_form("second"), &key).await.expect(422);
        let problems = reply.field_problems("Idempotency-Key");
        assert!(problems[0].contains("different request"), "{problems:?}");
        assert!(reply.headers.get("idempotency-replayed").is_none());
        let names: Vec<String> = app.get("/servers").await.json().as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["first"]);
    }
}
