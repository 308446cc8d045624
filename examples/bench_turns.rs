//! Turn latency on the real Claude Code: how long CC waits on Aegis's hooks, and how soon IDLE follows
//! CC's Stop hook. The real `aegis serve` (release) runs real CC (default 2.1.332, its default
//! fullscreen renderer) against the scripted fake API in this process; each turn is one `Bash` call
//! approved by the session policy (`approve_tools`), then the model's final text.
//!
//! Prints, over `--turns` turns (default 50):
//!   - hook reply time (arrival → response) per event, server-side (the `aegis::hook_reply` debug
//!     line the hook endpoint logs next to its `aegis_hook_reply_seconds` histogram);
//!   - Stop hook → IDLE event (both server timestamps: the IDLE evidence's observe time and the
//!     event's time), and which signal the IDLE events carry as evidence;
//!   - the longest any sampled frame showed `running … hook` (the pane is sampled through a tmux
//!     control client of our own, capture-pane every few ms);
//!   - GetTranscript issued on each IDLE finds the turn's final assistant text: N/N;
//!   - baseline, same run: CC's own Stop hook → first sampled frame with the idle box;
//!   - SendMessage → delivery confirmed (the MESSAGE_SENT event), against the same sends on a second
//!     service with the old fixed 100 ms typing tick (`AEGIS_BENCH_FIXED_TYPING_POLL=1`);
//!   - CreateSession → IDLE, against CC's own boot in a plain tmux window (same CC, config and
//!     model; first frame with the idle box), interleaved `--boots` times (default 5).
//!
//!   cargo run --release --example bench_turns -- [--turns 50] [--boots 5] [--cc-version 2.1.332] [--aegis PATH]
//!
//! Skips (exit 0, with a message) when that CC version is not installed
//! (scripts/install-claude-code.sh).
use aegis::fakeapi::{FakeApi, Script};
use aegis::proto::v1 as pb;
use aegis::proto::v1::session_service_client::SessionServiceClient;
use aegis::tmux::{CaptureOptions, ControlClient, Tmux};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const API_KEY: &str = "sk-ant-bench-key-000000000000";

struct Opts {
    turns: usize,
    boots: usize,
    cc_version: String,
    aegis: PathBuf,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let default_aegis = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("aegis")))
        .unwrap_or_else(|| PathBuf::from("aegis"));
    Opts {
        turns: get("--turns").and_then(|v| v.parse().ok()).unwrap_or(50),
        boots: get("--boots").and_then(|v| v.parse().ok()).unwrap_or(5),
        cc_version: get("--cc-version").unwrap_or_else(|| "2.1.332".into()),
        aegis: get("--aegis").map(PathBuf::from).unwrap_or(default_aegis),
    }
}

fn claude_bin(version: &str) -> PathBuf {
    let cache = std::env::var_os("AEGIS_CC_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        base.join("aegis/claude-code")
    });
    cache.join(version).join("node_modules/.bin/claude")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn ts_ms(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().map_or(0, |t| t.seconds * 1000 + t.nanos as i64 / 1_000_000)
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).ceil() as usize]
}

fn dist(v: &[f64], unit: &str) -> String {
    if v.is_empty() {
        return "none".into();
    }
    format!(
        "p50 {:.2} {unit} · p99 {:.2} {unit} · max {:.2} {unit} (n={})",
        pct(v, 0.5),
        pct(v, 0.99),
        pct(v, 1.0),
        v.len()
    )
}

/// CC's config dir: onboarding done, the key approved, the work dir trusted (as the e2e rig seeds it).
fn seed_config(config: &Path, work: &Path) -> anyhow::Result<()> {
    let key_tail = &API_KEY[API_KEY.len() - 20..];
    let mut projects = serde_json::Map::new();
    projects.insert(
        work.to_string_lossy().into_owned(),
        serde_json::json!({"hasTrustDialogAccepted": true, "allowedTools": []}),
    );
    let cfg = serde_json::json!({
        "hasCompletedOnboarding": true,
        "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
        "projects": projects,
    });
    std::fs::create_dir_all(config)?;
    std::fs::write(config.join(".claude.json"), cfg.to_string())?;
    Ok(())
}

