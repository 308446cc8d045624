//! Scale, end to end: the real `aegis serve` (release) running N sessions of a fake Claude Code
//! (`bench/fake-claude`, real CC costs hundreds of MB per process), driven over gRPC.
//!
//! Measures, with baselines from the same run:
//!   - BatchCreateSessions of all N sessions (wait IDLE) in one call, against N fakes started at once
//!     on ptys by the bench itself (the fake's own start, no Aegis, no tmux);
//!   - CreateSession(wait IDLE) latency, sequential (`--seq-creates` extra sessions, deleted after);
//!   - state change → event at every one of `--watchers` WatchEvents streams while all N sessions
//!     turn at once (latency from the event's own time, stamped by the server when the state changed);
//!   - SendMessage(wait IDLE) round trip, one session at a time and all N at once, against the
//!     fake's own scripted turn length;
//!   - server RSS with 0 and N sessions;
//!   - CPU of the server (and tmux, and the fakes), thread wake-ups and tmux processes spawned while
//!     N sessions sit idle, against the same window with 0 sessions, and against a 1 Hz
//!     `tmux capture-pane` poller over the same N panes (what a polling design pays).
//!
//! Run (after `cargo build --release`):
//!   cargo run --release --example bench_scale -- [--sessions 200] [--watchers 1000] [--seq-creates 10]
//!       [--idle-secs 10] [--poll-secs 5] [--poll-hz 1] [--sends 10] [--work-ms 1000] [--aegis PATH]
//!       [--fake PATH] [--keep]
use aegis::detect::classify;
use aegis::proto::v1::session_service_client::SessionServiceClient;
use aegis::proto::v1::{
    watch_events_response, BatchCreateSessionsRequest, CreateSessionRequest, DeleteSessionRequest, EvidenceSource,
    SendMessageRequest, SessionState, WaitOptions, WatchEventsRequest,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::transport::Channel;

type Client = SessionServiceClient<Channel>;

struct Opts {
    sessions: usize,
    watchers: usize,
    seq_creates: usize,
    idle_secs: f64,
    poll_secs: f64,
    poll_hz: f64,
    sends: usize,
    work_ms: u64,
    aegis: PathBuf,
    fake: PathBuf,
    wrapper: PathBuf,
    keep: bool,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let num = |name: &str, d: f64| get(name).and_then(|v| v.parse().ok()).unwrap_or(d);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The example lives in <target>/release/examples/; the server binary in <target>/release/.
    let default_aegis = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("aegis")))
        .unwrap_or_else(|| PathBuf::from("aegis"));
    Opts {
        sessions: num("--sessions", 200.0) as usize,
        watchers: num("--watchers", 1000.0) as usize,
        seq_creates: num("--seq-creates", 10.0) as usize,
        idle_secs: num("--idle-secs", 10.0),
        poll_secs: num("--poll-secs", 5.0),
        poll_hz: num("--poll-hz", 1.0),
        sends: num("--sends", 10.0) as usize,
        work_ms: num("--work-ms", 1000.0) as u64,
        aegis: get("--aegis").map(PathBuf::from).unwrap_or(default_aegis),
        fake: get("--fake").map(PathBuf::from).unwrap_or_else(|| manifest.join("bench/fake-claude")),
        wrapper: manifest.join("bench/tmux-count"),
        keep: args.iter().any(|a| a == "--keep"),
    }
}

// ---------------------------------------------------------------------------------------------
// /proc probes

const TICK_MS: f64 = 10.0; // USER_HZ = 100

/// (utime+stime, cutime+cstime) in ticks.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    if f.len() > 14 {
        (f[11] + f[12], f[13] + f[14])
    } else {
        (0, 0)
    }
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

/// Per thread: (CPU ns from schedstat, context switches voluntary + involuntary). Each switch is a
/// wake-up or a preemption.
fn threads(pid: u32) -> HashMap<String, (u64, u64)> {
    let mut m = HashMap::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            let tid = e.file_name().to_string_lossy().into_owned();
            let s = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let sw: u64 = s
                .lines()
                .filter(|l| l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
            let ns = std::fs::read_to_string(e.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            m.insert(tid, (ns, sw));
        }
    }
    m
}

