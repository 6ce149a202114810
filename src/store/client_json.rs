//! The probe fields of a client as the end of the JSON object `GET /clients` serves, written
//! as SQL expressions for each engine (the client's own fields are kept as JSON text by the
//! triggers of migration 0008, `client_docs`). The field order and every value's
//! spelling are the same as `api::clients::ClientView` serialised by serde (the OpenAPI
//! contract checks both): timestamps as RFC 3339 in UTC with `Z`, secrets only as `*_set`.

use super::Db;

/// How a column becomes a JSON value.
#[derive(Clone, Copy)]
enum Json {
    /// An integer or NULL.
    OptInt,
    /// A string (NULL → null).
    Text,
    /// A boolean or NULL.
    OptBool,
    /// A timestamp (NULL → null).
    Time,
}

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
        Json::OptInt if sqlite => format!("COALESCE(CAST({sql} AS TEXT), 'null')"),
        Json::OptInt => format!("COALESCE(({sql})::text, 'null')"),
        // json_quote(NULL) is 'null' already.
        Json::Text if sqlite => format!("json_quote({sql})"),
        Json::Text => format!("COALESCE(to_json({sql})::text, 'null')"),
        Json::OptBool => {
            format!("CASE WHEN {sql} IS NULL THEN 'null' WHEN {sql} THEN 'true' ELSE 'false' END")
        }
        // The store writes RFC 3339 text with +00:00 (sqlx's encoding of DateTime<Utc>); serde
        // writes the same instant with Z and the same digits of the fraction.
        Json::Time if sqlite => format!("json_quote(replace({sql}, '+00:00', 'Z'))"),
        // migrations/postgres/0007: the same spelling from a timestamptz.
        Json::Time => format!("alfa_json_time({sql})"),
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

/// The probe fields and the closing brace: `,"available":…,"users_count":…}`, from
/// `client_probes p` (NULLs when the client was never probed).
pub fn probe_part(db: &Db) -> String {
    format!("({})", fields(db, PROBE, ",", "}"))
}

/// The probe fields of a client that was never probed.
pub const UNPROBED: &str = ",\"available\":null,\"checked_at\":null,\"maintenance\":null,\
\"running_version\":null,\"users_count\":null,\"probe_error\":null}";
