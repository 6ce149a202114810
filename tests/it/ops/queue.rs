//! Redis going away: nothing is lost, and the queue resumes when it is back.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

/// A Redis of the test's own on a free port (the machine's Redis is never restarted).
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.up();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.down();
    }
}

async fn app_on(redis: &PrivateRedis) -> TestApp {
    let mut env = fast_env();
    env.push(("ALFA_REDIS_URL".into(), redis.url()));
    TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis: false,
            worker: true,
            env,
            kinds: None,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_created_while_redis_is_down_run_once_it_is_back() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis).await;
    let server = register(&app, testbed::get().host(1)).await;
    redis.down();
    let asked = Instant::now();
    let id = start(&app, &format!("/servers/{server}/images")).await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the API answered without waiting for Redis"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app.get(&format!("/operations/{id}")).await.json()["status"],
        "queued"
    );
    redis.up();
    let op = wait_op(&app, id, Duration::from_secs(30)).await;
    assert_eq!(op["status"], "ok", "{op}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_between_two_jobs_loses_nothing() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis).await;
    let server = register(&app, testbed::get().host(2)).await;
    let first = start(&app, &format!("/servers/{server}/images")).await;
    assert_eq!(
        wait_op(&app, first, Duration::from_secs(30)).await["status"],
        "ok"
    );
    redis.down();
    redis.up();
    let second = start(&app, &format!("/servers/{server}/images")).await;
    assert_eq!(
        wait_op(&app, second, Duration::from_secs(30)).await["status"],
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_created_while_redis_is_down_is_saved_with_its_queued_creation() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis).await;
    let server = super::lifecycle::lifecycle_server(&app, testbed::get().host(1), "mariadb").await;
    redis.down();
    let (client, op) =
        super::lifecycle::post_lab(&app, &super::lifecycle::lab_fields(server, &unique("q"))).await;
    assert_eq!(
        app.get(&format!("/clients/{client}"))
            .await
            .expect(200)
            .json()["state"],
        "pending"
    );
    assert_eq!(
        app.get(&format!("/operations/{op}")).await.json()["status"],
        "queued"
    );
    redis.up();
    let done = wait_op(&app, op, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "ok", "{:#?}", log_text(&app, op).await);
}