/// (CPU ms, switches) between two snapshots; threads born in between count from zero (threads that
/// ended in between are lost: short-lived blocking-pool threads only).
fn thread_delta(a: &HashMap<String, (u64, u64)>, b: &HashMap<String, (u64, u64)>) -> (f64, u64) {
    let (mut ns, mut sw) = (0u64, 0u64);
    for (k, (n1, s1)) in b {
        let (n0, s0) = a.get(k).copied().unwrap_or((0, 0));
        ns += n1.saturating_sub(n0);
        sw += s1.saturating_sub(s0);
    }
    (ns as f64 / 1e6, sw)
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

fn log_counts(path: &Path, skip: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines().skip(skip) {
        *m.entry(l.to_string()).or_default() += 1;
    }
    m
}

/// One snapshot of everything the idle windows compare.
struct Probe {
    at: Instant,
    aegis: HashMap<String, (u64, u64)>,
    tmux: HashMap<String, (u64, u64)>,
    fakes: u64,
    tmux_calls: usize,
}

struct Env {
    aegis_pid: u32,
    socket: String,
    log: PathBuf,
    tmux_pid: Option<u32>,
    fake_pids: Vec<u32>,
}

impl Env {
    fn probe(&self) -> Probe {
        Probe {
            at: Instant::now(),
            aegis: threads(self.aegis_pid),
            tmux: self.tmux_pid.map(threads).unwrap_or_default(),
            fakes: self.fake_pids.iter().map(|p| cpu_ticks(*p).0).sum(),
            tmux_calls: lines_in(&self.log),
        }
    }

    /// tmux server pid and the pids of the programs in Aegis's windows (spawns tmux: call outside
    /// measurement windows).
    fn discover(&mut self) {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "list-panes", "-a", "-F", "#{pid} #{window_name} #{pane_pid}"])
            .output();
        self.fake_pids.clear();
        if let Ok(o) = out {
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                let f: Vec<&str> = l.split(' ').collect();
                if f.len() == 3 {
                    self.tmux_pid = f[0].parse().ok();
                    if f[1].starts_with("aegis-") {
                        self.fake_pids.extend(f[2].parse::<u32>().ok());
                    }
                }
            }
        }
    }
}

struct Idle {
    secs: f64,
    aegis_ms: f64,
    tmux_ms: f64,
    fakes_ms: f64,
    wakeups: u64,
    tmux_calls: usize,
}

async fn idle_window(env: &Env, secs: f64) -> Idle {
    let a = env.probe();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let b = env.probe();
    let (aegis_ms, wakeups) = thread_delta(&a.aegis, &b.aegis);
    Idle {
        secs: (b.at - a.at).as_secs_f64(),
        aegis_ms,
        tmux_ms: thread_delta(&a.tmux, &b.tmux).0,
        fakes_ms: (b.fakes.saturating_sub(a.fakes)) as f64 * TICK_MS,
        wakeups,
        tmux_calls: b.tmux_calls - a.tmux_calls,
    }
}

// ---------------------------------------------------------------------------------------------
// Cleanup guard: SIGTERM the server, kill the private tmux server, remove the temp dir.

struct Guard {
    child: Option<tokio::process::Child>,
    socket: String,
    dir: PathBuf,
    keep: bool,
}

impl Guard {
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = c.start_kill();
        }
        let _ =
            std::process::Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
        remove_tmux_socket(&self.socket);
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Stats

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

