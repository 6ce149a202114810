-- How many clients each (server, state, billing type) has, kept by triggers in the same
-- transaction as every client write: the list's total for any filter but the text search is a
-- sum over these few rows, not a count over every client. Keep in step with
-- ../postgres/0009_client_counts.sql.
CREATE TABLE client_counts (
    server_id    INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    billing_type TEXT    NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (server_id, state, billing_type)
);

INSERT INTO client_counts (server_id, state, billing_type, n)
SELECT server_id, state, billing_type, COUNT(*) FROM clients GROUP BY server_id, state, billing_type;

CREATE TRIGGER client_counts_insert AFTER INSERT ON clients
BEGIN
    INSERT INTO client_counts (server_id, state, billing_type, n)
    VALUES (NEW.server_id, NEW.state, NEW.billing_type, 1)
    ON CONFLICT (server_id, state, billing_type) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER client_counts_delete AFTER DELETE ON clients
BEGIN
    UPDATE client_counts SET n = n - 1
    WHERE server_id = OLD.server_id AND state = OLD.state AND billing_type = OLD.billing_type;
END;

CREATE TRIGGER client_counts_update AFTER UPDATE OF server_id, state, billing_type ON clients
WHEN OLD.server_id <> NEW.server_id OR OLD.state <> NEW.state OR OLD.billing_type <> NEW.billing_type
BEGIN
    UPDATE client_counts SET n = n - 1
    WHERE server_id = OLD.server_id AND state = OLD.state AND billing_type = OLD.billing_type;
    INSERT INTO client_counts (server_id, state, billing_type, n)
    VALUES (NEW.server_id, NEW.state, NEW.billing_type, 1)
    ON CONFLICT (server_id, state, billing_type) DO UPDATE SET n = n + 1;
END;
