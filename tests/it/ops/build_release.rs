//! build_master_for_all on the test hosts h19 and h20: a release built on two servers while a
//! third is down, the version's row in every lab's database (MariaDB and PostgreSQL), the
//! per-server and per-lab result of an operation that ended in error, and retry_failed once the
//! server is back (nothing rebuilt, no second row).

use std::time::Duration;

use super::builds::{HOSTS, build_calls, fresh_major, image_tags};
use super::lifecycle::*;
use super::*;
use crate::support::gitrepo::make_origin;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_on_every_server_builds_where_it_can_and_writes_the_version_into_every_lab() {
    let _hosts = HOSTS.lock().await;
    let app = ops_app(Backend::Postgres, true).await;
    let bed = testbed::get();
    let (h9, h10) = (bed.host(9), bed.host(10));
    let (s9, s10) = tokio::join!(
        lifecycle_server(&app, h9, "mariadb"),
        lifecycle_server(&app, h10, "postgres")
    );
    let (lab9, lab10) = tokio::join!(
        lab_on_server(&app, s9, h9, "mariadb"),
        lab_on_server(&app, s10, h10, "postgres")
    );
    make_origin(h9, &unique("release-"));
    make_origin(h10, &unique("release-"));
    // A third server that is down: nothing listens on its SSH port.
    let down = register(&app, h9).await;
    app.post(
        "/servers/",
        form(&[("id", &down.to_string()), ("ssh_port", "1")]),
    )
    .await
    .expect(200);
    let down_name = app
        .get(&format!("/servers/{down}"))
        .await
        .expect(200)
        .json()["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // Refused requests, GET (query) and POST (body) alike.
    let reply = app
        .get("/containers/build_master_for_all?version=1.3-dev")
        .await
        .expect(422);
    assert!(!reply.field_problems("version").is_empty());
    let reply = app
        .post(
            "/containers/build_master_for_all/",
            support::multipart(&[("info", "no version")]),
        )
        .await
        .expect(422);
    assert!(!reply.field_problems("version").is_empty());

    let version = format!("{}.1-master", fresh_major());
    let info = "## What is new\n\n- faster reports\n- «Журнал» for samples";
    let reply = app
        .post(
            "/containers/build_master_for_all/",
            support::multipart(&[
                ("version", version.trim_end_matches("-master")),
                ("info", info),
            ]),
        )
        .await
        .expect(202)
        .json();
    let parent = reply["operation_id"].as_i64().unwrap();
    let done = wait_op(&app, parent, Duration::from_secs(180)).await;
    let log = log_text(&app, parent).await;
    assert_eq!(done["status"], "error", "{log:#?}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "{version} is not built on 1 of 3 server(s): {down_name} (operation"
        )) && error.contains("Connection refused")
            && error.contains("2 lab(s) have its row")
            && error.contains("retry_failed"),
        "{error}"
    );
    assert_eq!(done["children"]["ok"], 2, "{done}");
    assert_eq!(done["children"]["error"], 1, "{done}");

    // Per server and per lab, in the result even though the operation ended in error.
    let servers = done["result"]["servers"].as_array().unwrap();
    let entry = |id: i64| servers.iter().find(|s| s["server_id"] == id).unwrap();
    for (server, lab) in [(s9, &lab9), (s10, &lab10)] {
        let entry = entry(server);
        assert_eq!(entry["build"]["status"], "ok", "{entry}");
        assert_eq!(entry["build"]["built"], true, "{entry}");
        assert_eq!(entry["labs"][0]["client_id"], lab.id, "{entry}");
        assert_eq!(entry["labs"][0]["status"], "ok", "{entry}");
    }
    let failed = entry(down);
    assert_eq!(failed["build"]["status"], "error", "{failed}");
    assert!(
        failed["build"]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{down_name} ({}:1)", h9.addr)),
        "{failed}"
    );
    assert_eq!(failed["labs"], serde_json::json!([]));
    // The down server's child failed fast.
    let child = app
        .get(&format!(
            "/operations/{}",
            failed["build"]["operation_id"].as_i64().unwrap()
        ))
        .await
        .expect(200)
        .json();
    let took = chrono::DateTime::parse_from_rfc3339(child["finished_at"].as_str().unwrap())
        .unwrap()
        - chrono::DateTime::parse_from_rfc3339(child["started_at"].as_str().unwrap()).unwrap();
    assert!(took.num_seconds() < 10, "{child}");

    // The image on both hosts, built once each; the version's row in both labs' databases.
    let image = format!("alfa-lims:{version}");
    for host in [h9, h10] {
        assert!(
            image_tags(host, "alfa-lims").contains(&version),
            "{}",
            host.name
        );
        assert_eq!(build_calls(host, &image).len(), 1, "{}", host.name);
    }
    let rows = |lab: &Lab| {
        let (kind, db) = (lab.sql_kind.clone(), lab.db(&app));
        let version = version.clone();
        async move {
            db_rows(
                &kind,
                &db,
                &format!("SELECT info FROM cloud_versions WHERE version = '{version}'"),
            )
            .await
        }
    };
    assert_eq!(rows(&lab9).await, vec![info.to_owned()]);
    assert_eq!(rows(&lab10).await, vec![info.to_owned()]);

    // The server is back: retry_failed builds only there (the image is on that host already:
    // nothing rebuilt) and writes every lab's row again, without a second row.
    app.post(
        "/servers/",
        form(&[
            ("id", &down.to_string()),
            ("ssh_port", &bed.ssh_port.to_string()),
        ]),
    )
    .await
    .expect(200);
    let retry = app
        .post(
            &format!("/operations/{parent}/retry_failed"),
            support::Body::None,
        )
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap();
    let done = wait_op(&app, retry, Duration::from_secs(120)).await;
    let log = log_text(&app, retry).await;
    assert_eq!(done["status"], "ok", "{log:#?}");
    assert_eq!(done["children"]["ok"], 1, "{done}");
    let back = done["result"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server_id"] == down)
        .unwrap()
        .clone();
    assert_eq!(back["build"]["built"], false, "{back}");
    for host in [h9, h10] {
        assert_eq!(build_calls(host, &image).len(), 1, "{}", host.name);
    }
    assert_eq!(rows(&lab9).await, vec![info.to_owned()]);
    assert_eq!(rows(&lab10).await, vec![info.to_owned()]);

    // The labs go, so that later runs find their ports on the hosts free.
    let (a, b) = tokio::join!(remove(&app, &lab9), remove(&app, &lab10));
    assert_eq!((a.as_str(), b.as_str()), ("ok", "ok"));
}

/// Deletes `lab` with its database; returns how the deletion ended.
async fn remove(app: &TestApp, lab: &Lab) -> String {
    let id = app
        .call(
            reqwest::Method::DELETE,
            &format!("/clients/{}?drop_database=1", lab.id),
            support::Body::None,
        )
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap();
    let done = wait_op(app, id, Duration::from_secs(60)).await;
    done["status"].as_str().unwrap().to_owned()
}
