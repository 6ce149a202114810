-- The info of one version, read back (PostgreSQL). Binds: version.
SELECT info FROM cloud_versions WHERE version = $1
