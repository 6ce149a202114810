-- One setting (MariaDB). Binds: key, value, updated_at.
INSERT INTO cloud_settings (`key`, `value`, updated_at) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), updated_at = VALUES(updated_at)
