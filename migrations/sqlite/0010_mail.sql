-- Mail (issue 9): each client's mail language, and every mail sent or failed. The client's
-- JSON (client_docs, migration 0008) gains "locale" after "keep_on_error", where serde writes
-- it (api::clients::ClientView): the triggers are made again with it and every doc rebuilt.
-- Keep in step with ../postgres/0010_mail.sql.
ALTER TABLE clients ADD COLUMN locale TEXT NOT NULL DEFAULT 'ru';

CREATE TABLE mails (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id    INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    operation_id INTEGER,
    kind         TEXT    NOT NULL,
    to_addr      TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    sent_at      TEXT    NOT NULL,
    result       TEXT    NOT NULL,
    message_id   TEXT    NOT NULL DEFAULT '',
    smtp_reply   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX mails_by_client ON mails (client_id, id);
CREATE INDEX mails_by_operation ON mails (operation_id);

DROP TRIGGER client_docs_insert;
DROP TRIGGER client_docs_update;

CREATE TRIGGER client_docs_insert AFTER INSERT ON clients
BEGIN
    INSERT OR REPLACE INTO client_docs (client_id, doc)
    SELECT c.id, ('{"id":' || CAST(c.id AS TEXT)
        || ',"server_id":' || CAST(c.server_id AS TEXT)
        || ',"name":' || json_quote(c.name)
        || ',"short_name":' || json_quote(c.short_name)
        || ',"admin_f":' || json_quote(c.admin_f)
        || ',"admin_i":' || json_quote(c.admin_i)
        || ',"admin_o":' || json_quote(c.admin_o)
        || ',"admin_login":' || json_quote(c.admin_login)
        || ',"password_set":' || CASE WHEN c.password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"subdomain":' || json_quote(c.subdomain)
        || ',"url":' || json_quote('https://' || c.fqdn)
        || ',"email":' || json_quote(c.email)
        || ',"phone":' || json_quote(c.phone)
        || ',"city":' || json_quote(c.city)
        || ',"timezone":' || json_quote(c.timezone)
        || ',"version_tag":' || json_quote(c.version_tag)
        || ',"allowed_ips":' || c.allowed_ips
        || ',"config":' || json_quote(c.config)
        || ',"license":' || json_quote(c.license)
        || ',"license_expires_at":' || json_quote(replace(c.license_expires_at, '+00:00', 'Z'))
        || ',"billing_type":' || json_quote(c.billing_type)
        || ',"state":' || json_quote(c.state)
        || ',"created_at":' || json_quote(replace(c.created_at, '+00:00', 'Z'))
        || ',"updated_at":' || json_quote(replace(c.updated_at, '+00:00', 'Z'))
        || ',"client_port":' || COALESCE(CAST(c.client_port AS TEXT), 'null')
        || ',"app_key_set":' || CASE WHEN c.app_key_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"db_password_set":' || CASE WHEN c.db_password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"cloud_token_set":' || CASE WHEN c.cloud_token_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"keep_on_error":' || CASE WHEN c.keep_on_error THEN 'true' ELSE 'false' END
        || ',"locale":' || json_quote(c.locale))
    FROM clients c WHERE c.id = NEW.id;
END;

CREATE TRIGGER client_docs_update AFTER UPDATE ON clients
BEGIN
    INSERT OR REPLACE INTO client_docs (client_id, doc)
    SELECT c.id, ('{"id":' || CAST(c.id AS TEXT)
        || ',"server_id":' || CAST(c.server_id AS TEXT)
        || ',"name":' || json_quote(c.name)
        || ',"short_name":' || json_quote(c.short_name)
        || ',"admin_f":' || json_quote(c.admin_f)
        || ',"admin_i":' || json_quote(c.admin_i)
        || ',"admin_o":' || json_quote(c.admin_o)
        || ',"admin_login":' || json_quote(c.admin_login)
        || ',"password_set":' || CASE WHEN c.password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"subdomain":' || json_quote(c.subdomain)
        || ',"url":' || json_quote('https://' || c.fqdn)
        || ',"email":' || json_quote(c.email)
        || ',"phone":' || json_quote(c.phone)
        || ',"city":' || json_quote(c.city)
        || ',"timezone":' || json_quote(c.timezone)
        || ',"version_tag":' || json_quote(c.version_tag)
        || ',"allowed_ips":' || c.allowed_ips
        || ',"config":' || json_quote(c.config)
        || ',"license":' || json_quote(c.license)
        || ',"license_expires_at":' || json_quote(replace(c.license_expires_at, '+00:00', 'Z'))
        || ',"billing_type":' || json_quote(c.billing_type)
        || ',"state":' || json_quote(c.state)
        || ',"created_at":' || json_quote(replace(c.created_at, '+00:00', 'Z'))
        || ',"updated_at":' || json_quote(replace(c.updated_at, '+00:00', 'Z'))
        || ',"client_port":' || COALESCE(CAST(c.client_port AS TEXT), 'null')
        || ',"app_key_set":' || CASE WHEN c.app_key_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"db_password_set":' || CASE WHEN c.db_password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"cloud_token_set":' || CASE WHEN c.cloud_token_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"keep_on_error":' || CASE WHEN c.keep_on_error THEN 'true' ELSE 'false' END
        || ',"locale":' || json_quote(c.locale))
    FROM clients c WHERE c.id = NEW.id;
END;

INSERT OR REPLACE INTO client_docs (client_id, doc)
SELECT c.id, ('{"id":' || CAST(c.id AS TEXT)
        || ',"server_id":' || CAST(c.server_id AS TEXT)
        || ',"name":' || json_quote(c.name)
        || ',"short_name":' || json_quote(c.short_name)
        || ',"admin_f":' || json_quote(c.admin_f)
        || ',"admin_i":' || json_quote(c.admin_i)
        || ',"admin_o":' || json_quote(c.admin_o)
        || ',"admin_login":' || json_quote(c.admin_login)
        || ',"password_set":' || CASE WHEN c.password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"subdomain":' || json_quote(c.subdomain)
        || ',"url":' || json_quote('https://' || c.fqdn)
        || ',"email":' || json_quote(c.email)
        || ',"phone":' || json_quote(c.phone)
        || ',"city":' || json_quote(c.city)
        || ',"timezone":' || json_quote(c.timezone)
        || ',"version_tag":' || json_quote(c.version_tag)
        || ',"allowed_ips":' || c.allowed_ips
        || ',"config":' || json_quote(c.config)
        || ',"license":' || json_quote(c.license)
        || ',"license_expires_at":' || json_quote(replace(c.license_expires_at, '+00:00', 'Z'))
        || ',"billing_type":' || json_quote(c.billing_type)
        || ',"state":' || json_quote(c.state)
        || ',"created_at":' || json_quote(replace(c.created_at, '+00:00', 'Z'))
        || ',"updated_at":' || json_quote(replace(c.updated_at, '+00:00', 'Z'))
        || ',"client_port":' || COALESCE(CAST(c.client_port AS TEXT), 'null')
        || ',"app_key_set":' || CASE WHEN c.app_key_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"db_password_set":' || CASE WHEN c.db_password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"cloud_token_set":' || CASE WHEN c.cloud_token_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"keep_on_error":' || CASE WHEN c.keep_on_error THEN 'true' ELSE 'false' END
        || ',"locale":' || json_quote(c.locale))
FROM clients c;
