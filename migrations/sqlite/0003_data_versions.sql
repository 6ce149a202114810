-- A counter per data set, bumped by triggers on every write to it, in every process: the
-- API's page cache (GET /clients) serves a page only while the counter it was built at holds.
CREATE TABLE data_versions (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0
);
INSERT INTO data_versions (name, version) VALUES ('clients', 0);

CREATE TRIGGER clients_version_insert AFTER INSERT ON clients
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_version_update AFTER UPDATE ON clients
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_version_delete AFTER DELETE ON clients
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;
-- A client's URL shows its server's domain (a server with clients cannot be deleted, and a
-- new one has none).
CREATE TRIGGER servers_domain_version AFTER UPDATE OF domain ON servers
BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'clients'; END;
