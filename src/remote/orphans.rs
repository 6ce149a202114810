//! Masters left behind by a killed process of ours.
//!
//! openssh starts each master with `ssh -f`, detached, so it cannot die with the process that
//! opened it: after a SIGKILL it would live on until its idle timeout (`ALFA_SSH_IDLE_CLOSE`),
//! holding a connection to the server. Every process's control folder is named
//! `alfa-ssh-{pid}-{random}`; at start, each folder whose process is gone has its masters told
//! to exit (`ssh -O exit` on their sockets) and is removed.

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The prefix of every control folder (see `remote::control_dir`).
pub const PREFIX: &str = "alfa-ssh-";

/// Closes the masters of dead processes' control folders under `parent`; returns how many
/// masters it closed.
pub fn reap(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut closed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let dir = entry.path();
        for socket in sockets(&dir) {
            let exited = Command::new("ssh")
                .arg("-S")
                .arg(&socket)
                .args(["-O", "exit", "alfa-orphan"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if exited {
                closed += 1;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    if closed > 0 {
        tracing::info!(
            closed,
            "closed SSH connections left open by a process of ours that was killed"
        );
    }
    closed
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Every Unix socket under `dir`, at any depth.
fn sockets(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_socket() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}