fn dist(v: &[f64]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    format!("p50 {:.0} ms · p95 {:.0} ms · max {:.0} ms", pct(v, 0.5), pct(v, 0.95), pct(v, 1.0))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn wait_idle(secs: i64) -> Option<WaitOptions> {
    Some(WaitOptions {
        states: vec![SessionState::Idle as i32],
        timeout: Some(prost_types::Duration { seconds: secs, nanos: 0 }),
    })
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts();
    for (what, p) in [("aegis binary", &o.aegis), ("fake CC", &o.fake), ("tmux wrapper", &o.wrapper)] {
        anyhow::ensure!(p.exists(), "{what} not found: {} (build with cargo build --release)", p.display());
    }
    let real_tmux = which("tmux").ok_or_else(|| anyhow::anyhow!("tmux not on PATH"))?;
    let dir = std::env::temp_dir().join(format!("aegis-bench-{}", std::process::id()));
    let (state, cfg, work, log) =
        (dir.join("state"), dir.join("cc-config"), dir.join("work"), dir.join("tmux-calls.log"));
    for d in [&state, &cfg, &work] {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&log, "")?;
    let socket = format!("aegis-bench-{}", std::process::id());

    // --- start the server -------------------------------------------------------------------
    let t_start = Instant::now();
    let mut child = tokio::process::Command::new(&o.aegis)
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &socket])
        .arg("--state-dir")
        .arg(&state)
        .arg("--tmux-bin")
        .arg(&o.wrapper)
        .arg("--claude-bin")
        .arg(&o.fake)
        .arg("--claude-config-dir")
        .arg(&cfg)
        .arg("--max-sessions")
        .arg((o.sessions + o.seq_creates + 8).to_string())
        .arg("--max-watchers")
        .arg((o.watchers + 24).to_string())
        .env("AEGIS_BENCH_TMUX_LOG", &log)
        .env("AEGIS_BENCH_REAL_TMUX", &real_tmux)
        .env("AEGIS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("aegis.log"))?)
        .kill_on_drop(true)
        .spawn()?;
    let aegis_pid = child.id().unwrap_or(0);
    let stdout = child.stdout.take().unwrap();
    let mut guard = Guard { child: Some(child), socket: socket.clone(), dir: dir.clone(), keep: o.keep };
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(a) = l.strip_prefix("listening ") {
                return Ok(a.trim().to_string());
            }
        }
        anyhow::bail!("aegis exited before listening (see {}/aegis.log)", dir.display())
    })
    .await??;
    let startup_ms = t_start.elapsed().as_secs_f64() * 1000.0;
    let mut client = Client::connect(format!("http://{addr}")).await?;
    let mut env = Env { aegis_pid, socket: socket.clone(), log: log.clone(), tmux_pid: None, fake_pids: vec![] };
    eprintln!("aegis pid {aegis_pid} listening {addr}; tmux -L {socket}; temp {}", dir.display());

    // --- 0 sessions -------------------------------------------------------------------------
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = status_kb(aegis_pid, "VmRSS:");
    eprintln!("idle window, 0 sessions ({} s)…", o.idle_secs);
    let idle0 = idle_window(&env, o.idle_secs).await;

    // --- baseline: the fake's own start, N at once, no Aegis and no tmux --------------------------
    eprintln!("baseline: starting {} fakes at once on ptys…", o.sessions);
    let fake_start = fake_start_baseline(&o.fake, o.sessions, &dir.join("fake-baseline"), o.work_ms)?;

    // --- create N sessions in one BatchCreateSessions ----------------------------------------------
    eprintln!("creating {} sessions in one BatchCreateSessions…", o.sessions);
    let calls0 = lines_in(&log);
    let cpu0 = threads(aegis_pid);
    let mut ids = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let batch = BatchCreateSessionsRequest {
        requests: (0..o.sessions)
            .map(|i| CreateSessionRequest {
                work_dir: work.to_string_lossy().into_owned(),
                name: format!("bench-{i}"),
                env: [("FAKE_CC_WORK_MS".to_string(), o.work_ms.to_string())].into(),
                wait: wait_idle(120),
                ..Default::default()
            })
            .collect(),
    };
    let wall = Instant::now();
    let results = client.batch_create_sessions(batch).await?.into_inner().results;
    let batch_wall = wall.elapsed().as_secs_f64();
    for (i, r) in results.into_iter().enumerate() {
        use aegis::proto::v1::batch_create_result::Result as Res;
        match r.result {
            Some(Res::Response(r)) => {
                let s = r.session.unwrap_or_default();
                if !(r.wait_result.is_some_and(|w| w.satisfied) && s.state == SessionState::Idle as i32) {
                    failures.push(format!("batch create {i}: ended in state {:?}", SessionState::try_from(s.state)));
                }
                ids.push(s.id);
            }
            Some(Res::Error(e)) => failures.push(format!("batch create {i}: {} ({})", e.message, e.reason)),
            None => failures.push(format!("batch create {i}: empty result")),
        }
    }
    let create_cpu = thread_delta(&cpu0, &threads(aegis_pid)).0;
    let create_calls = log_counts(&log, calls0);

    // --- CreateSession latency, one at a time (extra sessions, deleted right after) ----------------
    eprintln!("{} sequential creates…", o.seq_creates);
    let mut create_ms = Vec::new();
    for i in 0..o.seq_creates {
        let req = CreateSessionRequest {
            work_dir: work.to_string_lossy().into_owned(),
            name: format!("bench-seq-{i}"),
            env: [("FAKE_CC_WORK_MS".to_string(), o.work_ms.to_string())].into(),
            wait: wait_idle(30),
            ..Default::default()
        };
        let t0 = Instant::now();
        match client.create_session(req).await {
            Ok(r) => {
                let r = r.into_inner();
                let s = r.session.unwrap_or_default();
                if r.wait_result.is_some_and(|w| w.satisfied) && s.state == SessionState::Idle as i32 {
                    create_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failures.push(format!("create {i}: ended in state {:?}", SessionState::try_from(s.state)));
                }
                let _ = client.delete_session(DeleteSessionRequest { session_id: s.id, ..Default::default() }).await;
            }
            Err(e) => failures.push(format!("create {i}: {e}")),
        }
    }

    // --- N sessions idle ----------------------------------------------------------------------
    env.discover();
    tokio::time::sleep(Duration::from_secs(2)).await; // let inotify / sqlite / allocator settle
    let rss_n = status_kb(aegis_pid, "VmRSS:");
    let tmux_rss = env.tmux_pid.map_or(0, |p| status_kb(p, "VmRSS:"));
    let fake_rss: u64 = env.fake_pids.iter().map(|p| status_kb(*p, "VmRSS:")).sum();
    eprintln!("idle window, {} sessions ({} s)…", ids.len(), o.idle_secs);
    let idle_n = idle_window(&env, o.idle_secs).await;

    // --- baseline: a 1 Hz capture-pane poller over the same panes -------------------------------
    eprintln!("polling baseline ({} s at {} Hz per pane)…", o.poll_secs, o.poll_hz);
    let panes: Vec<String> = {
        let out = std::process::Command::new(&real_tmux)
            .args(["-L", &socket, "list-panes", "-a", "-F", "#{window_name} #{pane_id}"])
            .output()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("aegis-").and_then(|r| r.split(' ').nth(1)).map(str::to_string))
            .collect()
    };
    let poll = poll_window(&env, &real_tmux, &socket, &panes, o.poll_secs, o.poll_hz).await;

    // --- SendMessage round trips ----------------------------------------------------------------
    eprintln!("{} sequential round trips on one session, then one on each of {} at once…", o.sends, ids.len());
    let calls1 = lines_in(&log);
    let p1 = env.probe();
    let mut seq = Vec::new();
    let mut deliver = Vec::new();
    let mut idle_by: BTreeMap<String, usize> = BTreeMap::new();
    for k in 0..o.sends.min(ids.len() * 1000) {
        match send(&mut client, &ids[0], k).await {
            Ok((rtt, d, src)) => {
                seq.push(rtt);
                deliver.push(d);
                *idle_by.entry(src).or_default() += 1;
            }
            Err(e) => failures.push(format!("send {k}: {e}")),
        }
    }
    let send_calls = log_counts(&log, calls1);
    let p2 = env.probe();
    let seq_sends = seq.len().max(1);

    eprintln!("connecting {} WatchEvents watchers…", o.watchers);
    let (stop_watch, watchers) = start_watchers(&addr, o.watchers).await?;
    tokio::time::sleep(Duration::from_secs(1)).await; // every stream subscribed
    let rss_watch = status_kb(aegis_pid, "VmRSS:");
    let wall = Instant::now();
    let futs = ids.iter().map(|id| {
        let mut c = client.clone();
        let id = id.clone();
        async move { send(&mut c, &id, 1000).await }
    });
    let mut conc = Vec::new();
    let mut conc_deliver = Vec::new();
    for r in futures::future::join_all(futs).await {
        match r {
            Ok((rtt, d, src)) => {
                conc.push(rtt);
                conc_deliver.push(d);
                *idle_by.entry(src).or_default() += 1;
            }
            Err(e) => failures.push(format!("concurrent send: {e}")),
        }
    }
    let conc_wall = wall.elapsed().as_secs_f64();
    let p3 = env.probe();
    tokio::time::sleep(Duration::from_millis(500)).await; // the last events reach every watcher
    let _ = stop_watch.send(true);
    let mut fan = Vec::new();
    let mut per_watcher = Vec::new();
    for w in watchers {
        match w.await {
            Ok(Ok(lat)) => {
                per_watcher.push(lat.len());
                fan.extend(lat);
            }
            Ok(Err(e)) => failures.push(format!("watcher: {e}")),
            Err(e) => failures.push(format!("watcher task: {e}")),
        }
    }
    let seq_cpu = (thread_delta(&p1.aegis, &p2.aegis).0, thread_delta(&p1.tmux, &p2.tmux).0);
    let conc_cpu = (thread_delta(&p2.aegis, &p3.aegis).0, thread_delta(&p2.tmux, &p3.tmux).0);
    let aegis_hwm = status_kb(aegis_pid, "VmHWM:");

    // --- clean up: delete sessions, stop the server, kill tmux --------------------------------
    for id in &ids {
        let _ = client.delete_session(DeleteSessionRequest { session_id: id.clone(), ..Default::default() }).await;
    }
    drop(client);
    guard.stop();

    // --- report -----------------------------------------------------------------------------
    let n = ids.len();
    let per_s = |ms: f64, secs: f64| ms / secs;
    println!();
    println!(
        "SCALE  aegis serve (release) with N={n} fake CC sessions (bench/fake-claude: turn {} ms, spinner 10 fps), {} CPUs",
        o.work_ms,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<44} {:<52} baseline (same run) / ratio", "metric", "value");
    println!("{}", "-".repeat(140));
    let row = |m: &str, v: String, b: String| println!("{m:<44} {v:<52} {b}");
    row("server start → listening", format!("{startup_ms:.0} ms"), String::new());
    row(
        &format!("BatchCreateSessions of {n} (wait IDLE)"),
        format!("{batch_wall:.2} s for {n} sessions ({:.0}/s)", n as f64 / batch_wall),
        format!("{n} fakes started at once on ptys: {fake_start:.2} s → Aegis adds {:+.2} s", batch_wall - fake_start),
    );
    row("CreateSession(wait IDLE), sequential", dist(&create_ms), format!("{} creates", create_ms.len()));
    row(
        "SendMessage(wait IDLE), 1 session",
        dist(&seq),
        format!(
            "fake turn {} ms → overhead p50 {:+.0} ms ({:.2}x)",
            o.work_ms,
            pct_or(&seq, 0.5) - o.work_ms as f64,
            pct_or(&seq, 0.5) / o.work_ms as f64
        ),
    );
    row("  of which: call → delivery confirmed", dist(&deliver), String::new());
    row(
        &format!("SendMessage(wait IDLE), {n} at once"),
        dist(&conc),
        format!(
            "fake turn {} ms → overhead p50 {:+.0} ms; all done in {conc_wall:.2} s",
            o.work_ms,
            pct_or(&conc, 0.5) - o.work_ms as f64
        ),
    );
    row("  of which: call → delivery confirmed", dist(&conc_deliver), String::new());
    fan.sort_by(|a, b| a.total_cmp(b));
    row(
        &format!("state change → event, {} watchers", per_watcher.len()),
        if fan.is_empty() {
            "n/a".into()
        } else {
            format!("p50 {:.1} ms · p99 {:.1} ms · max {:.1} ms", pct(&fan, 0.5), pct(&fan, 0.99), pct(&fan, 1.0))
        },
        format!(
            "{} deliveries; events per watcher min {} max {} (the {n} turns at once); RSS with watchers {}",
            fan.len(),
            per_watcher.iter().min().unwrap_or(&0),
            per_watcher.iter().max().unwrap_or(&0),
            mib(rss_watch)
        ),
    );
    row(
        "server RSS (VmRSS)",
        format!("{} with {n} sessions", mib(rss_n)),
        format!(
            "{} with 0 sessions → +{:.0} KiB/session; peak {}",
            mib(rss0),
            (rss_n as f64 - rss0 as f64) / n.max(1) as f64,
            mib(aegis_hwm)
        ),
    );
    row(
        "server CPU while idle",
        format!(
            "{:.1} ms in {:.1} s ({:.3}% of a core) with {n} sessions",
            idle_n.aegis_ms,
            idle_n.secs,
            100.0 * idle_n.aegis_ms / (idle_n.secs * 1000.0)
        ),
        format!("{:.1} ms in {:.1} s with 0 sessions", idle0.aegis_ms, idle0.secs),
    );
    row(
        "server thread wake-ups while idle",
        format!("{:.1}/s with {n} sessions", idle_n.wakeups as f64 / idle_n.secs),
        format!("{:.1}/s with 0 sessions", idle0.wakeups as f64 / idle0.secs),
    );
    row(
        "tmux processes spawned while idle",
        format!("{} in {:.1} s with {n} sessions", idle_n.tmux_calls, idle_n.secs),
        format!("{} with 0 sessions", idle0.tmux_calls),
    );
    row(
        "tmux server + fakes CPU while idle",
        format!("tmux server {:.1} ms, fakes {:.0} ms (in {:.1} s)", idle_n.tmux_ms, idle_n.fakes_ms, idle_n.secs),
        String::new(),
    );
    let aegis_idle = per_s(idle_n.aegis_ms + idle_n.tmux_ms, idle_n.secs);
    let poll_rate = per_s(poll.cpu_ms, poll.secs);
    row(
        &format!("baseline: {} Hz capture-pane poller, {n} panes", o.poll_hz),
        format!(
            "{:.1} ms CPU/s ({} spawns in {:.1} s, {:.2} ms CPU each)",
            poll_rate,
            poll.spawns,
            poll.secs,
            poll.cpu_ms / poll.spawns.max(1) as f64
        ),
        format!(
            "Aegis idle (server + tmux server): {:.2} ms CPU/s → poller costs {}",
            aegis_idle,
            if aegis_idle > 0.0 {
                format!("{:.0}x more", poll_rate / aegis_idle)
            } else {
                "∞ (Aegis used no CPU)".into()
            }
        ),
    );
    let nc = conc.len().max(1) as f64;
    row(
        "server CPU per operation",
        format!(
            "create {:.1} ms · round trip {:.1} ms (1 session), {:.1} ms ({n} at once)",
            create_cpu / n.max(1) as f64,
            seq_cpu.0 / seq_sends as f64,
            conc_cpu.0 / nc
        ),
        format!(
            "tmux server per round trip: {:.1} ms (1 session), {:.1} ms ({n} at once)",
            seq_cpu.1 / seq_sends as f64,
            conc_cpu.1 / nc
        ),
    );
    row("tmux processes per CreateSession", per_op(&create_calls, n), String::new());
    row("tmux processes per SendMessage", per_op(&send_calls, seq_sends), String::new());
    row(
        "evidence of the IDLE after a send",
        idle_by.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        String::new(),
    );
    row(
        "fake CC / tmux server RSS (info)",
        format!("{} total fakes, tmux {}", mib(fake_rss), mib(tmux_rss)),
        String::new(),
    );
    if failures.is_empty() {
        println!("all {n} creates and {} sends reached IDLE", seq.len() + conc.len());
    } else {
        println!("FAILURES ({}):", failures.len());
        for f in failures.iter().take(10) {
            println!("  {f}");
        }
    }
    println!(
        "(event latency: receipt at the watcher minus the event's server timestamp (ms resolution); \
         server and tmux CPU: /proc/<pid>/task/*/schedstat, ns; fakes and poller: /proc/<pid>/stat, 10 ms ticks; \
         wake-ups: context switches of the server's threads)"
    );
    Ok(())
}

