-- The lab's administrator in Laravel's users table (PostgreSQL). Binds: name, email, bcrypt
-- password hash, created_at, updated_at.
INSERT INTO users (name, email, password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, password = EXCLUDED.password,
    updated_at = EXCLUDED.updated_at
