-- The daily schedule's runs (postgres). Keep in step with ../sqlite/0012_schedule_runs.sql.
-- One row per task and day (UTC), inserted by the scheduler before it starts the day's work:
-- a task runs once a day even across restarts and several workers.
CREATE TABLE schedule_runs (
    name       TEXT NOT NULL,
    day        TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, day)
);
