//! Secrets sent to the API: long enough to be secrets, short enough for what reads them.

use std::fmt;

/// The least a stored secret may hold. Operation logs replace every known secret by `***`
/// before a line is stored; a secret of a few characters occurs by chance in ordinary output
/// (`x`, `admin`, `1234`), so masking it would mangle the logs, and not masking it leaks it.
pub const MIN_SECRET_CHARS: usize = 8;
/// The most a server secret may hold.
pub const MAX_SECRET_CHARS: usize = 256;

/// The project's one rule for the passwords we write into a lab's database: at least this
/// many characters...
pub const MIN_LAB_PASSWORD_CHARS: usize = 10;
/// ...and at most this many bytes of UTF-8, because bcrypt (the lab's Laravel hashes with it)
/// ignores every byte after the 72nd: a longer password would seem to work while only its
/// beginning counts.
pub const MAX_LAB_PASSWORD_BYTES: usize = 72;

/// A credential for a server (`sql_password`): 8 to 256 characters on one line.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSecret(String);

impl ServerSecret {
    pub fn parse(value: &str) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars < MIN_SECRET_CHARS {
            return Err(format!(
                "must be at least {MIN_SECRET_CHARS} characters: a shorter secret cannot be \
                 masked in operation logs without mangling them"
            ));
        }
        if chars > MAX_SECRET_CHARS {
            return Err(format!("must be at most {MAX_SECRET_CHARS} characters"));
        }
        super::check_single_line(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The password of a lab's administrator (`password`, later `admin_password`): at least 10
/// characters and at most 72 bytes, one line.
#[derive(Clone, PartialEq, Eq)]
pub struct LabPassword(String);

impl LabPassword {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.chars().count() < MIN_LAB_PASSWORD_CHARS || value.len() > MAX_LAB_PASSWORD_BYTES {
            return Err(format!(
                "must be at least {MIN_LAB_PASSWORD_CHARS} characters and at most \
                 {MAX_LAB_PASSWORD_BYTES} bytes (bcrypt ignores the rest; a Cyrillic letter \
                 takes 2 bytes)"
            ));
        }
        super::check_single_line(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret(***)")
    }
}

impl fmt::Debug for LabPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LabPassword(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_password_is_measured_in_characters_below_and_bytes_above() {
        assert!(LabPassword::parse("123456789").is_err());
        assert!(LabPassword::parse("1234567890").is_ok());
        assert!(LabPassword::parse(&"ж".repeat(36)).is_ok());
        assert!(LabPassword::parse(&"ж".repeat(37)).is_err());
        assert!(LabPassword::parse("line\nbreak-pass").is_err());
    }

    #[test]
    fn a_server_secret_needs_eight_characters() {
        assert!(ServerSecret::parse("1234567").is_err());
        assert!(ServerSecret::parse("12345678").is_ok());
        assert!(format!("{:?}", ServerSecret::parse("12345678")).contains("***"));
    }
}
