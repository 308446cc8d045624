//! End-to-end: how sessions end. CC's death is reported with its signal or status and its own last
//! words, the last screen stays readable, and a CC binary that cannot run is refused up front.
//! Timeouts here are generous (2 busy cores); the latency figure is in scripts/bench.sh.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, wait, Cc, Rig};
use pb::SessionState as S;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tonic::Code;

/// CC's pid: the pane pid (tmux execs CC directly).
fn pane_pid(rig: &Rig, pane: &str) -> u32 {
    let out = Command::new("tmux")
        .args(["-L", &rig.socket, "display-message", "-p", "-t", pane, "#{pane_pid}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn ppid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Processes below `root` whose command line contains `needle`.
fn descendants_running(root: u32, needle: &str) -> Vec<u32> {
    let pids: Vec<u32> =
        std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.into_iter()
        .filter(|&p| {
            let mut cur = p;
            for _ in 0..16 {
                match ppid_of(cur) {
                    Some(pp) if pp == root => return cmdline(p).contains(needle),
                    Some(pp) if pp > 1 => cur = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

fn exit_events(events: &[pb::SessionEvent]) -> usize {
    events.iter().filter(|e| e.kind == pb::EventKind::StateChanged as i32 && e.state == S::Exited as i32).count()
}

async fn kill_and_expect_sigkill(rig: &mut Rig, s: &pb::Session) -> pb::Session {
    let pid = pane_pid(rig, &s.tmux_pane);
    assert!(cmdline(pid).contains("--session-id"), "the pane pid is not CC: {:?}", cmdline(pid));
    Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    let w = rig.wait_for(&s.id, s.revision, &[S::Exited], 30).await;
    let got = w.session.unwrap();
    assert_eq!(state_of(&got), S::Exited, "not EXITED 30 s after kill -9\n{}", rig.server_log());
    let exit = got.exit.clone().unwrap();
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert_eq!(exit.exit_status, None, "{exit:?}");
    assert!(exit.reason.contains("signal 9 (SIGKILL)"), "reason does not name the signal: {exit:?}");
    got
}

async fn kill_9_is_exited_with_the_signal(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 90).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{}", rig.server_log());
    let got = kill_and_expect_sigkill(&mut rig, &s).await;
    // One exit, whichever of pidfd / pane-died came first; later news is an UPDATED event at most.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = rig.events(&s.id).await;
    assert_eq!(exit_events(&events), 1, "{events:#?}");
    // The last screen stays readable: CC's idle frame.
    let screen = rig.screen(&got.id).await;
    assert!(screen.contains('❯'), "final screen: {screen:?}");
    assert!(!screen.contains("Pane is dead"), "{screen:?}");
}

per_cc!(kill_9_is_exited_with_the_signal);

/// A CC killed while its Bash tool runs a command (CC has children). Note: tmux 3.3a marks a pane dead
/// when it reaps the pane's process, whoever still holds the pty, and 2.1.332's Bash tool children
/// do not hold it; the pidfd is what reports the kill at once here, as in the plain case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_a_running_child_is_exited_with_the_signal() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let mut req = rig.create_request("BASH(timeout 187 tail -f /dev/null)");
    req.policy =
        Some(pb::InteractionPolicy { trust_work_dir: true, approve_tools: vec!["Bash".into()], ..Default::default() });
    req.wait = Some(wait(5, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let pid = pane_pid(&rig, &s.tmux_pane);
    let mut children = Vec::new();
    for _ in 0..180 {
        children = descendants_running(pid, "timeout 187");
        if !children.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if children.is_empty() {
        let screen = rig.screen(&s.id).await;
        panic!("the Bash tool never ran `timeout 187 tail -f /dev/null`:\n{screen}\n{}", rig.server_log());
    }
    let s = rig.get(&s.id).await;
    let got = kill_and_expect_sigkill(&mut rig, &s).await;
    assert_eq!(exit_events(&rig.events(&got.id).await), 1);
    for c in descendants_running(1, "timeout 187").into_iter().chain(children) {
        let _ = Command::new("kill").args(["-9", &c.to_string()]).status();
    }
}

/// CC refuses an unknown option and exits 1 at once: its own message is the reason and the screen.
async fn dies_at_start_with_its_own_message(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let mut req = rig.create_request("");
    req.extra_args = vec!["--no-such-flag-aegis".into()];
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let w = rig.wait_for(&s.id, 0, &[S::Exited], 60).await;
    let got = w.session.unwrap();
    assert_eq!(state_of(&got), S::Exited, "{}", rig.server_log());
    // The message may need the pane's last output: allow the follow-up UPDATED event.
    let mut exit = got.exit.clone().unwrap();
    for _ in 0..40 {
        if exit.reason.contains("unknown option") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        exit = rig.get(&s.id).await.exit.unwrap();
    }
    assert!(exit.reason.contains("error: unknown option '--no-such-flag-aegis'"), "{exit:?}\n{}", rig.server_log());
    assert!(exit.reason.starts_with("process exited with status 1"), "{exit:?}");
    assert_eq!(exit.exit_status, Some(1));
    assert!(exit.reason.chars().count() <= 500);
    let resp = rig
        .client
        .capture_screen(pb::CaptureScreenRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .expect("CaptureScreen of an exited session")
        .into_inner();
    assert!(resp.text.contains("error: unknown option '--no-such-flag-aegis'"), "{:?}", resp.text);
    assert!(!resp.text.contains("Pane is dead"), "{:?}", resp.text);
    assert_eq!(exit_events(&rig.events(&s.id).await), 1);
}
per_cc!(dies_at_start_with_its_own_message);

/// DeleteSession keeps "deleted" as the reason and the screen the pane showed until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_session_keeps_its_last_screen() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let s = rig.create("", 90).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{}", rig.server_log());
    let d = rig
        .client
        .delete_session(pb::DeleteSessionRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap();
    let d = d.into_inner().session.unwrap();
    assert_eq!(d.exit.as_ref().unwrap().reason, "deleted");
    assert!(rig.screen(&s.id).await.contains('❯'));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = rig.events(&s.id).await;
    assert_eq!(exit_events(&events), 0, "the kill of the window made a second exit: {events:#?}");
    assert_eq!(rig.get(&s.id).await.exit.unwrap().reason, "deleted");
}

// --- the CC binary ------------------------------------------------------------------------------

struct Serve {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    socket: String,
}

impl Serve {
    fn command(dir: &Path, socket: &str, claude_bin: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegis"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", socket])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--claude-bin")
            .arg(claude_bin)
            .arg("--claude-config-dir")
            .arg(dir.join("cc-config"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.join("home"))
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color");
        cmd
    }

    fn new() -> Serve {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "cc-config", "state", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Serve { dir, child: None, socket: format!("aegis-test-{}", uuid::Uuid::new_v4().simple()) }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn serve_refuses_a_missing_or_non_executable_claude_binary() {
    let s = Serve::new();
    let missing = s.path("nowhere/claude");
    let not_exec = s.path("claude-not-exec");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/fake-claude"), &not_exec).unwrap();
    set_mode(&not_exec, 0o644);
    for (bin, why) in [(&missing, "no such file"), (&not_exec, "is not executable")] {
        let mut child = Serve::command(s.dir.path(), &s.socket, bin)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A server that starts anyway never exits by itself: bound the wait.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "serve started with {bin:?}: {stderr}");
        assert!(stderr.contains(&*bin.to_string_lossy()) && stderr.contains(why), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_a_claude_binary_lost_after_start() {
    use std::io::BufRead;
    let mut s = Serve::new();
    let bin = s.path("claude");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/fake-claude"), &bin).unwrap();
    set_mode(&bin, 0o755);
    let mut child = Serve::command(s.dir.path(), &s.socket, &bin)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(s.path("server.log")).unwrap()))
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    s.child = Some(child);
    let addr = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    let mut client = pb::session_service_client::SessionServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let work = s.path("work").to_string_lossy().into_owned();
    let req =
        || pb::CreateSessionRequest { work_dir: work.clone(), name: common::realistic_name(), ..Default::default() };
    for (lose, why) in [(0, "is not executable"), (1, "no such file")] {
        if lose == 0 {
            set_mode(&bin, 0o644);
        } else {
            std::fs::remove_file(&bin).unwrap();
        }
        let st = client.create_session(req()).await.unwrap_err();
        assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
        assert_eq!(reason(&st), "CLAUDE_BINARY_UNAVAILABLE", "{st:?}");
        assert!(st.message().contains(&*bin.to_string_lossy()) && st.message().contains(why), "{st:?}");
    }
    // `aegis doctor` (local server) names the binary and what is wrong with it.
    let out = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["--address", &format!("http://{addr}"), "doctor"])
        .env("HOME", s.path("home"))
        .env_remove("AEGIS_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout.lines().find(|l| l.contains("claude code")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("FAIL") && line.contains(&*bin.to_string_lossy()) && line.contains("no such file"), "{line}");
}
