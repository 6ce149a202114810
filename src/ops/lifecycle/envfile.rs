//! A client's `.env` as keys and values, and what deploy and reconfigurate do with it: lay the
//! template's keys over the keys the file already holds (deploy), merge the repository's
//! `.env.example` into it (reconfigurate), and say what changed with the values of
//! secret-looking keys masked. Also the short line diff of the other rendered files.
//!
//! Values are compared as written (after `=`, quotes included): the template writes every value
//! the same way each time, so a value that reads differently is a value that changed.

use std::collections::HashSet;

use serde::Serialize;

/// What a masked value reads as.
pub const MASK: &str = "***";

/// The comment that opens the keys deploy keeps from the previous `.env`.
const KEPT_HEADER: &str = "# Kept from the previous .env: keys templates/client/env does not write (added by reconfigurate from .env.example, or by hand)";

/// The comment that opens the keys reconfigurate adds.
pub const ADDED_HEADER: &str = "# Added by reconfigurate from the repository's .env.example";

/// One `KEY=value` line of a `.env` file (comments and blank lines are not entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The text after `=`, as written (quotes included), without the line's end.
    pub raw: String,
}

/// Whether `key` names a secret: its value is never shown (`*PASSWORD*`, `*KEY*`, `*SECRET*`,
/// `*TOKEN*`, in any case).
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    ["PASSWORD", "KEY", "SECRET", "TOKEN"]
        .iter()
        .any(|word| key.contains(word))
}

/// The key of a `KEY=value` line (an `export ` prefix allowed), or `None` for comments, blank
/// lines and anything that is not an assignment of a valid name.
fn key_of(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    if line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, raw) = line.split_once('=')?;
    let key = key.trim_end();
    let mut chars = key.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() || first == '_')
        .then_some(())
        .filter(|()| chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|()| (key, raw.trim_end_matches('\r')))
}

/// The entries of a `.env` text, in order; a key written twice counts once, with its last
/// value (as dotenv readers take it).
pub fn parse(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for line in text.lines() {
        if let Some((key, raw)) = key_of(line) {
            match entries.iter_mut().find(|e| e.key == key) {
                Some(entry) => raw.clone_into(&mut entry.raw),
                None => entries.push(Entry {
                    key: key.to_owned(),
                    raw: raw.to_owned(),
                }),
            }
        }
    }
    entries
}

/// Deploy's `.env`: the rendered template, then the entries of `current` whose keys the
/// template does not write, in their order, under a comment saying why they are there.
pub fn deploy_merge(rendered: &str, current: Option<&str>) -> String {
    let written: HashSet<String> = parse(rendered).into_iter().map(|e| e.key).collect();
    let kept: Vec<Entry> = current
        .map(parse)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !written.contains(&e.key))
        .collect();
    let mut text = rendered.to_owned();
    if kept.is_empty() {
        return text;
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push('\n');
    text.push_str(KEPT_HEADER);
    text.push('\n');
    for entry in kept {
        text.push_str(&format!("{}={}\n", entry.key, entry.raw));
    }
    text
}

/// A value as a report shows it: unquoted, or [`MASK`] for a secret-looking key.
fn shown(key: &str, raw: &str) -> String {
    if is_secret(key) {
        return MASK.to_owned();
    }
    let raw = raw.trim();
    raw.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .map(|inner| {
            inner
                .replace("\\\"", "\"")
                .replace("\\$", "$")
                .replace("\\\\", "\\")
        })
        .unwrap_or_else(|| raw.to_owned())
}

/// One key's change in a report.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeyChange {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// How the keys of a `.env` changed, values masked where the key looks secret.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct KeyDiff {
    pub added: Vec<KeyChange>,
    pub removed: Vec<KeyChange>,
    pub changed: Vec<KeyChange>,
}

impl KeyDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The keys added, removed and changed from `old` to `new`.
pub fn key_diff(old: &str, new: &str) -> KeyDiff {
    let (old, new) = (parse(old), parse(new));
    let mut diff = KeyDiff::default();
    for entry in &new {
        match old.iter().find(|o| o.key == entry.key) {
            None => diff.added.push(KeyChange {
                key: entry.key.clone(),
                from: None,
                to: Some(shown(&entry.key, &entry.raw)),
            }),
            Some(o) if o.raw != entry.raw => diff.changed.push(KeyChange {
                key: entry.key.clone(),
                from: Some(shown(&o.key, &o.raw)),
                to: Some(shown(&entry.key, &entry.raw)),
            }),
            Some(_) => {}
        }
    }
    for entry in &old {
        if !new.iter().any(|n| n.key == entry.key) {
            diff.removed.push(KeyChange {
                key: entry.key.clone(),
                from: Some(shown(&entry.key, &entry.raw)),
                to: None,
            });
        }
    }
    diff
}

/// At most this many `-`/`+` lines in a file's diff; the rest is counted.
const DIFF_LINES: usize = 40;
/// Files longer than this (lines) are summarised by their line counts only.
const DIFF_MAX_INPUT: usize = 2000;

/// A short line diff from `old` to `new`: `-line` and `+line` entries in file order (a longest
/// common subsequence), at most [`DIFF_LINES`], then `… N more changed lines`.
pub fn line_diff(old: &str, new: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    if a.len() > DIFF_MAX_INPUT || b.len() > DIFF_MAX_INPUT {
        return vec![format!("{} lines → {} lines", a.len(), b.len())];
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("-{}", a[i]));
            i += 1;
        } else {
            out.push(format!("+{}", b[j]));
            j += 1;
        }
    }
    if out.len() > DIFF_LINES {
        let more = out.len() - DIFF_LINES;
        out.truncate(DIFF_LINES);
        out.push(format!("… {more} more changed lines"));
    }
    out
}

