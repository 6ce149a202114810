-- The info of one version, read back (MariaDB). Binds: version.
SELECT info FROM cloud_versions WHERE version = ?
