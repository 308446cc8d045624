//! Property-based fuzzing of every parser of CC output (screens, dialogs, transcript records, hook bodies,
//! status files) over mutated real fixtures, on stable Rust with proptest.
//!
//! Each property asserts that the parser never panics, plus a few invariants. The default run is short
//! (part of `cargo test`); `AEGIS_FUZZ_CASES=20000 cargo test --release --test fuzz_parsers` runs longer.
//! A failing case is printed minimised by proptest; nothing is written to disk.

use aegis::cc::hook_payload::parse_hook;
use aegis::cc::status_file::{parse_status_file, status_file_pid};
use aegis::cc::transcript::parse_record;
use aegis::detect::dialog::{self, Dialog};
use aegis::detect::{classify, ScreenState};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn cases(default: u32) -> Config {
    let cases = std::env::var("AEGIS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn corpus(sub: &str, ext: &str) -> Vec<String> {
    let mut paths = Vec::new();
    files_under(&Path::new(ROOT).join(sub), &mut paths);
    paths.sort();
    let texts: Vec<String> = paths
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert!(!texts.is_empty(), "no {ext} fixtures under {sub}");
    texts
}

/// Every recorded screen (plain and `-e`, transitional frames included).
fn screens() -> &'static [String] {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| corpus("screens", ".txt"))
}

/// Every line of every transcript / hook log (one JSON object per line).
fn json_lines(sub: &str) -> Vec<String> {
    corpus(sub, ".jsonl").iter().flat_map(|t| t.lines().map(str::to_string)).filter(|l| !l.is_empty()).collect()
}

fn transcripts() -> &'static [String] {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| json_lines("cc/transcripts"))
}

fn hooks() -> &'static [String] {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| json_lines("cc/hooks"))
}

fn pidfiles() -> &'static [String] {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| corpus("cc/pidfiles", ".json"))
}

// ---------------------------------------------------------------------------
// Mutations

/// Characters that mean something to the detectors, so mutations hit their branches.
const ALPHABET: &[&str] = &[
    "─",
    "───────────",
    "▔▔▔",
    "╌╌╌╌",
    "❯",
    "❯\u{a0}",
    "!\u{a0}",
    "\u{a0}",
    " ",
    "  ",
    "    ",
    "1.",
    "2. ",
    "❯ 1. Yes",
    "Do you want to ",
    "Do you want to proceed?",
    "Enter to select · ",
    "Esc to cancel",
    "☐",
    "☒",
    "✔",
    "[ ]",
    "[✔]",
    "←",
    "→",
    "●",
    "⎿",
    "✻ ",
    "· ",
    "…",
    "(",
    ")",
    "Yes",
    "No",
    "?",
    "·",
    "│",
    "┌",
    "└",
    "↑ 3 more",
    "\t",
    "\r",
    "\u{1b}[",
    "\u{1b}]",
    "é",
    "漢字",
    "\u{200b}",
    "ctrl+g to edit",
    "Resume this session with:",
    "claude --resume x",
    "Pane is dead",
    "Detected a custom API key",
    "ANTHROPIC_API_KEY: sk-ant-...x",
    "Claude has written up a plan",
    "Review your answers",
    "Submit answers",
    "Exit plan mode?",
    "Accessing workspace:",
    " impl-#123 ─",
    "Retrying in 3s · attempt 1/10",
    "esc to interrupt",
    "Waiting for permission",
    "Compacting conversation",
];

#[derive(Debug, Clone)]
enum Edit {
    InsertLine(usize, String),
    DeleteLine(usize),
    ReplaceLine(usize, String),
    DuplicateLine(usize, usize),
    InsertText(usize, String),
    DeleteChars(usize, usize),
    Truncate(usize),
    Bytes(usize, Vec<u8>),
}

fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(ALPHABET), 0..6).prop_map(|v| v.concat()),
        1 => any::<String>(),
        1 => "[ -~]{0,40}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    let pos = any::<usize>();
    prop_oneof![
        (pos, snippet()).prop_map(|(p, s)| Edit::InsertLine(p, s)),
        pos.prop_map(Edit::DeleteLine),
        (pos, snippet()).prop_map(|(p, s)| Edit::ReplaceLine(p, s)),
        (pos, pos).prop_map(|(a, b)| Edit::DuplicateLine(a, b)),
        (pos, snippet()).prop_map(|(p, s)| Edit::InsertText(p, s)),
        (pos, 0usize..8).prop_map(|(p, n)| Edit::DeleteChars(p, n)),
        pos.prop_map(Edit::Truncate),
        (pos, prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, b)| Edit::Bytes(p, b)),
    ]
}

/// Applies the edits; positions are taken modulo the current size, at char boundaries.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let char_pos = |s: &str, p: usize| {
        let n = s.chars().count() + 1;
        s.char_indices().map(|(i, _)| i).chain([s.len()]).nth(p % n).unwrap_or(s.len())
    };
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::InsertLine(p, s) => lines.insert(p % (lines.len() + 1), s.clone()),
            Edit::DeleteLine(p) if !lines.is_empty() => {
                lines.remove(p % n);
            }
            Edit::ReplaceLine(p, s) if !lines.is_empty() => lines[p % n] = s.clone(),
            Edit::DuplicateLine(a, b) if !lines.is_empty() => {
                let l = lines[a % n].clone();
                lines.insert(b % (lines.len() + 1), l);
            }
            Edit::InsertText(p, s) => {
                let mut all = lines.join("\n");
                all.insert_str(char_pos(&all, *p), s);
                lines = all.split('\n').map(str::to_string).collect();
            }
            Edit::DeleteChars(p, k) => {
                let all = lines.join("\n");
                let start = char_pos(&all, *p);
                let rest: String = all[start..].chars().skip(*k).collect();
                lines = format!("{}{rest}", &all[..start]).split('\n').map(str::to_string).collect();
            }
            Edit::Truncate(p) => {
                let all = lines.join("\n");
                let at = char_pos(&all, *p);
                lines = all[..at].split('\n').map(str::to_string).collect();
            }
            Edit::Bytes(p, b) => {
                let mut all = lines.join("\n").into_bytes();
                let at = p % (all.len() + 1);
                all.splice(at..at, b.iter().copied());
                lines = String::from_utf8_lossy(&all).split('\n').map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn mutated(pool: fn() -> &'static [String]) -> impl Strategy<Value = String> {
    (any::<prop::sample::Index>(), prop::collection::vec(edit(), 0..6))
        .prop_map(move |(i, edits)| mutate(i.get::<String>(pool()), &edits))
}

/// Arbitrary JSON, to put into a real record in place of one of its values.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        snippet().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the `k`-th value (pre-order) of `v` by `new`; the root when `k` is 0.
fn replace_nth(v: &mut Value, k: &mut usize, new: &Value) -> bool {
    if *k == 0 {
        *v = new.clone();
        return true;
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| replace_nth(c, k, new)),
        Value::Object(o) => o.values_mut().any(|c| replace_nth(c, k, new)),
        _ => false,
    }
}

fn count_values(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_values).sum(),
        Value::Object(o) => o.values().map(count_values).sum(),
        _ => 0,
    }
}

/// A real JSON record with one value swapped for arbitrary JSON (keeps the structure parsers look for),
/// or the record text mutated like a screen (mostly invalid JSON).
fn mutated_json(pool: fn() -> &'static [String]) -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<prop::sample::Index>(), prop::collection::vec((any::<usize>(), json_value()), 1..4)).prop_map(
            move |(i, swaps)| {
                let text = i.get::<String>(pool());
                let Ok(mut v) = serde_json::from_str::<Value>(text) else { return text.clone() };
                for (k, new) in swaps {
                    let mut k = k % count_values(&v);
                    replace_nth(&mut v, &mut k, &new);
                }
                v.to_string()
            }
        ),
        mutated(pool),
    ]
}

