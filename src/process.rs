//! Watching CC's own process, and checking the CC binary.
//!
//! tmux execs a window's argv directly (`respawn-pane -- argv…`, no shell), so the pane pid IS CC's
//! pid. tmux's own death notice reaches Aegis through a format subscription that tmux checks once a
//! second, and now and then only through the fallback look seconds later (measured: p99 5.4 s, see
//! bench/README.md) — so each live session also holds a pidfd on CC, readable the moment CC exits,
//! whatever holds its pty.
//!
//! Crates: `rustix` (already in the tree through `tempfile`) gives a safe `pidfd_open`; tokio's
//! `AsyncFd` waits on it. The exit status of a process we are not the parent of comes from the
//! `PIDFD_GET_INFO` ioctl (`PIDFD_INFO_EXIT`, Linux 6.15+; it works even after tmux reaped CC),
//! which neither rustix nor nix wraps: `libc` has its constant and struct, so that one ioctl is a
//! small unsafe call. On older kernels the zombie's `/proc/<pid>/stat` field 52 (`exit_code`, the
//! wait status, Linux 3.5+) is read before tmux reaps it; if both miss, the caller falls back to
//! tmux's pane status.
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// How CC's process ended, as far as we could read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessExit {
    /// Exit status when it exited by itself.
    pub status: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
}

impl ProcessExit {
    /// Decodes a wait status (`WIFEXITED` / `WTERMSIG`).
    pub fn from_wait_status(ws: i32) -> ProcessExit {
        if ws & 0x7f == 0 {
            ProcessExit { status: Some((ws >> 8) & 0xff), signal: None }
        } else {
            ProcessExit { status: None, signal: Some(ws & 0x7f) }
        }
    }

    pub fn known(&self) -> bool {
        self.status.is_some() || self.signal.is_some()
    }
}

/// A pidfd on one live process.
pub struct PidWatch {
    pid: u32,
    fd: AsyncFd<OwnedFd>,
}

impl PidWatch {
    /// Opens a pidfd on `pid`. `ErrorKind::NotFound` means the process is already gone (reaped).
    pub fn open(pid: u32) -> io::Result<PidWatch> {
        let raw = i32::try_from(pid).ok().filter(|p| *p > 0);
        let p = raw.and_then(rustix::process::Pid::from_raw).ok_or(io::ErrorKind::InvalidInput)?;
        let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).map_err(|e| {
            if e == rustix::io::Errno::SRCH {
                io::Error::from(io::ErrorKind::NotFound)
            } else {
                io::Error::from(e)
            }
        })?;
        // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open and the same until dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(PidWatch { pid, fd })
    }

    /// Waits until the process exits, then reads how it ended (a few quick tries: the kernel records
    /// the exit info for the pidfd when the process is reaped, which tmux does at once).
    pub async fn exited(self) -> ProcessExit {
        // A pidfd polls readable once the process has exited; nothing is read from it.
        let _ = self.fd.readable().await;
        for delay_ms in [0, 2, 5, 10, 20, 40] {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            if let Some(ws) = pidfd_exit_code(self.fd.get_ref()).or_else(|| zombie_exit_code(self.pid)) {
                return ProcessExit::from_wait_status(ws);
            }
        }
        ProcessExit::default()
    }
}

/// The wait status from `PIDFD_GET_INFO` with `PIDFD_INFO_EXIT`, once the kernel has it.
fn pidfd_exit_code(fd: &OwnedFd) -> Option<i32> {
    // SAFETY: pidfd_info is a plain C struct of integers; all-zero is a valid value.
    let mut info: libc::pidfd_info = unsafe { std::mem::zeroed() };
    info.mask = libc::PIDFD_INFO_EXIT as u64;
    // SAFETY: a valid pidfd and a pointer to a pidfd_info of the size encoded in PIDFD_GET_INFO.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::PIDFD_GET_INFO, &mut info as *mut libc::pidfd_info) };
    (rc == 0 && info.mask & libc::PIDFD_INFO_EXIT as u64 != 0).then_some(info.exit_code)
}

/// Field 52 (`exit_code`) of `/proc/<pid>/stat`, only while the process is a zombie (state `Z`).
fn zombie_exit_code(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_zombie_exit_code(&stat)
}

/// Parses a stat line; the command name (field 2) is in parentheses and may hold spaces or `)`.
fn parse_zombie_exit_code(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); field 52 is at index 49.
    if fields.first() != Some(&"Z") {
        return None;
    }
    fields.get(49)?.parse().ok()
}

/// Why `path` cannot be run as CC, or None when it can (exists, regular file, executable by us).
pub fn binary_problem(path: &Path) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some("no such file".into()),
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    if !meta.is_file() {
        return Some("is not a regular file".into());
    }
    // access(2) answers for this user (root too: it needs at least one execute bit).
    if rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_err() {
        use std::os::unix::fs::PermissionsExt;
        return Some(format!("is not executable (mode {:o})", meta.permissions().mode() & 0o7777));
    }
    None
}

/// A readable name for the signals that end processes (the number otherwise).
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    format!("signal {sig} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_decoding() {
        assert_eq!(ProcessExit::from_wait_status(9), ProcessExit { status: None, signal: Some(9) });
        assert_eq!(ProcessExit::from_wait_status(1 << 8), ProcessExit { status: Some(1), signal: None });
        assert_eq!(ProcessExit::from_wait_status(0), ProcessExit { status: Some(0), signal: None });
        // Core dumped (0x80) is not part of the signal number.
        assert_eq!(ProcessExit::from_wait_status(0x80 | 11).signal, Some(11));
    }

    #[test]
    fn stat_field_52() {
        let mut f: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        f[0] = "Z".into();
        f[49] = "256".into();
        let line = format!("1234 (a) b (c)) {}", f.join(" "));
        assert_eq!(parse_zombie_exit_code(&line), Some(256));
        f[0] = "S".into();
        assert_eq!(parse_zombie_exit_code(&format!("1 (x) {}", f.join(" "))), None);
    }

    #[tokio::test]
    async fn pidfd_reports_a_kill_and_an_exit_status() {
        // We are the parent here and never reap: the zombie path or the pidfd info answers.
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let w = PidWatch::open(child.id()).unwrap();
        let _ = std::process::Command::new("kill").args(["-9", &child.id().to_string()]).status();
        let exit = tokio::time::timeout(Duration::from_secs(10), w.exited()).await.unwrap();
        assert_eq!(exit, ProcessExit { status: None, signal: Some(9) });
        let _ = child.wait();

        let mut child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let w = PidWatch::open(child.id()).unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), w.exited()).await.unwrap();
        assert_eq!(exit, ProcessExit { status: Some(3), signal: None });
        let _ = child.wait();
        assert_eq!(PidWatch::open(child.id()).err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
    }

    #[test]
    fn binary_problems() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("claude");
        assert_eq!(binary_problem(&p).as_deref(), Some("no such file"));
        assert_eq!(binary_problem(dir.path()).as_deref(), Some("is not a regular file"));
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(binary_problem(&p).as_deref(), Some("is not executable (mode 644)"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(binary_problem(&p), None);
    }
}
