-- How many clients each (server, state, billing type) has, kept by a trigger in the same
-- transaction as every client write: the list's total for any filter but the text search is a
-- sum over these few rows, not a count over every client. Keep in step with
-- ../sqlite/0009_client_counts.sql.
CREATE TABLE client_counts (
    server_id    BIGINT NOT NULL,
    state        TEXT   NOT NULL,
    billing_type TEXT   NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (server_id, state, billing_type)
);

INSERT INTO client_counts (server_id, state, billing_type, n)
SELECT server_id, state, billing_type, COUNT(*) FROM clients GROUP BY server_id, state, billing_type;

CREATE FUNCTION alfa_client_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE client_counts SET n = n - 1
        WHERE server_id = OLD.server_id AND state = OLD.state AND billing_type = OLD.billing_type;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO client_counts (server_id, state, billing_type, n)
        VALUES (NEW.server_id, NEW.state, NEW.billing_type, 1)
        ON CONFLICT (server_id, state, billing_type) DO UPDATE SET n = client_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER client_counts_insert_delete AFTER INSERT OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION alfa_client_counts();
CREATE TRIGGER client_counts_update AFTER UPDATE OF server_id, state, billing_type ON clients
    FOR EACH ROW
    WHEN (OLD.server_id IS DISTINCT FROM NEW.server_id OR OLD.state IS DISTINCT FROM NEW.state
          OR OLD.billing_type IS DISTINCT FROM NEW.billing_type)
    EXECUTE FUNCTION alfa_client_counts();
