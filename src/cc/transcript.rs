//! Claude Code transcript (`projects/<slug>/<session>.jsonl`) parsing and tailing.
//!
//! Only the record types `user`, `assistant` and `system` produce entries and
//! signals. Everything else (`mode`, `permission-mode`, `file-history-snapshot`,
//! `attachment`, `queue-operation`, `last-prompt`, and the 2.1.330 additions
//! `api-request*`, `atis-latch`, `tools-used`, `cost-state`,
//! `file-history-delta`, …) yields a [`Record`] with its `raw_type` and
//! nothing else. Lines are not in strict chronological order; follow
//! `parent_uuid` when order matters.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// What one transcript entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    UserText,
    AssistantText,
    Thinking,
    ToolUse,
    ToolResult,
    System,
}

/// One content item of a `user`/`assistant`/`system` record. An `assistant`
/// record normally holds one content block, but several are handled.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptEntry {
    pub uuid: String,
    pub parent_uuid: Option<String>,
    /// As in the record (RFC 3339, e.g. `2026-11-21T10:38:55.815Z`); empty if absent.
    pub timestamp: String,
    pub kind: EntryKind,
    /// Text, thinking, tool_result text (list content: text blocks joined by
    /// `\n`), or system `content`.
    pub text: String,
    pub tool_name: Option<String>,
    pub tool_use_id: Option<String>,
    pub tool_input: Option<Value>,
    /// tool_result `is_error`; also true for synthetic API-error assistant text.
    pub is_error: bool,
    /// `system` subtype, e.g. `turn_duration`, `local_command`, `compact_boundary`.
    pub subtype: Option<String>,
    /// `isMeta`, compact summary, slash-command echo/caveat/stdout, `!` stdout,
    /// and the synthetic `[Request interrupted by user…]` text.
    pub is_meta: bool,
    pub api_error_status: Option<u16>,
    /// For `ToolResult`: the record's structured `toolUseResult` (Bash
    /// stdout/stderr, AskUserQuestion `{questions, answers, annotations}`,
    /// ExitPlanMode `{plan, filePath}`, or the string `"User rejected tool use"`).
    pub tool_use_result: Option<Value>,
    /// Anthropic `message.id` of an assistant record (shared by the per-block
    /// records of one API message).
    pub message_id: Option<String>,
}

impl TranscriptEntry {
    /// AskUserQuestion answers (`toolUseResult.answers`, question → answer;
    /// multi-select answers are comma-joined labels), sorted by question text.
    pub fn answers(&self) -> Option<Vec<(String, String)>> {
        let map = self.tool_use_result.as_ref()?.get("answers")?.as_object()?;
        Some(
            map.iter()
                .map(|(q, a)| {
                    let a = match a {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (q.clone(), a)
                })
                .collect(),
        )
    }
}

/// What a record means for the turn state machine.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnSignal {
    /// A real human prompt (typed or queued; `!cmd` shell input is reported as
    /// `!cmd`). Not tool results, meta records, slash-command echoes or
    /// compact summaries.
    PromptSubmitted {
        text: String,
        queued: bool,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// `rejected_by_user`: the user-rejection marker (prompt rejected with
    /// Esc/No, also Esc while the tool ran: in 2.1.197 the two are identical).
    /// `interrupted`: known to have been stopped while running (Bash
    /// `toolUseResult.interrupted`, or 2.1.330 `toolDenialKind:"user-rejected"`
    /// without `toolDenialBeforeRun`/`userFeedback`).
    ToolResult {
        tool_use_id: String,
        is_error: bool,
        rejected_by_user: bool,
        interrupted: bool,
    },
    /// `[Request interrupted by user]` / `[Request interrupted by user for tool use]`.
    Interrupted,
    /// Synthetic assistant record with `isApiErrorMessage: true`.
    ApiError {
        status: Option<u16>,
        message: String,
    },
    /// `system/turn_duration`: the end of every turn.
    TurnEnded {
        duration_ms: Option<u64>,
    },
    /// `system/compact_boundary`.
    Compacted,
    /// `system/local_command` (slash command / local dialog, written on close).
    LocalCommand {
        text: String,
    },
}

/// One parsed JSONL line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's `type` (`user`, `assistant`, `system`, `attachment`, …).
    pub raw_type: String,
    pub entries: Vec<TranscriptEntry>,
    pub signals: Vec<TurnSignal>,
    pub session_id: Option<String>,
    /// `system` subtype or `attachment.type` or `queue-operation` operation.
    pub subtype: Option<String>,
}

/// Minimal view used to find the type without building a full `Value` for
/// huge non-whitelisted lines (`api-request`, `prompt_snapshot`, …).
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    subtype: Option<String>,
    operation: Option<String>,
    attachment: Option<AttachmentHead>,
}