fn pct_or(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        pct(v, p)
    }
}

fn per_op(m: &BTreeMap<String, usize>, ops: usize) -> String {
    let total: usize = m.values().sum();
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            let k = if k == "-C" { "control client" } else { k.as_str() };
            let per = *v as f64 / ops.max(1) as f64;
            if per >= 0.95 {
                format!("{k} {per:.1}")
            } else {
                format!("{k} {v}/{ops}")
            }
        })
        .collect();
    format!("{:.1} ({})", total as f64 / ops.max(1) as f64, parts.join(", "))
}

/// One SendMessage(wait IDLE): (round trip ms, call → delivery confirmed ms, evidence source of IDLE).
async fn send(c: &mut Client, id: &str, k: usize) -> anyhow::Result<(f64, f64, String)> {
    let t0 = Instant::now();
    let start = now_ms();
    let r = c
        .send_message(SendMessageRequest {
            session_id: id.to_string(),
            text: format!("bench message {k}"),
            wait: wait_idle(60),
            ..Default::default()
        })
        .await?
        .into_inner();
    let rtt = t0.elapsed().as_secs_f64() * 1000.0;
    let s = r.session.unwrap_or_default();
    anyhow::ensure!(
        r.wait_result.is_some_and(|w| w.satisfied) && s.state == SessionState::Idle as i32,
        "ended in {:?}",
        SessionState::try_from(s.state)
    );
    let delivered = r
        .delivery_evidence
        .and_then(|e| e.observe_time)
        .map(|t| (t.seconds * 1000 + t.nanos as i64 / 1_000_000 - start) as f64)
        .unwrap_or(f64::NAN);
    let ev = s.evidence.unwrap_or_default();
    let src =
        EvidenceSource::try_from(ev.source).map(|s| s.as_str_name().trim_start_matches("EVIDENCE_SOURCE_").to_string());
    let src = match (src, ev.hook_event.as_str()) {
        (Ok(s), "") => s,
        (Ok(s), h) => format!("{s}/{h}"),
        (Err(_), _) => "?".into(),
    };
    Ok((rtt, delivered, src))
}

