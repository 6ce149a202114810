//! The fields of a client and their rules, shared by create and update.

use serde::Deserialize;

use super::input::{Text, check_text, parse_bool, parse_int, present};
use crate::crypto::{self, Cipher, purpose};
use crate::domain::{
    AdminLogin, Email, IpAllowList, LabPassword, Locale, Subdomain, TimeZone, VersionTag,
    parse_datetime,
};
use crate::error::{ApiError, Problems};
use crate::state::AppState;
use crate::store::clients::{self, ClientRow, ClientSpec, NewClientSecrets};
use crate::store::servers;

/// The fields of `POST /clients/` and `PUT /clients/{id}`. On update, absent fields keep
/// their values; `server_id`, `subdomain` and `version_tag` cannot change here (use the
/// move and switch operations).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ClientInput {
    pub id: Option<Text>,
    pub server_id: Option<Text>,
    /// The lab's name.
    pub name: Option<Text>,
    pub short_name: Option<Text>,
    /// Administrator's surname.
    pub admin_f: Option<Text>,
    /// Administrator's given name.
    pub admin_i: Option<Text>,
    /// Administrator's patronymic.
    pub admin_o: Option<Text>,
    /// The administrator's login in the LIMS: 1 to 64 of letters a-z and A-Z, digits, '.',
    /// '_', '@' and '-', starting with a letter or digit.
    pub admin_login: Option<Text>,
    /// Lab administrator's password: at least 10 characters and at most 72 bytes (bcrypt
    /// ignores the rest). Write-only. Left out at creation, a random one of 16 letters and
    /// digits is generated (send it to the lab with `send_success`, or set another with
    /// `admin_password`).
    pub password: Option<Text>,
    /// Lower-case DNS label: the cloud lives at `subdomain.domain`.
    pub subdomain: Option<Text>,
    /// The lab administrator's e-mail address (written into the client's DB). Required at
    /// creation.
    pub email: Option<Text>,
    pub phone: Option<Text>,
    pub city: Option<Text>,
    /// IANA time zone; default UTC.
    pub timezone: Option<Text>,
    /// Image version, e.g. 1.3-master.
    pub version_tag: Option<Text>,
    /// JSON array of allowed IP addresses or CIDRs; empty array for no restriction.
    pub allowed_ips: Option<Text>,
    pub config: Option<Text>,
    pub license: Option<Text>,
    /// YYYY-MM-DD, YYYY-MM-DD HH:MM:SS (UTC) or RFC 3339.
    pub license_expires_at: Option<Text>,
    /// DEMO, TEST, TRIAL (default) or PAID.
    pub billing_type: Option<Text>,
    /// `1`/`true`: keep what a failed creation made (database, files, vhost, container), for
    /// inspection, instead of undoing it. `0`/`false` (default): undo it.
    pub keep_on_error: Option<Text>,
    /// The language of the mails the lab is sent (`send_success`, `send_expire`): `ru`
    /// (default) or `en`.
    pub locale: Option<Text>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ExpireDateInput {
    /// Who changes the date (recorded).
    pub sender: Option<Text>,
    /// The new end of the licence.
    pub license_expires_at: Option<Text>,
}

/// What a field will hold: the request's value when sent, else the stored one.
fn value<'a>(sent: &'a Option<Text>, stored: Option<&'a str>) -> &'a str {
    match sent {
        Some(text) => text.as_str(),
        None => stored.unwrap_or_default(),
    }
}

fn phone(value: &str) -> Result<String, String> {
    if value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'))
    {
        Ok(value.to_owned())
    } else {
        Err("must be up to 32 of digits, spaces, '+', '-', '(' and ')'".into())
    }
}

