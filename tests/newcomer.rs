//! What a newcomer does on a fresh machine: the README's run command exactly as written, then
//! `aegis new . "hello" --wait`, with a fresh HOME that has no CC login and no ANTHROPIC_* anywhere.
//!
//! The command is read FROM README.md (the first `cargo run` line of the "Set-up" section's code
//! blocks), so the README and this test cannot drift. Two substitutions, both documented here:
//! - `cargo run --release --` becomes the debug binary this test was built with
//!   (`env!("CARGO_BIN_EXE_aegis")`): rebuilding in release inside a test would take minutes;
//! - `--listen 127.0.0.1:0` is appended (the README relies on the fixed default 127.0.0.1:50051, which
//!   parallel tests and a developer's own service may hold); the only change to the listen address.
//!
//! Hermetic otherwise: temp HOME (so the state dir is `$HOME/.local/state/aegis`), a private tmux
//! socket through `AEGIS_TMUX_SOCKET`, no ANTHROPIC_*/CLAUDE_* variable. `AEGIS_CC_CACHE` points
//! scripts/install-claude-code.sh at the shared cache of pinned CC builds so that the README's
//! `$(scripts/install-claude-code.sh 2.1.332 …)` finds the install instead of downloading 400 MB
//! again (the newcomer's first run downloads it into `~/.cache/aegis`; nothing there is a login).
//! The command runs in its own process group, which is SIGTERMed (then SIGKILLed) at the end, and the
//! tmux server is killed.
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The README's run command: the first line starting with `cargo run` in a ```sh block of "Set-up".
fn readme_run_command() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("\n## Set-up").expect("README has a Set-up section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map(|i| i + 3).unwrap_or(section.len())];
    let mut in_sh = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if in_sh && line.trim_start().starts_with("cargo run") {
            return line.trim().to_string();
        }
    }
    panic!("no `cargo run` line in a ```sh block of the README's Set-up section");
}

/// The shared cache the install script uses (as tests/common's `Cc::binary`).
fn cc_cache() -> PathBuf {
    std::env::var_os("AEGIS_CC_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
        base.join("aegis/claude-code")
    })
}

struct Newcomer {
    home: tempfile::TempDir,
    socket: String,
    server: Option<Child>,
}

impl Newcomer {
    /// The environment of a fresh login shell: nothing but PATH, HOME, LANG, TERM (+ the two rig
    /// settings above).
    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color")
            .env("AEGIS_TMUX_SOCKET", &self.socket)
            .env("AEGIS_CC_CACHE", cc_cache());
    }
}

impl Drop for Newcomer {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let group = format!("-{}", c.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
            let _ = c.wait();
        }
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
        let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
        let dir = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
        let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.socket));
    }
}

#[test]
fn the_readme_run_command_gives_a_working_session_on_a_fresh_machine() {
    let readme = readme_run_command();
    assert!(readme.starts_with("cargo run --release -- serve"), "{readme}");
    assert!(readme.contains("--demo"), "the README's run command must work without an account: {readme}");
    let bin = env!("CARGO_BIN_EXE_aegis");
    let line = format!("{} --listen 127.0.0.1:0", readme.replacen("cargo run --release --", &format!("'{bin}'"), 1));

    let mut n = Newcomer {
        home: tempfile::tempdir().unwrap(),
        socket: format!("aegis-test-{}", uuid::Uuid::new_v4().simple()),
        server: None,
    };
    let work = n.home.path().join("my-project");
    std::fs::create_dir(&work).unwrap();
    let log = n.home.path().join("serve.log");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&line).current_dir(env!("CARGO_MANIFEST_DIR"));
    n.env(&mut cmd);
    cmd.process_group(0).stdout(Stdio::piped()).stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    n.server = Some(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(Duration::from_secs(120)).unwrap_or_default();
    let addr = first
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{line}\nfirst line {first:?}\n{}", std::fs::read_to_string(&log).unwrap()))
        .to_string();

    // The README's second command, in the project dir: `aegis new . "hello" --wait`.
    let mut new = Command::new(bin);
    new.args(["new", ".", "hello", "--wait"]).current_dir(&work);
    n.env(&mut new);
    let out = new.env("AEGIS_ADDRESS", format!("http://{addr}")).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}\n{server_log}", out.status);
    assert!(stderr.contains(": IDLE (stable)"), "{stderr}\n{server_log}");
    assert!(stderr.contains("Fake reply: hello"), "the scripted model's reply: {stderr}\n{server_log}");
    // Everything the demo made lives in the fresh HOME's state dir, and no user CC config was created.
    let state = n.home.path().join(".local/state/aegis");
    assert!(state.join("demo/claude-config/.claude.json").is_file());
    assert!(!n.home.path().join(".claude").exists() && !n.home.path().join(".claude.json").exists());
}
