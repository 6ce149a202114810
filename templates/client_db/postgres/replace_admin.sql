-- A copy's target takes over the source's administrator row in the copied data (its id, and
-- so whatever the LIMS ties to it, stay), with the target's own name, e-mail and password hash
-- (PostgreSQL). Binds: name, email, bcrypt password hash, updated_at, the source admin's email.
UPDATE users SET name = $1, email = $2, password = $3, remember_token = NULL, updated_at = $4 WHERE email = $5
