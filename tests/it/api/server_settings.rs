//! The server settings client creation needs (web ports, listen address, certificates, the
//! SQL host as containers see it, client ports), and what a server with clients may not change.

use alfa_cloud::store::{Db, clients};

use crate::on_both_backends;
use crate::support::{TestApp, form};

/// A second pool on the test app's database, for what no endpoint does yet.
pub async fn db(app: &TestApp) -> Db {
    Db::connect(&app.database_url, Some(2))
        .await
        .expect("the test database opens")
}

on_both_backends! {
    async fn a_new_server_shows_the_settings_a_standard_debian_server_needs(app) {
        let id = app.create_server(&[]).await;
        let server = app.get(&format!("/servers/{id}")).await.expect(200).json();
        assert_eq!(server["http_port"], 80);
        assert_eq!(server["https_port"], 443);
        assert_eq!(server["listen_address"], "");
        assert_eq!(server["letsencrypt_dir"], "/etc/letsencrypt");
        assert_eq!(server["db_host_for_clients"], "host.docker.internal");
        assert_eq!(server["client_ports"], "20000-29999");
    }

    async fn server_settings_are_stored_shown_and_kept_by_updates_that_leave_them_out(app) {
        let id = app
            .create_server(&[
                ("http_port", "8080"), ("https_port", "8443"), ("listen_address", "[2001:DB8::5]"),
                ("letsencrypt_dir", "/srv/certs/"), ("db_host_for_clients", "172.17.0.1"),
                ("client_ports", "40000-40999"),
            ])
            .await;
        let shown = app.get(&format!("/servers/{id}")).await.expect(200).json();
        assert_eq!(shown["http_port"], 8080);
        assert_eq!(shown["https_port"], 8443);
        assert_eq!(shown["listen_address"], "2001:db8::5", "stored in canonical form");
        assert_eq!(shown["letsencrypt_dir"], "/srv/certs");
        assert_eq!(shown["db_host_for_clients"], "172.17.0.1");
        assert_eq!(shown["client_ports"], "40000-40999");
        let updated = app.post("/servers/", form(&[("id", &id.to_string()), ("name", "renamed")])).await.expect(200).json();
        for field in ["http_port", "https_port", "listen_address", "letsencrypt_dir", "db_host_for_clients", "client_ports"] {
            assert_eq!(updated[field], shown[field], "{field}");
        }
        // An empty listen_address means all addresses, not "keep".
        let all = app.post("/servers/", form(&[("id", &id.to_string()), ("listen_address", "")])).await.expect(200).json();
        assert_eq!(all["listen_address"], "");
        let row = alfa_cloud::store::servers::get(&db(&app).await, id).await.unwrap().unwrap();
        assert_eq!(row.listen_on(443), "443");
        assert_eq!((row.client_port_min, row.client_port_max), (40000, 40999));
    }

    async fn each_server_setting_is_validated_naming_its_field(app) {
        app.secret("p-0000000003");
        let bad: &[(&str, &str)] = &[
            ("http_port", "0"), ("http_port", "65536"), ("http_port", "http"),
            ("https_port", "-1"), ("https_port", "99999"),
            ("listen_address", "localhost"), ("listen_address", "10.0.0.300"), ("listen_address", "10.0.0.5:80"),
            ("letsencrypt_dir", "etc/letsencrypt"), ("letsencrypt_dir", "/etc/../root"), ("letsencrypt_dir", "/etc/lets encrypt"),
            ("letsencrypt_dir", "/"),
            ("db_host_for_clients", "bad host!"), ("db_host_for_clients", "db;reboot"),
            ("client_ports", "20000"), ("client_ports", "80-90"), ("client_ports", "1023-2000"),
            ("client_ports", "30000-20000"), ("client_ports", "20000-65536"), ("client_ports", "a-b"),
        ];
        for (field, value) in bad {
            let fields = [("name", "x"), ("host", "10.0.0.1"), ("domain", "a.example.com"), ("sql_user", "u"), ("sql_password", "p-0000000003"), (field, value)];
            let reply = app.post("/servers/", form(&fields)).await.expect(422);
            assert!(!reply.field_problems(field).is_empty(), "{field}={value}");
            assert_eq!(reply.json()["fields"].as_object().unwrap().len(), 1, "only {field} is wrong: {}", reply.text);
        }
        let reply = app.post("/servers/", form(&[("name", "x"), ("host", "10.0.0.1"), ("domain", "a.example.com"), ("sql_user", "u"), ("sql_password", "p-0000000003"), ("client_ports", "5-1")])).await.expect(422);
        assert!(reply.field_problems("client_ports")[0].contains("1024"), "the message states the rule: {}", reply.text);
    }

    async fn changing_where_a_servers_clients_live_is_refused_naming_them(app) {
        let server = app.create_server(&[("name", "msk-1"), ("domain", "old.test")]).await;
        let central = app.create_client(server, &[("subdomain", "central")]).await;
        let north = app.create_client(server, &[("subdomain", "north")]).await;
        let id = server.to_string();
        let changes: &[(&str, &str)] = &[
            ("domain", "new.test"), ("base_dir", "/data"), ("sql_kind", "postgres"), ("sql_port", "3307"),
            ("http_port", "8080"), ("https_port", "8443"), ("listen_address", "10.0.0.5"),
            ("client_ports", "30000-30999"),
        ];
        for (field, value) in changes {
            let reply = app.post("/servers/", form(&[("id", &id), (field, value)])).await.expect(409);
            let message = reply.json()["message"].as_str().unwrap().to_owned();
            assert!(message.contains(&format!("server msk-1 has clients central ({central}), north ({north})")), "{field}: {message}");
            assert!(message.contains("move or delete them first") && message.contains(field), "{field}: {message}");
        }
        let shown = app.get(&format!("/servers/{server}")).await.json();
        assert_eq!((shown["domain"].as_str(), shown["sql_kind"].as_str(), shown["client_ports"].as_str()), (Some("old.test"), Some("mariadb"), Some("20000-29999")));
        assert_eq!(app.get(&format!("/clients/{central}")).await.json()["url"], "https://central.old.test");
        // What the clients were not set up with may change.
        let fine = app
            .post("/servers/", form(&[("id", &id), ("name", "msk-01"), ("ssh_port", "2222"), ("letsencrypt_dir", "/srv/le"), ("db_host_for_clients", "172.17.0.1"), ("domain", "old.test")]))
            .await
            .expect(200)
            .json();
        assert_eq!(fine["ssh_port"], 2222);
    }

    async fn a_server_whose_clients_are_all_deleted_may_change_anything(app) {
        let empty = app.create_server(&[("name", "empty"), ("domain", "empty.test")]).await;
        app.post("/servers/", form(&[("id", &empty.to_string()), ("domain", "moved.test"), ("https_port", "8443"), ("client_ports", "30000-30009")])).await.expect(200);
        let server = app.create_server(&[("name", "gone"), ("domain", "gone.test")]).await;
        let client = app.create_client(server, &[("subdomain", "lab")]).await;
        clients::mark_deleted(&db(&app).await, client).await.unwrap();
        let moved = app.post("/servers/", form(&[("id", &server.to_string()), ("domain", "empty.test"), ("base_dir", "/data")])).await.expect(200).json();
        assert_eq!(moved["domain"], "empty.test");
    }

    async fn a_client_port_range_may_change_while_it_holds_every_clients_port(app) {
        let server = app.create_server(&[("name", "ports"), ("client_ports", "20000-20009")]).await;
        let first = app.create_client(server, &[("subdomain", "first")]).await;
        let second = app.create_client(server, &[("subdomain", "second")]).await;
        let id = server.to_string();
        let narrowed = app.post("/servers/", form(&[("id", &id), ("client_ports", "20000-20001")])).await.expect(200).json();
        assert_eq!(narrowed["client_ports"], "20000-20001");
        let reply = app.post("/servers/", form(&[("id", &id), ("client_ports", "20001-20100")])).await.expect(409);
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("first ({first})")) && !message.contains("second"), "only the client left out is named: {message}");
        assert!(message.contains("client_ports"), "{message}");
        let _ = second;
    }
}
