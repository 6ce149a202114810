-- The lab's administrator as Laravel's users table holds it (PostgreSQL): name, then the
-- password hash, to read back what was written. Binds: email.
SELECT name::text, password::text FROM users WHERE email = $1