/// One sampled frame: when, whether the idle box shows, whether a `running … hook` line shows.
#[derive(Clone, Copy)]
struct Frame {
    at: i64,
    idle: bool,
    running_hook: bool,
}

/// Samples the pane through our own control client until `stop` is set.
async fn sample(
    socket: String,
    pane: String,
    frames: Arc<Mutex<Vec<Frame>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let tmux = Tmux::new("tmux", socket);
    let Ok((control, mut events)) = ControlClient::connect(&tmux, "aegis").await else {
        eprintln!("bench_turns: cannot attach a control client; no screen figures");
        return;
    };
    // The notifications are not needed; drain them so the reader never blocks.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let running = regex::Regex::new(r"(?i)\brunning\b[^\n]{0,40}?\bhooks?\b").unwrap();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(text) = control.capture(&pane, CaptureOptions::default()).await {
            let at = now_ms();
            let obs = aegis::detect::classify(&text);
            let idle = obs.state == aegis::detect::ScreenState::Idle;
            frames.lock().unwrap().push(Frame { at, idle, running_hook: running.is_match(&text) });
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    control.close().await;
}

/// `hook answered event=Stop held=false micros=123` lines of the server log, by event.
fn hook_replies(log: &str) -> BTreeMap<String, Vec<f64>> {
    let re = regex::Regex::new(r"hook answered event=(\S+) held=(\S+) micros=(\d+)").unwrap();
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in re.captures_iter(log) {
        let key = if &c[2] == "true" { format!("{} (held)", &c[1]) } else { c[1].to_string() };
        out.entry(key).or_default().push(c[3].parse::<f64>().unwrap_or(0.0) / 1000.0);
    }
    out
}

async fn last_assistant_text(client: &mut SessionServiceClient<tonic::transport::Channel>, id: &str) -> String {
    let (mut cursor, mut last) = (0i64, String::new());
    loop {
        let r = client
            .get_transcript(pb::GetTranscriptRequest {
                session_id: id.into(),
                cursor,
                limit: 500,
                kinds: vec![pb::EntryKind::AssistantText as i32],
            })
            .await;
        let Ok(r) = r.map(|r| r.into_inner()) else { return last };
        if let Some(e) = r.entries.last() {
            last = e.text.clone();
        }
        if r.entries.is_empty() || r.next_cursor <= cursor {
            return last;
        }
        cursor = r.next_cursor;
    }
}

/// A running `aegis serve` (release) for the bench; killed with its tmux server on drop of the child.
struct Service {
    child: tokio::process::Child,
    addr: String,
    socket: String,
    log_path: PathBuf,
}

async fn start_service(
    o: &Opts,
    claude: &Path,
    dir: &Path,
    tag: &str,
    api: &FakeApi,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Service> {
    let (state, cfg, home) = (dir.join(format!("state-{tag}")), dir.join("cc-config"), dir.join("home"));
    std::fs::create_dir_all(&state)?;
    let socket = format!("aegis-bench-turns-{}-{tag}", std::process::id());
    let log_path = dir.join(format!("aegis-{tag}.log"));
    let mut child = tokio::process::Command::new(&o.aegis)
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &socket])
        .arg("--state-dir")
        .arg(&state)
        .arg("--claude-bin")
        .arg(claude)
        .arg("--claude-config-dir")
        .arg(&cfg)
        .env_clear()
        .envs(cc_env(&home, api))
        .envs(extra_env.iter().copied())
        .env("AEGIS_LOG", "warn,aegis::hook_reply=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path)?)
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(a) = l.strip_prefix("listening ") {
                return Ok(a.trim().to_string());
            }
        }
        anyhow::bail!("aegis exited before listening (see {})", log_path.display())
    })
    .await??;
    Ok(Service { child, addr, socket, log_path })
}