struct Poll {
    secs: f64,
    cpu_ms: f64,
    spawns: usize,
}

/// What a polling design pays: `tmux capture-pane -p` + classify for every pane at `hz`, spread
/// evenly. CPU = this process + its children + the tmux server.
async fn poll_window(env: &Env, tmux: &Path, socket: &str, panes: &[String], secs: f64, hz: f64) -> Poll {
    if panes.is_empty() || secs <= 0.0 {
        return Poll { secs: 0.0, cpu_ms: 0.0, spawns: 0 };
    }
    let me = std::process::id();
    let (s0, c0) = cpu_ticks(me);
    let t0 = env.tmux_pid.map(threads).unwrap_or_default();
    let start = Instant::now();
    let step = Duration::from_secs_f64(1.0 / (hz * panes.len() as f64));
    let total = (secs * hz * panes.len() as f64).round() as usize;
    for i in 0..total {
        tokio::time::sleep_until((start + step * i as u32).into()).await;
        let pane = &panes[i % panes.len()];
        if let Ok(out) = tokio::process::Command::new(tmux)
            .args(["-L", socket, "-f", "/dev/null", "capture-pane", "-p", "-t", pane])
            .output()
            .await
        {
            std::hint::black_box(classify(&String::from_utf8_lossy(&out.stdout)));
        }
    }
    tokio::time::sleep_until((start + Duration::from_secs_f64(secs)).into()).await;
    let elapsed = start.elapsed().as_secs_f64();
    let (s1, c1) = cpu_ticks(me);
    let tmux_ms = thread_delta(&t0, &env.tmux_pid.map(threads).unwrap_or_default()).0;
    Poll { secs: elapsed, cpu_ms: ((s1 - s0) + (c1 - c0)) as f64 * TICK_MS + tmux_ms, spawns: total }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(bin)).find(|p| p.is_file()))
}

