-- Mail (issue 9): each client's mail language, and every mail sent or failed. The client's
-- JSON (client_docs, migration 0008) gains "locale" after "keep_on_error", where serde writes
-- it (api::clients::ClientView): the trigger function is replaced with it and every doc
-- rebuilt. Keep in step with ../sqlite/0010_mail.sql.
ALTER TABLE clients ADD COLUMN locale TEXT NOT NULL DEFAULT 'ru';

CREATE TABLE mails (
    id           BIGSERIAL PRIMARY KEY,
    client_id    BIGINT      NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    operation_id BIGINT,
    kind         TEXT        NOT NULL,
    to_addr      TEXT        NOT NULL,
    subject      TEXT        NOT NULL,
    sent_at      TIMESTAMPTZ NOT NULL,
    result       TEXT        NOT NULL,
    message_id   TEXT        NOT NULL DEFAULT '',
    smtp_reply   TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX mails_by_client ON mails (client_id, id);
CREATE INDEX mails_by_operation ON mails (operation_id);

-- The client's JSON from its row, written once: the trigger and the rebuild below call it.
CREATE OR REPLACE FUNCTION alfa_client_doc_text(c clients) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT ('{"id":' || (c.id)::text
        || ',"server_id":' || (c.server_id)::text
        || ',"name":' || COALESCE(to_json(c.name)::text, 'null')
        || ',"short_name":' || COALESCE(to_json(c.short_name)::text, 'null')
        || ',"admin_f":' || COALESCE(to_json(c.admin_f)::text, 'null')
        || ',"admin_i":' || COALESCE(to_json(c.admin_i)::text, 'null')
        || ',"admin_o":' || COALESCE(to_json(c.admin_o)::text, 'null')
        || ',"admin_login":' || COALESCE(to_json(c.admin_login)::text, 'null')
        || ',"password_set":' || CASE WHEN c.password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"subdomain":' || COALESCE(to_json(c.subdomain)::text, 'null')
        || ',"url":' || COALESCE(to_json('https://' || c.fqdn)::text, 'null')
        || ',"email":' || COALESCE(to_json(c.email)::text, 'null')
        || ',"phone":' || COALESCE(to_json(c.phone)::text, 'null')
        || ',"city":' || COALESCE(to_json(c.city)::text, 'null')
        || ',"timezone":' || COALESCE(to_json(c.timezone)::text, 'null')
        || ',"version_tag":' || COALESCE(to_json(c.version_tag)::text, 'null')
        || ',"allowed_ips":' || c.allowed_ips
        || ',"config":' || COALESCE(to_json(c.config)::text, 'null')
        || ',"license":' || COALESCE(to_json(c.license)::text, 'null')
        || ',"license_expires_at":' || alfa_json_time(c.license_expires_at)
        || ',"billing_type":' || COALESCE(to_json(c.billing_type)::text, 'null')
        || ',"state":' || COALESCE(to_json(c.state)::text, 'null')
        || ',"created_at":' || alfa_json_time(c.created_at)
        || ',"updated_at":' || alfa_json_time(c.updated_at)
        || ',"client_port":' || COALESCE((c.client_port)::text, 'null')
        || ',"app_key_set":' || CASE WHEN c.app_key_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"db_password_set":' || CASE WHEN c.db_password_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"cloud_token_set":' || CASE WHEN c.cloud_token_enc IS NULL THEN 'false' ELSE 'true' END
        || ',"keep_on_error":' || CASE WHEN c.keep_on_error THEN 'true' ELSE 'false' END
        || ',"locale":' || COALESCE(to_json(c.locale)::text, 'null'));
$$;

CREATE OR REPLACE FUNCTION alfa_client_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO client_docs (client_id, doc)
    SELECT c.id, alfa_client_doc_text(c) FROM clients c WHERE c.id = NEW.id
    ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc;
    RETURN NULL;
END
$$;

INSERT INTO client_docs (client_id, doc)
SELECT c.id, alfa_client_doc_text(c) FROM clients c
ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc;
