//! Live rig for the CLI and MCP tests: `aegis fake-api` and `aegis serve` as child processes (real tmux on a
//! private socket, the real Claude Code CLI), each test with its own temp HOME / CC config / state dir.
//! Everything started is stopped on drop (server SIGTERM→SIGKILL, fake API killed, tmux kill-server).
//!
//! `AEGIS_TEST_SERVER_BIN` overrides the binary that serves (default: the crate's own `aegis`).
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const API_KEY: &str = "sk-ant-test-key-000000000000";
pub const CC_VERSION: &str = "2.1.330";

/// The binary under test (the human commands and `aegis mcp`).
pub fn cli_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aegis"))
}

fn server_bin() -> PathBuf {
    std::env::var_os("AEGIS_TEST_SERVER_BIN").map(PathBuf::from).unwrap_or_else(cli_bin)
}

/// The pinned CC binary installed by scripts/install-claude-code.sh.
pub fn cc_binary() -> PathBuf {
    let cache = std::env::var_os("AEGIS_CC_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
        base.join("aegis/claude-code")
    });
    let bin = cache.join(CC_VERSION).join("node_modules/.bin/claude");
    assert!(
        bin.exists(),
        "Claude Code {CC_VERSION} is not installed at {}: run scripts/install-claude-code.sh",
        bin.display()
    );
    bin
}

/// Reads the first stdout line (`listening 127.0.0.1:PORT`) of a child, with a timeout.
fn listening_addr(child: &mut Child, what: &str, secs: u64) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let mut sink = String::new();
        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    let line =
        rx.recv_timeout(Duration::from_secs(secs)).unwrap_or_else(|_| panic!("{what} did not start in {secs} s"));
    line.trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{what}: unexpected first line {line:?}"))
        .to_string()
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    fake: Option<Child>,
    server: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub socket: String,
}

impl Rig {
    pub fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "cc-config", "state", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let work = dir.path().join("work").canonicalize().unwrap();
        let key_tail = &API_KEY[API_KEY.len() - 20..];
        let cfg = serde_json::json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
            "projects": {work.to_string_lossy(): {"hasTrustDialogAccepted": true, "allowedTools": []}},
        });
        std::fs::write(dir.path().join("cc-config/.claude.json"), cfg.to_string()).unwrap();

        let mut fake = Command::new(server_bin())
            .args(["fake-api", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("fake-api.log")).unwrap()))
            .spawn()
            .expect("spawn aegis fake-api");
        let fake_addr = listening_addr(&mut fake, "aegis fake-api", 20);

        let socket = format!("aegis-clitest-{}", uuid::Uuid::new_v4().simple());
        let mut rig = Rig { dir, fake: Some(fake), server: None, address: String::new(), socket };
        let home = rig.path("home");
        let mut server = Command::new(server_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &rig.socket])
            .arg("--state-dir")
            .arg(rig.path("state"))
            .arg("--claude-bin")
            .arg(cc_binary())
            .arg("--claude-config-dir")
            .arg(rig.path("cc-config"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color")
            .env("AEGIS_LOG", "aegis=debug,info")
            .env("ANTHROPIC_BASE_URL", format!("http://{fake_addr}"))
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(rig.path("server.log")).unwrap()))
            .spawn()
            .expect("spawn aegis serve");
        let addr = listening_addr(&mut server, "aegis serve", 30);
        rig.server = Some(server);
        rig.address = format!("http://{addr}");
        rig
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn work_dir(&self) -> String {
        self.path("work").canonicalize().unwrap().to_string_lossy().into_owned()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    /// A command running the CLI against this rig's server, stdout/stderr piped (so: no TTY, no colour).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(cli_bin());
        c.arg("--address").arg(&self.address).args(args);
        c.env_remove("AEGIS_TOKEN").env_remove("AEGIS_ADDRESS").env_remove("NO_COLOR");
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// Runs the CLI to completion (at most `secs`).
    pub fn run(&self, args: &[&str], secs: u64) -> Run {
        let child = self.command(args).spawn().expect("spawn aegis");
        let out = wait_output(child, Duration::from_secs(secs))
            .unwrap_or_else(|| panic!("`aegis {}` did not finish in {secs} s", args.join(" ")));
        Run::from(out, args)
    }
}

/// The outcome of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub args: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output, args: &[&str]) -> Run {
        Run {
            args: args.join(" "),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, printing everything on failure.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "`aegis {}` exited {} (want {want})\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "`aegis {}` stdout lacks {needle:?}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "`aegis {}` stderr lacks {needle:?}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Waits for a child with a deadline, collecting its output; kills it on timeout (returns None).
pub fn wait_output(mut child: Child, timeout: Duration) -> Option<Output> {
    let deadline = Instant::now() + timeout;
    // Drain pipes on threads so a chatty child never blocks.
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = std::io::Read::read_to_end(s, &mut v);
        }
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = std::io::Read::read_to_end(s, &mut v);
        }
        v
    });
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Some(Output { status, stdout: t1.join().unwrap(), stderr: t2.join().unwrap() });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Sends SIGTERM to a child (by its pid) and waits for it, SIGKILL after 5 s.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            terminate(&mut s);
        }
        if let Some(mut f) = self.fake.take() {
            let _ = f.kill();
            let _ = f.wait();
        }
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
        // kill-server can leave the socket file behind.
        let _ = std::fs::remove_file(tmux_socket_path(&self.socket));
        if std::env::var_os("AEGIS_KEEP_TEST_DIR").is_some() {
            let path = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            eprintln!("test dir kept: {}", path.display());
        }
    }
}

/// Where tmux puts the socket of `-L name`.
fn tmux_socket_path(name: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let base = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join(format!("tmux-{uid}")).join(name)
}

/// Polls `f` every 200 ms until it returns Some or `secs` pass.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// True when `p` is an existing file.
pub fn exists(p: &Path) -> bool {
    p.exists()
}
