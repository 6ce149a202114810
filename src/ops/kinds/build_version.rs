//! The versions builds give their images: a branch's suffix (`-dev`, `-master`) on a version
//! the operator names, or, when none is named, the next patch after the highest numbered
//! version of that branch on the server (`1.3-master`, `1.3.1-master` → `1.3.2-master`; none
//! yet → `1.0.0-master`).

use crate::domain::VersionTag;

/// The branch of the LIMS repository a build takes its code from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    Dev,
    Master,
}

impl Branch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Master => "master",
        }
    }

    /// What every image version of this branch ends with: `-dev`, `-master`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Dev => "-dev",
            Self::Master => "-master",
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Dev => Self::Master,
            Self::Master => Self::Dev,
        }
    }
}

/// The version a build of `branch` asked for as `raw` becomes: `raw` with the branch's suffix
/// appended unless it ends so already. A version ending in the other branch's suffix, or one
/// that is not a docker tag, is refused with the reason.
pub fn requested(branch: Branch, raw: &str) -> Result<VersionTag, String> {
    let raw = raw.trim();
    if raw.ends_with(branch.other().suffix()) {
        return Err(format!(
            "ends in {}, but this builds branch {}: its versions end in {}",
            branch.other().suffix(),
            branch.as_str(),
            branch.suffix()
        ));
    }
    let tag = if raw.ends_with(branch.suffix()) {
        raw.to_owned()
    } else {
        format!("{raw}{}", branch.suffix())
    };
    if tag.len() == branch.suffix().len() {
        return Err("must not be empty".into());
    }
    VersionTag::parse(&tag).map_err(|problem| format!("{problem} (with its suffix: {tag})"))
}

/// A version's numbers (`1.3.1-master` → `[1, 3, 1]`), when it is `N`, `N.N` or `N.N.N` with
/// the branch's suffix; other versions of the branch (`1.3-rc1-master`) do not count.
fn numbers(branch: Branch, tag: &str) -> Option<[u64; 3]> {
    let base = tag.strip_suffix(branch.suffix())?;
    let parts: Vec<&str> = base.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut out = [0u64; 3];
    for (slot, part) in out.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(out)
}

/// The next version of `branch` after the highest numbered one among `tags` (the server's
/// image tags): its patch plus one (`1.3-master` counts as `1.3.0`). None yet: `1.0.0`.
pub fn next(branch: Branch, tags: &[String]) -> String {
    let highest = tags.iter().filter_map(|t| numbers(branch, t)).max();
    let [major, minor, patch] = match highest {
        Some([major, minor, patch]) => [major, minor, patch.saturating_add(1)],
        None => [1, 0, 0],
    };
    format!("{major}.{minor}.{patch}{}", branch.suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_next_version_is_the_patch_after_the_highest_of_the_branch() {
        let seen = tags(&[
            "1.3.0-master",
            "1.3.1-master",
            "1.10-master",
            "1.9.9-master",
            "2.0.0-dev",
            "1.3-rc1-master",
            "latest",
        ]);
        assert_eq!(next(Branch::Master, &seen), "1.10.1-master");
        assert_eq!(next(Branch::Dev, &seen), "2.0.1-dev");
        assert_eq!(
            next(Branch::Master, &tags(&["1.3.0-master", "1.3.1-master"])),
            "1.3.2-master"
        );
        assert_eq!(next(Branch::Master, &tags(&["1.3-master"])), "1.3.1-master");
        assert_eq!(next(Branch::Dev, &tags(&["1.0-master"])), "1.0.0-dev");
        assert_eq!(next(Branch::Master, &[]), "1.0.0-master");
    }

    #[test]
    fn a_requested_version_gets_its_branch_suffix_once() {
        let ok = |b, raw: &str| requested(b, raw).unwrap().as_str().to_owned();
        assert_eq!(ok(Branch::Master, "1.3"), "1.3-master");
        assert_eq!(ok(Branch::Master, "1.3-master"), "1.3-master");
        assert_eq!(ok(Branch::Dev, "1.3.1"), "1.3.1-dev");
        assert_eq!(ok(Branch::Dev, "hotfix-2-dev"), "hotfix-2-dev");
        for bad in ["1.3-dev", "", "-master", "1.3;rm", "a b", ".1"] {
            assert!(requested(Branch::Master, bad).is_err(), "{bad:?} accepted");
        }
        assert!(requested(Branch::Dev, "1.3-master").is_err());
        assert!(requested(Branch::Master, &"1".repeat(125)).is_err());
    }
}
