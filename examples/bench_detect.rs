//! Detection cost: `aegis::detect::classify` over every recorded CC screen in
//! `tests/fixtures/screens`, against baselines measured in the same run:
//!   - one UTF-8 pass over the same text (the floor for anything that reads the screen),
//!   - one capture over tmux control mode (what Aegis pays per output burst, no process spawn),
//!   - one `tmux capture-pane -p` process (what a polling design pays per look, per session).
//!
//! Run: `cargo run --release --example bench_detect [-- --secs 1.0 --spawns 200]`
//! Needs tmux for the capture baselines (skipped, with a note, when tmux is missing).
use aegis::detect::classify;
use aegis::tmux::{CaptureOptions, ControlClient, Tmux, WindowSpec};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn screens(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("fixtures dir").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            screens(&p, out);
        } else if p.extension().is_some_and(|e| e == "txt") {
            out.push((p.clone(), std::fs::read_to_string(&p).expect("read fixture")));
        }
    }
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

/// utime+stime (self, children) of a process, in clock ticks (USER_HZ, 100/s on Linux).
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // After ")": state=0, ... utime=11, stime=12, cutime=13, cstime=14.
    if f.len() > 14 {
        (f[11] + f[12], f[13] + f[14])
    } else {
        (0, 0)
    }
}

const TICK_US: f64 = 10_000.0;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Row {
    name: String,
    per_us: f64,
    note: String,
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{us:.1} µs")
    } else {
        format!("{us:.2} µs")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let secs = arg("--secs", 1.0);
    let spawns = arg("--spawns", 200.0) as usize;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/screens");
    let mut all = Vec::new();
    screens(&root, &mut all);
    assert!(!all.is_empty(), "no screens under {}", root.display());
    let bytes: usize = all.iter().map(|(_, t)| t.len()).sum();
    let texts: Vec<&str> = all.iter().map(|(_, t)| t.as_str()).collect();

    // Warm up (regexes compile lazily on first use) and record what the screens classify as.
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for t in &texts {
        *states.entry(format!("{:?}", classify(t).state)).or_default() += 1;
    }

    // 1. classify: whole passes over all screens for ~`secs`.
    // The median round is reported: other processes on a small machine inflate the mean.
    let round_us = |f: &dyn Fn(&str)| -> (f64, usize) {
        let mut times = Vec::new();
        let start = Instant::now();
        while times.len() < 5 || start.elapsed().as_secs_f64() < secs {
            let t0 = Instant::now();
            for t in &texts {
                f(black_box(t));
            }
            times.push(t0.elapsed().as_secs_f64() * 1e6 / texts.len() as f64);
        }
        times.sort_by(f64::total_cmp);
        (times[times.len() / 2], times.len())
    };
    let (classify_us, rounds) = round_us(&|t| {
        black_box(classify(t));
    });

    // Per-screen distribution (each screen timed alone, best of 5 to drop scheduler noise).
    let mut per: Vec<(f64, usize)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let best = (0..5)
                .map(|_| {
                    let t0 = Instant::now();
                    black_box(classify(black_box(t)));
                    t0.elapsed().as_secs_f64() * 1e6
                })
                .fold(f64::MAX, f64::min);
            (best, i)
        })
        .collect();
    per.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sorted: Vec<f64> = per.iter().map(|p| p.0).collect();
    let slowest = &all[per.last().unwrap().1].0;

    // 2. Baseline: one UTF-8 decoding pass over the same text (chars + lines), same rounds budget.
    let (scan_us, _) = round_us(&|t| {
        black_box(t.chars().filter(|&c| c == '\n' || c == '\u{a0}').count());
    });

    let mut rows = vec![
        Row {
            name: "classify (aegis::detect, pure)".into(),
            per_us: classify_us,
            note: format!(
                "p50 {} · p99 {} · max {}",
                fmt_us(pct(&sorted, 0.5)),
                fmt_us(pct(&sorted, 0.99)),
                fmt_us(pct(&sorted, 1.0))
            ),
        },
        Row {
            name: "baseline: one UTF-8 pass over the text".into(),
            per_us: scan_us,
            note: "floor for reading a screen at all".into(),
        },
    ];

    // 3. Capture baselines against a private tmux server showing a 120x40 CC screen.
    let mut tmux_note = String::new();
    match capture_baselines(&root, spawns).await {
        Ok(mut r) => rows.append(&mut r),
        Err(e) => tmux_note = format!("(tmux capture baselines skipped: {e})"),
    }

    println!();
    println!(
        "DETECTION  {} recorded screens ({} KiB, CC 2.1.197 + 2.1.330, 80x24 and 120x40), median of {} rounds",
        texts.len(),
        bytes / 1024,
        rounds
    );
    println!("{:<48} {:>12} {:>14} {:>11}  notes", "operation", "per screen", "screens/s", "x classify");
    println!("{}", "-".repeat(120));
    for r in &rows {
        println!(
            "{:<48} {:>12} {:>14} {:>10.2}x  {}",
            r.name,
            fmt_us(r.per_us),
            format!("{:.0}", 1e6 / r.per_us),
            r.per_us / classify_us,
            r.note
        );
    }
    if !tmux_note.is_empty() {
        println!("{tmux_note}");
    }
    println!("slowest screen: {}", slowest.strip_prefix(&root).unwrap_or(slowest).display());
    let summary: Vec<String> = states.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("classified as: {}", summary.join(", "));
}

