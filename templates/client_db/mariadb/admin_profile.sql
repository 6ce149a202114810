-- A new name and e-mail address for the lab's administrator (MariaDB), the password
-- untouched. Binds: name, new email, updated_at, the email the row has now.
UPDATE users SET name = ?, email = ?, updated_at = ? WHERE email = ?
