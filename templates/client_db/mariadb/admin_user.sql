-- The lab's administrator in Laravel's users table (MariaDB). Binds: name, email, bcrypt
-- password hash, created_at, updated_at.
INSERT INTO users (name, email, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE name = VALUES(name), password = VALUES(password), updated_at = VALUES(updated_at)
