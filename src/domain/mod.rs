//! Validated values, built once at the edge so nothing downstream can forget to check.
//!
//! Every constructor returns a message a person can act on; the API layer attaches the field
//! name. Values that later reach nginx configs, `.env` files or a remote shell are only ever
//! made through these types.

mod kinds;
mod locale;
mod names;
mod network;
mod secrets;
mod time;

pub use kinds::{ClientState, Environment, SqlKind};
pub use locale::Locale;
pub use names::{AdminLogin, BaseDir, DomainName, Email, Subdomain, UnixUser, VersionTag};
pub use network::{ClientPorts, Host, IpAllowList, ListenAddress};
pub use secrets::{LabPassword, ServerSecret};
pub use time::{TimeZone, parse_datetime};

/// Checks the length of free text in characters, not bytes.
pub fn check_len(value: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len > max {
        Err(format!("must be at most {max} characters (got {len})"))
    } else {
        Ok(())
    }
}

/// Rejects control characters (newlines included) in one-line text.
pub fn check_single_line(value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        Err("must be one line without control characters".into())
    } else {
        Ok(())
    }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use string_newtype;
