//! Exit latency: `kill -9` of a session's CC (the fake, `bench/fake-claude`) → the session is EXITED,
//! as a gRPC client sees it (a WaitSession for EXITED that was already waiting), on the real
//! `aegis serve` (release). Two cases:
//!   - plain: nothing else holds CC's pty;
//!   - child: CC left a child (`sleep`) that keeps the pty open, as a running Bash tool does.
//!
//! Baseline, same run: tmux's own pane-died notification (what Aegis relied on before it watched CC's
//! pid), on a separate private tmux server through Aegis's control-mode client: `kill -9` of the same
//! fake in a window → `TmuxEvent::PaneDied`. In the child case tmux never reports a death (the pty
//! stays open); the baseline then counts the kills it missed within `--baseline-timeout-ms`.
//!
//!   cargo run --release --example bench_exit -- [--kills 25] [--baseline-timeout-ms 6000] [--aegis PATH] [--fake PATH]
use aegis::proto::v1::session_service_client::SessionServiceClient;
use aegis::proto::v1::{CreateSessionRequest, DeleteSessionRequest, SessionState, WaitOptions, WaitSessionRequest};
use aegis::tmux::{ControlClient, Tmux, TmuxEvent, WindowSpec};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

struct Opts {
    kills: usize,
    baseline_timeout: Duration,
    aegis: PathBuf,
    fake: PathBuf,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default_aegis = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("aegis")))
        .unwrap_or_else(|| PathBuf::from("aegis"));
    Opts {
        kills: get("--kills").and_then(|v| v.parse().ok()).unwrap_or(25),
        baseline_timeout: Duration::from_millis(
            get("--baseline-timeout-ms").and_then(|v| v.parse().ok()).unwrap_or(6000),
        ),
        aegis: get("--aegis").map(PathBuf::from).unwrap_or(default_aegis),
        fake: get("--fake").map(PathBuf::from).unwrap_or_else(|| manifest.join("bench/fake-claude")),
    }
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).ceil() as usize]
}

fn dist(v: &[f64], n: usize) -> String {
    if v.is_empty() {
        return format!("none of {n} seen");
    }
    let missed = if v.len() < n { format!(" · {} of {n} never seen", n - v.len()) } else { String::new() };
    format!(
        "p50 {:.0} ms · p99 {:.0} ms · max {:.0} ms (n={}){missed}",
        pct(v, 0.5),
        pct(v, 0.99),
        pct(v, 1.0),
        v.len()
    )
}

fn kill9(pid: u32) {
    // SAFETY: kill(2) with a pid we read from tmux and a constant signal.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// The fake CC, optionally behind a wrapper that leaves a `sleep` child holding the pty (the
/// wrapper execs the fake, so the pane pid is the fake's and the sleep is its child). `setsid`: like
/// CC's Bash tool children it is out of the terminal's foreground group, so CC's death does not HUP it.
fn program(dir: &Path, fake: &Path, child: bool) -> anyhow::Result<PathBuf> {
    if !child {
        return Ok(fake.to_path_buf());
    }
    let p = dir.join("fake-claude-with-child");
    let pids = dir.join("child-pids");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nsetsid sleep 600 &\necho $! >> '{}'\nexec '{}' \"$@\"\n", pids.display(), fake.display()),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
    Ok(p)
}

fn kill_children(dir: &Path) {
    for pid in std::fs::read_to_string(dir.join("child-pids")).unwrap_or_default().lines() {
        if let Ok(pid) = pid.trim().parse::<u32>() {
            kill9(pid);
        }
    }
    let _ = std::fs::remove_file(dir.join("child-pids"));
}

