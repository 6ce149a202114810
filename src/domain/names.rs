//! Names that end up in DNS, file paths, image tags and shell arguments.

use super::string_newtype;

/// A lower-case DNS label: 1-63 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subdomain(String);
string_newtype!(Subdomain);

impl Subdomain {
    pub fn parse(value: &str) -> Result<Self, String> {
        check_label(value).map(|()| Self(value.to_owned()))
    }
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lower-case letters a-z, digits and '-'".into());
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

/// A fully qualified DNS name such as `lims.example.com` (lower case, at least two labels).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DomainName(String);
string_newtype!(DomainName);

impl DomainName {
    pub fn parse(value: &str) -> Result<Self, String> {
        let name = value.strip_suffix('.').unwrap_or(value);
        if name.is_empty() || name.len() > 253 {
            return Err("must be a DNS name of 1 to 253 characters".into());
        }
        if !name.contains('.') {
            return Err(
                "must be a DNS name with at least two labels, e.g. lims.example.com".into(),
            );
        }
        for label in name.split('.') {
            check_label(label).map_err(|why| format!("label {label:?} {why}"))?;
        }
        Ok(Self(name.to_owned()))
    }

    /// Accepts single-label names too (`localhost`, an internal host name): for hosts only.
    pub(super) fn parse_host_name(value: &str) -> Result<Self, String> {
        let name = value.strip_suffix('.').unwrap_or(value);
        if name.is_empty() || name.len() > 253 {
            return Err("must be an IP address or a DNS name".into());
        }
        for label in name.split('.') {
            check_label(label).map_err(|why| format!("label {label:?} {why}"))?;
        }
        Ok(Self(name.to_owned()))
    }
}

/// An image version such as `1.3-master`: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionTag(String);
string_newtype!(VersionTag);

impl VersionTag {
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut bytes = value.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if first_ok && rest_ok && value.len() <= 128 {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be a version tag: a letter or digit, then up to 127 of letters, digits, '.', '_' and '-' (e.g. 1.3-master)".into())
        }
    }
}

/// An e-mail address: one `@`, a non-empty local part, a domain with a dot, no spaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = || Err("must be an e-mail address such as admin@lab.example".into());
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad();
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return bad();
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return bad();
        }
        if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        {
            return bad();
        }
        Ok(Self(value.to_owned()))
    }
}

/// The lab administrator's login in the LIMS (a Laravel user name): 1 to 64 of ASCII letters,
/// digits, `.`, `_`, `@` and `-`, starting with a letter or a digit. Enough for a name
/// (`i.petrov`) or an e-mail address used as a login; nothing a shell, an SQL string, a
/// `.env` file or a template gives meaning to (`$`, backticks, quotes, `;`, `|`, spaces), and
/// no leading `-` that a command would take for an option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminLogin(String);
string_newtype!(AdminLogin);

impl AdminLogin {
    pub const RULE: &str = "must be 1 to 64 of letters a-z and A-Z, digits, '.', '_', '@' and \
        '-', starting with a letter or digit";

    pub fn parse(value: &str) -> Result<Self, String> {
        let mut bytes = value.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
        let rest_ok =
            bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
        if first_ok && rest_ok && value.len() <= 64 {
            Ok(Self(value.to_owned()))
        } else {
            Err(Self::RULE.into())
        }
    }
}

/// A Unix login name for SSH: `[a-z_][a-z0-9_-]{0,31}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixUser(String);
string_newtype!(UnixUser);

impl UnixUser {
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut bytes = value.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        let rest_ok =
            bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if first_ok && rest_ok && value.len() <= 32 {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be a Unix user name: a-z or '_', then up to 31 of a-z, 0-9, '_', '-'".into())
        }
    }
}

/// An absolute folder path on a server, made of safe characters only (it reaches shell
/// arguments and nginx configs): `/` then segments of `A-Za-z0-9._-`, no `..`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseDir(String);
string_newtype!(BaseDir);

impl BaseDir {
    pub fn parse(value: &str) -> Result<Self, String> {
        let trimmed = if value.len() > 1 {
            value.trim_end_matches('/')
        } else {
            value
        };
        if !trimmed.starts_with('/') || trimmed == "/" || trimmed.len() > 200 {
            return Err("must be an absolute folder path such as /srv (not / itself)".into());
        }
        for segment in trimmed[1..].split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err("must not contain empty, '.' or '..' segments".into());
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err("may contain only letters, digits, '.', '_', '-' and '/'".into());
            }
        }
        Ok(Self(trimmed.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_follows_dns_label_rules() {
        assert!(Subdomain::parse("lab-1").is_ok());
        assert!(Subdomain::parse(&"a".repeat(63)).is_ok());
        for bad in [
            "",
            "-lab",
            "lab-",
            "Lab",
            "la_b",
            "lab.x",
            &"a".repeat(64),
            "lab 1",
        ] {
            assert!(Subdomain::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn version_tags_accept_release_names_and_reject_shell_text() {
        assert!(VersionTag::parse("1.3-master").is_ok());
        assert!(VersionTag::parse("1.3.1-dev_2").is_ok());
        for bad in ["", "-1", ".x", "1.3;rm", "a b", "1.3$(x)", &"a".repeat(129)] {
            assert!(VersionTag::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn base_dir_must_be_a_plain_absolute_path() {
        assert_eq!(BaseDir::parse("/srv/").unwrap().as_str(), "/srv");
        for bad in [
            "srv",
            "/",
            "/srv/../etc",
            "/srv//x",
            "/srv/a b",
            "/srv/$(x)",
        ] {
            assert!(BaseDir::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("admin@lab.example").is_ok());
        for bad in [
            "admin",
            "@lab.example",
            "a@lab",
            "a b@lab.example",
            "a@.example",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
