-- The steps of each attempt of an operation (PostgreSQL). Keep in step with
-- ../sqlite/0005_operation_steps.sql.

-- A step a kind marked with `ctx.step(name)`: so a retry can see where the last attempt
-- failed, and a person which step took how long.
CREATE TABLE operation_steps (
    operation_id BIGINT      NOT NULL REFERENCES operations (id),
    attempt      BIGINT      NOT NULL,
    seq          BIGINT      NOT NULL,
    name         TEXT        NOT NULL,
    status       TEXT        NOT NULL CHECK (status IN ('running', 'ok', 'error', 'cancelled')),
    started_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
    PRIMARY KEY (operation_id, attempt, seq)
);
