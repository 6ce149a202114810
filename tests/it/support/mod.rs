// Shared by several test binaries, each using only part of it.
#![allow(dead_code)]
//! Test support: the real app on a random port, on a fresh SQLite file or a fresh PostgreSQL
//! database, and an HTTP client that checks every answer against the OpenAPI document
//! (`contract`) and that no response ever carries a known secret.

pub mod contract;
pub mod eventually;
pub mod gitrepo;
mod http;
pub mod jobs;
pub mod smtp;
mod system;
pub mod testbed;

use std::path::PathBuf;
use std::sync::Mutex;

use alfa_cloud::config::Settings;
pub use http::{Body, Reply, form, multipart};
pub use system::processes_showing;
use system::{create_pg_database, drop_pg_database, init_test_log};

use alfa_cloud::ops::{Registry, kinds};
use alfa_cloud::startup::Application;
use reqwest::Method;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from one body: `mod name { sqlite(), postgres() }`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = $crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await;
                    $body
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $app = $crate::support::TestApp::spawn($crate::support::Backend::Postgres).await;
                    $body
                }
            }
        )*
    };
}

/// How a test app runs beyond its database.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Queue on the machine's Redis (a namespace of its own) instead of in the database.
    pub redis: bool,
    /// Run a worker in the same process (`alfa-cloud up`).
    pub worker: bool,
    /// Extra ALFA_* variables.
    pub env: Vec<(String, String)>,
    /// The kinds of operation it runs; `None`: the product's (tests add kinds of their own).
    pub kinds: Option<Registry>,
}

