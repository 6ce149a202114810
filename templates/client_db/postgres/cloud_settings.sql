-- Our settings table in the lab's database (PostgreSQL), created when missing.
CREATE TABLE IF NOT EXISTS cloud_settings (
    key        VARCHAR(191) NOT NULL PRIMARY KEY,
    value      TEXT         NULL,
    updated_at TIMESTAMP(0) NULL
)
