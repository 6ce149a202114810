//! The test hosts of `scripts/testbed`: real sshd on loopback addresses with recording
//! stand-ins for docker and reboot. Started once per test binary (`up` is idempotent) and
//! stopped by scripts/test.sh when the suite ends.
// Each test binary uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Hosts the suites use: h11..h21. Tests that break a host (freeze, rotate its key, prune its
/// images: h21) take one of their own so they cannot disturb the others.
pub const HOSTS: usize = 11;

#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub addr: String,
    pub dir: PathBuf,
    pub base_dir: String,
}

pub struct Testbed {
    pub key: PathBuf,
    pub user: String,
    pub ssh_port: u16,
    /// The port every host's nginx serves http on (on its own address).
    pub http_port: u16,
    hosts: Vec<Host>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/testbed ARGS`, panicking with its output when it fails.
pub fn testbed(args: &[&str]) -> String {
    let out = Command::new(root().join("scripts/testbed"))
        .args(args)
        .output()
        .expect("scripts/testbed runs");
    assert!(
        out.status.success(),
        "scripts/testbed {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The testbed, started on first use.
pub fn get() -> &'static Testbed {
    static TESTBED: OnceLock<Testbed> = OnceLock::new();
    TESTBED.get_or_init(|| {
        // Never fewer hosts than are up: `up N` removes the hosts above N, which someone
        // else (another test binary, a person) may be using.
        let dir = std::env::var("ALFA_TESTBED_DIR").unwrap_or_else(|_| "/tmp/alfa-testbed".into());
        let up = std::fs::read_to_string(Path::new(&dir).join("hosts"))
            .ok()
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        testbed(&["up", &HOSTS.max(up).to_string()]);
        let json: Value = serde_json::from_str(&testbed(&["json"])).expect("testbed json");
        let hosts = json["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Host {
                name: h["name"].as_str().unwrap().to_owned(),
                addr: h["addr"].as_str().unwrap().to_owned(),
                dir: PathBuf::from(h["dir"].as_str().unwrap()),
                base_dir: h["base_dir"].as_str().unwrap().to_owned(),
            })
            .collect();
        Testbed {
            key: PathBuf::from(json["key"].as_str().unwrap()),
            user: json["user"].as_str().unwrap().to_owned(),
            ssh_port: u16::try_from(json["ssh_port"].as_u64().unwrap()).unwrap(),
            http_port: u16::try_from(json["http_port"].as_u64().unwrap()).unwrap(),
            hosts,
        }
    })
}

impl Testbed {
    /// Host `i` (1-based: 1 is h11).
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i - 1]
    }
}

impl Host {
    /// Every stand-in call recorded on this host.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Calls that a fault rule with `match: needle` would match: the argv, joined with
    /// spaces, contains `needle`, or holds its words in that order.
    pub fn calls_matching(&self, needle: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| matches(&argv(c), needle))
            .collect()
    }

    /// Adds a fault rule to this host's stand-ins (merged into what other tests set).
    pub fn add_faults(&self, kind: &str, rule: Value) {
        self.edit_faults(|current| {
            current[kind]
                .as_array_mut()
                .map(|a| a.push(rule.clone()))
                .unwrap_or_else(|| current[kind] = serde_json::json!([rule]));
        });
    }

    /// Removes a fault rule added with [`Host::add_faults`].
    pub fn remove_faults(&self, kind: &str, rule: &Value) {
        self.edit_faults(|current| {
            if let Some(rules) = current[kind].as_array_mut() {
                rules.retain(|r| r != rule);
            }
        });
    }

    fn edit_faults(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.dir.join("standin.json");
        // Tests run in one process and share hosts: one lock keeps their read-modify-writes
        // apart.
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _lock = LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut current: Value = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        edit(&mut current);
        testbed(&["standin", &self.name, &current.to_string()]);
    }

    /// Adds images (`REPO:TAG`) to the docker stand-in's state, in one call: the first is
    /// made 7 days old, the next 6 … down to 1 day for the seventh and later ones.
    pub fn seed_images(&self, refs: &[&str]) {
        let mut args = vec!["seed-image", self.name.as_str()];
        args.extend_from_slice(refs);
        testbed(&args);
    }

    /// The docker stand-in's images as `REPO:TAG` (`<none>:<none>` for dangling ones) with
    /// their ids.
    pub fn images(&self) -> Vec<(String, String)> {
        let state: Value = std::fs::read_to_string(self.dir.join("docker-state.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        state["images"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    format!(
                        "{}:{}",
                        i["repo"].as_str().unwrap_or_default(),
                        i["tag"].as_str().unwrap_or_default()
                    ),
                    i["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// A client folder with a compose file, and its project started, as creation leaves them.
    pub fn prepare_client(&self, subdomain: &str, version: &str) {
        let dir = Path::new(&self.base_dir)
            .join("docker/clients")
            .join(subdomain);
        std::fs::create_dir_all(dir.join("public")).unwrap();
        std::fs::create_dir_all(dir.join("php")).unwrap();
        std::fs::write(dir.join("php/add_vars.ini"), "").unwrap();
        std::fs::write(dir.join(".env"), "APP_NAME=test\n").unwrap();
        let compose =
            format!("services:\n  app:\n    image: alfa-lims:{version}\n    env_file: .env\n");
        std::fs::write(dir.join("docker-compose.yml"), compose).unwrap();
        let file = dir.join("docker-compose.yml");
        testbed(&[
            "ssh",
            &self.name,
            "docker",
            "compose",
            "-p",
            &format!("alfa_{subdomain}"),
            "-f",
            file.to_str().unwrap(),
            "up",
            "-d",
        ]);
    }
}

/// The stand-ins' rule matching (scripts/testbed.d/standins/calls.py, `_rule_match`).
fn matches(hay: &str, needle: &str) -> bool {
    if hay.contains(needle) {
        return true;
    }
    let mut words = hay.split(' ');
    let wanted: Vec<&str> = needle.split_whitespace().collect();
    !wanted.is_empty() && wanted.iter().all(|w| words.any(|a| a == *w))
}

pub fn argv(call: &Value) -> String {
    call["argv"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
