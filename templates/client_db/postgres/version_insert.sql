-- A version and what is new in it (PostgreSQL), written once: a second write of the same
-- version keeps its row and created_at, and only brings info up to date. Binds: version, info,
-- created_at.
INSERT INTO cloud_versions (version, info, created_at) VALUES ($1, $2, $3)
ON CONFLICT (version) DO UPDATE SET info = EXCLUDED.info
