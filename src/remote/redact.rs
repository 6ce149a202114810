//! Masking secrets in remote output before a line is stored or sent anywhere.

use std::borrow::Cow;

/// Replaces every known secret by `***`.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: Vec<String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| {
                // A secret may come back shell-quoted (e.g. echoed by `set -x`).
                let quoted = format!("'{}'", s.replace('\'', r"'\''"));
                [s, quoted]
            })
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// The same redactor masking `extra` secrets too.
    pub fn with(self, extra: impl IntoIterator<Item = String>) -> Self {
        let mut extra: Vec<String> = extra.into_iter().collect();
        if extra.is_empty() {
            return self;
        }
        // Stored quoted forms are harmless to quote again: they are masked either way.
        extra.extend(self.secrets);
        Self::new(extra)
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), "***"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_masked() {
        let r = Redactor::new(vec!["s3cr3t".into(), "".into(), "it's".into()]);
        assert_eq!(r.redact("a s3cr3t and s3cr3t"), "a *** and ***");
        assert_eq!(r.redact("quoted 'it'\\''s'"), "quoted ***");
        assert_eq!(r.redact("nothing here"), "nothing here");
    }
}
