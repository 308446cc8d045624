//! The event log: commit rate of the store and a WatchEvents resume over gRPC.
//!
//! 1. Commit rate, in process (the store is the same code `aegis serve` runs; no gRPC): `--writers`
//!    tasks (default 64, one session each) append `--events` events in total (default 20 000), each
//!    awaiting its commit before the next (a commit resolves after its transaction committed and
//!    before it is published). Group commit (the default store) against one transaction per event
//!    (`Tuning { group_max: 1 }`, the store before group commit), both with `synchronous=NORMAL`,
//!    and both again with `synchronous=FULL` (an fsync per transaction) for the durability cost.
//! 2. Resume: a state dir holding one session with `--resume-events` events (default 10 000) is served
//!    by the real `aegis serve` (release); a WatchEvents from sequence 1 filtered to that session
//!    reads all of them. Baseline, same run and data: reading them from the store in process.
//!
//! Run (after `cargo build --release`):
//!   cargo run --release --example bench_events -- [--events 20000] [--writers 64] [--resume-events 10000]
use aegis::model::{Event, EventKind, Evidence, SessionRecord, State};
use aegis::proto::v1::session_service_client::SessionServiceClient;
use aegis::proto::v1::{watch_events_response::Item, WatchEventsRequest};
use aegis::store::{Store, Tuning};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

fn arg(name: &str, d: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(d)
}

fn record(id: &str, revision: i64, state: &str) -> SessionRecord {
    let json = serde_json::json!({
        "id": id, "name": id, "work_dir": "/tmp", "state": state, "revision": revision,
        "created": 1, "updated": 1, "state_since": 1, "evidence": {"source": "Api", "at": 1}
    });
    serde_json::from_value(json).expect("record")
}

fn event(id: &str, revision: i64) -> Event {
    Event {
        session_id: id.into(),
        revision,
        sequence: 0,
        at: revision,
        kind: EventKind::StateChanged,
        state: if revision % 2 == 0 { State::Idle } else { State::Working },
        previous_state: if revision % 2 == 0 { State::Working } else { State::Idle },
        evidence: Evidence::api("bench"),
        interaction: None,
        stall: None,
        detail: String::new(),
    }
}

struct Rate {
    events: usize,
    secs: f64,
    lat: Vec<f64>,
}

