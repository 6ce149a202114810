//! Migration 0006 on a database that already holds servers, clients, operations and events:
//! SQLite rebuilds the clients table, so nothing may be lost or unlinked on the way.

use alfa_cloud::store::{Db, clients, servers};
use sqlx::migrate::Migrator;

use crate::support::{Backend, PG_ADMIN_URL};

/// The statements that fill a database at migration 0005 (portable SQL: timestamps as
/// RFC 3339 text, which PostgreSQL casts and SQLite stores as the store writes them).
const SEED: &[&str] = &[
    "INSERT INTO servers (id, name, host, domain, ssh_port, ssh_user, base_dir, environment, \
     sql_kind, sql_port, sql_user, acme_directory, active, created_at, updated_at) VALUES \
     (1, 'msk-1', '10.0.0.5', 'lims.test', 22, 'www-data', '/srv', 'production', 'mariadb', \
     3306, 'alfa', '', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    "INSERT INTO clients (id, server_id, name, admin_login, subdomain, fqdn, timezone, \
     version_tag, billing_type, state, created_at, updated_at) VALUES \
     (1, 1, 'Old', 'a', 'central', 'central.lims.test', 'UTC', '1.0', 'TRIAL', 'deleted', \
     '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), \
     (2, 1, 'North', 'a', 'north', 'north.lims.test', 'UTC', '1.0', 'TRIAL', 'active', \
     '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), \
     (7, 1, 'South', 'a', 'south', 'south.lims.test', 'UTC', '1.0', 'PAID', 'pending', \
     '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    "INSERT INTO operations (id, kind, server_id, client_id, lock_scope, status, requested_by, \
     created_at, updated_at) VALUES (1, 'client_create', 1, 7, 'client', 'ok', 'admin', \
     '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    "UPDATE clients SET creation_operation_id = 1 WHERE id = 7",
    // A client removed for good: its id (9) stays used.
    "INSERT INTO clients (id, server_id, name, admin_login, subdomain, fqdn, timezone, \
     version_tag, billing_type, state, created_at, updated_at) VALUES (9, 1, 'Gone', 'a', \
     'gone', 'gone.lims.test', 'UTC', '1.0', 'TRIAL', 'deleted', '2026-01-01T00:00:00Z', \
     '2026-01-01T00:00:00Z')",
    "DELETE FROM clients WHERE id = 9",
    "INSERT INTO client_events (client_id, at, actor, kind, detail) VALUES \
     (2, '2026-01-01T00:00:00Z', 'mol', 'expire_date', '{}')",
];

async fn execute(db: &Db, sql: &'static str) -> sqlx::Result<u64> {
    match db {
        Db::Sqlite(pool) => sqlx::raw_sql(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        Db::Postgres(pool) => sqlx::raw_sql(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    }
}

async fn scalar(db: &Db, sql: &'static str) -> i64 {
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn upgrade_keeps_every_row_and_link(backend: Backend) {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let dir = std::env::temp_dir().join(format!("alfa-upgrade-{id}"));
    let (url, folder) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/db.sqlite", dir.display()), "sqlite"),
        Backend::Postgres => {
            let admin = Db::connect(PG_ADMIN_URL, Some(1)).await.unwrap();
            let Db::Postgres(pool) = &admin else {
                unreachable!()
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE \"alfa_up_{id}\""
            )))
            .execute(pool)
            .await
            .unwrap();
            (
                format!("postgres://postgres@127.0.0.1:5432/alfa_up_{id}"),
                "postgres",
            )
        }
    };
    // One connection: the one the migration ran on is the one asked about foreign keys.
    let db = Db::connect(&url, Some(1)).await.unwrap();
    let mut before = Migrator::new(std::path::Path::new(&format!("migrations/{folder}")))
        .await
        .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version <= 5)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    match &db {
        Db::Sqlite(pool) => before.run(pool).await.unwrap(),
        Db::Postgres(pool) => before.run(pool).await.unwrap(),
    }
    for sql in SEED {
        execute(&db, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    if backend == Backend::Postgres {
        // Explicit ids do not advance an identity (as scripts/bench-api.sh knows too).
        execute(
            &db,
            "SELECT setval(pg_get_serial_sequence('clients', 'id'), 9)",
        )
        .await
        .unwrap();
    }
    db.migrate()
        .await
        .expect("0006 applies to a database with data");

    let server = servers::get(&db, 1).await.unwrap().unwrap();
    assert_eq!(
        (server.http_port, server.client_ports()),
        (80, "20000-29999".to_owned())
    );
    let old = clients::get(&db, 1).await.unwrap().unwrap();
    let north = clients::get(&db, 2).await.unwrap().unwrap();
    let south = clients::get(&db, 7).await.unwrap().unwrap();
    assert_eq!((old.state.as_str(), old.client_port), ("deleted", None));
    assert_eq!(
        north.client_port,
        Some(20000),
        "live clients get ports in id order"
    );
    assert_eq!(south.client_port, Some(20001));
    assert_eq!(south.creation_operation_id, Some(1));
    assert!(!south.keep_on_error && south.app_key_enc.is_none());
    assert_eq!(
        scalar(&db, "SELECT client_id FROM operations WHERE id = 1").await,
        7,
        "not unlinked"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM client_events WHERE client_id = 2"
        )
        .await,
        1
    );
    // Foreign keys still hold, the data-version triggers still count, ids are not reused,
    // and a live name stays unique while the deleted one is free.
    assert!(
        execute(&db, "UPDATE clients SET server_id = 99 WHERE id = 2")
            .await
            .is_err()
    );
    let version = scalar(
        &db,
        "SELECT version FROM data_versions WHERE name = 'clients'",
    )
    .await;
    execute(&db, "UPDATE clients SET city = 'Kazan' WHERE id = 2")
        .await
        .unwrap();
    assert!(
        scalar(
            &db,
            "SELECT version FROM data_versions WHERE name = 'clients'"
        )
        .await
            > version
    );
    execute(&db, "DELETE FROM client_events").await.unwrap();
    execute(&db, "UPDATE operations SET client_id = NULL")
        .await
        .unwrap();
    execute(&db, "UPDATE clients SET creation_operation_id = NULL")
        .await
        .unwrap();
    execute(&db, "DELETE FROM clients WHERE id = 7")
        .await
        .unwrap();
    execute(
        &db,
        "INSERT INTO clients (server_id, name, admin_login, subdomain, fqdn, timezone, \
         version_tag, billing_type, state, created_at, updated_at) VALUES (1, 'New', 'a', \
         'central', 'central.lims.test', 'UTC', '1.0', 'TRIAL', 'pending', \
         '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z')",
    )
    .await
    .expect("a deleted client's name is free");
    assert!(
        scalar(&db, "SELECT MAX(id) FROM clients").await > 9,
        "an id is never reused"
    );
    assert!(
        execute(
            &db,
            "INSERT INTO clients (server_id, name, admin_login, subdomain, fqdn, timezone, \
             version_tag, billing_type, state, created_at, updated_at) VALUES (1, 'Twin', 'a', \
             'north', 'north.lims.test', 'UTC', '1.0', 'TRIAL', 'pending', \
             '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z')",
        )
        .await
        .is_err(),
        "a live client's name stays unique"
    );
    if let Db::Sqlite(pool) = &db {
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(fk, 1, "foreign keys are back on");
        let bad = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(pool)
            .await
            .unwrap();
        assert!(bad.is_empty(), "{} rows break a foreign key", bad.len());
    }
    db.close().await;
    match backend {
        Backend::Sqlite => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Backend::Postgres => {
            let admin = Db::connect(PG_ADMIN_URL, Some(1)).await.unwrap();
            let _ = execute_owned(
                &admin,
                format!("DROP DATABASE IF EXISTS \"alfa_up_{id}\" WITH (FORCE)"),
            )
            .await;
        }
    }
}

async fn execute_owned(db: &Db, sql: String) -> sqlx::Result<()> {
    match db {
        Db::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
    }
}

mod migration_0006_keeps_every_row_and_link_of_an_existing_database {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        upgrade_keeps_every_row_and_link(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        upgrade_keeps_every_row_and_link(Backend::Postgres).await;
    }
}
