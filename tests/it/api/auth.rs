//! Basic Auth, the lockout, and password changes.

use reqwest::Method;

use crate::on_both_backends;
use crate::support::{ADMIN, ADMIN_PASSWORD, Body, form};

on_both_backends! {
    async fn missing_credentials_get_a_basic_challenge(app) {
        let reply = app.send(Method::GET, "/servers", Body::None, None).await.expect(401);
        assert_eq!(reply.headers["www-authenticate"], "Basic realm=\"alfa-cloud\"");
        assert_eq!(reply.json()["error"], "unauthorized");
    }

    async fn wrong_password_or_user_is_refused(app) {
        app.send(Method::GET, "/servers", Body::None, Some((ADMIN, "nope"))).await.expect(401);
        app.send(Method::GET, "/servers", Body::None, Some(("root", ADMIN_PASSWORD))).await.expect(401);
        app.send(Method::GET, "/servers", Body::None, Some((ADMIN, ADMIN_PASSWORD))).await.expect(200);
    }

    async fn probes_and_docs_need_no_credentials(app) {
        for path in ["/health", "/ready", "/openapi.json", "/docs/"] {
            app.send(Method::GET, path, Body::None, None).await.expect(200);
        }
        app.send(Method::GET, "/metrics", Body::None, None).await.expect(401);
        app.send(Method::GET, "/audit", Body::None, None).await.expect(401);
    }

    async fn ten_failures_lock_the_address_out_even_for_the_right_password(app) {
        for attempt in 1..=10 {
            let reply = app.send(Method::GET, "/servers", Body::None, Some((ADMIN, "guess"))).await;
            assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text);
        }
        let reply = app.send(Method::GET, "/servers", Body::None, Some((ADMIN, ADMIN_PASSWORD))).await.expect(429);
        assert_eq!(reply.json()["error"], "too_many_requests");
        let retry: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((800..=900).contains(&retry), "retry-after {retry}");
    }

    async fn nine_failures_then_success_start_the_count_again(app) {
        for _ in 0..9 {
            app.send(Method::GET, "/servers", Body::None, Some((ADMIN, "guess"))).await.expect(401);
        }
        app.get("/servers").await.expect(200);
        for _ in 0..9 {
            app.send(Method::GET, "/servers", Body::None, Some((ADMIN, "guess"))).await.expect(401);
        }
        app.get("/servers").await.expect(200);
    }

    async fn changing_the_password_retires_the_old_one_at_once(app) {
        // The old credential is verified and remembered first, so the change must evict it.
        app.get("/servers").await.expect(200);
        let new = "a-much-longer-passphrase";
        app.secret(new);
        app.post("/cloud_admin_password", form(&[("password", new), ("confirm_password", new)]))
            .await
            .expect(200);
        app.send(Method::GET, "/servers", Body::None, Some((ADMIN, ADMIN_PASSWORD))).await.expect(401);
        app.send(Method::GET, "/servers", Body::None, Some((ADMIN, new))).await.expect(200);
    }

    async fn password_change_rules_are_checked_field_by_field(app) {
        let reply = app.post("/cloud_admin_password", form(&[("password", "short"), ("confirm_password", "short")])).await.expect(422);
        assert!(reply.field_problems("password")[0].contains("at least 12"));
        let reply = app.post("/cloud_admin_password", form(&[("password", "long-enough-pass"), ("confirm_password", "different-pass")])).await.expect(422);
        assert!(reply.field_problems("confirm_password")[0].contains("does not match"));
        let reply = app.post("/cloud_admin_password", form(&[("password", ADMIN_PASSWORD), ("confirm_password", ADMIN_PASSWORD)])).await.expect(422);
        assert!(reply.field_problems("password")[0].contains("differ"));
        let reply = app.post("/cloud_admin_password", form(&[])).await.expect(422);
        assert_eq!(reply.field_problems("password"), ["is required"]);
        assert_eq!(reply.field_problems("confirm_password"), ["is required"]);
        app.get("/servers").await.expect(200);
    }

    async fn admin_set_password_command_replaces_the_password(app) {
        use std::io::Write as _;
        app.get("/servers").await.expect(200);
        let new = "set-from-the-command-line";
        app.secret(new);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_alfa-cloud"))
            .args(["admin", "set-password"])
            .env("ALFA_DATABASE_URL", &app.database_url)
            .env("ALFA_DATA_DIR", &app.data_dir)
            .env("ALFA_SECRET_KEY", &app.secret_key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{new}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stderr).contains(new));
        app.send(Method::GET, "/servers", Body::None, Some((ADMIN, ADMIN_PASSWORD))).await.expect(401);
        app.use_password(new);
        app.get("/servers").await.expect(200);
    }

    async fn admin_set_password_command_refuses_a_short_password(app) {
        let dir = app.data_dir.join("pw");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("new");
        std::fs::write(&file, "short\n").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_alfa-cloud"))
            .args(["admin", "set-password", "--password-file"])
            .arg(&file)
            .env("ALFA_DATABASE_URL", &app.database_url)
            .env("ALFA_DATA_DIR", &app.data_dir)
            .env("ALFA_SECRET_KEY", &app.secret_key)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
        app.get("/servers").await.expect(200);
    }
}
