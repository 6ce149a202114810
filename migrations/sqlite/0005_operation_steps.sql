-- The steps of each attempt of an operation (SQLite). Keep in step with
-- ../postgres/0005_operation_steps.sql.

-- A step a kind marked with `ctx.step(name)`: so a retry can see where the last attempt
-- failed, and a person which step took how long.
CREATE TABLE operation_steps (
    operation_id INTEGER NOT NULL REFERENCES operations (id),
    attempt      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'error', 'cancelled')),
    started_at   TEXT    NOT NULL,
    ended_at     TEXT,
    PRIMARY KEY (operation_id, attempt, seq)
);
