-- no-transaction
-- Client lifecycle (SQLite). Keep in step with ../postgres/0006_lifecycle.sql.
--
-- Runs outside sqlx's transaction (the first line) because the clients table is rebuilt to
-- drop the UNIQUE constraint on fqdn, and that needs foreign keys off, which SQLite ignores
-- inside a transaction. With them on, DROP TABLE clients would delete every row first and
-- fire operations.client_id's ON DELETE SET NULL. The work itself is one transaction below
-- (SQLite's documented 12-step table rebuild), so a failure leaves the schema as it was.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- The web front, certificates, client ports and the SQL host as the containers see it, with
-- the defaults a standard Debian server needs.
ALTER TABLE servers ADD COLUMN http_port INTEGER NOT NULL DEFAULT 80;
ALTER TABLE servers ADD COLUMN https_port INTEGER NOT NULL DEFAULT 443;
-- '' = all addresses; else one IP address the vhosts listen on.
ALTER TABLE servers ADD COLUMN listen_address TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN letsencrypt_dir TEXT NOT NULL DEFAULT '/etc/letsencrypt';
ALTER TABLE servers ADD COLUMN db_host_for_clients TEXT NOT NULL DEFAULT 'host.docker.internal';
ALTER TABLE servers ADD COLUMN client_port_min INTEGER NOT NULL DEFAULT 20000;
ALTER TABLE servers ADD COLUMN client_port_max INTEGER NOT NULL DEFAULT 29999;

CREATE TABLE clients_new (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id             INTEGER NOT NULL REFERENCES servers (id),
    name                  TEXT    NOT NULL,
    short_name            TEXT    NOT NULL DEFAULT '',
    admin_f               TEXT    NOT NULL DEFAULT '',
    admin_i               TEXT    NOT NULL DEFAULT '',
    admin_o               TEXT    NOT NULL DEFAULT '',
    admin_login           TEXT    NOT NULL,
    password_enc          TEXT,
    subdomain             TEXT    NOT NULL,
    -- subdomain.domain; unique among the clients that are not deleted (index below), so a
    -- deleted client's name can be given to a new one.
    fqdn                  TEXT    NOT NULL,
    email                 TEXT    NOT NULL DEFAULT '',
    phone                 TEXT    NOT NULL DEFAULT '',
    city                  TEXT    NOT NULL DEFAULT '',
    timezone              TEXT    NOT NULL,
    version_tag           TEXT    NOT NULL,
    allowed_ips           TEXT    NOT NULL DEFAULT '[]',
    config                TEXT    NOT NULL DEFAULT '',
    license               TEXT    NOT NULL DEFAULT '',
    license_expires_at    TEXT,
    billing_type          TEXT    NOT NULL REFERENCES billing_types (code),
    state                 TEXT    NOT NULL,
    available             BOOLEAN,
    checked_at            TEXT,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    creation_operation_id INTEGER REFERENCES operations (id),
    -- The port the client's container publishes on 127.0.0.1 of its server; NULL once deleted.
    client_port           INTEGER,
    -- Sealed with the master key (associated data clients.app_key, clients.db_password,
    -- clients.cloud_token).
    app_key_enc           TEXT,
    db_password_enc       TEXT,
    cloud_token_enc       TEXT,
    -- Keep what a failed creation made, for inspection, instead of undoing it.
    keep_on_error         BOOLEAN NOT NULL DEFAULT FALSE
);

INSERT INTO clients_new (id, server_id, name, short_name, admin_f, admin_i, admin_o, admin_login,
    password_enc, subdomain, fqdn, email, phone, city, timezone, version_tag, allowed_ips, config,
    license, license_expires_at, billing_type, state, available, checked_at, created_at,
    updated_at, creation_operation_id)
SELECT id, server_id, name, short_name, admin_f, admin_i, admin_o, admin_login,
    password_enc, subdomain, fqdn, email, phone, city, timezone, version_tag, allowed_ips, config,
    license, license_expires_at, billing_type, state, available, checked_at, created_at,
    updated_at, creation_operation_id
FROM clients;

-- AUTOINCREMENT never reuses an id: carry the old counter over (it may be above MAX(id)).
DELETE FROM sqlite_sequence WHERE name = 'clients_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'clients_new', seq FROM sqlite_sequence WHERE name = 'clients';

-- Drops its indexes and the data-version triggers of 0003 with it; operations and
-- client_events keep referring to "clients", which the rename makes the new table.
DROP TABLE clients;
ALTER TABLE clients_new RENAME TO clients;

CREATE INDEX clients_server_id ON clients (server_id);
CREATE INDEX clients_name ON clients (name);
CREATE INDEX clients_subdomain ON clients (subdomain);
CREATE INDEX clients_created_at ON clients (created_at);
CREATE INDEX clients_license_expires_at ON clients (license_expires_at);
CREATE UNIQUE INDEX clients_fqdn_live ON clients (fqdn) WHERE state <> 'deleted';
-- Two live clients of one server never share a port, even when two creations race.
CREATE UNIQUE INDEX clients_port_live ON clients (server_id, client_port)
    WHERE state <> 'deleted' AND client_port IS NOT NULL;

CREATE TRIGGER clients_version_insert AFTER INSERT ON clients
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_version_update AFTER UPDATE ON clients
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_version_delete AFTER DELETE ON clients
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;

-- Clients registered before this migration get ports in id order from their server's range.
UPDATE clients SET client_port = (
    SELECT s.client_port_min + (
        SELECT COUNT(*) FROM clients earlier
        WHERE earlier.server_id = clients.server_id AND earlier.state <> 'deleted'
          AND earlier.id < clients.id)
    FROM servers s WHERE s.id = clients.server_id)
WHERE state <> 'deleted';

COMMIT;
PRAGMA foreign_keys = ON;
