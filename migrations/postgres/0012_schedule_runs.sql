-- The daily schedule's runs and the licence reminders sent (postgres). Keep in step with ../sqlite/0012_schedule_runs.sql.
-- One row per task and day (UTC), inserted by the scheduler before it starts the day's work:
-- a task runs once a day even across restarts and several workers.
CREATE TABLE schedule_runs (
    name       TEXT NOT NULL,
    day        TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, day)
);

-- The licence reminders sent: one row per client, licence end (its date in the client's time
-- zone) and threshold (30, 7, 1 or 0 days before), inserted before the mail is queued, so each
-- is sent once even across restarts and several workers, and a renewed licence (a new end
-- date) gets its reminders again.
CREATE TABLE reminders_sent (
    client_id    BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    expires_on   TEXT NOT NULL,
    threshold    BIGINT NOT NULL,
    sent_at      TIMESTAMPTZ NOT NULL,
    operation_id BIGINT,
    PRIMARY KEY (client_id, expires_on, threshold)
);