impl Service {
    /// Stops the service and its tmux server; returns its log.
    async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        kill_tmux(&self.socket);
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

fn kill_tmux(socket: &str) {
    let _ = std::process::Command::new("tmux").args(["-L", socket, "kill-server"]).stderr(Stdio::null()).status();
}

/// The environment CC gets, for the service (inherited by the tmux server it starts) and for the
/// plain-tmux baseline alike.
fn cc_env(home: &Path, api: &FakeApi) -> Vec<(String, String)> {
    [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("HOME", home.to_string_lossy().into_owned()),
        ("LANG", "C.UTF-8".into()),
        ("TERM", "xterm-256color".into()),
        ("ANTHROPIC_BASE_URL", api.base_url()),
        ("ANTHROPIC_API_KEY", API_KEY.into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts();
    let claude = claude_bin(&o.cc_version);
    if !claude.exists() {
        println!(
            "TURNS  skipped: Claude Code {} is not installed at {} (scripts/install-claude-code.sh)",
            o.cc_version,
            claude.display()
        );
        return Ok(());
    }
    anyhow::ensure!(o.aegis.exists(), "aegis binary not found: {} (cargo build --release)", o.aegis.display());
    let dir = std::env::temp_dir().join(format!("aegis-bench-turns-{}", std::process::id()));
    let (cfg, work, home) = (dir.join("cc-config"), dir.join("work"), dir.join("home"));
    for d in [&cfg, &work, &home] {
        std::fs::create_dir_all(d)?;
    }
    let work = work.canonicalize()?;
    seed_config(&cfg, &work)?;
    let api = FakeApi::start(Script::builtin()).await?;

    let svc = start_service(&o, &claude, &dir, "main", &api, &[]).await?;
    let result = run(&svc.addr, &svc.socket, &work, o.turns).await;
    let boots = match &result {
        Ok(_) => boots(&o, &svc.addr, &claude, &cfg, &work, &home, &api).await,
        Err(_) => Ok((Vec::new(), Vec::new())),
    };
    let log = svc.stop().await;
    let r = result?;
    let (create_ms, boot_ms) = boots?;
    // Baseline for the send figure: the same sends with the old fixed 100 ms typing tick.
    let fixed_turns = o.turns.clamp(1, 15);
    let svc = start_service(&o, &claude, &dir, "fixed", &api, &[("AEGIS_BENCH_FIXED_TYPING_POLL", "1")]).await?;
    let fixed = run(&svc.addr, &svc.socket, &work, fixed_turns).await;
    svc.stop().await;
    let fixed = fixed?;
    api.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);

    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "TURNS  real Claude Code {} (default renderer), {} turns with a policy-approved Bash call each, {cpus} CPUs",
        o.cc_version, r.turns
    );
    println!("  hook arrival → reply (server-side), per event:");
    for (event, v) in hook_replies(&log) {
        println!("    {event:<22} {}", dist(&v, "ms"));
    }
    println!("  Stop hook → IDLE event (server times)    {}", dist(&r.stop_to_idle, "ms"));
    let sources: Vec<String> = r.idle_evidence.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  IDLE evidence                            {}", sources.join(" · "));
    println!(
        "  longest `running … hook` on screen       {:.0} ms ({} frames sampled, {} showed it)",
        r.longest_running_hook, r.frames, r.running_frames
    );
    println!("  GetTranscript on IDLE has the final text {}/{}", r.transcript_ok, r.turns);
    println!("  baseline: CC's Stop hook → idle box      {}", dist(&r.stop_to_box, "ms"));
    println!("  IDLE event → idle box on screen          {}", dist(&r.idle_to_box, "ms"));
    println!("  SendMessage → delivery confirmed         {}", dist(&r.send_to_delivered, "ms"));
    println!("  baseline: fixed 100 ms typing tick       {}", dist(&fixed.send_to_delivered, "ms"));
    println!("  CreateSession → IDLE                     {}", dist(&create_ms, "ms"));
    println!("  baseline: CC's own boot in plain tmux    {}", dist(&boot_ms, "ms"));
    if !create_ms.is_empty() && !boot_ms.is_empty() {
        println!("  create overhead beyond CC's boot (p50)   {:.0} ms", pct(&create_ms, 0.5) - pct(&boot_ms, 0.5));
    }
    Ok(())
}

/// CreateSession → IDLE on the service, interleaved with CC's own boot: the same CC, config dir and
/// model in a window of a plain tmux server, until the first frame the classifier calls idle.
async fn boots(
    o: &Opts,
    addr: &str,
    claude: &Path,
    cfg: &Path,
    work: &Path,
    home: &Path,
    api: &FakeApi,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut client = SessionServiceClient::connect(format!("http://{addr}")).await?;
    let socket = format!("aegis-bench-boot-{}", std::process::id());
    let tmux = Tmux::new("tmux", socket.clone());
    let mut env = cc_env(home, api);
    env.push(("CLAUDE_CONFIG_DIR".into(), cfg.to_string_lossy().into_owned()));
    let status = std::process::Command::new("tmux")
        .args(["-L", &socket, "new-session", "-d", "-s", "hold", "-x", "120", "-y", "40"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()?;
    anyhow::ensure!(status.success(), "cannot start the baseline tmux server");
    let (control, mut events) = ControlClient::connect(&tmux, "hold").await?;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let (mut create_ms, mut boot_ms) = (Vec::new(), Vec::new());
    for i in 0..o.boots {
        // Aegis.
        let t0 = std::time::Instant::now();
        let s = client
            .create_session(pb::CreateSessionRequest {
                work_dir: work.to_string_lossy().into_owned(),
                name: format!("boot-bench #{i} tâche"),
                wait: Some(pb::WaitOptions {
                    states: vec![pb::SessionState::Idle as i32],
                    timeout: Some(prost_types::Duration { seconds: 120, nanos: 0 }),
                }),
                ..Default::default()
            })
            .await?
            .into_inner()
            .session
            .unwrap();
        if s.state == pb::SessionState::Idle as i32 {
            create_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let _ = client.delete_session(pb::DeleteSessionRequest { session_id: s.id, ..Default::default() }).await;
        // CC alone.
        let t0 = std::time::Instant::now();
        let out = std::process::Command::new("tmux")
            .args(["-L", &socket, "new-window", "-d", "-P", "-F", "#{pane_id}", "-c"])
            .arg(work)
            .arg(claude)
            .output()?;
        let pane = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let deadline = t0 + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Ok(text) = control.capture(&pane, CaptureOptions::default()).await {
                if aegis::detect::classify(&text).state == aegis::detect::ScreenState::Idle {
                    boot_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let _ = std::process::Command::new("tmux").args(["-L", &socket, "kill-pane", "-t", &pane]).status();
    }
    control.close().await;
    kill_tmux(&socket);
    Ok((create_ms, boot_ms))
}

struct Results {
    turns: usize,
    send_to_delivered: Vec<f64>,
    stop_to_idle: Vec<f64>,
    idle_evidence: BTreeMap<String, usize>,
    longest_running_hook: f64,
    frames: usize,
    running_frames: usize,
    transcript_ok: usize,
    stop_to_box: Vec<f64>,
    idle_to_box: Vec<f64>,
}

async fn run(addr: &str, socket: &str, work: &Path, turn_count: usize) -> anyhow::Result<Results> {
    let mut client = SessionServiceClient::connect(format!("http://{addr}")).await?;
    let wait = |secs| {
        Some(pb::WaitOptions {
            states: vec![pb::SessionState::Idle as i32],
            timeout: Some(prost_types::Duration { seconds: secs, nanos: 0 }),
        })
    };
    let s = client
        .create_session(pb::CreateSessionRequest {
            work_dir: work.to_string_lossy().into_owned(),
            name: format!("turn-bench #{}", std::process::id()),
            permission_mode: "default".into(),
            policy: Some(pb::InteractionPolicy { approve_tools: vec!["Bash".into()], ..Default::default() }),
            wait: wait(120),
            ..Default::default()
        })
        .await?
        .into_inner()
        .session
        .unwrap();
    anyhow::ensure!(s.state == pb::SessionState::Idle as i32, "the session did not reach IDLE: {s:?}");

    let frames = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn(sample(socket.to_string(), s.tmux_pane.clone(), frames.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // (send time, IDLE event) per turn, and whether the transcript had the final text.
    let mut turns: Vec<(i64, pb::SessionEvent)> = Vec::new();
    let mut transcript_ok = 0;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let mut send_to_delivered = Vec::new();
    for i in 0..turn_count {
        let t0 = now_ms();
        let r = client
            .send_message(pb::SendMessageRequest {
                session_id: s.id.clone(),
                text: format!("BASH(echo turn-{i}-{tag})"),
                wait: wait(90),
                ..Default::default()
            })
            .await?
            .into_inner();
        let got = r.session.unwrap();
        anyhow::ensure!(got.state == pb::SessionState::Idle as i32, "turn {i} did not end IDLE: {got:?}");
        if last_assistant_text(&mut client, &s.id).await == format!("Tool finished: turn-{i}-{tag}") {
            transcript_ok += 1;
        }
        // The IDLE event this wait ended on.
        let mut stream = client
            .watch_session(pb::WatchSessionRequest {
                session_id: s.id.clone(),
                start_revision: r.delivered_revision,
                heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
                ..Default::default()
            })
            .await?
            .into_inner();
        while let Ok(Ok(Some(item))) = tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
            match item.item {
                Some(pb::watch_session_response::Item::Event(e)) if e.kind == pb::EventKind::MessageSent as i32 => {
                    send_to_delivered.push((ts_ms(&e.time) - t0) as f64);
                }
                Some(pb::watch_session_response::Item::Event(e))
                    if e.kind == pb::EventKind::StateChanged as i32 && e.state == pb::SessionState::Idle as i32 =>
                {
                    turns.push((t0, e));
                    break;
                }
                Some(pb::watch_session_response::Item::Heartbeat(_)) => break,
                _ => {}
            }
        }
        // Let the idle box settle in the samples before the next prompt.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.await;
    let _ = client.delete_session(pb::DeleteSessionRequest { session_id: s.id.clone(), ..Default::default() }).await;

    let frames = frames.lock().unwrap().clone();
    let (mut stop_to_idle, mut stop_to_box, mut idle_to_box) = (Vec::new(), Vec::new(), Vec::new());
    let mut idle_evidence: BTreeMap<String, usize> = BTreeMap::new();
    for (k, (t0, e)) in turns.iter().enumerate() {
        let ev = e.evidence.clone().unwrap_or_default();
        let src = pb::EvidenceSource::try_from(ev.source).map(|s| s.as_str_name().to_string()).unwrap_or_default();
        let key = if ev.hook_event.is_empty() { src } else { format!("{src}/{}", ev.hook_event) };
        *idle_evidence.entry(key).or_default() += 1;
        let (idle_at, stop_at) = (ts_ms(&e.time), ts_ms(&ev.observe_time));
        if ev.hook_event == "Stop" {
            stop_to_idle.push((idle_at - stop_at) as f64);
        }
        // CC's own idle box: the first idle frame of this turn after a non-idle one.
        let end = turns.get(k + 1).map_or(i64::MAX, |(t, _)| *t);
        let window: Vec<&Frame> = frames.iter().filter(|f| f.at >= *t0 && f.at < end).collect();
        let first_busy = window.iter().position(|f| !f.idle);
        if let Some(b) = first_busy {
            if let Some(f) = window[b..].iter().find(|f| f.idle) {
                if ev.hook_event == "Stop" {
                    stop_to_box.push((f.at - stop_at) as f64);
                }
                idle_to_box.push((f.at - idle_at) as f64);
            }
        }
    }
    // Longest run of frames showing `running … hook`: first sighting → first frame without it.
    let (mut longest, mut since): (f64, Option<i64>) = (0.0, None);
    for f in &frames {
        match (f.running_hook, since) {
            (true, None) => since = Some(f.at),
            (false, Some(t)) => {
                longest = longest.max((f.at - t) as f64);
                since = None;
            }
            _ => {}
        }
    }
    Ok(Results {
        turns: turn_count,
        send_to_delivered,
        stop_to_idle,
        idle_evidence,
        longest_running_hook: longest,
        frames: frames.len(),
        running_frames: frames.iter().filter(|f| f.running_hook).count(),
        transcript_ok,
        stop_to_box,
        idle_to_box,
    })
}
