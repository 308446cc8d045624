//! Unary RPC latency of the real `aegis serve` (release) on loopback, open loop.
//!
//! Two servers run side by side on copies of one state dir: the default one, and a baseline started
//! with `--tcp-nodelay false` (Nagle on the accepted sockets, what `serve_with_incoming_shutdown` over a
//! plain `TcpListenerStream` gave before). Each holds `--sessions` stored sessions (default 200, EXITED
//! records, so ListSessions lists 200 without 200 live CCs) and one live session of the fake CC
//! (`bench/fake-claude`) that has had one turn, so GetTranscript and CaptureScreen have something to read.
//!
//! Load: `--clients` gRPC connections (default 50), each sending at its share of `--rate` requests/s
//! (default 5000) on a fixed schedule, staggered; every request is sent at its intended time whether the
//! previous ones answered or not (open loop), and its latency is measured from that intended send time,
//! so a stall counts for every request it delays (no coordinated omission).
//!
//! Run (after `cargo build --release`):
//!   cargo run --release --example bench_rpc -- [--rate 5000] [--clients 50] [--secs 4] [--sessions 200]
use aegis::model::SessionRecord;
use aegis::proto::v1::session_service_client::SessionServiceClient;
use aegis::proto::v1::{
    CaptureScreenRequest, CreateSessionRequest, GetServerInfoRequest, GetSessionRequest, GetTranscriptRequest,
    ListSessionsRequest, SendMessageRequest, SessionState, WaitOptions,
};
use aegis::store::Store;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::transport::{Channel, Endpoint};

type Client = SessionServiceClient<Channel>;

fn arg(name: &str, d: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(d)
}

struct Server {
    child: tokio::process::Child,
    socket: String,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = self.child.start_kill();
        let _ =
            std::process::Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
    }
}