pub struct TestApp {
    pub base: String,
    /// The app's engine, to submit operations of test-only kinds.
    pub engine: alfa_cloud::ops::Engine,
    /// The queue namespace (unique per test).
    pub namespace: String,
    pub options: Options,
    pub backend: Backend,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub secret_key: String,
    pg_database: Option<String>,
    http: reqwest::Client,
    /// Values that must never appear in any response.
    secrets: Mutex<Vec<String>>,
    password: Mutex<String>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    /// The variables a process of this app (a worker, a CLI command) needs.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("ALFA_DATABASE_URL".to_owned(), self.database_url.clone()),
            (
                "ALFA_DATA_DIR".to_owned(),
                self.data_dir.display().to_string(),
            ),
            ("ALFA_SECRET_KEY".to_owned(), self.secret_key.clone()),
            ("ALFA_QUEUE_NAMESPACE".to_owned(), self.namespace.clone()),
            // As in the app itself (see `build_with`): a worker process of a test runs no
            // schedule, whose certificate check would take the test's servers' locks.
            ("ALFA_SCHEDULE".to_owned(), "off".to_owned()),
        ];
        if self.options.redis {
            vars.push(("ALFA_REDIS_URL".to_owned(), REDIS_URL.to_owned()));
        }
        vars.extend(self.options.env.iter().cloned());
        vars
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        init_test_log();
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        let data_dir = std::env::temp_dir()
            .join(format!("alfa-test-{id}"))
            .join("nested/data");
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}/alfa-cloud.db", data_dir.display()),
                None,
            ),
            Backend::Postgres => {
                let name = format!("alfa_test_{id}");
                create_pg_database(&name).await;
                (
                    format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    Some(name),
                )
            }
        };
        let secret_key = "0f".repeat(32);
        let namespace = format!("alfa-test-{id}");
        let mut extra: Vec<(&str, &str)> = vec![("ALFA_QUEUE_NAMESPACE", &namespace)];
        if options.redis {
            extra.push(("ALFA_REDIS_URL", REDIS_URL));
        }
        extra.extend(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let kinds = options.kinds.clone().unwrap_or_else(kinds::registry);
        let app = Self::build_with(&database_url, &data_dir, &secret_key, &extra, kinds).await;
        let base = format!("http://{}", app.local_addr());
        let engine = app.state().engine.clone();
        if options.worker {
            tokio::spawn(app.run_with_worker(std::future::pending()));
        } else {
            tokio::spawn(app.run_until(std::future::pending()));
        }
        Self {
            base,
            engine,
            namespace,
            options,
            backend,
            database_url,
            data_dir,
            secret_key,
            pg_database,
            http: reqwest::Client::new(),
            secrets: Mutex::new(vec![ADMIN_PASSWORD.to_owned()]),
            password: Mutex::new(ADMIN_PASSWORD.to_owned()),
        }
    }

    /// Builds (but does not run) an app on the given database with extra variables.
    pub async fn build(
        database_url: &str,
        data_dir: &std::path::Path,
        secret_key: &str,
        extra: &[(&str, &str)],
    ) -> Application {
        Self::build_with(database_url, data_dir, secret_key, extra, kinds::registry()).await
    }

    /// [`TestApp::build`] running the kinds of `kinds`.
    pub async fn build_with(
        database_url: &str,
        data_dir: &std::path::Path,
        secret_key: &str,
        extra: &[(&str, &str)],
        kinds: Registry,
    ) -> Application {
        let mut vars = vec![
            ("ALFA_DATABASE_URL".to_owned(), database_url.to_owned()),
            ("ALFA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("ALFA_DATA_DIR".to_owned(), data_dir.display().to_string()),
            ("ALFA_ADMIN_USER".to_owned(), ADMIN.to_owned()),
            ("ALFA_ADMIN_PASSWORD".to_owned(), ADMIN_PASSWORD.to_owned()),
            ("ALFA_SECRET_KEY".to_owned(), secret_key.to_owned()),
            ("ALFA_DB_MAX_CONNECTIONS".to_owned(), "5".to_owned()),
            // The daily certificate check would start operations on every test's servers;
            // tests/it/ops/schedule.rs drives the schedule with its own clock.
            ("ALFA_SCHEDULE".to_owned(), "off".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::from_vars(vars).expect("test settings are valid");
        Application::build_with(settings, kinds)
            .await
            .expect("the app starts")
    }

    /// Submits an operation of kind `K` (one the API has no endpoint for); returns its id.
    pub async fn engine_submit<K: alfa_cloud::ops::Kind>(&self, on: alfa_cloud::ops::On) -> i64 {
        self.engine
            .submit::<K>(on, serde_json::json!({}), "test")
            .await
            .expect("the operation is submitted")
    }

    /// Registers a value no response may contain from now on.
    pub fn secret(&self, value: &str) {
        self.secrets.lock().unwrap().push(value.to_owned());
    }

    /// The password requests authenticate with (after a change, the new one).
    pub fn use_password(&self, password: &str) {
        self.secret(password);
        *self.password.lock().unwrap() = password.to_owned();
    }

    /// Sends a request as the admin.
    pub async fn call(&self, method: Method, path: &str, body: Body) -> Reply {
        let password = self.password.lock().unwrap().clone();
        self.send(method, path, body, Some((ADMIN, &password)))
            .await
    }

    /// Sends a request as the admin, with extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Reply {
        let password = self.password.lock().unwrap().clone();
        self.send_with(method, path, body, Some((ADMIN, &password)), headers)
            .await
    }

    /// Sends a request with the given credentials (or none).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        auth: Option<(&str, &str)>,
    ) -> Reply {
        self.send_with(method, path, body, auth, &[]).await
    }

    /// Sends a request with the given credentials (or none) and extra headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Body,
        auth: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Body::None => request,
            Body::Form(pairs) => request.form(&pairs),
            Body::Json(value) => request.json(&value),
            Body::Multipart(pairs) => {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in pairs {
                    form = form.text(k, v);
                }
                request.multipart(form)
            }
        };
        let response = request.send().await.expect("the app answers");
        let reply = Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("a readable body"),
        };
        contract::check(&method, path, &reply);
        for secret in self.secrets.lock().unwrap().iter() {
            assert!(
                !reply.text.contains(secret.as_str()),
                "a response carried the secret {secret:?}: {}",
                reply.text
            );
        }
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Body::None).await
    }

    pub async fn post(&self, path: &str, body: Body) -> Reply {
        self.call(Method::POST, path, body).await
    }

    /// `defaults` with `fields` laid over them; every password among them becomes a secret no
    /// response may carry.
    fn merged<'a>(
        &self,
        mut all: Vec<(&'a str, &'a str)>,
        fields: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        for (k, v) in fields {
            all.retain(|(name, _)| name != k);
            all.push((k, v));
        }
        for (k, v) in &all {
            if k.contains("password") {
                self.secret(v);
            }
        }
        all
    }

    /// Creates a server with valid defaults overridden by `fields`; returns its id.
    pub async fn create_server(&self, fields: &[(&str, &str)]) -> i64 {
        let all: Vec<(&str, &str)> = vec![
            ("name", "srv"),
            ("host", "127.0.0.11"),
            ("domain", "lab.test"),
            ("sql_user", "alfa"),
            ("sql_password", "sql-pass-0001"),
        ];
        let all = self.merged(all, fields);
        self.post("/servers/", form(&all)).await.expect(201).json()["id"]
            .as_i64()
            .unwrap()
    }

    /// Creates a client on `server_id` with valid defaults overridden by `fields`; returns its id.
    pub async fn create_client(&self, server_id: i64, fields: &[(&str, &str)]) -> i64 {
        let server = server_id.to_string();
        let all: Vec<(&str, &str)> = vec![
            ("server_id", &server),
            ("name", "Central Lab"),
            ("short_name", "CL"),
            ("admin_f", "Ivanov"),
            ("admin_i", "Ivan"),
            ("admin_o", "Ivanovich"),
            ("admin_login", "ivan"),
            ("subdomain", "central"),
            ("email", "ivan@lab.example"),
            ("timezone", "Europe/Moscow"),
            ("version_tag", "1.0-master"),
            ("allowed_ips", "[]"),
        ];
        let all = self.merged(all, fields);
        self.post("/clients/", form(&all)).await.expect(202).json()["id"]
            .as_i64()
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let root = self.data_dir.ancestors().nth(2).map(PathBuf::from);
        if let Some(root) = root {
            let _ = std::fs::remove_dir_all(root);
        }
        if let Some(name) = self.pg_database.take() {
            // The test's runtime is ending; drop the database from a thread of our own.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(drop_pg_database(&name));
            })
            .join();
        }
    }
}