/// tmux 3.3 leaves its socket file behind on kill-server: `$TMUX_TMPDIR/tmux-<uid>/<name>`.
fn remove_tmux_socket(name: &str) {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")?.split_whitespace().next().map(str::to_string)));
    let base = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    if let Some(uid) = uid {
        let _ = std::fs::remove_file(base.join(format!("tmux-{uid}")).join(name));
    }
}

/// `n` WatchEvents streams (only new events) over 20 connections. Each records, per event, its
/// receipt time minus the event's time (when the server saw the state change), until `stop`.
async fn start_watchers(
    addr: &str,
    n: usize,
) -> anyhow::Result<(tokio::sync::watch::Sender<bool>, Vec<tokio::task::JoinHandle<anyhow::Result<Vec<f64>>>>)> {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = Vec::new();
    for _ in 0..20.min(n.max(1)) {
        conns.push(Client::connect(format!("http://{addr}")).await?);
    }
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut c = conns[i % conns.len()].clone();
        let mut stop = stop_rx.clone();
        let mut stream = c.watch_events(WatchEventsRequest::default()).await?.into_inner();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                tokio::select! {
                    m = stream.message() => match m? {
                        Some(r) => {
                            if let Some(watch_events_response::Item::Event(e)) = r.item {
                                let t = e.time.unwrap_or_default();
                                let at = t.seconds as f64 * 1000.0 + t.nanos as f64 / 1e6;
                                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
                                lat.push(now - at);
                            }
                        }
                        None => anyhow::bail!("watch stream ended"),
                    },
                    _ = stop.changed() => return Ok(lat),
                }
            }
        }));
    }
    Ok((stop, tasks))
}

