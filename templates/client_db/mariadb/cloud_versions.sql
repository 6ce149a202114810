-- The versions the lab has seen, with what is new in each (MariaDB), created when missing.
CREATE TABLE IF NOT EXISTS cloud_versions (
    version    VARCHAR(128) NOT NULL PRIMARY KEY,
    info       LONGTEXT     NULL,
    created_at TIMESTAMP    NULL
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
