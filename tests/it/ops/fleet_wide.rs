//! A release day over a fleet: 3 servers on 3 test hosts with 5 labs each, and a 4th server
//! that is down (its SSH port refuses). Fan-outs over every server at once, on a worker with
//! fewer slots than there are fan-outs: each ends ok where the server is up, and the down
//! server's children fail fast naming it.

use std::time::Duration;

use super::lifecycle::*;
use super::*;

/// Test hosts of the three live servers; the down server's labs are made on host 4.
const LIVE: [usize; 3] = [1, 2, 3];
const LABS: usize = 5;

async fn execute(app: &TestApp, sql: &str, id: i64, port: i64) {
    use alfa_cloud::store::Db;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match &app.engine.db {
        Db::Sqlite(pool) => sqlx::query(sql)
            .bind(port)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(port)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}

/// Server `id` goes down: its SSH port now refuses (as a stopped sshd does), and the pooled
/// connection to it is dropped.
async fn take_down(app: &TestApp, id: i64) {
    let row = alfa_cloud::store::servers::get(&app.engine.db, id)
        .await
        .unwrap()
        .unwrap();
    execute(app, "UPDATE servers SET ssh_port = $1 WHERE id = $2", id, 1).await;
    app.engine
        .remote
        .forget(&alfa_cloud::ops::target(&row))
        .await;
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
    let down_host = bed.host(4);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_of_three_servers_and_a_down_one_migrates_everywhere_at_once() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let (down, down_lab) = &fleet.down;

    // migrate_all on all four servers at once, on a worker of 2 slots: the parents run their
    // children themselves, so no parent waits for a slot another parent holds.
    let mut parents = Vec::new();
    for (server, _) in &fleet.live {
        parents.push((
            *server,
            start(app, &format!("/server/{server}/migrate_all")).await,
        ));
    }
    let on_down = start(app, &format!("/servers/{down}/migrate_all")).await;
    for (server, parent) in &parents {
        let done = wait_op(app, *parent, Duration::from_secs(240)).await;
        assert_eq!(
            done["status"],
            "ok",
            "server {server}: {:#?}",
            log_text(app, *parent).await
        );
        assert_eq!(done["result"]["counts"]["ok"], LABS, "{done}");
    }
    for (_, labs) in &fleet.live {
        for lab in labs {
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
    }
    let done = wait_op(app, on_down, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "error", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("1 of 1 failed: {}", down_lab.subdomain)),
        "{error}"
    );
    let child_op = app
        .get(&format!("/operations?parent_id={on_down}"))
        .await
        .expect(200)
        .json();
    let child_error = child_op["items"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        child_error.contains(&format!("({}:1)", down_lab.host.addr)),
        "the down server's child names where it could not connect: {child_error}"
    );
}
