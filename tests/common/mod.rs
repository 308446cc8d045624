//! Integration-test rig: the real `aegis` binary on 127.0.0.1:0 with a private tmux socket, the real
//! Claude Code CLI (pinned versions from the per-user cache), and the scripted fake Anthropic API on
//! loopback. Every test gets its own temp HOME / CC config dir / state dir, and everything it started is
//! stopped on drop (server SIGTERM→SIGKILL, tmux kill-server).
#![allow(dead_code)]
use aegis::fakeapi::{FakeApi, Script};
use aegis::proto::v1 as pb;
use aegis::proto::v1::session_service_client::SessionServiceClient;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tonic::transport::Channel;

pub const API_KEY: &str = "sk-ant-test-key-000000000000";

/// Which CC build and renderer a test runs against: one entry of `cc-versions` (the supported list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cc {
    pub version: &'static str,
    pub renderer: &'static str,
}

impl Cc {
    pub const V197: Cc = Cc { version: "2.1.197", renderer: "classic" };
    pub const V330_FULLSCREEN: Cc = Cc { version: "2.1.330", renderer: "fullscreen" };
    pub const V330_CLASSIC: Cc = Cc { version: "2.1.330", renderer: "classic" };
    pub const V332_FULLSCREEN: Cc = Cc { version: "2.1.332", renderer: "fullscreen" };
    pub const V332_CLASSIC: Cc = Cc { version: "2.1.332", renderer: "classic" };
    /// The newest tested version in its default renderer: suites that test Aegis itself, not CC.
    pub const NEWEST: Cc = Cc::V332_FULLSCREEN;
    /// Every (version, renderer) `per_cc!` generates a test for; `cc_variants_match_the_list` holds it
    /// to `cc-versions`.
    pub const ALL: [Cc; 5] = [Cc::V197, Cc::V330_FULLSCREEN, Cc::V330_CLASSIC, Cc::V332_FULLSCREEN, Cc::V332_CLASSIC];

    pub fn version(self) -> &'static str {
        self.version
    }

    /// The pinned binary, installed by scripts/install-claude-code.sh (AEGIS_CC_CACHE or ~/.cache).
    pub fn binary(self) -> PathBuf {
        let cache = std::env::var_os("AEGIS_CC_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            base.join("aegis/claude-code")
        });
        let bin = cache.join(self.version()).join("node_modules/.bin/claude");
        assert!(
            bin.exists(),
            "Claude Code {} is not installed at {}: run scripts/install-claude-code.sh",
            self.version(),
            bin.display()
        );
        bin
    }

    /// Whether this is a non-default renderer that must be forced.
    fn forced_classic(self) -> bool {
        let default = aegis::cc::versions::tested()
            .into_iter()
            .find(|t| t.version == self.version)
            .and_then(|t| t.renderers.first().copied());
        self.renderer == "classic" && default != Some("classic")
    }

    /// Extra environment for CC: the classic renderer is forced with its documented switch.
    pub fn env(self) -> Vec<(&'static str, &'static str)> {
        if self.forced_classic() {
            vec![("CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN", "1")]
        } else {
            vec![]
        }
    }
}

/// Realistic session names (what orchestrators and people use): `#`, spaces, non-ASCII, 40 characters.
pub const NAMES: &[&str] = &["impl-#123", "review PR 456", "tâche-é", "fix ci: flaky build on main (ünïcode) 40"];

/// A realistic, unique name for one e2e session: one of `NAMES` with a short unique tail.
pub fn realistic_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let i = N.fetch_add(1, Ordering::Relaxed);
    let tail = &uuid::Uuid::new_v4().simple().to_string()[..4];
    let base = NAMES[i % NAMES.len()];
    if base.chars().count() >= 40 {
        // Keep the 40-character one exactly 40 characters long.
        let keep: String = base.chars().take(35).collect();
        format!("{keep} {tail}")
    } else {
        format!("{base} {tail}")
    }
}

pub struct Rig {
    pub cc: Cc,
    pub dir: tempfile::TempDir,
    pub api: FakeApi,
    pub server: Option<Child>,
    pub addr: String,
    /// The HTTP API's address (`http <addr>`, the banner's second line) when `--http` is among the args.
    pub http: String,
    pub socket: String,
    pub client: SessionServiceClient<Channel>,
    /// Extra `aegis serve` arguments for the next (re)start.
    pub server_args: Vec<String>,
    /// Extra `aegis serve` environment for the next (re)start.
    pub server_env: Vec<(String, String)>,
}

fn seed_config(config: &Path, trusted: &[&Path]) {
    let projects: serde_json::Map<String, serde_json::Value> = trusted
        .iter()
        .map(|p| {
            (p.to_string_lossy().into_owned(), serde_json::json!({"hasTrustDialogAccepted": true, "allowedTools": []}))
        })
        .collect();
    let key_tail = &API_KEY[API_KEY.len() - 20..];
    let cfg = serde_json::json!({
        "hasCompletedOnboarding": true,
        "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
        "projects": projects,
    });
    std::fs::create_dir_all(config).unwrap();
    std::fs::write(config.join(".claude.json"), cfg.to_string()).unwrap();
}

