-- Each client's own fields as the JSON object GET /clients serves (without the probe fields
-- and the closing brace, which the list joins from client_probes), kept by a trigger in the
-- same transaction as every write to the client, so a page is 50 stored texts joined, not
-- 50 x 30 columns turned into JSON on every request. Keep in step with
-- ../sqlite/0008_client_docs.sql and with api::clients::ClientView (the test
-- api::client_list_json compares a listed client with GET /clients/{id} byte for byte).
CREATE TABLE client_docs (
    client_id BIGINT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    doc       TEXT   NOT NULL
);

CREATE FUNCTION alfa_client_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO client_docs (client_id, doc)
    SELECT c.id, ('{"id":' || (c.id)::text
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
        || ',"keep_on_error":' || CASE WHEN c.keep_on_error THEN 'true' ELSE 'false' END)
    FROM clients c WHERE c.id = NEW.id
    ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc;
    RETURN NULL;
END
$$;

CREATE TRIGGER client_docs AFTER INSERT OR UPDATE ON clients
    FOR EACH ROW EXECUTE FUNCTION alfa_client_doc();

INSERT INTO client_docs (client_id, doc)
SELECT c.id, ('{"id":' || (c.id)::text
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
        || ',"keep_on_error":' || CASE WHEN c.keep_on_error THEN 'true' ELSE 'false' END)
FROM clients c;
