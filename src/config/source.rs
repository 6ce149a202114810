//! Where the settings' values come from (the environment, then a TOML file), and how one
//! value is read.

use std::collections::BTreeMap;
use std::time::Duration;

use super::parse_duration;

/// Where the values come from: the environment, then a TOML file.
pub(super) struct Source {
    pub(super) env: BTreeMap<String, String>,
    pub(super) file: BTreeMap<String, String>,
}

impl Source {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .cloned()
            .or_else(|| {
                let key = name.trim_start_matches("ALFA_").to_ascii_lowercase();
                self.file.get(&key).cloned()
            })
            .filter(|v| !v.is_empty())
    }

    pub(super) fn parse<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| anyhow::anyhow!("{name}={raw:?} is not valid: {e}")),
        }
    }
}

impl Source {
    pub(super) fn duration(&self, name: &str, default_secs: u64) -> anyhow::Result<Duration> {
        match self.get(name) {
            None => Ok(Duration::from_secs(default_secs)),
            Some(raw) => parse_duration(&raw).map_err(|e| anyhow::anyhow!("{name}={raw:?} {e}")),
        }
    }

    /// A time of day written `HH:MM` (`what` says in which zone), or `default` (hour, minute).
    pub(super) fn time_of_day(
        &self,
        name: &str,
        default: (u32, u32),
        what: &str,
    ) -> anyhow::Result<chrono::NaiveTime> {
        match self.get(name) {
            None => Ok(chrono::NaiveTime::from_hms_opt(default.0, default.1, 0)
                .expect("a valid default time")),
            Some(raw) => chrono::NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| {
                anyhow::anyhow!("{name} must be a time of day as HH:MM {what} (got '{raw}')")
            }),
        }
    }

    /// A whole number within `range`, or `default`.
    pub(super) fn whole<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> anyhow::Result<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{name} must be a whole number, {} to {} (got '{raw}')",
                        range.start(),
                        range.end()
                    )
                }),
        }
    }
}
