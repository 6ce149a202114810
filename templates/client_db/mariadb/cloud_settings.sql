-- Our settings table in the lab's database (MariaDB), created when missing.
CREATE TABLE IF NOT EXISTS cloud_settings (
    `key`      VARCHAR(191) NOT NULL PRIMARY KEY,
    `value`    LONGTEXT     NULL,
    updated_at TIMESTAMP    NULL
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
