//! A release day over a fleet: 3 servers on 3 test hosts with 5 labs each, and a 4th server
//! that is down (its SSH port refuses), on a worker with 2 slots. Fan-outs over every server at
//! once: migrate_all, a dev build, build_master_for_all, reconfigurate, a deploy dry run,
//! switch_all to the new release with one lab's migrate failing, and retry_failed. Each ends
//! ok where the server is up; the down server's children fail fast naming it.

use std::time::Duration;

use super::fleet_files::*;
use super::lifecycle::*;
use super::*;
use crate::support::Body;
use crate::support::gitrepo::{Origin, make_origin};

/// Test hosts of the three live servers, and of the down one. Hosts 9 and 10 are the builds
/// tests' (whose lock this test takes before it touches `{base_dir}/git`); 1 and 2 are the
/// reconfigurate test's, with clones of their own.
const LIVE: [usize; 3] = [3, 4, 9];
const DOWN: usize = 10;
const LABS: usize = 5;

/// Server `id` goes down: its SSH port now refuses, as a stopped sshd does.
async fn take_down(app: &TestApp, id: i64) {
    app.post(
        "/servers/",
        form(&[("id", &id.to_string()), ("ssh_port", "1")]),
    )
    .await
    .expect(200);
}

pub(super) struct Fleet {
    pub app: TestApp,
    /// (server, its labs), the live ones.
    pub live: Vec<(i64, Vec<Lab>)>,
    pub down: (i64, Lab),
}

/// 3 live servers with 5 labs each, and a down server with one lab; the worker has 2 slots.
pub(super) async fn fleet() -> Fleet {
    let mut env = fast_env();
    env.push(("ALFA_WORKER_CONCURRENCY".into(), "2".into()));
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            worker: true,
            env,
            ..Options::default()
        },
    )
    .await;
    let bed = testbed::get();
    let mut live = Vec::new();
    for i in LIVE {
        let host = bed.host(i);
        live.push((lifecycle_server(&app, host, "mariadb").await, host));
    }
    let down_host = bed.host(DOWN);
    let down = lifecycle_server(&app, down_host, "mariadb").await;
    let made = futures::future::join_all(
        live.iter()
            .flat_map(|(server, host)| (0..LABS).map(move |_| (*server, *host)))
            .chain([(down, down_host)])
            .map(|(server, host)| {
                let app = &app;
                async move { lab_on_server(app, server, host, "mariadb").await }
            }),
    )
    .await;
    let mut made = made.into_iter();
    let live: Vec<(i64, Vec<Lab>)> = live
        .iter()
        .map(|(server, _)| (*server, made.by_ref().take(LABS).collect()))
        .collect();
    let down_lab = made.next().unwrap();
    take_down(&app, down).await;
    Fleet {
        app,
        live,
        down: (down, down_lab),
    }
}

async fn wait_all(app: &TestApp, ops: &[i64]) -> Vec<Value> {
    let mut done = Vec::new();
    for op in ops {
        done.push(wait_op(app, *op, Duration::from_secs(300)).await);
    }
    done
}