async fn start(aegis: &Path, dir: &Path, tag: &str, nodelay: bool, sessions: usize) -> anyhow::Result<Server> {
    let (state, cfg) = (dir.join("state"), dir.join("cc"));
    std::fs::create_dir_all(&state)?;
    std::fs::create_dir_all(&cfg)?;
    std::fs::create_dir_all(dir.join("work"))?;
    {
        // Stored sessions for ListSessions: EXITED records as a finished fleet leaves them.
        let store = Store::open(&state.join("aegis.db"), 16)?;
        for i in 0..sessions {
            let json = serde_json::json!({
                "id": format!("stored-{i:04}"), "name": format!("refactor-auth-{i}"),
                "work_dir": format!("/home/dev/src/service-{}", i % 17), "state": "Exited", "revision": 12,
                "created": 1_700_000_000_000i64 + i as i64, "updated": 1_700_000_100_000i64,
                "state_since": 1_700_000_100_000i64, "evidence": {"source": "Process", "at": 1_700_000_100_000i64},
                "labels": {"team": "platform", "ticket": format!("PLAT-{}", 1000 + i)},
                "model": "claude-sonnet-4-5", "permission_mode": "default",
                "cc_session_id": format!("0b6f3c2e-0000-4000-8000-{i:012}"),
                "transcript_path": format!("/home/dev/.claude/projects/x/{i}.jsonl"),
            });
            let rec: SessionRecord = serde_json::from_value(json)?;
            store.save_session(rec).await?;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // the store thread closes the database
    let socket = format!("aegis-bench-rpc-{tag}-{}", std::process::id());
    let mut child = tokio::process::Command::new(aegis)
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &socket, "--tcp-nodelay", &nodelay.to_string()])
        .arg("--state-dir")
        .arg(&state)
        .arg("--claude-bin")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fake-claude"))
        .arg("--claude-config-dir")
        .arg(&cfg)
        .env("AEGIS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("aegis.log"))?)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().unwrap();
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
    Ok(Server { child, socket, addr })
}

fn wait_idle() -> Option<WaitOptions> {
    Some(WaitOptions {
        states: vec![SessionState::Idle as i32],
        timeout: Some(prost_types::Duration { seconds: 30, nanos: 0 }),
    })
}

/// One live fake session that has had a turn (its transcript has entries).
async fn live_session(c: &mut Client, work: &Path) -> anyhow::Result<String> {
    let r = c
        .create_session(CreateSessionRequest {
            work_dir: work.to_string_lossy().into_owned(),
            name: "rpc-bench".into(),
            env: [("FAKE_CC_WORK_MS".to_string(), "200".to_string())].into(),
            wait: wait_idle(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let id = r.session.unwrap_or_default().id;
    c.send_message(SendMessageRequest {
        session_id: id.clone(),
        text: "hello".into(),
        wait: wait_idle(),
        ..Default::default()
    })
    .await?;
    Ok(id)
}

struct Load {
    lat: Vec<f64>,
    errors: usize,
    sent: usize,
    secs: f64,
}

/// Open loop: each client sends at `rate / clients` per second on its own staggered schedule; each
/// request runs in its own task, so a slow answer never delays the next send. Latency is measured from
/// the intended send time.
async fn open_loop<F, Fut>(clients: &[Client], rate: f64, secs: f64, call: F) -> Load
where
    F: Fn(Client) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let n = clients.len();
    let period = Duration::from_secs_f64(n as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let end = start + Duration::from_secs_f64(secs);
    let lat = Arc::new(Mutex::new(Vec::with_capacity((rate * secs) as usize)));
    let errors = Arc::new(Mutex::new(0usize));
    let mut senders = Vec::new();
    for (k, c) in clients.iter().enumerate() {
        let (c, call, lat, errors) = (c.clone(), call.clone(), lat.clone(), errors.clone());
        let offset = period.mul_f64(k as f64 / n as f64);
        senders.push(tokio::spawn(async move {
            let mut inflight = Vec::new();
            let mut i = 0u32;
            loop {
                let intended = start + offset + period * i;
                if intended >= end {
                    break;
                }
                tokio::time::sleep_until(intended).await;
                let (c, call, lat, errors) = (c.clone(), call.clone(), lat.clone(), errors.clone());
                inflight.push(tokio::spawn(async move {
                    match call(c).await {
                        Ok(()) => lat.lock().unwrap().push(intended.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => *errors.lock().unwrap() += 1,
                    }
                }));
                i += 1;
            }
            let sent = inflight.len();
            for t in inflight {
                let _ = t.await;
            }
            sent
        }));
    }
    let mut sent = 0;
    for s in senders {
        sent += s.await.unwrap_or(0);
    }
    let lat = std::mem::take(&mut *lat.lock().unwrap());
    let errors = *errors.lock().unwrap();
    Load { lat, errors, sent, secs }
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

fn show(l: &Load) -> String {
    format!(
        "p50 {:.3} ms · p99 {:.3} ms · max {:.1} ms  ({} sent, {:.0}/s, {} errors)",
        pct(&l.lat, 0.5),
        pct(&l.lat, 0.99),
        pct(&l.lat, 1.0),
        l.sent,
        l.sent as f64 / l.secs,
        l.errors
    )
}

async fn connect(addr: &str, n: usize) -> anyhow::Result<Vec<Client>> {
    let mut out = Vec::new();
    for _ in 0..n {
        // One TCP connection per client (a Channel is one HTTP/2 connection).
        let ch = Endpoint::from_shared(format!("http://{addr}"))?.tcp_nodelay(true).connect().await?;
        out.push(SessionServiceClient::new(ch).max_decoding_message_size(64 << 20));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate = arg("--rate", 5000.0);
    let clients = arg("--clients", 50.0) as usize;
    let secs = arg("--secs", 4.0);
    let sessions = arg("--sessions", 200.0) as usize;
    let aegis: PathBuf = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|d| d.join("aegis")).unwrap();
    anyhow::ensure!(aegis.exists(), "{} not found (cargo build --release)", aegis.display());
    let base = std::env::temp_dir().join(format!("aegis-bench-rpc-{}", std::process::id()));
    let result = run(&aegis, &base, rate, clients, secs, sessions).await;
    let _ = std::fs::remove_dir_all(&base);
    result
}

struct Rows {
    get: Load,
    list: Load,
    transcript: Load,
    screen: Load,
    info: Load,
}

async fn measure(
    srv: &Server,
    work: &Path,
    rate: f64,
    clients: usize,
    secs: f64,
    list_n: usize,
) -> anyhow::Result<Rows> {
    let cs = connect(&srv.addr, clients).await?;
    let id = live_session(&mut cs[0].clone(), work).await?;
    // Warm up every connection (HTTP/2 handshake, first allocations).
    for c in &cs {
        c.clone().get_server_info(GetServerInfoRequest {}).await?;
    }
    let i = id.clone();
    let get = open_loop(&cs, rate, secs, move |mut c| {
        let session_id = i.clone();
        async move { c.get_session(GetSessionRequest { session_id }).await.map(|_| ()) }
    })
    .await;
    // The other calls at a tenth of the rate, over the same connections, one after another.
    let side = rate / 10.0;
    let side_secs = (secs / 2.0).max(1.0);
    // ListSessions answers 200 sessions (~100 KB): a lower rate.
    let list = open_loop(&cs, rate / 25.0, side_secs, move |mut c| async move {
        let r =
            c.list_sessions(ListSessionsRequest { page_size: 500, include_exited: true, ..Default::default() }).await?;
        if r.get_ref().sessions.len() < list_n {
            return Err(tonic::Status::internal("short list"));
        }
        Ok(())
    })
    .await;
    let i = id.clone();
    let transcript = open_loop(&cs, side, side_secs, move |mut c| {
        let session_id = i.clone();
        async move {
            c.get_transcript(GetTranscriptRequest { session_id, limit: 50, ..Default::default() }).await.map(|_| ())
        }
    })
    .await;
    let i = id.clone();
    let screen = open_loop(&cs, side, side_secs, move |mut c| {
        let session_id = i.clone();
        async move { c.capture_screen(CaptureScreenRequest { session_id, ..Default::default() }).await.map(|_| ()) }
    })
    .await;
    let info = open_loop(&cs, side, side_secs, move |mut c| async move {
        c.get_server_info(GetServerInfoRequest {}).await.map(|_| ())
    })
    .await;
    Ok(Rows { get, list, transcript, screen, info })
}

async fn run(aegis: &Path, base: &Path, rate: f64, clients: usize, secs: f64, sessions: usize) -> anyhow::Result<()> {
    let work = base.join("work");
    std::fs::create_dir_all(&work)?;
    eprintln!("rpc: {sessions} stored sessions + 1 live; {clients} clients, {rate}/s for {secs} s per server…");
    let srv = start(aegis, &base.join("nodelay"), "a", true, sessions).await?;
    let fixed = measure(&srv, &work, rate, clients, secs, sessions).await?;
    drop(srv);
    let srv = start(aegis, &base.join("nagle"), "b", false, sessions).await?;
    let nagle = measure(&srv, &work, rate, clients, secs, sessions).await?;
    drop(srv);

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "RPC  unary latency over loopback, aegis serve (release), open loop from intended send time, {clients} connections, {cpus} CPUs (client and server share them)"
    );
    println!("{:<46} {:<68} baseline: --tcp-nodelay false (Nagle), same load", "call (load)", "aegis serve");
    println!("{}", "-".repeat(150));
    let side = rate / 10.0;
    for (name, a, b) in [
        (format!("GetSession ({rate:.0}/s)"), &fixed.get, &nagle.get),
        (format!("ListSessions, {sessions} sessions ({:.0}/s)", rate / 25.0), &fixed.list, &nagle.list),
        (format!("GetTranscript, 50 entries ({side:.0}/s)"), &fixed.transcript, &nagle.transcript),
        (format!("CaptureScreen ({side:.0}/s)"), &fixed.screen, &nagle.screen),
        (format!("GetServerInfo ({side:.0}/s)"), &fixed.info, &nagle.info),
    ] {
        println!("{name:<46} {:<68} p50 {:.3} ms · p99 {:.3} ms", show(a), pct(&b.lat, 0.5), pct(&b.lat, 0.99));
    }
    Ok(())
}
