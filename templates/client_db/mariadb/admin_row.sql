-- The lab's administrator as Laravel's users table holds it (MariaDB): name, then the password
-- hash, to read back what was written. Binds: email.
SELECT name, password FROM users WHERE email = ?