impl Rig {
    pub async fn start(cc: Cc) -> Rig {
        Self::start_with(cc, Script::builtin()).await
    }

    pub async fn start_with(cc: Cc, script: Script) -> Rig {
        Self::start_configured(cc, script, Vec::new(), Vec::new()).await
    }

    /// Like [`Rig::start_with`], with extra `aegis serve` arguments and environment from the first start.
    pub async fn start_configured(
        cc: Cc,
        script: Script,
        server_args: Vec<String>,
        server_env: Vec<(String, String)>,
    ) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        if std::env::var_os("AEGIS_KEEP_TEST_DIR").is_some() {
            eprintln!("test dir: {}", dir.path().display());
        }
        for d in ["home", "cc-config", "state", "work", "untrusted"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let work = dir.path().join("work").canonicalize().unwrap();
        seed_config(&dir.path().join("cc-config"), &[&work]);
        let api = FakeApi::start(script).await.unwrap();
        let socket = format!("aegis-test-{}", uuid::Uuid::new_v4().simple());
        let mut rig = Rig {
            cc,
            dir,
            api,
            server: None,
            addr: String::new(),
            http: String::new(),
            socket,
            client: dummy_client(),
            server_args,
            server_env,
        };
        rig.start_server("127.0.0.1:0").await;
        rig
    }

