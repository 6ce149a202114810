//! Warm shells: a job script runs in a `bash` that is already logged in on the server, with
//! `jobs/lib.sh` and `jobs/lib_web.sh` loaded, instead of in a new SSH session that starts a new
//! bash and reads the library again for every command. A shell is one session of the server's
//! pooled connection; it holds one of the connection's command slots while it lives, runs one
//! job at a time, and goes back to the connection's idle list when the job ends cleanly. On a fan-out over a
//! server's clients this saves, per command, the session's round trips and the server's work
//! of a session, a bash and the library.
//!
//! Everything travels on the shell's stdin, which only this process writes:
//! - once per shell: `jobs/lib.sh` + `jobs/lib_web.sh`, then `set +euo pipefail` (the shell
//!   itself outlives a failing job) and `set -m` (each job in a process group of its own, which
//!   a cancel kills whole), and the `__alfa_end` function;
//! - once per shell and script: the script's text into a variable (a quoted heredoc whose end
//!   line is random);
//! - per job, one line: a subshell that prints its process group (`::pgid N`), exports the
//!   job's secrets, sets the arguments, `set -euo pipefail` and evaluates the script, with
//!   stdin from /dev/null; then `__alfa_end NONCE`, which waits for it and prints
//!   `::alfa-end NONCE RC` on stdout and `::alfa-end NONCE` on stderr. The random NONCE marks
//!   the end of both streams of this job, even after a last line without a newline.
//!
//! Secrets are on stdin only (never on a command line), as with a fresh session. A job's
//! changes (variables, working folder, umask, traps) end with its subshell.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use openssh::Session;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::run::read_lines;
use super::{Line, Stream};

/// Sent once to a new shell, after the libraries (`jobs/lib.sh`, `jobs/lib_web.sh`).
const BOOT: &str = r#"
set +euo pipefail
set -m
__alfa_end() {
  wait "$!"
  local rc=$?
  printf '::alfa-end %s %s\n' "$1" "$rc"
  printf '::alfa-end %s\n' "$1" >&2
}
"#;

/// A logged-in bash with the library loaded, waiting for jobs.
pub(super) struct Shell {
    /// The session's process; dropping it closes the session, and the bash ends.
    _child: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    lines: mpsc::UnboundedReceiver<Line>,
    pub(super) session: Arc<Session>,
    /// The scripts already held in a variable of this shell (by the name of the variable).
    defined: HashSet<String>,
    /// The libraries and BOOT are still to be sent (a new shell).
    booted: bool,
    pub(super) idle_since: Instant,
    /// One of the connection's command slots, held for the shell's life.
    _slot: OwnedSemaphorePermit,
}

/// How a job's run on a shell ended.
pub(super) enum End {
    /// Both streams ended with the job's marker: the exit code.
    Exited(i32),
    /// The shell's session closed first; `started` says whether the job printed its process
    /// group (whether it may have run at all).
    Closed { started: bool },
}

impl Shell {
    /// Wraps a spawned `bash -s` whose stdin, stdout and stderr are piped.
    pub(super) fn new(
        mut child: openssh::Child<Arc<Session>>,
        session: Arc<Session>,
        slot: OwnedSemaphorePermit,
    ) -> Option<Self> {
        let stdin = child.stdin().take()?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(read_lines(child.stdout().take()?, Stream::Out, tx.clone()));
        tokio::spawn(read_lines(child.stderr().take()?, Stream::Err, tx));
        Some(Self {
            _child: child,
            stdin,
            lines,
            session,
            defined: HashSet::new(),
            booted: false,
            idle_since: Instant::now(),
            _slot: slot,
        })
    }

    /// Whether the shell is still there, waiting: its session did not close and it printed
    /// nothing since its last job.
    pub(super) fn is_ready(&mut self) -> bool {
        matches!(self.lines.try_recv(), Err(mpsc::error::TryRecvError::Empty))
    }

    /// Sends one job: the library first when the shell is new, the script's text when this
    /// shell has not seen it, then the job's line. Returns the job's nonce.
    pub(super) async fn send(
        &mut self,
        lib: &str,
        body: &str,
        env: &[(&str, &str)],
        args: &[String],
    ) -> std::io::Result<String> {
        let nonce = ulid::Ulid::generate().to_string();
        let mut input = String::new();
        if !self.booted {
            input.push_str(lib);
            input.push_str(BOOT);
        }
        let var = format!("__alfa_s_{:016x}", fnv(body));
        if !self.defined.contains(&var) {
            let end = format!("__ALFA_SCRIPT_END_{nonce}");
            input.push_str(&format!(
                "IFS= read -r -d '' {var} <<'{end}'\n{body}\n{end}\n"
            ));
        }
        input.push_str("( printf '::pgid %s\\n' \"$BASHPID\"; set +m; ");
        for (name, value) in env {
            input.push_str(&format!("export {name}={}; ", quote(value)));
        }
        input.push_str("set --");
        for arg in args {
            input.push(' ');
            input.push_str(&quote(arg));
        }
        input.push_str(&format!(
            "; set -euo pipefail; eval \"${var}\" ) </dev/null & __alfa_end {nonce}\n"
        ));
        self.stdin.write_all(input.as_bytes()).await?;
        self.stdin.flush().await?;
        self.booted = true;
        self.defined.insert(var);
        Ok(nonce)
    }

    /// The job's output, line by line, until both of its streams end (`on_line` gets each
    /// line, the `::pgid` line included).
    pub(super) async fn follow(&mut self, nonce: &str, mut on_line: impl FnMut(Line)) -> End {
        let out_end = format!("::alfa-end {nonce} ");
        let err_end = format!("::alfa-end {nonce}");
        let (mut code, mut err_done, mut started) = (None, false, false);
        while code.is_none() || !err_done {
            let Some(line) = self.lines.recv().await else {
                return End::Closed { started };
            };
            match line.stream {
                Stream::Out => {
                    if let Some(at) = line.text.rfind(&out_end)
                        && let Ok(rc) = line.text[at + out_end.len()..].parse::<i32>()
                    {
                        code = Some(rc);
                        if at > 0 {
                            on_line(Line {
                                stream: Stream::Out,
                                text: line.text[..at].to_owned(),
                            });
                        }
                        continue;
                    }
                    started |= line.text.starts_with("::pgid ");
                }
                Stream::Err => {
                    if let Some(prefix) = line.text.strip_suffix(&err_end) {
                        err_done = true;
                        if !prefix.is_empty() {
                            on_line(Line {
                                stream: Stream::Err,
                                text: prefix.to_owned(),
                            });
                        }
                        continue;
                    }
                }
            }
            on_line(line);
        }
        self.idle_since = Instant::now();
        End::Exited(code.unwrap_or(-1))
    }
}

impl Shell {
    /// Ends the shell and waits (5 s at most) until its bash exited, so that its session is
    /// gone from the server before the slot opens another.
    pub(super) async fn close(self) {
        let Self {
            _child: child,
            mut stdin,
            ..
        } = self;
        let _ = stdin.shutdown().await;
        drop(stdin);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await;
    }
}

/// Single-quotes a value for bash (used only for what travels on stdin).
pub(super) fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// FNV-1a: a stable name for a script's text (two scripts of one name never share it).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_quoted_whole_for_bash() {
        assert_eq!(quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn two_texts_get_two_names_and_one_text_always_the_same() {
        assert_eq!(fnv("echo a"), fnv("echo a"));
        assert_ne!(fnv("echo a"), fnv("echo b"));
    }
}
