-- One setting's value (MariaDB), to read back what was written. Binds: key.
SELECT `value` FROM cloud_settings WHERE `key` = ?
