-- Removes one setting (MariaDB): a move's marker, or a copy's setting the target did not have.
-- Binds: key.
DELETE FROM cloud_settings WHERE `key` = ?
