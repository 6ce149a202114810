-- One setting's value (PostgreSQL), to read back what was written. Binds: key.
SELECT value FROM cloud_settings WHERE key = $1
