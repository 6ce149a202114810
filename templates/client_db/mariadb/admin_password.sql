-- A new password for the lab's administrator (MariaDB), its other columns untouched. Binds:
-- bcrypt password hash, updated_at, email.
UPDATE users SET password = ?, updated_at = ? WHERE email = ?
