-- Operations engine (SQLite). Keep in step with ../postgres/0002_operations.sql.

-- An operation: one remote action, durable before it is queued.
CREATE TABLE operations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    server_id        INTEGER REFERENCES servers (id) ON DELETE SET NULL,
    client_id        INTEGER REFERENCES clients (id) ON DELETE SET NULL,
    parent_id        INTEGER REFERENCES operations (id),
    -- What it excludes while it runs: 'client' (its client), 'server' (its server and all of
    -- that server's client operations) or 'none'.
    lock_scope       TEXT    NOT NULL CHECK (lock_scope IN ('client', 'server', 'none')),
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'ok', 'error', 'cancelled')),
    -- Why a queued operation has not started, e.g. 'waiting for operation 12'.
    status_detail    TEXT    NOT NULL DEFAULT '',
    requested_by     TEXT    NOT NULL,
    params           TEXT    NOT NULL DEFAULT '{}',
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    result           TEXT,
    error            TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    worker_id        TEXT,
    lease_until      TEXT,
    -- Last time the operation was handed to the queue; NULL until a push succeeded.
    enqueued_at      TEXT,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    updated_at       TEXT    NOT NULL
);

CREATE INDEX operations_status ON operations (status);
CREATE INDEX operations_server_id ON operations (server_id);
CREATE INDEX operations_client_id ON operations (client_id);
CREATE INDEX operations_parent_id ON operations (parent_id);

-- The ordered, append-only log of an operation.
CREATE TABLE operation_logs (
    operation_id INTEGER NOT NULL REFERENCES operations (id),
    seq          INTEGER NOT NULL,
    at           TEXT    NOT NULL,
    stream       TEXT    NOT NULL CHECK (stream IN ('out', 'err', 'step', 'info')),
    line         TEXT    NOT NULL,
    PRIMARY KEY (operation_id, seq)
);

-- Idempotency-Key: the first response to a key is replayed for 24 hours.
CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    status       INTEGER,
    body         TEXT,
    created_at   TEXT    NOT NULL
);

ALTER TABLE clients ADD COLUMN creation_operation_id INTEGER REFERENCES operations (id);

ALTER TABLE servers ADD COLUMN host_key TEXT;
ALTER TABLE servers ADD COLUMN last_check TEXT;
ALTER TABLE servers ADD COLUMN reachable BOOLEAN;
ALTER TABLE servers ADD COLUMN reachable_checked_at TEXT;
