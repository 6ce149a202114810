-- A version and what is new in it (MariaDB), written once: a second write of the same version
-- keeps its row and created_at, and only brings info up to date. Binds: version, info, created_at.
INSERT INTO cloud_versions (version, info, created_at) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE info = VALUES(info)
