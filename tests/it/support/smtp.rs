//! A real SMTP server per test: Debian's aiosmtpd on a free loopback port, storing every
//! message in a Maildir of its own; stopped (and its folder removed) on drop. Messages are
//! read back with Python's own `email` parser, so the test sees what a mail client would:
//! decoded headers and each MIME part's decoded text.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually::eventually;

/// One message as a mail client would show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    /// The envelope recipients (aiosmtpd's `X-RcptTo`).
    pub rcpt_to: String,
    /// The `To` header, decoded.
    pub to: String,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The `Subject` header as sent (RFC 2047 encoded words when not ASCII).
    pub raw_subject: String,
    pub from: String,
    pub reply_to: String,
    /// The `text/plain` part, decoded.
    pub plain: String,
    /// The `text/html` part, decoded.
    pub html: String,
    /// The content types of every part, in order.
    pub types: Vec<String>,
}

pub struct Smtp {
    pub port: u16,
    pub maildir: PathBuf,
    child: Option<Child>,
}

/// A loopback port nothing listens on now (the OS's choice of a free one).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().unwrap().port()
}

/// `lettre`'s URL of a plain SMTP server on loopback `port`.
pub fn url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

const READ: &str = r#"
import email, email.policy, json, os, sys
box = os.path.join(sys.argv[1], "new")
out = []
for name in sorted(os.listdir(box), key=lambda n: os.path.getmtime(os.path.join(box, n))):
    with open(os.path.join(box, name), "rb") as f:
        raw = email.message_from_binary_file(f, policy=email.policy.compat32)
    with open(os.path.join(box, name), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    out.append({
        "rcpt_to": str(msg.get("X-RcptTo", "")),
        "to": str(msg.get("To", "")),
        "subject": str(msg.get("Subject", "")),
        "raw_subject": str(raw.get("Subject", "")),
        "from": str(msg.get("From", "")),
        "reply_to": str(msg.get("Reply-To", "")),
        "plain": plain.get_content() if plain is not None else "",
        "html": html.get_content() if html is not None else "",
        "types": [p.get_content_type() for p in msg.walk()],
    })
print(json.dumps(out))
"#;

/// An aiosmtpd handler refusing every recipient.
const REFUSE: &str = "class Refuse:\n    async def handle_RCPT(self, server, session, envelope, address, options):\n        return '550 5.1.1 No such mailbox here'\n";

impl Smtp {
    /// A server on a free port.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// A server on `port`, accepting connections when this returns.
    pub async fn start_on(port: u16) -> Self {
        Self::spawn(port, false).await
    }

    /// A server that refuses every recipient with `550 5.1.1` (a permanent failure).
    pub async fn start_refusing() -> Self {
        Self::spawn(free_port(), true).await
    }

    async fn spawn(port: u16, refusing: bool) -> Self {
        let maildir = std::env::temp_dir().join(format!("alfa-smtp-{}", ulid::Ulid::generate()));
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let mut command = Command::new("/usr/bin/python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"));
        if refusing {
            std::fs::write(maildir.join("alfa_refuse.py"), REFUSE).unwrap();
            command
                .env("PYTHONPATH", &maildir)
                .args(["-c", "alfa_refuse.Refuse"]);
        } else {
            command
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts (Debian's python3-aiosmtpd)");
        let smtp = Self {
            port,
            maildir,
            child: Some(child),
        };
        eventually(
            Duration::from_secs(20),
            format!("aiosmtpd to accept on 127.0.0.1:{port}"),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        smtp
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    /// Every message received so far, oldest first.
    pub async fn messages(&self) -> Vec<Received> {
        let out = tokio::process::Command::new("/usr/bin/python3")
            .args(["-c", READ])
            .arg(&self.maildir)
            .output()
            .await
            .expect("python3 reads the Maildir");
        assert!(
            out.status.success(),
            "reading the Maildir: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the reader's JSON")
    }

    /// Waits until `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(Duration::from_secs(30), format!("{n} messages"), || async {
            let got = self.messages().await;
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} so far", got.len()))
            }
        })
        .await
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