/// What reconfigurate does to one `.env`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ExampleMerge {
    /// Keys of `.env.example` the file did not have, added with the example's value.
    pub added: Vec<String>,
    /// Keys the file has that `.env.example` no longer lists (and the template does not write).
    pub stale: Vec<String>,
    /// Of `stale`, those taken out (`remove_stale`).
    pub removed: Vec<String>,
    /// The new text; `None` when nothing changes.
    #[serde(skip)]
    pub text: Option<String>,
}

/// Merges `example` (the repository's `.env.example`) into `current`: keys new in the example
/// are appended with the example's value, under [`ADDED_HEADER`]; keys `current` has keep their
/// values; keys of `current` that the example lacks and `protected` does not claim are `stale`,
/// and taken out when `remove_stale`. The rest of the file stays byte for byte.
pub fn example_merge(
    current: &str,
    example: &str,
    protected: impl Fn(&str) -> bool,
    remove_stale: bool,
) -> ExampleMerge {
    let have = parse(current);
    let wanted = parse(example);
    let added: Vec<&Entry> = wanted
        .iter()
        .filter(|w| !have.iter().any(|h| h.key == w.key))
        .collect();
    let stale: Vec<String> = have
        .iter()
        .filter(|h| !protected(&h.key) && !wanted.iter().any(|w| w.key == h.key))
        .map(|h| h.key.clone())
        .collect();
    let removed: Vec<String> = if remove_stale {
        stale.clone()
    } else {
        Vec::new()
    };
    let mut merge = ExampleMerge {
        added: added.iter().map(|e| e.key.clone()).collect(),
        stale,
        removed,
        text: None,
    };
    if added.is_empty() && merge.removed.is_empty() {
        return merge;
    }
    let mut text = String::new();
    for line in current.split_inclusive('\n') {
        let gone = key_of(line.trim_end_matches('\n'))
            .is_some_and(|(key, _)| merge.removed.iter().any(|r| r == key));
        if !gone {
            text.push_str(line);
        }
    }
    if !added.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if !text.lines().any(|l| l == ADDED_HEADER) {
            text.push('\n');
            text.push_str(ADDED_HEADER);
            text.push('\n');
        }
        for entry in added {
            text.push_str(&format!("{}={}\n", entry.key, entry.raw));
        }
    }
    merge.text = Some(text);
    merge
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str =
        "# ours\nAPP_NAME=\"Lab\"\nAPP_DEBUG=false\nAPP_KEY=base64:abc\nDB_PASSWORD=\"pw\"\n";

    #[test]
    fn deploy_keeps_keys_the_template_does_not_write_and_is_stable() {
        let current = "APP_NAME=\"Old\"\nAPP_DEBUG=true\nAPP_KEY=base64:abc\nDB_PASSWORD=\"pw\"\nMAIL_HOST=smtp\n# c\nFEATURE_X=1\n";
        let merged = deploy_merge(RENDERED, Some(current));
        assert!(merged.starts_with(RENDERED));
        assert!(
            merged.ends_with("MAIL_HOST=smtp\nFEATURE_X=1\n"),
            "{merged}"
        );
        assert_eq!(deploy_merge(RENDERED, Some(&merged)), merged);
        let diff = key_diff(current, &merged);
        assert_eq!(diff.changed.len(), 2, "{diff:?}");
        assert_eq!(diff.changed[0].to.as_deref(), Some("Lab"));
        assert!(diff.added.is_empty() && diff.removed.is_empty());
        assert_eq!(deploy_merge(RENDERED, None), RENDERED);
    }

    #[test]
    fn secret_looking_values_are_masked() {
        let diff = key_diff(
            "APP_KEY=a\nDB_PASSWORD=b\nALFA_CLOUD_TOKEN=c\nX_SECRET=d\nAPP_URL=u\n",
            "APP_KEY=A\nDB_PASSWORD=B\nALFA_CLOUD_TOKEN=C\nAPP_URL=v\n",
        );
        let text = serde_json::to_string(&diff).unwrap();
        for secret in [
            "\"a\"", "\"A\"", "\"b\"", "\"B\"", "\"c\"", "\"C\"", "\"d\"",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("\"from\":\"u\",\"to\":\"v\""), "{text}");
        assert_eq!(diff.removed[0].key, "X_SECRET");
    }

    #[test]
    fn the_example_adds_new_keys_keeps_values_and_reports_stale_ones() {
        let current = "APP_DEBUG=true\nOLD_FLAG=1\nDB_HOST=h\n";
        let example = "APP_DEBUG=false\nNEW_FLAG=\"on\"\n";
        let protected = |k: &str| k.starts_with("DB_");
        let merge = example_merge(current, example, protected, false);
        assert_eq!(merge.added, ["NEW_FLAG"]);
        assert_eq!(merge.stale, ["OLD_FLAG"]);
        let text = merge.text.unwrap();
        assert!(text.starts_with(current));
        assert!(text.ends_with(&format!("{ADDED_HEADER}\nNEW_FLAG=\"on\"\n")));
        assert!(
            example_merge(&text, example, protected, false)
                .text
                .is_none()
        );
        let merge = example_merge(&text, example, protected, true);
        assert_eq!(merge.removed, ["OLD_FLAG"]);
        let text = merge.text.unwrap();
        assert!(!text.contains("OLD_FLAG") && text.contains("APP_DEBUG=true\n"));
    }

    #[test]
    fn line_diffs_are_short_and_ordered() {
        let diff = line_diff("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(diff, ["-b", "+B", "+d"]);
        assert!(line_diff("x\n", "x\n").is_empty());
        let long: String = (0..100).map(|i| format!("{i}\n")).collect();
        assert_eq!(line_diff("", &long).len(), DIFF_LINES + 1);
    }
}
