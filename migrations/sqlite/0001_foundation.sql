-- Foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql:
-- the same tables, columns and constraints; only the types' spelling differs.

CREATE TABLE admin_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE auth_failures (
    ip            TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  TEXT    NOT NULL,
    locked_until  TEXT
);

CREATE TABLE servers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    host             TEXT    NOT NULL,
    domain           TEXT    NOT NULL,
    ssh_port         INTEGER NOT NULL,
    ssh_user         TEXT    NOT NULL,
    base_dir         TEXT    NOT NULL,
    environment      TEXT    NOT NULL CHECK (environment IN ('production', 'stage')),
    sql_kind         TEXT    NOT NULL CHECK (sql_kind IN ('mariadb', 'postgres')),
    sql_port         INTEGER NOT NULL,
    sql_user         TEXT    NOT NULL,
    sql_password_enc TEXT,
    acme_directory   TEXT    NOT NULL DEFAULT '',
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE TABLE billing_types (
    code        TEXT    PRIMARY KEY,
    title       TEXT    NOT NULL,
    sort_order  INTEGER NOT NULL
);

INSERT INTO billing_types (code, title, sort_order) VALUES
    ('DEMO', 'Demo', 1),
    ('TEST', 'Test', 2),
    ('TRIAL', 'Trial', 3),
    ('PAID', 'Paid', 4);

CREATE TABLE clients (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id          INTEGER NOT NULL REFERENCES servers (id),
    name               TEXT    NOT NULL,
    short_name         TEXT    NOT NULL DEFAULT '',
    admin_f            TEXT    NOT NULL DEFAULT '',
    admin_i            TEXT    NOT NULL DEFAULT '',
    admin_o            TEXT    NOT NULL DEFAULT '',
    admin_login        TEXT    NOT NULL,
    password_enc       TEXT,
    subdomain          TEXT    NOT NULL,
    -- subdomain.domain, kept in step with the server's domain: the unique index makes
    -- "subdomain unique on its server's domain" hold under concurrent requests too.
    fqdn               TEXT    NOT NULL UNIQUE,
    email              TEXT    NOT NULL DEFAULT '',
    phone              TEXT    NOT NULL DEFAULT '',
    city               TEXT    NOT NULL DEFAULT '',
    timezone           TEXT    NOT NULL,
    version_tag        TEXT    NOT NULL,
    allowed_ips        TEXT    NOT NULL DEFAULT '[]',
    config             TEXT    NOT NULL DEFAULT '',
    license            TEXT    NOT NULL DEFAULT '',
    license_expires_at TEXT,
    billing_type       TEXT    NOT NULL REFERENCES billing_types (code),
    state              TEXT    NOT NULL,
    available          BOOLEAN,
    checked_at         TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);

CREATE INDEX clients_server_id ON clients (server_id);
CREATE INDEX clients_name ON clients (name);
CREATE INDEX clients_subdomain ON clients (subdomain);
CREATE INDEX clients_created_at ON clients (created_at);
CREATE INDEX clients_license_expires_at ON clients (license_expires_at);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    ip          TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    target_kind TEXT,
    target_id   INTEGER,
    fields      TEXT    NOT NULL,
    request_id  TEXT    NOT NULL
);

CREATE TABLE client_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id  INTEGER NOT NULL REFERENCES clients (id),
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);

CREATE INDEX client_events_client_id ON client_events (client_id);
