//! A client as the JSON object `GET /clients` serves, written as SQL expressions for each
//! engine, so the list's pages are built where the rows are. The field order and every value's
//! spelling are the same as `api::clients::ClientView` serialised by serde (the OpenAPI
//! contract checks both): timestamps as RFC 3339 in UTC with `Z`, secrets only as `*_set`.

use super::Db;

/// How a column becomes a JSON value.
#[derive(Clone, Copy)]
enum Json {
    /// An integer that is never NULL.
    Int,
    /// An integer or NULL.
    OptInt,
    /// A string (NULL → null).
    Text,
    /// A boolean that is never NULL.
    Bool,
    /// A boolean or NULL.
    OptBool,
    /// A timestamp (NULL → null).
    Time,
    /// `true` when the column holds a value (a sealed secret shown as `*_set`).
    IsSet,
    /// Already JSON text (our own compact serialisation).
    Raw,
}

/// The client's own fields, in `ClientView`'s order, as (name, SQL, kind).
const CLIENT: &[(&str, &str, Json)] = &[
    ("id", "c.id", Json::Int),
    ("server_id", "c.server_id", Json::Int),
    ("name", "c.name", Json::Text),
    ("short_name", "c.short_name", Json::Text),
    ("admin_f", "c.admin_f", Json::Text),
    ("admin_i", "c.admin_i", Json::Text),
    ("admin_o", "c.admin_o", Json::Text),
    ("admin_login", "c.admin_login", Json::Text),
    ("password_set", "c.password_enc", Json::IsSet),
    ("subdomain", "c.subdomain", Json::Text),
    ("url", "'https://' || c.fqdn", Json::Text),
    ("email", "c.email", Json::Text),
    ("phone", "c.phone", Json::Text),
    ("city", "c.city", Json::Text),
    ("timezone", "c.timezone", Json::Text),
    ("version_tag", "c.version_tag", Json::Text),
    ("allowed_ips", "c.allowed_ips", Json::Raw),
    ("config", "c.config", Json::Text),
    ("license", "c.license", Json::Text),
    ("license_expires_at", "c.license_expires_at", Json::Time),
    ("billing_type", "c.billing_type", Json::Text),
    ("state", "c.state", Json::Text),
    ("created_at", "c.created_at", Json::Time),
    ("updated_at", "c.updated_at", Json::Time),
    ("client_port", "c.client_port", Json::OptInt),
    ("app_key_set", "c.app_key_enc", Json::IsSet),
    ("db_password_set", "c.db_password_enc", Json::IsSet),
    ("cloud_token_set", "c.cloud_token_enc", Json::IsSet),
    ("keep_on_error", "c.keep_on_error", Json::Bool),
];

/// The probe fields (from `client_probes p`, all NULL when never probed), last in the object.
const PROBE: &[(&str, &str, Json)] = &[
    ("available", "p.available", Json::OptBool),
    ("checked_at", "p.checked_at", Json::Time),
    ("maintenance", "p.maintenance", Json::OptBool),
    ("running_version", "p.running_version", Json::Text),
    ("users_count", "p.users_count", Json::OptInt),
    ("probe_error", "p.error", Json::Text),
];

fn value(db: &Db, sql: &str, kind: Json) -> String {
    let sqlite = matches!(db, Db::Sqlite(_));
    match kind {
        Json::Int if sqlite => format!("CAST({sql} AS TEXT)"),
        Json::Int => format!("({sql})::text"),
        Json::OptInt if sqlite => format!("COALESCE(CAST({sql} AS TEXT), 'null')"),
        Json::OptInt => format!("COALESCE(({sql})::text, 'null')"),
        // json_quote(NULL) is 'null' already.
        Json::Text if sqlite => format!("json_quote({sql})"),
        Json::Text => format!("COALESCE(to_json({sql})::text, 'null')"),
        Json::Bool => format!("CASE WHEN {sql} THEN 'true' ELSE 'false' END"),
        Json::OptBool => {
            format!("CASE WHEN {sql} IS NULL THEN 'null' WHEN {sql} THEN 'true' ELSE 'false' END")
        }
        // The store writes RFC 3339 text with +00:00 (sqlx's encoding of DateTime<Utc>); serde
        // writes the same instant with Z and the same digits of the fraction.
        Json::Time if sqlite => format!("json_quote(replace({sql}, '+00:00', 'Z'))"),
        // migrations/postgres/0007: the same spelling from a timestamptz.
        Json::Time => format!("alfa_json_time({sql})"),
        Json::IsSet => format!("CASE WHEN {sql} IS NULL THEN 'false' ELSE 'true' END"),
        Json::Raw => sql.to_owned(),
    }
}

fn fields(db: &Db, fields: &[(&str, &str, Json)], open: &str, close: &str) -> String {
    let mut out = String::with_capacity(2048);
    for (i, (name, sql, kind)) in fields.iter().enumerate() {
        let lead = if i == 0 { open } else { "," };
        if i > 0 {
            out.push_str(" || ");
        }
        out.push_str(&format!("'{lead}\"{name}\":' || {}", value(db, sql, *kind)));
    }
    out.push_str(&format!(" || '{close}'"));
    out
}

/// The client's own fields: `{"id":…,…,"keep_on_error":…` (no closing brace), from
/// `clients c`.
pub fn client_part(db: &Db) -> String {
    let mut sql = fields(db, CLIENT, "{", "");
    // fields() ends with `|| ''`: harmless, but keep the expression tidy.
    sql.truncate(sql.len() - " || ''".len());
    format!("({sql})")
}

/// The probe fields and the closing brace: `,"available":…,"users_count":…}`, from
/// `client_probes p` (NULLs when the client was never probed).
pub fn probe_part(db: &Db) -> String {
    format!("({})", fields(db, PROBE, ",", "}"))
}

/// The probe fields of a client that was never probed.
pub const UNPROBED: &str = ",\"available\":null,\"checked_at\":null,\"maintenance\":null,\
\"running_version\":null,\"users_count\":null,\"probe_error\":null}";