/// `writers` tasks append `total` events between them, each waiting for its commit.
async fn commit_rate(dir: &Path, tuning: Tuning, total: usize, writers: usize) -> anyhow::Result<Rate> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let store = Store::open_tuned(&dir.join("aegis.db"), 4096, tuning)?;
    let per = total / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("writer-{w}");
                let mut lat = Vec::with_capacity(per);
                for rev in 1..=per as i64 {
                    let t = Instant::now();
                    store.commit(event(&id, rev), record(&id, rev, "Idle")).await?;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    // Every event must be there, once.
    let n = store.global_events(1, (per * writers) as i64 + 10).await?.len();
    anyhow::ensure!(n == per * writers, "{n} events stored, {} committed", per * writers);
    Ok(Rate { events: per * writers, secs, lat })
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

struct Server {
    child: tokio::process::Child,
    socket: String,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = arg("--events", 20_000);
    let writers = arg("--writers", 64).max(1);
    let resume_n = arg("--resume-events", 10_000) as i64;
    let base = std::env::temp_dir().join(format!("aegis-bench-events-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let result = run(&base, total, writers, resume_n).await;
    let _ = std::fs::remove_dir_all(&base);
    result
}

async fn run(base: &Path, total: usize, writers: usize, resume_n: i64) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("commit rate: {total} events from {writers} writers, 4 configurations…");
    let group = Tuning::default();
    let single = Tuning { group_max: 1, ..Tuning::default() };
    let d = base.join("rate");
    let g_normal = commit_rate(&d, group, total, writers).await?;
    let s_normal = commit_rate(&d, single, total, writers).await?;
    let g_full = commit_rate(&d, Tuning { sync_full: true, ..group }, total, writers).await?;
    // One fsync per event is slow: a twentieth of the events is enough for its rate.
    let s_full = commit_rate(&d, Tuning { sync_full: true, ..single }, (total / 20).max(writers), writers).await?;

    // --- resume over gRPC ---------------------------------------------------------------------
    eprintln!("resume: {resume_n} events of one session through aegis serve WatchEvents…");
    let state = base.join("state");
    crate_dirs(&[&state, &base.join("cc")])?;
    let sid = "bench-resume";
    {
        let store = Store::open(&state.join("aegis.db"), 64)?;
        let futs: Vec<_> = (1..=resume_n)
            .map(|rev| {
                let s = store.clone();
                async move { s.commit(event(sid, rev), record(sid, rev, "Exited")).await }
            })
            .collect();
        for r in futures::future::join_all(futs).await {
            r?;
        }
    }
    // Baseline: the same events read straight from the store, in pages of 500 like the server's feed.
    let store = Store::open(&state.join("aegis.db"), 64)?;
    let t = Instant::now();
    let (mut from, mut got) = (1, 0usize);
    loop {
        let page = store.session_events(sid, from, 500).await?;
        got += page.len();
        match page.last() {
            Some(e) => from = e.revision + 1,
            None => break,
        }
    }
    let direct_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(store);
    anyhow::ensure!(got as i64 == resume_n, "store holds {got} events, wrote {resume_n}");
    tokio::time::sleep(Duration::from_millis(200)).await; // the store thread closes the database

    let aegis = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|d| d.join("aegis")).unwrap();
    anyhow::ensure!(aegis.exists(), "{} not found (cargo build --release)", aegis.display());
    let socket = format!("aegis-bench-events-{}", std::process::id());
    let mut child = tokio::process::Command::new(&aegis)
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &socket])
        .arg("--state-dir")
        .arg(&state)
        .arg("--claude-bin")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fake-claude"))
        .arg("--claude-config-dir")
        .arg(base.join("cc"))
        .arg("--retain-events")
        .arg((resume_n + 100).to_string())
        .env("AEGIS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(base.join("aegis.log"))?)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().unwrap();
    let server = Server { child, socket };
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(a) = l.strip_prefix("listening ") {
                return Ok(a.trim().to_string());
            }
        }
        anyhow::bail!("aegis exited before listening")
    })
    .await??;
    let mut client = SessionServiceClient::connect(format!("http://{addr}")).await?;
    let mut resume = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut s = client
            .watch_events(WatchEventsRequest { start_sequence: 1, session_ids: vec![sid.into()], ..Default::default() })
            .await?
            .into_inner();
        let mut n = 0i64;
        while n < resume_n {
            match s.message().await? {
                Some(r) => {
                    if let Some(Item::Event(_)) = r.item {
                        n += 1;
                    }
                }
                None => anyhow::bail!("stream ended after {n} events"),
            }
        }
        resume.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(client);
    drop(server);

    // --- report -----------------------------------------------------------------------------------
    println!();
    println!("EVENT LOG  store commit rate ({writers} concurrent writers, in process) and WatchEvents resume over gRPC, {cpus} CPUs");
    println!("{:<52} {:>12} {:>34}", "commit path", "events/s", "commit latency p50 / p99");
    println!("{}", "-".repeat(100));
    let row = |name: &str, r: &Rate| {
        println!(
            "{name:<52} {:>12.0} {:>20.2} ms / {:.2} ms  ({} events in {:.2} s)",
            r.events as f64 / r.secs,
            pct(&r.lat, 0.5),
            pct(&r.lat, 0.99),
            r.events,
            r.secs
        )
    };
    row("group commit, synchronous=NORMAL (aegis serve)", &g_normal);
    row("baseline: 1 transaction per event, NORMAL", &s_normal);
    row("group commit, synchronous=FULL (fsync per group)", &g_full);
    row("baseline: 1 transaction per event, FULL", &s_full);
    println!(
        "→ group commit {:.1}x the per-event transaction (NORMAL), {:.1}x (FULL)",
        (g_normal.events as f64 / g_normal.secs) / (s_normal.events as f64 / s_normal.secs),
        (g_full.events as f64 / g_full.secs) / (s_full.events as f64 / s_full.secs)
    );
    resume.sort_by(|a, b| a.total_cmp(b));
    let label = format!("WatchEvents from sequence 1, {resume_n}-event session");
    let figure = format!("{:.0} ms", resume[1]);
    let (r0, r1, r2) = (resume[0], resume[1], resume[2]);
    println!(
        "{label:<52} {figure:>12} median of 3 ({r0:.0}/{r1:.0}/{r2:.0} ms); baseline: the store read in process {direct_ms:.0} ms"
    );
    Ok(())
}

fn crate_dirs(dirs: &[&PathBuf]) -> anyhow::Result<()> {
    for d in dirs {
        std::fs::create_dir_all(d)?;
    }
    Ok(())
}
