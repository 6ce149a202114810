-- Client lifecycle (PostgreSQL). Keep in step with ../sqlite/0006_lifecycle.sql.

-- The web front, certificates, client ports and the SQL host as the containers see it, with
-- the defaults a standard Debian server needs.
ALTER TABLE servers ADD COLUMN http_port BIGINT NOT NULL DEFAULT 80;
ALTER TABLE servers ADD COLUMN https_port BIGINT NOT NULL DEFAULT 443;
-- '' = all addresses; else one IP address the vhosts listen on.
ALTER TABLE servers ADD COLUMN listen_address TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN letsencrypt_dir TEXT NOT NULL DEFAULT '/etc/letsencrypt';
ALTER TABLE servers ADD COLUMN db_host_for_clients TEXT NOT NULL DEFAULT 'host.docker.internal';
ALTER TABLE servers ADD COLUMN client_port_min BIGINT NOT NULL DEFAULT 20000;
ALTER TABLE servers ADD COLUMN client_port_max BIGINT NOT NULL DEFAULT 29999;

-- The port the client's container publishes on 127.0.0.1 of its server; NULL once deleted.
ALTER TABLE clients ADD COLUMN client_port BIGINT;
-- Sealed with the master key (associated data clients.app_key, clients.db_password,
-- clients.cloud_token).
ALTER TABLE clients ADD COLUMN app_key_enc TEXT;
ALTER TABLE clients ADD COLUMN db_password_enc TEXT;
ALTER TABLE clients ADD COLUMN cloud_token_enc TEXT;
-- Keep what a failed creation made, for inspection, instead of undoing it.
ALTER TABLE clients ADD COLUMN keep_on_error BOOLEAN NOT NULL DEFAULT FALSE;

-- subdomain.domain is unique among the clients that are not deleted, so a deleted client's
-- name can be given to a new one.
ALTER TABLE clients DROP CONSTRAINT clients_fqdn_key;
CREATE UNIQUE INDEX clients_fqdn_live ON clients (fqdn) WHERE state <> 'deleted';
-- Two live clients of one server never share a port, even when two creations race.
CREATE UNIQUE INDEX clients_port_live ON clients (server_id, client_port)
    WHERE state <> 'deleted' AND client_port IS NOT NULL;

-- Clients registered before this migration get ports in id order from their server's range.
UPDATE clients SET client_port = (
    SELECT s.client_port_min + (
        SELECT COUNT(*) FROM clients earlier
        WHERE earlier.server_id = clients.server_id AND earlier.state <> 'deleted'
          AND earlier.id < clients.id)
    FROM servers s WHERE s.id = clients.server_id)
WHERE state <> 'deleted';
