-- The versions the lab has seen, with what is new in each (PostgreSQL), created when missing.
CREATE TABLE IF NOT EXISTS cloud_versions (
    version    VARCHAR(128) NOT NULL PRIMARY KEY,
    info       TEXT         NULL,
    created_at TIMESTAMP(0) NULL
)
