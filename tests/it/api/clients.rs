//! `/clients`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Body, form, multipart};

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

on_both_backends! {
    async fn creating_a_client_answers_202_with_its_id_and_it_starts_pending(app) {
        let server = app.create_server(&[("domain", "lims.example.com")]).await;
        app.secret("lab-admin-pass");
        let reply = app
            .post("/clients/", form(&[
                ("server_id", &server.to_string()), ("name", "Central Lab"), ("admin_login", "ivan"),
                ("subdomain", "central"), ("version_tag", "1.3-master"), ("password", "lab-admin-pass"), ("email", "ivan@lab.example"),
                ("allowed_ips", r#"["10.0.0.0/8","203.0.113.7"]"#), ("license_expires_at", "2027-12-31"),
            ]))
            .await
            .expect(202)
            .json();
        assert_eq!(reply["state"], "pending");
        let id = reply["id"].as_i64().unwrap();
        let client = app.get(&format!("/clients/{id}")).await.expect(200).json();
        assert_eq!(client["url"], "https://central.lims.example.com");
        assert_eq!(client["state"], "pending");
        assert_eq!(client["billing_type"], "TRIAL");
        assert_eq!(client["timezone"], "UTC");
        assert_eq!(client["allowed_ips"], json!(["10.0.0.0/8", "203.0.113.7"]));
        assert_eq!(client["license_expires_at"], "2027-12-31T00:00:00Z");
        assert_eq!(client["password_set"], true);
        assert_eq!(client["available"], Value::Null);
        assert_eq!(client["checked_at"], Value::Null);
        assert!(client.get("password").is_none());
    }

    async fn clients_can_be_created_from_json_and_multipart_alike(app) {
        let server = app.create_server(&[]).await;
        let a = app
            .post("/clients", Body::Json(json!({
                "server_id": server, "name": "A", "admin_login": "a", "subdomain": "a",
                "version_tag": "1.0-master", "allowed_ips": ["192.168.0.0/16"], "billing_type": "PAID", "email": "a@lab.example",
            })))
            .await
            .expect(202)
            .json()["id"].as_i64().unwrap();
        let b = app
            .post("/clients/", multipart(&[
                ("server_id", &server.to_string()), ("name", "B"), ("admin_login", "b"),
                ("subdomain", "b"), ("version_tag", "1.0-master"), ("license_expires_at", "2027-01-02 10:30:00"), ("email", "b@lab.example"),
            ]))
            .await
            .expect(202)
            .json()["id"].as_i64().unwrap();
        let a = app.get(&format!("/clients/{a}")).await.json();
        assert_eq!(a["allowed_ips"], json!(["192.168.0.0/16"]));
        assert_eq!(a["billing_type"], "PAID");
        let b = app.get(&format!("/clients/{b}")).await.json();
        assert_eq!(b["license_expires_at"], "2027-01-02T10:30:00Z");
    }

    async fn every_client_rule_names_its_field(app) {
        let server = app.create_server(&[]).await;
        let inactive = app.create_server(&[("name", "off"), ("domain", "off.test"), ("active", "false")]).await;
        let missing = app.post("/clients/", form(&[])).await.expect(422);
        for field in ["server_id", "name", "admin_login", "subdomain", "version_tag", "email"] {
            assert_eq!(missing.field_problems(field), ["is required"], "{field}");
        }
        let long = "x".repeat(256);
        let inactive = inactive.to_string();
        let cases: &[(&str, &str)] = &[
            ("subdomain", "Upper"), ("subdomain", "-lead"), ("subdomain", "trail-"), ("subdomain", "dots.no"),
            ("subdomain", &"a".repeat(64)),
            ("version_tag", "1.0 master"), ("version_tag", "-1"), ("version_tag", "$(reboot)"),
            ("allowed_ips", "10.0.0.1"), ("allowed_ips", r#"["10.0.0.256"]"#), ("allowed_ips", r#"["::1/200"]"#),
            ("timezone", "Moscow"), ("email", "not-an-email"), ("license_expires_at", "31.12.2027"),
            ("server_id", "999"), ("server_id", &inactive), ("server_id", "abc"),
            ("name", &long), ("admin_login", "has space"), ("phone", "call me"), ("password", "short"),
            ("billing_type", "GOLD"), ("short_name", &long), ("city", &long), ("admin_f", &long),
        ];
        for (field, value) in cases {
            let server = server.to_string();
            let mut fields = vec![("server_id", server.as_str()), ("name", "Lab"), ("admin_login", "adm"), ("subdomain", "ok"), ("version_tag", "1.0-master"), ("email", "adm@lab.example")];
            fields.retain(|(k, _)| k != field);
            fields.push((field, value));
            let reply = app.post("/clients/", form(&fields)).await.expect(422);
            assert!(!reply.field_problems(field).is_empty(), "{field}={value}");
            assert_eq!(reply.json()["fields"].as_object().unwrap().len(), 1, "only {field} is wrong: {}", reply.text);
        }
    }

    async fn a_subdomain_is_unique_per_domain_not_per_server(app) {
        let a = app.create_server(&[("name", "a"), ("domain", "same.test")]).await;
        let b = app.create_server(&[("name", "b"), ("domain", "same.test")]).await;
        let c = app.create_server(&[("name", "c"), ("domain", "other.test")]).await;
        app.create_client(a, &[("subdomain", "lab")]).await;
        let reply = app
            .post("/clients/", form(&[("server_id", &b.to_string()), ("name", "L"), ("admin_login", "x"), ("subdomain", "lab"), ("version_tag", "1"), ("email", "x@lab.example")]))
            .await
            .expect(422);
        assert!(reply.field_problems("subdomain")[0].contains("already used"));
        app.create_client(c, &[("subdomain", "lab")]).await;
    }

    async fn updates_keep_absent_fields_and_refuse_fixed_ones(app) {
        let server = app.create_server(&[]).await;
        let id = app.create_client(server, &[("city", "Kazan"), ("password", "first-lab-pass")]).await;
        let path = format!("/clients/{id}");
        let updated = app.call(Method::PUT, &path, form(&[("name", "Renamed"), ("license_expires_at", "2028-01-01")])).await.expect(200).json();
        assert_eq!(updated["name"], "Renamed");
        assert_eq!(updated["city"], "Kazan");
        assert_eq!(updated["password_set"], true);
        assert_eq!(updated["license_expires_at"], "2028-01-01T00:00:00Z");
        // POST with an id is the same update.
        let updated = app.post("/clients/", form(&[("id", &id.to_string()), ("city", "Omsk"), ("subdomain", "central")])).await.expect(200).json();
        assert_eq!(updated["city"], "Omsk");
        assert_eq!(updated["name"], "Renamed");
        for (field, value) in [("subdomain", "moved"), ("version_tag", "9.9-master"), ("server_id", "77")] {
            let reply = app.call(Method::PUT, &path, form(&[(field, value)])).await.expect(422);
            assert!(!reply.field_problems(field).is_empty(), "{field}");
        }
        let reply = app.call(Method::PUT, &path, form(&[("name", "")])).await.expect(422);
        assert_eq!(reply.field_problems("name"), ["is required"]);
        app.call(Method::PUT, "/clients/999", form(&[("name", "x")])).await.expect(404);
    }

    async fn expire_date_sets_the_licence_end_and_records_the_sender(app) {
        let server = app.create_server(&[]).await;
        let id = app.create_client(server, &[]).await;
        let path = format!("/clients/{id}/expire_date");
        let reply = app.post(&path, form(&[("sender", "manager@vendor"), ("license_expires_at", "2027-06-30T12:00:00+03:00")])).await.expect(200).json();
        assert_eq!(reply["license_expires_at"], "2027-06-30T09:00:00Z");
        let reply = app.post(&path, form(&[("license_expires_at", "someday")])).await.expect(422);
        assert_eq!(reply.field_problems("sender"), ["is required"]);
        assert!(!reply.field_problems("license_expires_at").is_empty());
        app.post("/clients/999/expire_date", form(&[("sender", "x"), ("license_expires_at", "2027-01-01")])).await.expect(404);
        let audit = app.get("/audit?per_page=10").await.expect(200).json();
        let entry = audit["items"].as_array().unwrap().iter().find(|e| e["path"] == path && e["status"] == 200).expect("audited");
        assert_eq!(entry["fields"]["sender"], "manager@vendor");
        assert_eq!(entry["target_id"], id);
    }

    async fn billing_types_come_from_the_database(app) {
        let types = app.get("/clients/billing_types").await.expect(200).json();
        let codes: Vec<&str> = types.as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["DEMO", "TEST", "TRIAL", "PAID"]);
    }

    async fn the_list_pages_through_every_client_exactly_once(app) {
        let server = app.create_server(&[]).await;
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(app.create_client(server, &[("subdomain", &format!("lab{i}"))]).await);
        }
        let first = app.get("/clients?per_page=3").await.expect(200).json();
        assert_eq!((first["total"].as_i64(), first["page"].as_i64(), first["per_page"].as_i64()), (Some(7), Some(1), Some(3)));
        let mut seen = ids(&first);
        seen.extend(ids(&app.get("/clients?per_page=3&page=2").await.json()));
        let last = app.get("/clients?per_page=3&page=3").await.json();
        assert_eq!(ids(&last).len(), 1);
        seen.extend(ids(&last));
        assert_eq!(seen, created);
        let beyond = app.get("/clients?per_page=3&page=4").await.expect(200).json();
        assert!(ids(&beyond).is_empty());
        assert_eq!(beyond["total"], 7, "a page past the end still tells the total");
        assert_eq!(app.get("/clients").await.json()["per_page"], 50);
        assert_eq!(app.get("/clients?per_page=200").await.expect(200).json()["per_page"], 200);
        for bad in ["per_page=201", "per_page=0", "page=0", "page=-1", "page=x"] {
            let reply = app.get(&format!("/clients?{bad}")).await.expect(422);
            let field = bad.split('=').next().unwrap();
            assert!(!reply.field_problems(field).is_empty(), "{bad}");
        }
    }

    async fn the_list_filters_and_sorts(app) {
        let a = app.create_server(&[("name", "a"), ("domain", "a.test")]).await;
        let b = app.create_server(&[("name", "b"), ("domain", "b.test")]).await;
        let zeta = app.create_client(a, &[("subdomain", "zeta"), ("name", "Zeta Labs"), ("billing_type", "PAID"), ("license_expires_at", "2027-03-01")]).await;
        let alpha = app.create_client(a, &[("subdomain", "alpha"), ("name", "Alpha Diagnostics"), ("short_name", "AD"), ("license_expires_at", "2027-01-01")]).await;
        let mid = app.create_client(b, &[("subdomain", "mid"), ("name", "Mid 100% Lab"), ("billing_type", "DEMO"), ("license_expires_at", "2027-02-01")]).await;

        assert_eq!(ids(&app.get(&format!("/clients?server_id={a}")).await.json()), [zeta, alpha]);
        assert_eq!(ids(&app.get("/clients?billing_type=PAID").await.json()), [zeta]);
        assert_eq!(ids(&app.get("/clients?state=pending").await.json()), [zeta, alpha, mid]);
        assert!(ids(&app.get("/clients?state=active").await.json()).is_empty());
        assert_eq!(ids(&app.get("/clients?q=DIAG").await.json()), [alpha], "name, any case");
        assert_eq!(ids(&app.get("/clients?q=ad").await.json()), [alpha], "short name");
        assert_eq!(ids(&app.get("/clients?q=zet").await.json()), [zeta], "subdomain");
        assert_eq!(ids(&app.get("/clients?q=100%25").await.json()), [mid], "a literal %");
        assert!(ids(&app.get("/clients?q=_").await.json()).is_empty(), "a literal _");
        assert_eq!(ids(&app.get("/clients?sort=name").await.json()), [alpha, mid, zeta]);
        assert_eq!(ids(&app.get("/clients?sort=subdomain&order=desc").await.json()), [zeta, mid, alpha]);
        assert_eq!(ids(&app.get("/clients?sort=license_expires_at").await.json()), [alpha, mid, zeta]);
        assert_eq!(ids(&app.get("/clients?sort=created_at&order=desc").await.json()), [mid, alpha, zeta]);
        assert_eq!(app.get(&format!("/clients?server_id={b}&billing_type=DEMO")).await.json()["total"], 1);
        // Totals follow every change of a filtered column (kept by triggers, not counted).
        app.call(Method::PUT, &format!("/clients/{zeta}"), form(&[("billing_type", "DEMO")])).await.expect(200);
        assert_eq!(app.get("/clients?billing_type=PAID").await.json()["total"], 0);
        assert_eq!(app.get("/clients?billing_type=DEMO").await.json()["total"], 2);
        assert_eq!(app.get(&format!("/clients?server_id={a}&state=pending")).await.json()["total"], 2);
        assert_eq!(app.get("/clients?q=zet").await.json()["total"], 1);
        assert_eq!(app.get("/clients").await.json()["total"], 3);
        for (query, field) in [("sort=password", "sort"), ("order=up", "order"), ("state=alive", "state"), ("server_id=x", "server_id")] {
            let reply = app.get(&format!("/clients?{query}")).await.expect(422);
            assert!(!reply.field_problems(field).is_empty(), "{query}");
        }
    }

    async fn a_listed_page_shows_every_change_at_once(app) {
        // Pages are cached per data version: every write must show in the next list.
        let server = app.create_server(&[("domain", "before.example.com")]).await;
        let id = app.create_client(server, &[("name", "Old name"), ("subdomain", "cachelab")]).await;
        let item = |page: Value| page["items"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
        let path = "/clients?per_page=200";
        assert_eq!(item(app.get(path).await.expect(200).json())["name"], "Old name");
        assert_eq!(item(app.get(path).await.expect(200).json())["name"], "Old name");
        app.call(Method::PUT, &format!("/clients/{id}"), form(&[("name", "New name")])).await.expect(200);
        assert_eq!(item(app.get(path).await.expect(200).json())["name"], "New name");
        app.post(&format!("/clients/{id}/expire_date"), form(&[("sender", "mol"), ("license_expires_at", "2030-01-02")])).await.expect(200);
        assert_eq!(item(app.get(path).await.expect(200).json())["license_expires_at"], "2030-01-02T00:00:00Z");
        let other = app.create_client(server, &[("subdomain", "cachelab2")]).await;
        let page = app.get(path).await.expect(200).json();
        assert!(ids(&page).contains(&other));
        assert_eq!(page["total"], 2);
    }

    async fn a_missing_client_is_404(app) {
        let reply = app.get("/clients/12345").await.expect(404);
        assert!(reply.json()["message"].as_str().unwrap().contains("12345"));
    }

    async fn the_lab_admin_password_takes_ten_characters_up_to_seventy_two_bytes(app) {
        let server = app.create_server(&[]).await.to_string();
        let base = [("server_id", server.as_str()), ("name", "Lab"), ("admin_login", "adm"), ("subdomain", "pw"), ("version_tag", "1.0-master"), ("email", "adm@lab.example")];
        // 9 characters; 37 Cyrillic letters are 37 characters but 74 bytes.
        let long = "ж".repeat(37);
        for bad in ["123456789", long.as_str()] {
            let mut fields = base.to_vec();
            fields.push(("password", bad));
            let reply = app.post("/clients/", form(&fields)).await.expect(422);
            let problems = reply.field_problems("password");
            assert!(problems[0].contains("at least 10 characters") && problems[0].contains("at most 72 bytes"), "{problems:?}");
        }
        // 36 Cyrillic letters: 72 bytes, the most bcrypt reads.
        let fits = "ж".repeat(36);
        for (i, good) in ["1234567890", fits.as_str()].into_iter().enumerate() {
            app.secret(good);
            let sub = format!("pw{i}");
            let mut fields = base.to_vec();
            fields.retain(|(k, _)| *k != "subdomain");
            fields.extend([("subdomain", sub.as_str()), ("password", good)]);
            app.post("/clients/", form(&fields)).await.expect(202);
        }
    }

    async fn an_admin_login_holds_only_what_a_laravel_login_may(app) {
        let server = app.create_server(&[]).await.to_string();
        for bad in ["$(reboot)", "`id`", "a;b", "a|b", "a b", "-rf", &"a".repeat(65)] {
            let fields = [("server_id", server.as_str()), ("name", "Lab"), ("admin_login", bad), ("subdomain", "ok"), ("version_tag", "1.0-master"), ("email", "adm@lab.example")];
            let reply = app.post("/clients/", form(&fields)).await.expect(422);
            assert!(!reply.field_problems("admin_login").is_empty(), "{bad}");
        }
        for (i, good) in ["ivan", "i.petrov", "lab_admin-2", "admin@lab.example"].iter().enumerate() {
            let sub = format!("ok{i}");
            let fields = [("server_id", server.as_str()), ("name", "Lab"), ("admin_login", good), ("subdomain", &sub), ("version_tag", "1.0-master"), ("email", "adm@lab.example")];
            app.post("/clients/", form(&fields)).await.expect(202);
        }
    }
}