    pub fn work_dir(&self) -> String {
        self.dir.path().join("work").canonicalize().unwrap().to_string_lossy().into_owned()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Starts (or restarts) the server process on the same state dir and tmux socket.
    pub async fn start_server(&mut self, listen: &str) {
        let home = self.path("home");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegis"));
        cmd.args(["serve", "--listen", listen, "--tmux-socket", &self.socket])
            .args(&self.server_args)
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--claude-bin")
            .arg(self.cc.binary())
            .arg("--claude-config-dir")
            .arg(self.path("cc-config"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color")
            .env("AEGIS_LOG", "aegis=debug,info")
            // Inherited by the tmux server the service starts, hence by every CC it runs.
            .env("ANTHROPIC_BASE_URL", self.api.base_url())
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(self.path("server.log")).unwrap()));
        for (k, v) in self.cc.env() {
            cmd.env(k, v);
        }
        cmd.envs(self.server_env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd.spawn().expect("spawn aegis serve");
        let stdout = child.stdout.take().unwrap();
        let http = self.server_args.iter().any(|a| a == "--http");
        let lines = tokio::task::spawn_blocking(move || {
            let mut out = BufReader::new(stdout);
            let (mut line, mut second) = (String::new(), String::new());
            out.read_line(&mut line)?;
            if http {
                out.read_line(&mut second)?;
            }
            std::io::Result::Ok((line, second))
        });
        let (line, second) = tokio::time::timeout(Duration::from_secs(30), lines)
            .await
            .expect("server did not start in 30 s")
            .unwrap()
            .unwrap();
        let addr = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        self.addr = addr.to_string();
        if http {
            let h = second.trim().strip_prefix("http ").unwrap_or_else(|| panic!("unexpected second line {second:?}"));
            self.http = h.to_string();
        }
        self.server = Some(child);
        self.client = SessionServiceClient::connect(format!("http://{addr}")).await.unwrap();
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    /// SIGKILL the server (sessions keep running in tmux).
    pub fn kill_server(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Graceful stop (SIGTERM), waiting for exit.
    pub fn stop_server(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            for _ in 0..100 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn create_request(&self, prompt: &str) -> pb::CreateSessionRequest {
        let env: HashMap<String, String> =
            self.cc.env().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pb::CreateSessionRequest {
            work_dir: self.work_dir(),
            // Every e2e session carries a realistic name (`#`, spaces, non-ASCII), as users name them.
            name: realistic_name(),
            prompt: prompt.into(),
            // 2.1.330 defaults to auto mode; pin the manual mode so both versions behave alike.
            permission_mode: "default".into(),
            env,
            ..Default::default()
        }
    }

    pub async fn create(&mut self, prompt: &str, wait_secs: u64) -> pb::CreateSessionResponse {
        let mut req = self.create_request(prompt);
        req.wait = Some(wait(wait_secs, &[]));
        self.client
            .create_session(req)
            .await
            .unwrap_or_else(|e| panic!("create: {e:?}\n{}", self.server_log()))
            .into_inner()
    }

    pub async fn get(&mut self, id: &str) -> pb::Session {
        self.client
            .get_session(pb::GetSessionRequest { session_id: id.into() })
            .await
            .unwrap()
            .into_inner()
            .session
            .unwrap()
    }

    pub async fn transcript(&mut self, id: &str) -> Vec<pb::TranscriptEntry> {
        self.client
            .get_transcript(pb::GetTranscriptRequest { session_id: id.into(), limit: 1000, ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .entries
    }

    pub async fn screen(&mut self, id: &str) -> String {
        self.client
            .capture_screen(pb::CaptureScreenRequest { session_id: id.into(), ..Default::default() })
            .await
            .map(|r| r.into_inner().text)
            .unwrap_or_default()
    }

    /// Waits for a wanted state entered after `after` (0 = now).
    pub async fn wait_for(
        &mut self,
        id: &str,
        after: i64,
        states: &[pb::SessionState],
        secs: u64,
    ) -> pb::WaitSessionResponse {
        self.client
            .wait_session(pb::WaitSessionRequest {
                session_id: id.into(),
                after_revision: after,
                wait: Some(wait(secs, states)),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// All events of a session from revision 1, read through WatchSession until a heartbeat shows we
    /// are caught up.
    pub async fn events(&mut self, id: &str) -> Vec<pb::SessionEvent> {
        use pb::watch_session_response::Item;
        let req = pb::WatchSessionRequest {
            session_id: id.into(),
            start_revision: 1,
            heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
            ..Default::default()
        };
        let mut stream = self.client.watch_session(req).await.unwrap().into_inner();
        let mut out = Vec::new();
        loop {
            let item = match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
                Ok(Ok(Some(item))) => item,
                Ok(Err(e)) => panic!("watch failed: {e:?}"),
                _ => break,
            };
            match item.item {
                Some(Item::Event(e)) => out.push(e),
                Some(Item::Heartbeat(_)) => break,
                _ => {}
            }
        }
        out
    }
}

/// What every event history must satisfy: STATE_CHANGED only when the state changes, and at most one
/// event that ends the session.
pub fn assert_events_say_something(events: &[pb::SessionEvent]) {
    for e in events {
        if e.kind == pb::EventKind::StateChanged as i32 {
            assert_ne!(e.state, e.previous_state, "a STATE_CHANGED that changes nothing: {e:#?}");
        }
    }
    let exits = events
        .iter()
        .filter(|e| e.state == pb::SessionState::Exited as i32 && e.previous_state != pb::SessionState::Exited as i32)
        .filter(|e| e.kind == pb::EventKind::StateChanged as i32 || e.kind == pb::EventKind::Deleted as i32)
        .count();
    assert!(exits <= 1, "{exits} exit events: {events:#?}");
    assert!(
        !events.iter().any(|e| e.state == pb::SessionState::Exited as i32
            && e.previous_state == pb::SessionState::Exited as i32
            && (e.kind == pb::EventKind::StateChanged as i32 || e.kind == pb::EventKind::Deleted as i32)),
        "a second exit event: {events:#?}"
    );
}

pub fn wait(secs: u64, states: &[pb::SessionState]) -> pb::WaitOptions {
    pb::WaitOptions {
        states: states.iter().map(|s| *s as i32).collect(),
        timeout: Some(prost_types::Duration { seconds: secs as i64, nanos: 0 }),
    }
}

pub fn state_of(s: &pb::Session) -> pb::SessionState {
    pb::SessionState::try_from(s.state).unwrap()
}

/// The ErrorInfo reason of a status.
pub fn reason(st: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    st.get_details_error_info().map(|i| i.reason).unwrap_or_default()
}

fn dummy_client() -> SessionServiceClient<Channel> {
    SessionServiceClient::new(Channel::from_static("http://127.0.0.1:9").connect_lazy())
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop_server();
        if std::env::var_os("AEGIS_KEEP_TEST_DIR").is_some() {
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
        }
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
        // tmux leaves its socket file behind.
        let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
        let dir = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
        let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.socket));
    }
}

/// Generates one #[tokio::test] per CC build/renderer of `cc-versions` from an async fn taking `Cc`.
#[macro_export]
macro_rules! per_cc {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cc_2_1_197() {
                super::$name(common::Cc::V197).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cc_2_1_330_fullscreen() {
                super::$name(common::Cc::V330_FULLSCREEN).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cc_2_1_330_classic() {
                super::$name(common::Cc::V330_CLASSIC).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cc_2_1_332_fullscreen() {
                super::$name(common::Cc::V332_FULLSCREEN).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cc_2_1_332_classic() {
                super::$name(common::Cc::V332_CLASSIC).await
            }
        }
    };
}

/// `per_cc!` and `Cc::ALL` cover exactly the supported list in `cc-versions`.
pub fn assert_variants_match_the_list() {
    let mut listed: Vec<(String, String)> = aegis::cc::versions::tested()
        .into_iter()
        .flat_map(|t| t.renderers.into_iter().map(move |r| (t.version.to_string(), r.to_string())))
        .collect();
    let mut ours: Vec<(String, String)> =
        Cc::ALL.iter().map(|c| (c.version.to_string(), c.renderer.to_string())).collect();
    listed.sort();
    ours.sort();
    assert_eq!(ours, listed, "tests/common Cc::ALL and per_cc! must match cc-versions");
}
