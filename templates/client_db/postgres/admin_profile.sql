-- A new name and e-mail address for the lab's administrator (PostgreSQL), the password
-- untouched. Binds: name, new email, updated_at, the email the row has now.
UPDATE users SET name = $1, email = $2, updated_at = $3 WHERE email = $4
