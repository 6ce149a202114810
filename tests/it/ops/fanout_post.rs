//! The fan-outs (migrate_all, switch_all) answer POST as well as GET, with their settings in
//! the query, as form-data or as JSON (a body field over the query's), and a bad value is a
//! 422 naming the field.

use std::time::Duration;

use serde_json::json;

use super::*;

/// A server without clients on h21 (the prune tests' host; these fan-outs run nothing there).
const HOST: usize = 11;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fan_outs_answer_post_with_their_settings_in_the_query_a_form_or_json() {
    let app = ops_app(Backend::Sqlite, false).await;
    let host = testbed::get().host(HOST);
    // A server without clients: the fan-outs end ok at once, with the settings they were given.
    let server = register(&app, host).await;
    let params = |op: i64| {
        let app = &app;
        async move {
            let done = wait_op(app, op, Duration::from_secs(60)).await;
            assert_eq!(done["status"], "ok", "{done}");
            assert_eq!(done["result"]["counts"]["total"], 0, "{done}");
            done["params"].clone()
        }
    };

    let reply = app
        .post(
            &format!("/server/{server}/migrate_all?parallel=3"),
            form(&[("parallel", "")]),
        )
        .await
        .expect(202)
        .json();
    let got = params(reply["operation_id"].as_i64().unwrap()).await;
    assert_eq!(
        got["parallel"], 3,
        "the query's, an empty field is absent: {got}"
    );

    let reply = app
        .post(
            &format!("/servers/{server}/migrate_all?parallel=3"),
            form(&[("parallel", "2"), ("canary", "1")]),
        )
        .await
        .expect(202)
        .json();
    let got = params(reply["operation_id"].as_i64().unwrap()).await;
    assert_eq!(
        (&got["parallel"], &got["canary"]),
        (&json!(2), &json!(true)),
        "the form's value wins: {got}"
    );

    let reply = app
        .post(
            &format!("/server/{server}/switch_all/1.1-dev"),
            support::Body::Json(json!({"parallel": 5, "stop_on_error": true})),
        )
        .await
        .expect(202)
        .json();
    let got = params(reply["operation_id"].as_i64().unwrap()).await;
    assert_eq!(
        (&got["parallel"], &got["stop_on_error"], &got["version"]),
        (&json!(5), &json!(true), &json!("1.1-dev")),
        "{got}"
    );

    let reply = app
        .post(
            &format!("/servers/{server}/switch_all/1.1-dev"),
            support::Body::Json(json!({"canary": "perhaps"})),
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("canary").is_empty());
    let reply = app
        .post(
            &format!("/server/{server}/migrate_all?parallel=0"),
            support::Body::None,
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("parallel").is_empty());
    let reply = app
        .post(
            &format!("/server/{server}/migrate_all"),
            form(&[("parallel", "65")]),
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("parallel").is_empty());
}
