//! The LIMS repository of a test host: a real bare git repository as `origin` (a tiny
//! Laravel-like tree on branches master and dev, see tests/it/jobs/make_origin.sh) and the
//! server's `{base_dir}/git` made a clone of it, as a server's setup does. Builds, deploys and
//! reconfigurate read that clone; [`Origin::commit`] pushes more work to it.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::testbed::{self, Host};

const MAKE_ORIGIN: &str = include_str!("../jobs/make_origin.sh");

/// A bare repository on a test host, owned by the deploy user.
#[derive(Clone, Debug)]
pub struct Origin {
    pub host: Host,
    /// Its path on the host (`{host dir}/origins/{name}.git`).
    pub path: String,
}

/// Runs `make_origin.sh ARGS` on `host` as the deploy user (over the testbed's ssh); returns
/// its stdout, panicking with its output when it fails.
fn run_on(host: &Host, args: &[&str]) -> String {
    let mut child = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed"))
        .args(["ssh", &host.name, "bash", "-s", "--"])
        // ssh hands the words to the remote shell as one command line: quote each.
        .args(
            args.iter()
                .map(|a| format!("'{}'", a.replace('\'', r"'\''"))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/testbed ssh runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MAKE_ORIGIN.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "make_origin.sh {args:?} on {} failed:\n{}{}",
        host.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes `{host dir}/origins/{name}.git` (replacing one of that name) with branches master and
/// dev, and `{base_dir}/git` a fresh clone of it.
pub fn make_origin(host: &Host, name: &str) -> Origin {
    let dir = host.dir.join("origins");
    let user = &testbed::get().user;
    let made = Command::new("install")
        .args(["-d", "-o", user, "-g", user])
        .arg(&dir)
        .status()
        .expect("install runs");
    assert!(made.success(), "install -d {}", dir.display());
    let path = dir.join(format!("{name}.git")).display().to_string();
    let clone = format!("{}/git", host.base_dir);
    run_on(host, &[&path, &clone]);
    Origin {
        host: host.clone(),
        path,
    }
}

impl Origin {
    /// One more commit on `branch` writing `text` into `file`, pushed; returns its hash.
    pub fn commit(&self, branch: &str, file: &str, text: &str) -> String {
        run_on(&self.host, &["commit", &self.path, branch, file, text])
            .trim()
            .to_owned()
    }
}
