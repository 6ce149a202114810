//! Time zones and the date formats the panel sends.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::string_newtype;

/// An IANA time zone name such as `Europe/Moscow`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZone(String);
string_newtype!(TimeZone);

impl TimeZone {
    pub fn parse(value: &str) -> Result<Self, String> {
        value
            .parse::<chrono_tz::Tz>()
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| format!("{value:?} is not an IANA time zone name such as Europe/Moscow"))
    }
}

/// Accepts `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DD HH:MM:SS` (UTC) and RFC 3339.
pub fn parse_datetime(value: &str) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(value) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S") {
        return Ok(dt.and_utc());
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    Err("must be a date: YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or RFC 3339".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_date_formats_parse_to_the_same_instant() {
        let a = parse_datetime("2027-01-31").unwrap();
        let b = parse_datetime("2027-01-31 00:00:00").unwrap();
        let c = parse_datetime("2027-01-31T03:00:00+03:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!(parse_datetime("31.01.2027").is_err());
        assert!(parse_datetime("2027-02-30").is_err());
    }

    #[test]
    fn time_zones_must_be_iana_names() {
        assert_eq!(
            TimeZone::parse("Europe/Moscow").unwrap().as_str(),
            "Europe/Moscow"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("").is_err());
    }
}
