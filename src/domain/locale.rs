//! The language of the mails a client is sent.

/// `ru` (the default) or `en`: picks `templates/email/{mail}/{locale}/…`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Locale {
    #[default]
    Ru,
    En,
}

impl Locale {
    /// Every locale, each with its own set of mail templates.
    pub const ALL: [Locale; 2] = [Locale::Ru, Locale::En];

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "ru" => Ok(Self::Ru),
            "en" => Ok(Self::En),
            other => Err(format!("must be ru or en, not {other:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ru => "ru",
            Self::En => "en",
        }
    }
}

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_is_ru_or_en_and_nothing_else() {
        assert_eq!(Locale::parse("ru"), Ok(Locale::Ru));
        assert_eq!(Locale::parse("en"), Ok(Locale::En));
        for bad in ["", "RU", "de", "en-US"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
    }
}