#[derive(Deserialize)]
struct AttachmentHead {
    #[serde(rename = "type")]
    kind: Option<String>,
}

const INTERRUPT_PREFIX: &str = "[Request interrupted by user";
const REJECT_TEXT: &str = "The user doesn't want to proceed with this tool use";
const USER_REJECTED: &str = "User rejected tool use";
/// Prefixes of `user` string content that CC writes itself (slash commands,
/// `!` output). Not human prompts.
const META_PREFIXES: &[&str] = &[
    "<local-command-caveat>",
    "<command-name>",
    "<command-message>",
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<bash-stdout>",
    "<bash-stderr>",
];

/// Parse one JSONL line. `None` for blank lines, invalid JSON, non-objects and
/// objects without a string `type`. Never panics.
pub fn parse_record(line: &str) -> Option<Record> {
    let line = line.trim();
    if line.is_empty() || !line.starts_with('{') {
        return None;
    }
    let head: Head = serde_json::from_str(line).ok()?;
    let raw_type = head.kind?;
    let subtype = match raw_type.as_str() {
        "system" => head.subtype,
        "attachment" => head.attachment.and_then(|a| a.kind),
        "queue-operation" => head.operation,
        _ => None,
    };
    let mut rec = Record { raw_type, entries: Vec::new(), signals: Vec::new(), session_id: head.session_id, subtype };
    if !matches!(rec.raw_type.as_str(), "user" | "assistant" | "system") {
        return Some(rec);
    }
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(_) => return Some(rec),
    };
    let base = Base::from(&v);
    match rec.raw_type.as_str() {
        "user" => parse_user(&v, &base, &mut rec),
        "assistant" => parse_assistant(&v, &base, &mut rec),
        _ => parse_system(&v, &base, &mut rec),
    }
    if v.get("isSidechain").and_then(Value::as_bool) == Some(true) {
        // Subagent traffic: keep the entries, but it says nothing about the main turn.
        rec.signals.clear();
    }
    Some(rec)
}

struct Base {
    uuid: String,
    parent_uuid: Option<String>,
    timestamp: String,
    is_meta: bool,
}

impl Base {
    fn from(v: &Value) -> Self {
        Base {
            uuid: str_field(v, "uuid").unwrap_or_default(),
            parent_uuid: str_field(v, "parentUuid"),
            timestamp: str_field(v, "timestamp").unwrap_or_default(),
            is_meta: bool_field(v, "isMeta")
                || bool_field(v, "isCompactSummary")
                || bool_field(v, "isVisibleInTranscriptOnly"),
        }
    }