/// Seconds until `n` fakes, started at once by the bench on their own ptys (no tmux, no Aegis), have
/// all drawn their idle screen: the fake's own start cost on this machine under the same parallelism.
fn fake_start_baseline(fake: &Path, n: usize, config: &Path, work_ms: u64) -> anyhow::Result<f64> {
    use std::io::Read as _;
    use std::os::fd::{FromRawFd as _, OwnedFd};
    std::fs::create_dir_all(config)?;
    let start = Instant::now();
    let mut kids = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..n {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two fds we then own; no other pointer is kept.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
        anyhow::ensure!(rc == 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just returned by openpty and are owned here only.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let child = std::process::Command::new(fake)
            .args(["--session-id", &format!("baseline-{}", kids.len()), "--settings", "{}"])
            .env("CLAUDE_CONFIG_DIR", config)
            .env("FAKE_CC_WORK_MS", work_ms.to_string())
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave))
            .spawn()?;
        kids.push(child);
        readers.push(std::thread::spawn(move || {
            let mut f = std::fs::File::from(master);
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // The idle frame ends with CC's footer.
            while !String::from_utf8_lossy(&seen).contains("for shortcuts") {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => return None,
                    Ok(k) => seen.extend_from_slice(&buf[..k]),
                }
            }
            Some(Instant::now())
        }));
    }
    let mut last = start;
    let mut ok = 0;
    for r in readers {
        if let Ok(Some(t)) = r.join() {
            last = last.max(t);
            ok += 1;
        }
    }
    for mut k in kids {
        let _ = k.kill();
        let _ = k.wait();
    }
    anyhow::ensure!(ok == n, "only {ok} of {n} baseline fakes drew their idle screen");
    Ok((last - start).as_secs_f64())
}
