//! Fan-outs over a server's clients (migrate_all, switch_all): a parent operation holding the
//! server lock, children at most `parallel` at a time, a failed client rolled back while the
//! others move on, retry_failed for only the failed ones, canary stopping the rest.

use std::time::Duration;

use serde_json::json;

use super::lifecycle::*;
use super::*;

async fn version_of(app: &TestApp, lab: &Lab) -> String {
    app.get(&format!("/clients/{}", lab.id))
        .await
        .expect(200)
        .json()["version_tag"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn ended(app: &TestApp, op: i64) -> (Value, Vec<String>) {
    let done = wait_op(app, op, Duration::from_secs(240)).await;
    (done, log_text(app, op).await)
}

/// A migrate of `lab` that fails (after changing its database) once.
fn failing_migrate(lab: &Lab) -> Value {
    json!({
        "match": "exec app php artisan migrate",
        "regex": format!("alfa_{}( |$)", lab.subdomain),
        "after": true,
        "exit": 1,
        "stderr": "SQLSTATE[42S01]: this lab's migration broke",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fan_outs_run_every_client_roll_back_the_failed_one_retry_it_and_stop_after_a_failed_canary()
 {
    let app = ops_app(Backend::Postgres, true).await;
    // Not hosts 5-8: the fault tests rotate their host keys and freeze them.
    let host = testbed::get().host(3);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let (a, b, c) = tokio::join!(
        lab_on_server(&app, server, host, "mariadb"),
        lab_on_server(&app, server, host, "mariadb"),
        lab_on_server(&app, server, host, "mariadb"),
    );
    let mut labs = [a, b, c];
    labs.sort_by_key(|l| l.id);
    let [a, b, c] = labs;

    // migrate_all, two at a time: every lab migrated, one child each; a client operation asked
    // meanwhile waits for the server-wide parent.
    let parent = start(&app, &format!("/server/{server}/migrate_all?parallel=2")).await;
    let reboot = start(&app, &format!("/clients/{}/reboot", a.id)).await;
    let (done, log) = ended(&app, parent).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["result"]["counts"]["ok"], 3, "{done}");
    assert_eq!(done["children"]["ok"], 3, "{done}");
    for lab in [&a, &b, &c] {
        assert!(
            !lab.host
                .calls_matching(&format!(
                    "alfa_{} exec app php artisan migrate",
                    lab.subdomain
                ))
                .is_empty(),
            "{} migrated",
            lab.subdomain
        );
    }
    let reboot = wait_op(&app, reboot, Duration::from_secs(60)).await;
    assert_eq!(reboot["status"], "ok");
    let waited = log_text(&app, reboot["id"].as_i64().unwrap()).await;
    assert!(
        reboot["started_at"].as_str() >= done["finished_at"].as_str(),
        "the client's reboot ran after the server-wide migrate_all: {reboot} {done} {waited:?}"
    );

    // Two fan-outs on one server run one after the other.
    let first = start(&app, &format!("/server/{server}/migrate_all")).await;
    let second = start(&app, &format!("/servers/{server}/migrate_all")).await;
    let (first, _) = ended(&app, first).await;
    let (second, log) = ended(&app, second).await;
    assert_eq!(second["status"], "ok", "{log:#?}");
    assert!(
        second["started_at"].as_str() >= first["finished_at"].as_str(),
        "the second migrate_all waited for the first: {first} {second}"
    );

    // switch_all with b's migrate failing: b is rolled back, a and c move on.
    let rule = failing_migrate(&b);
    host.add_faults("fail", rule.clone());
    let parent = start(&app, &format!("/servers/{server}/switch_all/1.1-dev")).await;
    let (done, log) = ended(&app, parent).await;
    host.remove_faults("fail", &rule);
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("1 of 3 failed: {}", b.subdomain))
            && error.contains("retry_failed"),
        "{error}"
    );
    // A fan-out that failed keeps its result: counts and each child's end.
    assert_eq!(done["result"]["counts"]["error"], 1, "{done}");
    assert_eq!(done["result"]["counts"]["ok"], 2, "{done}");
    let failed: Vec<&Value> = done["result"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .collect();
    assert_eq!(failed.len(), 1, "{done}");
    assert_eq!(failed[0]["name"], b.subdomain.as_str(), "{done}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("rolled back to 1.0-master"),
        "{done}"
    );
    assert_eq!(
        (
            version_of(&app, &a).await,
            version_of(&app, &b).await,
            version_of(&app, &c).await
        ),
        ("1.1-dev".into(), "1.0-master".into(), "1.1-dev".into())
    );

    // retry_failed: only b, now that its migrate works.
    let reply = app
        .post(
            &format!("/operations/{parent}/retry_failed"),
            support::Body::None,
        )
        .await
        .expect(202)
        .json();
    let retry = reply["operation_id"].as_i64().unwrap();
    let (done, log) = ended(&app, retry).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(
        done["result"]["counts"]["total"], 1,
        "only the failed client: {done}"
    );
    assert_eq!(version_of(&app, &b).await, "1.1-dev");
    app.post(
        &format!("/operations/{retry}/retry_failed"),
        support::Body::None,
    )
    .await
    .expect(409);

    // A canary that fails stops the rest.
    let rule = failing_migrate(&a);
    host.add_faults("fail", rule.clone());
    let parent = start(
        &app,
        &format!("/server/{server}/switch_all/1.0-master?canary=1"),
    )
    .await;
    let (done, log) = ended(&app, parent).await;
    host.remove_faults("fail", &rule);
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("2 not started because the canary"),
        "{error}"
    );
    assert_eq!(done["children"]["error"], 1, "{done}");
    for lab in [&a, &b, &c] {
        assert_eq!(
            version_of(&app, lab).await,
            "1.1-dev",
            "{} unchanged",
            lab.subdomain
        );
    }
    app.get(&format!("/server/{server}/migrate_all?parallel=0"))
        .await
        .expect(422);
    app.get(&format!("/server/{server}/switch_all/not a tag"))
        .await
        .expect(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fan_out_whose_worker_was_lost_adopts_the_children_it_had_started() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            worker: false,
            env: fast_env(),
            ..Options::default()
        },
    )
    .await;
    let host = testbed::get().host(4);
    let mut first = super::faults::spawn_worker(&app);
    let server = lifecycle_server(&app, host, "mariadb").await;
    let (a, b, c) = tokio::join!(
        lab_on_server(&app, server, host, "mariadb"),
        lab_on_server(&app, server, host, "mariadb"),
        lab_on_server(&app, server, host, "mariadb"),
    );
    // Each lab's first migrate takes 20 s: the worker is killed while all three run.
    let rule = json!({
        "match": "exec app php artisan migrate",
        "regex": format!("alfa_({}|{}|{})( |$)", a.subdomain, b.subdomain, c.subdomain),
        "seconds": 20,
        "times": 3,
    });
    host.add_faults("sleep", rule.clone());
    // Their creations migrated too: only the calls after this mark are the fan-out's.
    let mark = host.calls().len();
    let parent = start(&app, &format!("/server/{server}/migrate_all?parallel=3")).await;
    eventually(
        Duration::from_secs(60),
        "the three migrations to start",
        || async {
            let calls = host.calls();
            let started = [&a, &b, &c]
                .iter()
                .filter(|lab| {
                    calls[mark..].iter().any(|call| {
                        let call = call.to_string();
                        call.contains(&format!("alfa_{}", lab.subdomain))
                            && call.contains("migrate")
                    })
                })
                .count();
            if started == 3 {
                Ok(())
            } else {
                Err(format!("{started} started"))
            }
        },
    )
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let _second = super::faults::spawn_worker(&app);
    let (done, log) = ended(&app, parent).await;
    host.remove_faults("sleep", &rule);
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["result"]["counts"]["ok"], 3, "{done}");
    let children = app
        .get(&format!("/operations?parent_id={parent}"))
        .await
        .expect(200)
        .json();
    assert_eq!(
        children["total"], 3,
        "one child per lab, none started twice: {children}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("of an earlier attempt"))
            .count(),
        3,
        "{log:#?}"
    );
}