/// The down server's child of a fan-out, and its error.
fn down_error(done: &Value, down: i64) -> String {
    done["result"]["children"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["server_id"] == down)
        .and_then(|c| c["error"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_day_over_three_servers_and_a_down_one() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let (down, down_lab) = &fleet.down;
    let live: Vec<i64> = fleet.live.iter().map(|(s, _)| *s).collect();
    let labs: Vec<&Lab> = fleet.live.iter().flat_map(|(_, l)| l).collect();
    let refused = format!("({}:1)", down_lab.host.addr);

    // migrate_all on all four servers at once, on a worker of 2 slots: the parents run their
    // children themselves, so no parent waits for a slot another parent holds.
    let mut parents = Vec::new();
    for server in &live {
        parents.push(start(app, &format!("/server/{server}/migrate_all")).await);
    }
    let on_down = start(app, &format!("/servers/{down}/migrate_all")).await;
    for done in wait_all(app, &parents).await {
        assert_eq!(done["status"], "ok", "{done}");
        assert_eq!(done["result"]["counts"]["ok"], LABS, "{done}");
    }
    for lab in &labs {
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
    let done = wait_op(app, on_down, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "error", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("1 of 1 failed: {}", down_lab.subdomain)),
        "{error}"
    );
    let children = app
        .get(&format!("/operations?parent_id={on_down}"))
        .await
        .expect(200)
        .json();
    let child_error = children["items"][0]["error"].as_str().unwrap_or_default();
    assert!(
        child_error.contains(&refused),
        "the down server's child names where it could not connect: {child_error}"
    );

    // The fleet's repository: each live server's checkout a clone of its host's origin.
    let _hosts = super::builds::HOSTS.lock().await;
    let bed = testbed::get();
    let origins: Vec<Origin> = LIVE
        .iter()
        .map(|i| make_origin(bed.host(*i), "fleet"))
        .collect();

    // A hotfix built from dev on the first server leaves its checkout on dev.
    let hotfix = start(app, &format!("/containers/{}/build_dev", live[0])).await;
    let done = wait_op(app, hotfix, Duration::from_secs(300)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(app, hotfix).await);

    // The release on every server at once: built where the server is up, its row written into
    // all 15 labs; the down server named.
    // A version no earlier run built on these hosts (the stand-in keeps its images).
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let version = format!("9.{}-master", stamp % 1_000_000);
    let release = app
        .post(
            "/containers/build_master_for_all/",
            form(&[
                ("version", &version),
                ("info", "## What is new\n- fleet-wide"),
            ]),
        )
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap();
    let done = wait_op(app, release, Duration::from_secs(600)).await;
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["result"]["counts"]["built"], 3, "{done}");
    assert_eq!(done["result"]["counts"]["labs_written"], 3 * LABS, "{done}");
    assert!(done["error"].as_str().unwrap().contains(&refused), "{done}");
    for lab in [labs[0], labs[LABS], labs[2 * LABS]] {
        let rows = db_rows(
            &lab.sql_kind,
            &lab.db(app),
            &format!("SELECT version FROM cloud_versions WHERE version = '{version}'"),
        )
        .await;
        assert_eq!(rows, vec![version.clone()], "{}", lab.subdomain);
    }

    // A new key in .env.example, then reconfigurate everywhere: added to every lab, the
    // lab's own values kept, the first server back from dev to master.
    for origin in &origins {
        origin.commit(
            "master",
            ".env.example",
            "APP_NAME=Laravel\nAPP_ENV=production\nAPP_DEBUG=false\nLOG_CHANNEL=stack\nREPORTS_QUEUE=fleet\n",
        );
    }
    let own = labs[0];
    let path = lab_file(own, ".env");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("APP_DEBUG=false", "APP_DEBUG=true")).unwrap();
    let reconf = start(app, "/clients/reconfigurate").await;
    let done = wait_op(app, reconf, Duration::from_secs(300)).await;
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["result"]["counts"]["ok"], 3, "{done}");
    assert!(down_error(&done, *down).contains(&refused), "{done}");
    assert!(
        done["error"].as_str().unwrap().contains("1 of 4 failed"),
        "{done}"
    );
    for lab in &labs {
        let env = env_file(&lab.host, &lab.subdomain);
        assert_eq!(
            env_value(&env, "REPORTS_QUEUE"),
            "fleet",
            "{}",
            lab.subdomain
        );
        let debug = if lab.id == own.id { "true" } else { "false" };
        assert_eq!(env_value(&env, "APP_DEBUG"), debug, "{}", lab.subdomain);
    }

    // A deploy's dry run writes nothing.
    let marks: Vec<usize> = LIVE.iter().map(|i| bed.host(*i).calls().len()).collect();
    let before = snapshot(&labs.iter().flat_map(|l| lab_files(l)).collect::<Vec<_>>());
    let dry = start(app, &format!("/server/{}/deploy?dry_run=1", live[1])).await;
    let done = wait_op(app, dry, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{done}");
    assert_untouched(&before);
    for (i, mark) in LIVE.iter().zip(&marks) {
        let calls = calls_since(bed.host(*i), *mark);
        assert!(
            calls
                .iter()
                .all(|c| !c.contains(" up ") && !c.contains("-s reload")),
            "a dry run changes nothing: {calls:#?}"
        );
    }

    // switch_all to the release on the three servers at once, one lab's migrate failing: it is
    // rolled back, the 14 others run the release; retry_failed brings it over.
    let broken = labs[LABS + 2];
    let old_version = app
        .get(&format!("/clients/{}", broken.id))
        .await
        .expect(200)
        .json()["version_tag"]
        .clone();
    let rule = serde_json::json!({
        "match": "exec app php artisan migrate",
        "regex": format!("alfa_{}( |$)", broken.subdomain),
        "after": true,
        "exit": 1,
        "stderr": "SQLSTATE[42S01]: this lab's migration broke",
    });
    broken.host.add_faults("fail", rule.clone());
    let mut switches = Vec::new();
    for server in &live {
        switches.push(
            start(
                app,
                &format!("/server/{server}/switch_all/{version}?parallel=3"),
            )
            .await,
        );
    }
    let ended = wait_all(app, &switches).await;
    broken.host.remove_faults("fail", &rule);
    let failed = switches[1];
    for (done, op) in ended.iter().zip(&switches) {
        let expected = if *op == failed { "error" } else { "ok" };
        assert_eq!(done["status"], expected, "{done}");
    }
    for lab in &labs {
        let view = app
            .get(&format!("/clients/{}", lab.id))
            .await
            .expect(200)
            .json();
        if lab.id == broken.id {
            assert_eq!(
                view["version_tag"], old_version,
                "rolled back: {}",
                lab.subdomain
            );
        } else {
            assert_eq!(view["version_tag"], version.as_str(), "{}", lab.subdomain);
        }
    }
    let retry = app
        .post(&format!("/operations/{failed}/retry_failed"), Body::None)
        .await
        .expect(202)
        .json()["operation_id"]
        .as_i64()
        .unwrap();
    let done = wait_op(app, retry, Duration::from_secs(300)).await;
    assert_eq!(done["status"], "ok", "{done}");
    assert_eq!(
        done["result"]["counts"]["total"], 1,
        "only the failed lab: {done}"
    );
    let view = app
        .get(&format!("/clients/{}", broken.id))
        .await
        .expect(200)
        .json();
    assert_eq!(view["version_tag"], version.as_str());
    drop(_hosts);

    // The down server is back, and every lab goes.
    app.post(
        "/servers/",
        form(&[
            ("id", &down.to_string()),
            ("ssh_port", &bed.ssh_port.to_string()),
        ]),
    )
    .await
    .expect(200);
    let mut all = labs.clone();
    all.push(down_lab);
    remove_labs(app, &all).await;
}
