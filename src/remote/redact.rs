//! Masking secrets in remote output before a line is stored or sent anywhere.

use std::borrow::Cow;

/// Shorter secrets are not masked: masking a character or two would mangle ordinary text (and
/// the API refuses secrets shorter than 8 characters anyway).
const MIN_SECRET: usize = 4;

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
            .filter(|s| s.chars().count() >= MIN_SECRET)
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

    /// Masks every secret in `text`. A `::name` marker opening the line (`::step`, `::image`)
    /// is protocol, not output: it is never masked, so a secret that happens to spell a marker
    /// cannot turn a step line into an ordinary one.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let marker_end = if text.starts_with("::") {
            text.find(' ').map_or(text.len(), |space| space + 1)
        } else {
            0
        };
        let (marker, rest) = text.split_at(marker_end);
        let mut out = Cow::Borrowed(rest);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), "***"));
            }
        }
        match out {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(masked) => Cow::Owned(format!("{marker}{masked}")),
        }
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

    #[test]
    fn a_secret_never_breaks_the_step_protocol() {
        // Too short to mask: a one-character password would otherwise turn `::step` into
        // `::st***p` and the step would be lost.
        let r = Redactor::new(vec!["e".into()]);
        assert_eq!(r.redact("::step preflight"), "::step preflight");
        // A secret that spells the marker masks only the text after it.
        let r = Redactor::new(vec!["step".into()]);
        assert_eq!(r.redact("::step step-two"), "::step ***-two");
        assert_eq!(r.redact("a step"), "a ***");
    }
}
