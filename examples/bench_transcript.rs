//! GetTranscript paging over a 200 MB transcript: the offset index (`TranscriptPages`, the exact code
//! behind the handler) against the old whole-file read of the same file, in this process.
//!
//! The transcript is built from the real records in tests/fixtures/cc/transcripts/* repeated to the
//! size asked. Measures the first call (index build included), random pages (200 entries at random
//! cursors, all kinds and a kinds filter), a page after the file grew, and the process RSS growth;
//! then the old reading (read the whole file, parse every record, skip to the cursor) for a baseline.
//! The new path runs first so the baseline's allocations cannot hide its growth.
//!
//! Run: cargo run --release --example bench_transcript -- [--mb 200] [--pages 300] [--keep]
use aegis::cc::transcript::{parse_record, EntryKind, TranscriptEntry};
use aegis::cc::transcript_index::{PageLimits, TranscriptPages};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn fixture_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cc/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// xorshift64: reproducible cursors without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The reading GetTranscript did before the index: the whole file, every record, then skip.
fn old_read(path: &Path, cursor: usize, limit: usize) -> Vec<TranscriptEntry> {
    let text = std::fs::read_to_string(path).unwrap();
    let all: Vec<TranscriptEntry> = text.lines().filter_map(parse_record).flat_map(|r| r.entries).collect();
    all.into_iter().skip(cursor).take(limit).collect()
}

fn main() {
    let mb = arg("--mb", 200);
    let pages = arg("--pages", 300);
    let keep = std::env::args().any(|a| a == "--keep");
    let lines = fixture_lines();
    let dir = std::env::temp_dir().join(format!("aegis-bench-transcript-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut written = 0usize;
        'fill: loop {
            for l in &lines {
                f.write_all(l.as_bytes()).unwrap();
                f.write_all(b"\n").unwrap();
                written += l.len() + 1;
                if written >= mb << 20 {
                    break 'fill;
                }
            }
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!("transcript {} ({:.0} MB from {} fixture records)", path.display(), size as f64 / 1e6, lines.len());

    let rss0 = status_kb("VmRSS:");
    let pages_idx = TranscriptPages::default();
    let limits = PageLimits { max_entries: 200, ..PageLimits::default() };
    let t = Instant::now();
    let first = pages_idx.page(&path, 0, limits, |_| true).unwrap();
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    let entries = {
        let mut lo = 0u64;
        let mut hi = 1u64 << 40;
        // Binary search the end with cheap pages (the index answers past-the-end at once).
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pages_idx.page(&path, mid, PageLimits { max_entries: 1, ..limits }, |_| true).unwrap().entries.is_empty()
            {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    };
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut all_ms = Vec::new();
    for _ in 0..pages {
        let c = rng.below(entries);
        let t = Instant::now();
        let p = pages_idx.page(&path, c, limits, |_| true).unwrap();
        all_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!p.entries.is_empty() && p.entries[0].0 == c);
    }
    let mut tool_ms = Vec::new();
    for _ in 0..pages {
        let c = rng.below(entries);
        let t = Instant::now();
        pages_idx.page(&path, c, limits, |e| e.kind == EntryKind::ToolUse).unwrap();
        tool_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // The file grows (CC appends): the next call indexes only the new bytes.
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        for l in lines.iter().take(200) {
            writeln!(f, "{l}").unwrap();
        }
    }
    let t = Instant::now();
    pages_idx.page(&path, entries, limits, |_| true).unwrap();
    let grow_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_new = status_kb("VmRSS:");
    let hwm_new = status_kb("VmHWM:");

    // Baseline: the old whole-file read, same file, same kind of cursors.
    let mut old_ms = Vec::new();
    let mut old_first = None;
    for i in 0..3 {
        let c = if i == 0 { 0 } else { rng.below(entries) as usize };
        let t = Instant::now();
        let got = old_read(&path, c, 200);
        old_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if i == 0 {
            old_first = Some(got);
        }
    }
    let rss_old = status_kb("VmRSS:");
    let hwm_old = status_kb("VmHWM:");
    let same = old_first.unwrap() == first.entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>();

    let mib = |kb: u64| kb as f64 / 1024.0;
    let (p50, p99) = (pct(&mut all_ms.clone(), 0.5), pct(&mut all_ms, 0.99));
    let (f50, f99) = (pct(&mut tool_ms.clone(), 0.5), pct(&mut tool_ms, 0.99));
    let growth = mib(rss_new.saturating_sub(rss0));
    println!("GetTranscript over a {:.0} MB transcript ({entries} entries), page = 200 entries", size as f64 / 1e6);
    println!("| path | first call | page p50 | page p99 | RSS growth | peak RSS |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| offset index | {first_ms:.0} ms (index build) | {p50:.2} ms | {p99:.2} ms | {growth:.1} MiB | {:.0} MiB |",
        mib(hwm_new)
    );
    println!("| offset index, kinds=[TOOL_USE] | | {f50:.2} ms | {f99:.2} ms | | |");
    println!("| offset index, after the file grew | {grow_ms:.2} ms | | | | |");
    let old_first_ms = old_ms[0];
    println!(
        "| baseline: whole-file read | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} MiB | {:.0} MiB |",
        old_first_ms,
        pct(&mut old_ms.clone(), 0.5),
        pct(&mut old_ms, 0.99),
        mib(rss_old.saturating_sub(rss_new)),
        mib(hwm_old)
    );
    println!(
        "targets: page p99 <= 50 ms: {}; RSS growth <= 50 MB: {}; first page equal to the baseline's: {same}",
        if p99 <= 50.0 { "met" } else { "MISSED" },
        if growth <= 50.0 { "met" } else { "MISSED" }
    );
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