    fn entry(&self, kind: EntryKind, text: String) -> TranscriptEntry {
        TranscriptEntry {
            uuid: self.uuid.clone(),
            parent_uuid: self.parent_uuid.clone(),
            timestamp: self.timestamp.clone(),
            kind,
            text,
            tool_name: None,
            tool_use_id: None,
            tool_input: None,
            is_error: false,
            subtype: None,
            is_meta: self.is_meta,
            api_error_status: None,
            tool_use_result: None,
            message_id: None,
        }
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn bool_field(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn is_interrupt_text(s: &str) -> bool {
    s.trim_start().starts_with(INTERRUPT_PREFIX)
}

fn is_meta_text(s: &str) -> bool {
    let t = s.trim_start();
    META_PREFIXES.iter().any(|p| t.starts_with(p))
}

/// `<bash-input>cmd</bash-input>` → `Some("cmd")`.
fn bash_input(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("<bash-input>")?;
    Some(inner.strip_suffix("</bash-input>").unwrap_or(inner))
}

/// Text of a tool_result `content`: a string, or a list of blocks whose text
/// blocks are joined by `\n` (MCP results).
fn tool_result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

fn parse_user(v: &Value, base: &Base, rec: &mut Record) {
    let queued = v.get("promptSource").and_then(Value::as_str) == Some("queued");
    let content = v.get("message").and_then(|m| m.get("content"));
    match content {
        Some(Value::String(s)) => {
            if let Some(text) = user_text_entry(base, s, rec) {
                rec.signals.push(TurnSignal::PromptSubmitted { text, queued });
            }
        }
        Some(Value::Array(blocks)) => {
            let has_tool_result = blocks.iter().any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"));
            let mut prompt_parts: Vec<String> = Vec::new();
            for b in blocks {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = b.get("text").and_then(Value::as_str).unwrap_or_default();
                        // Text next to a tool_result is amend feedback within the
                        // running turn, not a new prompt.
                        if let Some(p) = user_text_entry(base, t, rec) {
                            if !has_tool_result {
                                prompt_parts.push(p);
                            }
                        }
                    }
                    Some("tool_result") => user_tool_result(v, base, b, rec),
                    _ => {}
                }
            }
            if !prompt_parts.is_empty() && !base.is_meta {
                rec.signals.push(TurnSignal::PromptSubmitted { text: prompt_parts.join("\n"), queued });
            }
        }
        _ => {}
    }
}

/// Push the entry for a user string/text block; return the prompt text if it
/// counts as a human prompt part. Emits `Interrupted` for interrupt markers.
fn user_text_entry(base: &Base, text: &str, rec: &mut Record) -> Option<String> {
    let interrupt = is_interrupt_text(text);
    let meta = base.is_meta || interrupt || is_meta_text(text);
    let mut e = base.entry(EntryKind::UserText, text.to_owned());
    e.is_meta = meta;
    rec.entries.push(e);
    if interrupt {
        rec.signals.push(TurnSignal::Interrupted);
        return None;
    }
    if meta {
        return None;
    }
    Some(match bash_input(text) {
        Some(cmd) => format!("!{cmd}"),
        None => text.to_owned(),
    })
}

fn user_tool_result(v: &Value, base: &Base, block: &Value, rec: &mut Record) {
    let text = tool_result_text(block.get("content"));
    let is_error = block.get("is_error").and_then(Value::as_bool).unwrap_or(false);
    let tool_use_id = block.get("tool_use_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let tur = v.get("toolUseResult");
    let denial_kind = v.get("toolDenialKind").and_then(Value::as_str);
    let tur_str = tur.and_then(Value::as_str);
    let rejected_by_user =
        tur_str == Some(USER_REJECTED) || denial_kind == Some("user-rejected") || text.contains(REJECT_TEXT);
    let interrupted = tur.and_then(|t| t.get("interrupted")).and_then(Value::as_bool).unwrap_or(false)
        || (denial_kind == Some("user-rejected")
            && tur_str == Some(USER_REJECTED)
            && !bool_field(v, "toolDenialBeforeRun")
            && v.get("userFeedback").is_none());
    let mut e = base.entry(EntryKind::ToolResult, text);
    e.tool_use_id = Some(tool_use_id.clone());
    e.is_error = is_error;
    e.tool_use_result = tur.cloned();
    rec.entries.push(e);
    rec.signals.push(TurnSignal::ToolResult { tool_use_id, is_error, rejected_by_user, interrupted });
}

fn parse_assistant(v: &Value, base: &Base, rec: &mut Record) {
    let message = v.get("message");
    let message_id = message.and_then(|m| str_field(m, "id"));
    let api_error = bool_field(v, "isApiErrorMessage");
    let status = v.get("apiErrorStatus").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok());
    let mut error_text: Vec<String> = Vec::new();
    let push = |rec: &mut Record, mut e: TranscriptEntry| {
        e.message_id = message_id.clone();
        if api_error {
            e.is_error = true;
            e.api_error_status = status;
        }
        rec.entries.push(e);
    };
    match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => {
            error_text.push(s.clone());
            push(rec, base.entry(EntryKind::AssistantText, s.clone()));
        }
        Some(Value::Array(blocks)) => {
            for b in blocks {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = str_field(b, "text").unwrap_or_default();
                        error_text.push(t.clone());
                        push(rec, base.entry(EntryKind::AssistantText, t));
                    }
                    Some("thinking") => {
                        let t = str_field(b, "thinking").unwrap_or_default();
                        push(rec, base.entry(EntryKind::Thinking, t));
                    }
                    Some("redacted_thinking") => {
                        push(rec, base.entry(EntryKind::Thinking, String::new()));
                    }
                    Some("tool_use") => {
                        let id = str_field(b, "id").unwrap_or_default();
                        let name = str_field(b, "name").unwrap_or_default();
                        let input = b.get("input").cloned().unwrap_or(Value::Null);
                        let mut e = base.entry(EntryKind::ToolUse, String::new());
                        e.tool_name = Some(name.clone());
                        e.tool_use_id = Some(id.clone());
                        e.tool_input = Some(input.clone());
                        push(rec, e);
                        rec.signals.push(TurnSignal::ToolUse { id, name, input });
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    if api_error {
        rec.signals.push(TurnSignal::ApiError { status, message: error_text.join("\n") });
    }
}

fn parse_system(v: &Value, base: &Base, rec: &mut Record) {
    let subtype = str_field(v, "subtype");
    let text = match v.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut e = base.entry(EntryKind::System, text.clone());
    e.subtype = subtype.clone();
    rec.entries.push(e);
    match subtype.as_deref() {
        Some("turn_duration") => rec.signals.push(TurnSignal::TurnEnded {
            duration_ms: v
                .get("durationMs")
                .and_then(|d| d.as_u64().or_else(|| d.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))),
        }),
        Some("compact_boundary") => rec.signals.push(TurnSignal::Compacted),
        Some("local_command") => rec.signals.push(TurnSignal::LocalCommand { text }),
        _ => {}
    }
}

/// Incremental reader: reads what was appended since the last call, keeps a
/// partial last line for next time, handles the file not existing yet and
/// being truncated/replaced (inode change or smaller size → restart from 0).
///
/// A replacement by a file of the same inode that is already at least as long
/// as the old offset cannot be detected.
#[derive(Debug)]
pub struct TranscriptTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    file_id: Option<(u64, u64)>,
}

impl TranscriptTail {
    pub fn new(path: PathBuf) -> Self {
        TranscriptTail { path, offset: 0, partial: Vec::new(), file_id: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes consumed so far (including a buffered partial line).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes of an incomplete last line held back until its newline arrives.
    pub fn pending_partial(&self) -> usize {
        self.partial.len()
    }

    fn restart(&mut self) {
        self.offset = 0;
        self.partial.clear();
    }

    /// Records from complete lines appended since the last call. A missing
    /// file yields `Ok(vec![])` and resets the position.
    pub fn read_new(&mut self) -> io::Result<Vec<Record>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.restart();
                self.file_id = None;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = file_identity(&meta);
        if id != self.file_id || meta.len() < self.offset {
            self.restart();
            self.file_id = id;
        }
        if meta.len() == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = std::mem::take(&mut self.partial);
        let start = buf.len();
        let n = file.read_to_end(&mut buf)?;
        self.offset += n as u64;
        let mut out = Vec::new();
        let mut line_start = 0;
        // Only scan the new bytes for newlines; the old partial had none.
        for (i, b) in buf[start..].iter().enumerate() {
            if *b == b'\n' {
                let end = start + i;
                let line = String::from_utf8_lossy(&buf[line_start..end]);
                if let Some(r) = parse_record(&line) {
                    out.push(r);
                }
                line_start = end + 1;
            }
        }
        buf.drain(..line_start);
        self.partial = buf;
        Ok(out)
    }
}

#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// CC's project slug: every char that is not ASCII alphanumeric becomes `-`
/// (one per UTF-16 code unit, as CC's JavaScript regex replace does).
pub fn project_slug(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .flat_map(|c| {
            let (ch, n) = if c.is_ascii_alphanumeric() { (c, 1) } else { ('-', c.len_utf16()) };
            std::iter::repeat_n(ch, n)
        })
        .collect()
}

/// Transcript path CC uses:
/// `<config_dir>/projects/<cwd with every non-alphanumeric char replaced by '-'>/<session_id>.jsonl`.
pub fn transcript_path(config_dir: &Path, cwd: &Path, session_id: &str) -> PathBuf {
    config_dir.join("projects").join(project_slug(cwd)).join(format!("{session_id}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cc/transcripts");

    fn load(version: &str, name: &str) -> Vec<Record> {
        let path = format!("{FIXTURES}/{version}/{name}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines().map(|l| parse_record(l).unwrap_or_else(|| panic!("{path}: unparsed line {l:.80}"))).collect()
    }

    fn signals(recs: &[Record]) -> Vec<TurnSignal> {
        recs.iter().flat_map(|r| r.signals.clone()).collect()
    }

    fn prompts(recs: &[Record]) -> Vec<(String, bool)> {
        signals(recs)
            .into_iter()
            .filter_map(|s| match s {
                TurnSignal::PromptSubmitted { text, queued } => Some((text, queued)),
                _ => None,
            })
            .collect()
    }

    /// Every fixture line of both versions, plus every recorded transcript
    /// under /work/shared when present: parses (or is rejected) without panicking.
    #[test]
    fn every_recorded_line_parses() {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in [
            format!("{FIXTURES}/2.1.197"),
            format!("{FIXTURES}/2.1.330"),
            "/work/shared/claude-code-2.1.197/jsonl".into(),
            "/work/shared/claude-code-2.1.330/jsonl".into(),
        ] {
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "jsonl") {
                        files.push(p);
                    }
                }
            }
        }
        assert!(files.len() >= 10, "fixtures missing: {files:?}");
        let mut lines = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for l in text.lines() {
                lines += 1;
                let r = parse_record(l).unwrap_or_else(|| panic!("{f:?}: {l:.80}"));
                assert!(!r.raw_type.is_empty());
                for e in &r.entries {
                    assert!(!e.uuid.is_empty(), "{f:?}: entry without uuid");
                    assert!(!e.timestamp.is_empty(), "{f:?}: entry without timestamp");
                }
                // A line cut anywhere must not panic either.
                for cut in [1, l.len() / 3, l.len() / 2, l.len().saturating_sub(1)] {
                    if l.is_char_boundary(cut) {
                        let _ = parse_record(&l[..cut]);
                    }
                }
            }
        }
        assert!(lines > 500);
    }

