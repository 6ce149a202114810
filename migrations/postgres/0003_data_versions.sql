-- A counter per data set, bumped by triggers on every write to it, in every process: the
-- API's page cache (GET /clients) serves a page only while the counter it was built at holds.
CREATE TABLE data_versions (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO data_versions (name, version) VALUES ('clients', 0);

CREATE FUNCTION bump_clients_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE data_versions SET version = version + 1 WHERE name = 'clients';
    RETURN NULL;
END $$;

CREATE TRIGGER clients_version AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION bump_clients_version();
-- A client's URL shows its server's domain (a server with clients cannot be deleted, and a
-- new one has none).
CREATE TRIGGER servers_domain_version AFTER UPDATE OF domain ON servers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_clients_version();
