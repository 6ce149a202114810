-- A new password for the lab's administrator (PostgreSQL), its other columns untouched. Binds:
-- bcrypt password hash, updated_at, email.
UPDATE users SET password = $1, updated_at = $2 WHERE email = $3