    #[test]
    fn garbage_is_none() {
        for l in ["", "   ", "not json", "{", "[1,2]", "42", "{\"no\":\"type\"}", "{\"type\":5}"] {
            assert_eq!(parse_record(l), None, "{l}");
        }
        // Known type, unexpected shapes: no panic, no entries.
        let r = parse_record(r#"{"type":"user","message":42}"#).unwrap();
        assert!(r.entries.is_empty() && r.signals.is_empty());
        let r = parse_record(r#"{"type":"assistant","message":{"content":[1,{"type":"tool_use"}]}}"#).unwrap();
        assert_eq!(r.entries.len(), 1);
    }

    #[test]
    fn plain_turn_both_versions() {
        for (v, file, prompt) in
            [("2.1.197", "slash-120x40.jsonl", "hello first"), ("2.1.330", "hooks-120x40.jsonl", "hello hooks")]
        {
            let sig = signals(&load(v, file));
            let start = sig
                .iter()
                .position(|s| *s == TurnSignal::PromptSubmitted { text: prompt.into(), queued: false })
                .unwrap_or_else(|| panic!("{v}: no prompt"));
            // The next signal is the end of the turn.
            match &sig[start + 1] {
                TurnSignal::TurnEnded { duration_ms } => assert!(duration_ms.is_some()),
                other => panic!("{v}: expected TurnEnded, got {other:?}"),
            }
            let recs = load(v, file);
            let text = recs.iter().flat_map(|r| &r.entries).find(|e| e.kind == EntryKind::AssistantText).unwrap();
            assert_eq!(text.text, "Hello from the fake model.");
            assert!(text.message_id.is_some());
        }
    }

    #[test]
    fn bash_tool_use_and_result_link() {
        let recs = load("2.1.197", "perm-120x40.jsonl");
        let entries: Vec<&TranscriptEntry> = recs.iter().flat_map(|r| &r.entries).collect();
        let tu = entries.iter().find(|e| e.kind == EntryKind::ToolUse).unwrap();
        assert_eq!(tu.tool_name.as_deref(), Some("Bash"));
        assert_eq!(tu.tool_use_id.as_deref(), Some("toolu_1795257535895"));
        assert_eq!(tu.tool_input.as_ref().unwrap()["command"], "echo hello-from-bash > out.txt");
        let tr = entries.iter().find(|e| e.kind == EntryKind::ToolResult).unwrap();
        assert_eq!(tr.tool_use_id, tu.tool_use_id);
        assert_eq!(tr.parent_uuid.as_deref(), Some(tu.uuid.as_str()));
        assert_eq!(tr.text, "(Bash completed with no output)");
        assert!(!tr.is_error);
        assert_eq!(tr.tool_use_result.as_ref().unwrap()["stdout"], "");

        let sig = signals(&recs);
        assert!(sig.contains(&TurnSignal::ToolUse {
            id: "toolu_1795257535895".into(),
            name: "Bash".into(),
            input: tu.tool_input.clone().unwrap(),
        }));
        assert!(sig.contains(&TurnSignal::ToolResult {
            tool_use_id: "toolu_1795257535895".into(),
            is_error: false,
            rejected_by_user: false,
            interrupted: false,
        }));
        // MCP result with list content: text blocks joined.
        let mcp = entries.iter().rfind(|e| e.kind == EntryKind::ToolResult).unwrap();
        assert_eq!(mcp.text, "echo: hello mcp");
    }

    fn tool_results(recs: &[Record]) -> Vec<(String, bool, bool, bool)> {
        signals(recs)
            .into_iter()
            .filter_map(|s| match s {
                TurnSignal::ToolResult { tool_use_id, is_error, rejected_by_user, interrupted } => {
                    Some((tool_use_id, is_error, rejected_by_user, interrupted))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rejected_permission() {
        // 2.1.197: BASH_GIT rejected with Esc, then the interrupt marker.
        let recs = load("2.1.197", "perm-120x40.jsonl");
        let trs = tool_results(&recs);
        let rejected: Vec<_> = trs.iter().filter(|t| t.2).collect();
        assert_eq!(rejected.len(), 3, "{trs:?}"); // BASH_GIT, BASH_RM, WEBFETCH
        assert!(rejected.iter().all(|t| t.1 && !t.3));
        let sig = signals(&recs);
        let i = sig.iter().position(|s| matches!(s, TurnSignal::ToolResult { rejected_by_user: true, .. })).unwrap();
        assert_eq!(sig[i + 1], TurnSignal::Interrupted);
        // A rejection leaves no turn_duration before the next prompt.
        assert!(matches!(sig[i + 2], TurnSignal::PromptSubmitted { .. }));

        // 2.1.330: rejected at the prompt (toolDenialBeforeRun) = not interrupted.
        let recs = load("2.1.330", "hooks-120x40.jsonl");
        let trs = tool_results(&recs);
        let rejected: Vec<_> = trs.iter().filter(|t| t.2).collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0, "toolu_1795259637185");
        assert!(rejected[0].1 && !rejected[0].3);
    }

    #[test]
    fn interrupts() {
        for v in ["2.1.197", "2.1.330"] {
            let recs = load(v, "interrupt-120x40.jsonl");
            let sig = signals(&recs);
            assert_eq!(sig.iter().filter(|s| **s == TurnSignal::Interrupted).count(), 2, "{v}");
            // Interrupt markers are meta text, never prompts.
            let marker =
                recs.iter().flat_map(|r| &r.entries).find(|e| e.text == "[Request interrupted by user]").unwrap();
            assert!(marker.is_meta);
            assert!(!prompts(&recs).iter().any(|p| p.0.starts_with('[')));
            // Esc during a running tool: the same user-rejection marker.
            let trs = tool_results(&recs);
            assert_eq!(trs.len(), 1);
            assert!(trs[0].1 && trs[0].2);
            // 2.1.330 tells it apart from a prompt rejection; 2.1.197 cannot.
            assert_eq!(trs[0].3, v == "2.1.330", "{v}");
            // The early Esc (`slow DELAY=8`) leaves only the prompt.
            let p = prompts(&recs);
            assert_eq!(p[0], ("slow DELAY=8".into(), false));
            let i = sig.iter().position(|s| matches!(s, TurnSignal::PromptSubmitted { .. })).unwrap();
            assert!(matches!(sig[i + 1], TurnSignal::PromptSubmitted { .. }));
        }
    }

    #[test]
    fn queued_prompt() {
        for v in ["2.1.197", "2.1.330"] {
            let p = prompts(&load(v, "interrupt-120x40.jsonl"));
            assert_eq!(p.last().unwrap(), &("queued follow-up message".to_string(), true), "{v}");
            assert_eq!(p.iter().filter(|x| x.1).count(), 1);
        }
    }

    #[test]
    fn api_error_500() {
        for v in ["2.1.197", "2.1.330"] {
            let recs = load(v, "errors-final-120x40.jsonl");
            let sig = signals(&recs);
            let errs: Vec<_> = sig
                .iter()
                .filter_map(|s| match s {
                    TurnSignal::ApiError { status, message } => Some((*status, message.clone())),
                    _ => None,
                })
                .collect();
            assert_eq!(errs.len(), 2, "{v}");
            assert_eq!(errs[0].0, Some(500));
            assert!(errs[0].1.starts_with("API Error: 500 Internal server error"));
            assert!(errs[1].1.starts_with("API Error: Repeated 529"));
            let e = recs.iter().flat_map(|r| &r.entries).find(|e| e.api_error_status == Some(500)).unwrap();
            assert!(e.is_error && e.kind == EntryKind::AssistantText);
            // 2.1.197 ends an error turn with turn_duration; 2.1.330 does not.
            let i = sig.iter().position(|s| matches!(s, TurnSignal::ApiError { .. })).unwrap();
            let ended = matches!(sig.get(i + 1), Some(TurnSignal::TurnEnded { .. }));
            assert_eq!(ended, v == "2.1.197", "{v}");
        }
    }

    #[test]
    fn compact_boundary() {
        for (v, file) in [("2.1.197", "compact-120x40.jsonl"), ("2.1.330", "hooks-120x40.jsonl")] {
            let recs = load(v, file);
            let sig = signals(&recs);
            assert_eq!(sig.iter().filter(|s| **s == TurnSignal::Compacted).count(), 1, "{v}");
            // The summary, caveat, /compact echo and its stdout are meta and not prompts.
            let i = sig.iter().position(|s| *s == TurnSignal::Compacted).unwrap();
            assert!(!sig[i..].iter().any(|s| matches!(
                s,
                TurnSignal::PromptSubmitted { text, .. } if text.contains('<') || text.starts_with("This session")
            )));
            let metas: Vec<&TranscriptEntry> =
                recs.iter().flat_map(|r| &r.entries).filter(|e| e.kind == EntryKind::UserText && e.is_meta).collect();
            assert!(metas.iter().any(|e| e.text.starts_with("This session is being continued")));
            assert!(metas.iter().any(|e| e.text.starts_with("<command-name>/compact")));
            assert!(metas.iter().any(|e| e.text.starts_with("<local-command-caveat>")));
        }
        let p = prompts(&load("2.1.197", "compact-120x40.jsonl"));
        assert_eq!(p.last().unwrap().0, "after compact");
    }

    #[test]
    fn slash_and_bash_mode() {
        let recs = load("2.1.197", "slash-120x40.jsonl");
        let sig = signals(&recs);
        let locals: Vec<&String> = sig
            .iter()
            .filter_map(|s| match s {
                TurnSignal::LocalCommand { text } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(locals.len(), 5);
        assert!(locals[0].starts_with("<command-name>/help</command-name>"));
        let p = prompts(&recs);
        assert_eq!(p, vec![("hello first".to_string(), false), ("!echo bash-mode-output".to_string(), false)]);
    }

    #[test]
    fn ask_user_question_answers() {
        let recs = load("2.1.197", "ask-120x40.jsonl");
        let answered: Vec<Vec<(String, String)>> = recs
            .iter()
            .flat_map(|r| &r.entries)
            .filter(|e| e.kind == EntryKind::ToolResult)
            .filter_map(TranscriptEntry::answers)
            .collect();
        assert_eq!(answered[0], vec![("Which recovery strategy?".into(), "Auto-restart".into())]);
        assert!(answered.iter().any(|a| a.iter().any(|(_, v)| v == "my own answer")));
        // Multi-select answers are comma-joined labels.
        assert!(answered.iter().any(|a| a.iter().any(|(_, v)| v.contains(", "))));
        let recs = load("2.1.330", "hooks-120x40.jsonl");
        let ask = recs
            .iter()
            .flat_map(|r| &r.entries)
            .find(|e| e.kind == EntryKind::ToolResult && e.answers().is_some())
            .unwrap();
        assert_eq!(ask.tool_use_id.as_deref(), Some("toolu_1795259642148"));
        assert_eq!(ask.answers().unwrap(), vec![("Which recovery strategy?".into(), "Clean up".into())]);
    }

    #[test]
    fn new_record_types_are_ignored() {
        let mut seen = std::collections::BTreeSet::new();
        for file in ["hooks-120x40.jsonl", "interrupt-120x40.jsonl", "errors-final-120x40.jsonl"] {
            for r in load("2.1.330", file) {
                if !matches!(r.raw_type.as_str(), "user" | "assistant" | "system") {
                    assert!(r.entries.is_empty() && r.signals.is_empty(), "{}", r.raw_type);
                    seen.insert(format!("{}/{}", r.raw_type, r.subtype.unwrap_or_default()));
                }
            }
        }
        for t in [
            "api-request/",
            "api-request-blob/",
            "atis-latch/",
            "tools-used/",
            "attachment/prompt_snapshot",
            "attachment/environment",
            "queue-operation/enqueue",
            "file-history-snapshot/",
        ] {
            assert!(seen.contains(t), "{t} not seen in {seen:?}");
        }
        // Only real prompts, in order (api-request bodies hold old prompts too).
        let p = prompts(&load("2.1.330", "hooks-120x40.jsonl"));
        assert_eq!(
            p.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            [
                "hello hooks",
                "please RUN_BASH",
                "please BASH_RM",
                "question ASK_Q",
                "please SEQ=READ_FILE,EDIT_FILE",
                "bash fails BASH_GIT",
                "fail ERR=400"
            ]
        );
    }

    #[test]
    fn session_id_and_thinking() {
        let r = parse_record(
            r#"{"parentUuid":"p","isSidechain":false,"message":{"id":"m","role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"}]},"type":"assistant","uuid":"u","timestamp":"2026-01-01T00:00:00Z","sessionId":"sid"}"#,
        )
        .unwrap();
        assert_eq!(r.session_id.as_deref(), Some("sid"));
        assert_eq!(r.entries[0].kind, EntryKind::Thinking);
        assert_eq!(r.entries[0].text, "hmm");
        assert_eq!(r.entries[0].parent_uuid.as_deref(), Some("p"));
        // Sidechain (subagent) records keep entries but carry no signals.
        let r = parse_record(
            r#"{"type":"user","isSidechain":true,"uuid":"u","timestamp":"t","message":{"role":"user","content":"sub prompt"}}"#,
        )
        .unwrap();
        assert_eq!(r.entries.len(), 1);
        assert!(r.signals.is_empty());
        // Prompt with an image block: text parts form the prompt.
        let r = parse_record(
            r#"{"type":"user","uuid":"u","timestamp":"t","promptSource":"typed","message":{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{}}]}}"#,
        )
        .unwrap();
        assert_eq!(r.signals, vec![TurnSignal::PromptSubmitted { text: "look".into(), queued: false }]);
    }

    #[test]
    fn path_slug() {
        let p = transcript_path(Path::new("/cfg"), Path::new("/x/a.b_c d+e"), "sid");
        assert_eq!(p, PathBuf::from("/cfg/projects/-x-a-b-c-d-e/sid.jsonl"));
        assert_eq!(project_slug(Path::new("/srv/examples/work/perm-120x40")), "-srv-examples-work-perm-120x40");
        // Non-ASCII: one '-' per UTF-16 unit.
        assert_eq!(project_slug(Path::new("/é/😀")), "-----");
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    const L1: &str = r#"{"type":"user","uuid":"u1","timestamp":"t1","promptSource":"typed","message":{"role":"user","content":"one"}}"#;
    const L2: &str = r#"{"type":"system","subtype":"turn_duration","durationMs":5,"uuid":"u2","timestamp":"t2"}"#;
    const L3: &str = r#"{"type":"user","uuid":"u3","timestamp":"t3","promptSource":"queued","message":{"role":"user","content":"three"}}"#;

    #[test]
    fn tail_missing_file_then_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut t = TranscriptTail::new(path.clone());
        assert_eq!(t.path(), path.as_path());
        assert!(t.read_new().unwrap().is_empty());
        assert_eq!(t.offset(), 0);

        // First line split in three pieces, one a multi-byte char boundary.
        let line1 = format!("{L1}\n");
        append(&path, &line1.as_bytes()[..10]);
        assert!(t.read_new().unwrap().is_empty());
        append(&path, &line1.as_bytes()[10..40]);
        assert!(t.read_new().unwrap().is_empty());
        append(&path, &line1.as_bytes()[40..]);
        let r = t.read_new().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].entries[0].uuid, "u1");
        assert_eq!(t.offset(), line1.len() as u64);
        assert!(t.read_new().unwrap().is_empty());

        // Two lines and half of a third in one write; blank and garbage lines skipped.
        let chunk = format!("{L2}\n\ngarbage\n{}", &L3[..20]);
        append(&path, chunk.as_bytes());
        let r = t.read_new().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].signals, vec![TurnSignal::TurnEnded { duration_ms: Some(5) }]);
        assert_eq!(t.pending_partial(), 20);
        append(&path, format!("{}\r\n", &L3[20..]).as_bytes());
        let r = t.read_new().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].signals, vec![TurnSignal::PromptSubmitted { text: "three".into(), queued: true }]);
        assert!(t.read_new().unwrap().is_empty());

        // Deleted: empty, and a re-created file is read from the start.
        std::fs::remove_file(&path).unwrap();
        assert!(t.read_new().unwrap().is_empty());
        assert_eq!(t.offset(), 0);
        append(&path, format!("{L3}\n").as_bytes());
        assert_eq!(t.read_new().unwrap().len(), 1);
    }

    #[test]
    fn tail_truncate_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        append(&path, format!("{L1}\n{L2}\n").as_bytes());
        let mut t = TranscriptTail::new(path.clone());
        assert_eq!(t.read_new().unwrap().len(), 2);

        // Truncated to something shorter: restart from 0.
        std::fs::write(&path, format!("{L3}\n")).unwrap();
        let r = t.read_new().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].entries[0].uuid, "u3");

        // Replaced (new inode) by a longer file: restart from 0 too.
        let other = dir.path().join("new.jsonl");
        std::fs::write(&other, format!("{L1}\n{L2}\n{L3}\n")).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let r = t.read_new().unwrap();
        assert_eq!(r.iter().map(|r| r.entries[0].uuid.as_str()).collect::<Vec<_>>(), ["u1", "u2", "u3"]);
        assert!(t.read_new().unwrap().is_empty());
    }

    #[test]
    fn tail_whole_fixture_in_chunks_matches_direct_parse() {
        let path = format!("{FIXTURES}/2.1.330/hooks-120x40.jsonl");
        let data = std::fs::read(&path).unwrap();
        let direct = load("2.1.330", "hooks-120x40.jsonl");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.jsonl");
        let mut t = TranscriptTail::new(out.clone());
        let mut got = Vec::new();
        for chunk in data.chunks(4093) {
            append(&out, chunk);
            got.extend(t.read_new().unwrap());
        }
        assert_eq!(got, direct);
        assert_eq!(t.offset(), data.len() as u64);
    }
}