// ---------------------------------------------------------------------------
// Properties

fn lines_of(s: &str) -> Vec<String> {
    s.split('\n').map(str::to_string).collect()
}

/// Every public dialog parser over `lines` at several region starts (0, inside, last line, past the end).
fn all_dialog_parsers(lines: &[String], start: usize) -> Vec<Option<Dialog>> {
    let starts = [0, start % (lines.len() + 1), lines.len().saturating_sub(1), lines.len(), lines.len() + 1];
    let mut out = vec![
        dialog::parse_question(lines),
        dialog::parse_review(lines),
        dialog::parse_plan(lines),
        dialog::parse_exit_plan(lines),
    ];
    for s in starts {
        out.push(dialog::parse_permission(lines, s));
        out.push(dialog::parse_trust(lines, s));
        out.push(dialog::parse_api_key(lines, s));
        out.push(dialog::parse_generic(lines, s, true));
        out.push(dialog::parse_generic(lines, s, false));
    }
    out
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn classify_is_total_and_consistent(screen in mutated(screens)) {
        let o = classify(&screen);
        if !matches!(o.state, ScreenState::Blank | ScreenState::Unknown) {
            prop_assert!(!o.markers.is_empty(), "{:?} without markers", o.state);
        }
        if o.state == ScreenState::Blank {
            prop_assert!(o.dialog.is_none() && o.input.is_none());
        }
        if let Some(d) = &o.dialog {
            for opt in d.options() {
                prop_assert!(opt.label.trim() == opt.label, "untrimmed label {:?}", opt.label);
            }
        }
        prop_assert_eq!(classify(&screen), o, "classify is not deterministic");
    }

    #[test]
    fn dialog_parsers_are_total(screen in mutated(screens), start in any::<usize>()) {
        let lines = lines_of(&screen);
        let _ = all_dialog_parsers(&lines, start);
        // The same on the lines the classifier sees (trailing blanks trimmed, ANSI removed).
        let trimmed: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
        let _ = all_dialog_parsers(&trimmed, start);
    }

    #[test]
    fn transcript_records_are_total(line in mutated_json(transcripts)) {
        if let Some(r) = parse_record(&line) {
            for e in &r.entries {
                let _ = e.answers();
            }
        }
    }

    #[test]
    fn hook_bodies_are_total(body in mutated_json(hooks)) {
        if let Ok(h) = parse_hook(body.as_bytes()) {
            // The event is what the body says it is, whatever else the body holds.
            prop_assert_eq!(Some(h.event.name()), h.raw["hook_event_name"].as_str());
        }
    }

    #[test]
    fn status_files_are_total(body in mutated_json(pidfiles), name in "[0-9a-z.]{0,12}") {
        let _ = parse_status_file(body.as_bytes());
        if let Some(pid) = status_file_pid(&name) {
            let canonical = format!("{pid}.json");
            prop_assert_eq!(canonical.trim_start_matches('0'), name.trim_start_matches('0'));
        }
    }

    #[test]
    fn parsers_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = classify(&text);
        let _ = all_dialog_parsers(&lines_of(&text), bytes.len());
        let _ = parse_record(&text);
        let _ = parse_hook(&bytes);
        let _ = parse_status_file(&bytes);
    }
}

/// The minimal input of the reported panic, and the other region edges, explicitly.
#[test]
fn permission_parser_on_a_region_at_the_last_line() {
    for lines in [vec!["Do you want to ".to_string()], vec!["────".repeat(4), "Do you want to ".into()], vec![]]
    {
        for start in 0..=lines.len() + 1 {
            let _ = all_dialog_parsers(&lines, start);
        }
    }
    assert!(dialog::parse_permission(&["Do you want to ".to_string()], 1).is_none());
}