async fn capture_baselines(root: &Path, spawns: usize) -> anyhow::Result<Vec<Row>> {
    let socket = format!("aegis-bench-detect-{}", std::process::id());
    let tmux = Tmux::new("tmux", socket.clone());
    tmux.version().await?;
    let res = capture_inner(&tmux, root, spawns).await;
    let _ = tmux.kill_server().await;
    remove_tmux_socket(&socket);
    res
}

async fn capture_inner(tmux: &Tmux, root: &Path, spawns: usize) -> anyhow::Result<Vec<Row>> {
    tmux.ensure_server("bench").await?;
    let fixture = root.join("cc-2.1.330-classic/idle-fresh-120x40.txt");
    let fixture = if fixture.exists() { fixture } else { root.join("cc-2.1.197/idle-fresh-120x40.txt") };
    let spec = WindowSpec {
        name: "screen".into(),
        cwd: std::env::temp_dir(),
        env: vec![],
        argv: vec!["tail".into(), "-n".into(), "+1".into(), "-f".into(), fixture.to_string_lossy().into_owned()],
        cols: 120,
        rows: 40,
    };
    let pane = tmux.new_window("bench", &spec).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server_pid: u32 = {
        let out = std::process::Command::new("tmux")
            .args(["-L", tmux.socket(), "display-message", "-p", "#{pid}"])
            .output()?;
        String::from_utf8_lossy(&out.stdout).trim().parse()?
    };
    let opts = CaptureOptions::default();
    let sample = tmux.capture(&pane.pane_id, opts).await?;
    let obs = classify(&sample);
    let me = std::process::id();

    // Control mode: one command/response on the already-attached client.
    let (client, _events) = ControlClient::connect(tmux, "bench").await?;
    for _ in 0..20 {
        client.capture(&pane.pane_id, opts).await?;
    }
    let n_ctl = spawns * 20;
    let (srv0, self0) = (cpu_ticks(server_pid).0, cpu_ticks(me).0);
    let t0 = Instant::now();
    for _ in 0..n_ctl {
        black_box(client.capture(&pane.pane_id, opts).await?);
    }
    let ctl_us = t0.elapsed().as_secs_f64() * 1e6 / n_ctl as f64;
    let ctl_cpu = ((cpu_ticks(server_pid).0 - srv0) + (cpu_ticks(me).0 - self0)) as f64 * TICK_US / n_ctl as f64;
    client.close().await;

    // Process spawn: `tmux capture-pane -p` per look (Aegis's own argv-only runner).
    for _ in 0..5 {
        tmux.capture(&pane.pane_id, opts).await?;
    }
    let (srv0, (self0, child0)) = (cpu_ticks(server_pid).0, cpu_ticks(me));
    let t0 = Instant::now();
    for _ in 0..spawns {
        black_box(tmux.capture(&pane.pane_id, opts).await?);
    }
    let spawn_us = t0.elapsed().as_secs_f64() * 1e6 / spawns as f64;
    let (self1, child1) = cpu_ticks(me);
    let spawn_cpu =
        ((cpu_ticks(server_pid).0 - srv0) + (self1 - self0) + (child1 - child0)) as f64 * TICK_US / spawns as f64;

    Ok(vec![
        Row {
            name: "capture over tmux control mode (Aegis)".into(),
            per_us: ctl_us,
            note: format!("wall; CPU ≈{} (tmux server + client), n={n_ctl}", fmt_us(ctl_cpu)),
        },
        Row {
            name: "`tmux capture-pane -p` process (polling)".into(),
            per_us: spawn_us,
            note: format!(
                "wall; CPU ≈{} (child + tmux server + parent), n={spawns}; pane shows {:?}",
                fmt_us(spawn_cpu),
                obs.state
            ),
        },
    ])
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
