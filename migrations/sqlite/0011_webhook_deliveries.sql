-- Webhook deliveries (SQLite). Keep in step with ../postgres/0011_webhook_deliveries.sql.

-- One row per operation ending while ALFA_WEBHOOK_URL is set, written in the transaction that
-- ends the operation (so a crash never loses an event), then POSTed by the workers'
-- dispatcher. `body` is the exact JSON sent (and signed); the signature is computed at each
-- try and never stored. A try claims the row by moving next_try_at past its own time limit,
-- so several worker processes never send one row at once.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    operation_id     INTEGER NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    -- The attempt that ended (0: cancelled before it ever started).
    attempt          INTEGER NOT NULL,
    body             TEXT    NOT NULL,
    -- pending, delivered or failed (tries used up).
    status           TEXT    NOT NULL DEFAULT 'pending',
    tries            INTEGER NOT NULL DEFAULT 0,
    next_try_at      TEXT    NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TEXT    NOT NULL,
    delivered_at     TEXT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_try_at);
CREATE INDEX webhook_deliveries_operation ON webhook_deliveries (operation_id);