/// Validates a client's fields (all of them, reporting every problem) into a spec to write.
pub async fn validate(
    state: &AppState,
    input: &ClientInput,
    stored: Option<&ClientRow>,
) -> Result<ClientSpec, ApiError> {
    let mut p = Problems::default();
    let s = |f: fn(&ClientRow) -> &str| stored.map(f);

    let name = value(&input.name, s(|c| &c.name));
    let name = if name.is_empty() {
        p.add("name", "is required");
        None
    } else {
        p.check("name", check_text(name, 255, true))
    };
    let admin_login = value(&input.admin_login, s(|c| &c.admin_login));
    let admin_login = if admin_login.is_empty() {
        p.add("admin_login", "is required");
        None
    } else {
        p.check("admin_login", AdminLogin::parse(admin_login))
    };
    let short_name = p.check(
        "short_name",
        check_text(value(&input.short_name, s(|c| &c.short_name)), 64, true),
    );
    let admin_f = p.check(
        "admin_f",
        check_text(value(&input.admin_f, s(|c| &c.admin_f)), 100, true),
    );
    let admin_i = p.check(
        "admin_i",
        check_text(value(&input.admin_i, s(|c| &c.admin_i)), 100, true),
    );
    let admin_o = p.check(
        "admin_o",
        check_text(value(&input.admin_o, s(|c| &c.admin_o)), 100, true),
    );
    let city = p.check(
        "city",
        check_text(value(&input.city, s(|c| &c.city)), 100, true),
    );
    let phone = p.check("phone", phone(value(&input.phone, s(|c| &c.phone))));
    let config = p.check(
        "config",
        check_text(value(&input.config, s(|c| &c.config)), 65536, false),
    );
    let license = p.check(
        "license",
        check_text(value(&input.license, s(|c| &c.license)), 65536, false),
    );
    // Required at creation (the lab's admin user needs one); a client stored before that
    // rule may keep an empty one.
    let email = match value(&input.email, s(|c| &c.email)) {
        "" if stored.is_none() => {
            p.add("email", "is required");
            None
        }
        "" => Some(None),
        v => p.check("email", Email::parse(v)).map(Some),
    };
    let keep_on_error = match present(&input.keep_on_error) {
        Some(v) => p.check("keep_on_error", parse_bool(v)),
        None => Some(stored.is_some_and(|c| c.keep_on_error)),
    };
    let locale = match value(&input.locale, s(|c| &c.locale)) {
        "" => Some(Locale::Ru),
        v => p.check("locale", Locale::parse(v)),
    };
    let timezone = match value(&input.timezone, s(|c| &c.timezone)) {
        "" => TimeZone::parse("UTC").ok(),
        v => p.check("timezone", TimeZone::parse(v)),
    };
    let allowed_ips = p.check(
        "allowed_ips",
        IpAllowList::parse(value(&input.allowed_ips, s(|c| &c.allowed_ips))),
    );
    let license_expires_at = match &input.license_expires_at {
        Some(text) if text.as_str().is_empty() => Some(None),
        Some(text) => p
            .check("license_expires_at", parse_datetime(text.as_str()))
            .map(Some),
        None => Some(stored.and_then(|c| c.license_expires_at)),
    };
    let password_enc = match present(&input.password) {
        Some(v) => p.check("password", LabPassword::parse(v)).map(|v| {
            Some(
                state
                    .cipher
                    .seal(purpose::CLIENT_ADMIN_PASSWORD, v.expose()),
            )
        }),
        // At creation the lab's admin still needs a password: a generated one, sealed as a
        // posted one would be.
        None if stored.is_none() => Some(Some(state.cipher.seal(
            purpose::CLIENT_ADMIN_PASSWORD,
            &crypto::random_alphanumeric(GENERATED_PASSWORD_CHARS),
        ))),
        None => Some(None),
    };

    // Fixed at creation: sent values must equal the stored ones on update.
    let subdomain = value(&input.subdomain, s(|c| &c.subdomain));
    let subdomain = match (subdomain, stored) {
        ("", _) => {
            p.add("subdomain", "is required");
            None
        }
        (v, Some(c)) if v != c.subdomain => {
            p.add("subdomain", "cannot change after creation");
            None
        }
        (v, _) => p.check("subdomain", Subdomain::parse(v)),
    };
    let version_tag = value(&input.version_tag, s(|c| &c.version_tag));
    let version_tag = match (version_tag, stored) {
        ("", _) => {
            p.add("version_tag", "is required");
            None
        }
        (v, Some(c)) if v != c.version_tag => {
            p.add(
                "version_tag",
                "cannot change here: switch the client to another image instead",
            );
            None
        }
        (v, _) => p.check("version_tag", VersionTag::parse(v)),
    };
    let server_id = match (present(&input.server_id), stored) {
        (None, None) => {
            p.add("server_id", "is required");
            None
        }
        (None, Some(c)) => Some(c.server_id),
        (Some(v), stored) => match (parse_int(v, 1, i64::MAX), stored) {
            (Err(e), _) => {
                p.add("server_id", e);
                None
            }
            (Ok(id), Some(c)) if id != c.server_id => {
                p.add(
                    "server_id",
                    "cannot change here: move the client to another server instead",
                );
                None
            }
            (Ok(id), Some(_)) => Some(id),
            (Ok(id), None) => match servers::get(&state.db, id).await? {
                None => {
                    p.add("server_id", format!("server {id} does not exist"));
                    None
                }
                Some(server) if !server.active => {
                    p.add("server_id", format!("server {id} is not active"));
                    None
                }
                Some(_) => Some(id),
            },
        },
    };
    let billing_type = match value(&input.billing_type, s(|c| &c.billing_type)) {
        "" => Some("TRIAL".to_owned()),
        v if clients::billing_type_exists(&state.db, v).await? => Some(v.to_owned()),
        v => {
            p.add(
                "billing_type",
                format!("{v:?} is not a billing type (see /clients/billing_types)"),
            );
            None
        }
    };

    p.clone().into_result()?;
    let missing = || ApiError::Validation(p.clone());
    Ok(ClientSpec {
        server_id: server_id.ok_or_else(missing)?,
        name: name.ok_or_else(missing)?,
        short_name: short_name.ok_or_else(missing)?,
        admin_f: admin_f.ok_or_else(missing)?,
        admin_i: admin_i.ok_or_else(missing)?,
        admin_o: admin_o.ok_or_else(missing)?,
        admin_login: admin_login.ok_or_else(missing)?,
        password_enc: password_enc.ok_or_else(missing)?,
        subdomain: subdomain.ok_or_else(missing)?,
        email: email.ok_or_else(missing)?,
        phone: phone.ok_or_else(missing)?,
        city: city.ok_or_else(missing)?,
        timezone: timezone.ok_or_else(missing)?,
        version_tag: version_tag.ok_or_else(missing)?,
        allowed_ips: allowed_ips.ok_or_else(missing)?,
        config: config.ok_or_else(missing)?,
        license: license.ok_or_else(missing)?,
        license_expires_at: license_expires_at.ok_or_else(missing)?,
        billing_type: billing_type.ok_or_else(missing)?,
        keep_on_error: keep_on_error.ok_or_else(missing)?,
        locale: locale.ok_or_else(missing)?,
    })
}

/// The length of a generated lab admin password: within the LabPassword rule (10 characters
/// to 72 bytes), and about 95 bits of letters and digits.
const GENERATED_PASSWORD_CHARS: usize = 16;

/// Fresh secrets for a new client, sealed for their columns: its Laravel `APP_KEY`, its SQL
/// login's password (32 letters and digits) and its token for this API (40).
pub fn new_client_secrets(cipher: &Cipher) -> NewClientSecrets {
    NewClientSecrets {
        app_key_enc: cipher.seal(purpose::CLIENT_APP_KEY, &crypto::laravel_app_key()),
        db_password_enc: cipher.seal(
            purpose::CLIENT_DB_PASSWORD,
            &crypto::random_alphanumeric(32),
        ),
        cloud_token_enc: cipher.seal(
            purpose::CLIENT_CLOUD_TOKEN,
            &crypto::random_alphanumeric(40),
        ),
    }
}
