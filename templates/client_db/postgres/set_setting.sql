-- One setting (PostgreSQL). Binds: key, value, updated_at.
INSERT INTO cloud_settings (key, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