async fn pane_pid(socket: &str, pane: &str) -> anyhow::Result<u32> {
    let out = tokio::process::Command::new("tmux")
        .args(["-L", socket, "display-message", "-p", "-t", pane, "#{pane_pid}"])
        .output()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// Aegis: create a session, wait for IDLE, start a WaitSession(EXITED), kill -9, time its answer.
async fn aegis_kills(addr: &str, socket: &str, work: &Path, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut client = SessionServiceClient::connect(format!("http://{addr}")).await?;
    let wait = |states: Vec<SessionState>, secs| {
        Some(WaitOptions {
            states: states.into_iter().map(|s| s as i32).collect(),
            timeout: Some(prost_types::Duration { seconds: secs, nanos: 0 }),
        })
    };
    let mut out = Vec::new();
    for i in 0..n {
        let req = CreateSessionRequest {
            work_dir: work.to_string_lossy().into_owned(),
            name: format!("exit-bench {i} #{}", std::process::id()),
            wait: wait(vec![SessionState::Idle], 30),
            env: [("FAKE_CC_SPIN_MS".to_string(), "0".to_string())].into(),
            ..Default::default()
        };
        let s = client.create_session(req).await?.into_inner().session.unwrap();
        anyhow::ensure!(s.state == SessionState::Idle as i32, "session {i} did not reach IDLE: {s:?}");
        let pid = pane_pid(socket, &s.tmux_pane).await?;
        let mut c2 = client.clone();
        let (id, rev) = (s.id.clone(), s.revision);
        let waiter = tokio::spawn(async move {
            let r = c2
                .wait_session(WaitSessionRequest {
                    session_id: id,
                    after_revision: rev,
                    wait: wait(vec![SessionState::Exited], 20),
                })
                .await;
            (Instant::now(), r)
        });
        // Let the wait reach the server before the kill.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t0 = Instant::now();
        kill9(pid);
        let (t1, r) = waiter.await?;
        let got = r?.into_inner().session.unwrap();
        anyhow::ensure!(got.state == SessionState::Exited as i32, "session {i} not EXITED 20 s after kill -9");
        out.push((t1 - t0).as_secs_f64() * 1000.0);
        client.delete_session(DeleteSessionRequest { session_id: s.id, ..Default::default() }).await?;
    }
    Ok(out)
}

/// Baseline: tmux's pane-died notification alone, through Aegis's control-mode client.
async fn tmux_kills(socket: &str, work: &Path, program: &Path, n: usize, limit: Duration) -> anyhow::Result<Vec<f64>> {
    let tmux = Tmux::new("tmux", socket);
    tmux.ensure_server("aegis").await?;
    let (_control, mut events) = ControlClient::connect(&tmux, "aegis").await?;
    let mut out = Vec::new();
    for i in 0..n {
        let spec = WindowSpec {
            name: format!("baseline-{i}"),
            cwd: work.to_path_buf(),
            env: vec![("FAKE_CC_SPIN_MS".into(), "0".into())],
            argv: vec![program.to_string_lossy().into_owned(), "--session-id".into(), uuid::Uuid::new_v4().to_string()],
            cols: 120,
            rows: 40,
        };
        let pane = tmux.new_window("aegis", &spec).await?;
        // The fake draws its idle frame, then sleeps (as Aegis waited for IDLE above).
        tokio::time::sleep(Duration::from_millis(600)).await;
        while events.try_recv().is_ok() {}
        let t0 = Instant::now();
        kill9(pane.pid);
        let seen = tokio::time::timeout(limit, async {
            while let Some(ev) = events.recv().await {
                if matches!(&ev, TmuxEvent::PaneDied { pane_id, .. } if *pane_id == pane.pane_id) {
                    return Some(Instant::now());
                }
            }
            None
        })
        .await;
        if let Ok(Some(t1)) = seen {
            out.push((t1 - t0).as_secs_f64() * 1000.0);
        }
        let _ = tmux.kill_window(&pane.window_id).await;
    }
    let _ = tmux.kill_server().await;
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts();
    anyhow::ensure!(o.aegis.exists(), "aegis binary not found: {} (cargo build --release)", o.aegis.display());
    let dir = std::env::temp_dir().join(format!("aegis-bench-exit-{}", std::process::id()));
    let (state, cfg, work) = (dir.join("state"), dir.join("cc-config"), dir.join("work"));
    for d in [&state, &cfg, &work] {
        std::fs::create_dir_all(d)?;
    }
    let socket = format!("aegis-bench-exit-{}", std::process::id());
    let base_socket = format!("{socket}-baseline");
    let mut child = tokio::process::Command::new(&o.aegis)
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &socket])
        .arg("--state-dir")
        .arg(&state)
        .arg("--claude-bin")
        .arg(program(&dir, &o.fake, false)?)
        .arg("--claude-config-dir")
        .arg(&cfg)
        .env("AEGIS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("aegis.log"))?)
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(a) = l.strip_prefix("listening ") {
                return Ok(a.trim().to_string());
            }
        }
        anyhow::bail!("aegis exited before listening (see {}/aegis.log)", dir.display())
    })
    .await??;

    let n = o.kills;
    let run = async {
        let plain = aegis_kills(&addr, &socket, &work, n).await?;
        let base_plain = tmux_kills(&base_socket, &work, &o.fake, n, o.baseline_timeout).await?;
        anyhow::Ok((plain, base_plain))
    };
    let result = run.await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = std::process::Command::new("tmux").args(["-L", &socket, "kill-server"]).stderr(Stdio::null()).status();
    let (plain, base_plain) = result?;

    // Child case: a second server whose CC binary is the wrapper.
    let with_child = program(&dir, &o.fake, true)?;
    let socket2 = format!("{socket}-child");
    let mut child2 = tokio::process::Command::new(&o.aegis)
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &socket2])
        .arg("--state-dir")
        .arg(dir.join("state2"))
        .arg("--claude-bin")
        .arg(&with_child)
        .arg("--claude-config-dir")
        .arg(&cfg)
        .env("AEGIS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("aegis2.log"))?)
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child2.stdout.take().unwrap()).lines();
    let addr2 = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(a) = l.strip_prefix("listening ") {
                return Ok(a.trim().to_string());
            }
        }
        anyhow::bail!("aegis exited before listening (see {}/aegis2.log)", dir.display())
    })
    .await??;
    let result = async {
        let kids = aegis_kills(&addr2, &socket2, &work, n).await?;
        let base_kids = tmux_kills(&base_socket, &work, &with_child, n, o.baseline_timeout).await?;
        anyhow::Ok((kids, base_kids))
    }
    .await;
    let _ = child2.start_kill();
    let _ = child2.wait().await;
    let _ = std::process::Command::new("tmux").args(["-L", &socket2, "kill-server"]).stderr(Stdio::null()).status();
    kill_children(&dir);
    let (kids, base_kids) = result?;
    let _ = std::fs::remove_dir_all(&dir);

    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("EXIT  kill -9 of CC (bench/fake-claude) -> EXITED seen by a waiting WaitSession, {n} kills per case, {cpus} CPUs");
    println!("  aegis (pidfd)                      {}", dist(&plain, n));
    println!("  baseline: tmux pane-died alone     {}", dist(&base_plain, n));
    println!("  aegis, a child holds the pty       {}", dist(&kids, n));
    println!(
        "  baseline: tmux pane-died, child    {} (within {} ms)",
        dist(&base_kids, n),
        o.baseline_timeout.as_millis()
    );
    Ok(())
}
