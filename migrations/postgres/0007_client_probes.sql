-- Client probes and leases (PostgreSQL). Keep in step with ../sqlite/0007_client_probes.sql.

-- What the probe loop last saw of each client, apart from the client rows: no trigger bumps
-- the clients' data version here, so a probe pass never invalidates the cached client list.
-- The list joins these rows when it serves a page.
CREATE TABLE client_probes (
    client_id       BIGINT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    -- Its app answered /up through nginx with 200.
    available       BOOLEAN NOT NULL,
    -- {client_dir}/maintenance.on exists; NULL when the server could not be asked.
    maintenance     BOOLEAN,
    -- The image tag its running container was started from; NULL when none runs.
    running_version TEXT,
    -- Rows in the lab's users table; NULL when its database could not be read.
    users_count     BIGINT,
    checked_at      TIMESTAMPTZ NOT NULL,
    -- Why it is unavailable or a figure is missing; '' when all went well.
    error           TEXT NOT NULL DEFAULT ''
);

-- Bumped by the prober in the transaction that writes a server's results (not by a
-- trigger): the list's cache splices fresh probe fields into a cached page when it changed.
INSERT INTO data_versions (name, version) VALUES ('client_probes', 0);

-- Named leases: at most one holder at a time across every process sharing the database
-- (the probe loop; the mail scheduler). A holder that stops renewing loses it at expires_at.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- A timestamp as a JSON string exactly as the API's serde writes it (RFC 3339 in UTC, `Z`,
-- seconds' fraction in 0, 3 or 6 digits): GET /clients builds its page in SQL. STABLE like
-- to_char, so the planner inlines it (an IMMUTABLE wrapper of a STABLE body is called as a
-- function, row by row: 5x slower pages).
CREATE FUNCTION alfa_json_time(t TIMESTAMPTZ) RETURNS TEXT LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN 'null' ELSE
        '"' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') ||
        CASE
            WHEN extract(microseconds FROM t)::bigint % 1000000 = 0 THEN ''
            WHEN extract(microseconds FROM t)::bigint % 1000 = 0
                THEN '.' || to_char(t AT TIME ZONE 'UTC', 'MS')
            ELSE '.' || to_char(t AT TIME ZONE 'UTC', 'US')
        END || 'Z"'
    END
$$;

-- The probe results lived on the clients table, written nowhere.
ALTER TABLE clients DROP COLUMN available;
ALTER TABLE clients DROP COLUMN checked_at;
