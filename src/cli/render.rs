//! Rendering API messages for people (text) and programs (JSON). Shared by the CLI and the MCP server.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tonic_types::StatusExt as _;

use crate::proto::v1::{
    pending_interaction::Content, ChoiceOption, EntryKind, EventKind, Evidence, EvidenceSource, InteractionKind,
    PendingInteraction, Session, SessionEvent, SessionState, TranscriptEntry,
};

/// `IDLE` for `SESSION_STATE_IDLE`; the number for values this client does not know.
pub fn state_name(state: i32) -> String {
    match SessionState::try_from(state) {
        Ok(s) => s.as_str_name().trim_start_matches("SESSION_STATE_").to_string(),
        Err(_) => format!("STATE_{state}"),
    }
}

/// Parses `idle`, `IDLE`, `SESSION_STATE_IDLE`, `ask-question`.
pub fn parse_state(s: &str) -> Option<SessionState> {
    let up = s.trim().to_ascii_uppercase().replace('-', "_");
    let full = if up.starts_with("SESSION_STATE_") { up } else { format!("SESSION_STATE_{up}") };
    SessionState::from_str_name(&full).filter(|s| *s != SessionState::Unspecified)
}

/// `QUESTION` for `INTERACTION_KIND_QUESTION`.
pub fn interaction_kind_name(kind: i32) -> String {
    match InteractionKind::try_from(kind) {
        Ok(k) => k.as_str_name().trim_start_matches("INTERACTION_KIND_").to_string(),
        Err(_) => format!("KIND_{kind}"),
    }
}

/// `STATE_CHANGED` for `EVENT_KIND_STATE_CHANGED`.
pub fn event_kind_name(kind: i32) -> String {
    match EventKind::try_from(kind) {
        Ok(k) => k.as_str_name().trim_start_matches("EVENT_KIND_").to_string(),
        Err(_) => format!("EVENT_{kind}"),
    }
}

/// `ASSISTANT_TEXT` for `ENTRY_KIND_ASSISTANT_TEXT`.
pub fn entry_kind_name(kind: i32) -> String {
    match EntryKind::try_from(kind) {
        Ok(k) => k.as_str_name().trim_start_matches("ENTRY_KIND_").to_string(),
        Err(_) => format!("ENTRY_{kind}"),
    }
}

/// `HOOK` for `EVIDENCE_SOURCE_HOOK`.
pub fn evidence_source_name(source: i32) -> String {
    match EvidenceSource::try_from(source) {
        Ok(k) => k.as_str_name().trim_start_matches("EVIDENCE_SOURCE_").to_string(),
        Err(_) => format!("SOURCE_{source}"),
    }
}

/// Parses an entry kind name (`assistant-text`, `ASSISTANT_TEXT`, `tool_use`).
pub fn parse_entry_kind(s: &str) -> Option<EntryKind> {
    let up = s.trim().to_ascii_uppercase().replace('-', "_");
    let full = if up.starts_with("ENTRY_KIND_") { up } else { format!("ENTRY_KIND_{up}") };
    EntryKind::from_str_name(&full).filter(|k| *k != EntryKind::Unspecified)
}

/// Parses an interaction kind name (`question`, `BASH`).
pub fn parse_interaction_kind(s: &str) -> Option<InteractionKind> {
    let up = s.trim().to_ascii_uppercase().replace('-', "_");
    let full = if up.starts_with("INTERACTION_KIND_") { up } else { format!("INTERACTION_KIND_{up}") };
    InteractionKind::from_str_name(&full).filter(|k| *k != InteractionKind::Unspecified)
}

/// A protobuf timestamp as a `SystemTime`.
pub fn to_system_time(ts: &prost_types::Timestamp) -> SystemTime {
    let secs = Duration::from_secs(ts.seconds.max(0) as u64);
    let nanos = Duration::from_nanos(ts.nanos.max(0) as u64);
    UNIX_EPOCH + secs + nanos
}

/// RFC 3339 UTC text of a timestamp, `""` when absent.
pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> String {
    match ts {
        Some(ts) if ts.seconds != 0 || ts.nanos != 0 => {
            let secs = ts.seconds;
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            let ms = ts.nanos.max(0) / 1_000_000;
            format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
        }
        _ => String::new(),
    }
}

/// `HH:MM:SS` (UTC) of a timestamp, `--:--:--` when absent.
pub fn clock(ts: Option<&prost_types::Timestamp>) -> String {
    match ts {
        Some(ts) if ts.seconds != 0 => {
            let rem = ts.seconds.rem_euclid(86_400);
            format!("{:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60)
        }
        _ => "--:--:--".to_string(),
    }
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Compact age: `42s`, `5m`, `3h`, `2d`; `-` when absent.
pub fn age(ts: Option<&prost_types::Timestamp>, now: SystemTime) -> String {
    let Some(ts) = ts.filter(|t| t.seconds != 0) else {
        return "-".to_string();
    };
    let secs = now.duration_since(to_system_time(ts)).map(|d| d.as_secs()).unwrap_or(0);
    human_secs(secs)
}

/// Compact duration: `42s`, `5m`, `3h`, `2d`.
pub fn human_secs(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// One-word summary of what a session waits for: `question`, `bash: ls -la`, `-`.
pub fn pending_summary(s: &Session) -> String {
    match s.pending_interactions.as_slice() {
        [] => "-".to_string(),
        [one] => short_interaction(one),
        [one, rest @ ..] => format!("{} (+{} more)", short_interaction(one), rest.len()),
    }
}

fn short_interaction(p: &PendingInteraction) -> String {
    let kind = interaction_kind_name(p.kind).to_ascii_lowercase();
    let what = match &p.content {
        Some(Content::Question(q)) => q.questions.first().map(|q| q.question.clone()).unwrap_or_default(),
        Some(Content::Permission(pc)) => {
            if !pc.command.is_empty() {
                pc.command.clone()
            } else if !pc.file_path.is_empty() {
                format!("{} {}", pc.tool_name, pc.file_path)
            } else if !pc.url.is_empty() {
                format!("{} {}", pc.tool_name, pc.url)
            } else {
                pc.tool_name.clone()
            }
        }
        Some(Content::Plan(_)) => String::new(),
        Some(Content::Trust(t)) => t.directory.clone(),
        Some(Content::ApiKey(k)) => format!("{} {}", k.env_var, k.key_hint),
        None => String::new(),
    };
    let what = truncate(&first_line(&what), 40);
    if what.is_empty() {
        kind
    } else {
        format!("{kind}: {what}")
    }
}

/// The first line of a text.
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A left-aligned text table; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn options_text(options: &[ChoiceOption], indent: &str) -> String {
    let mut out = String::new();
    for (i, o) in options.iter().enumerate() {
        out.push_str(&format!("{indent}{}. {}", i + 1, o.label));
        if !o.description.is_empty() {
            out.push_str(&format!(" — {}", o.description));
        }
        out.push('\n');
    }
    out
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// A pending interaction, readable: id, kind, the question(s) with options or the tool and its input.
pub fn interaction_text(p: &PendingInteraction) -> String {
    let mut out = format!("[{}] {}\n", interaction_kind_name(p.kind), p.id);
    match &p.content {
        Some(Content::Question(q)) => {
            for (i, question) in q.questions.iter().enumerate() {
                let header = if question.header.is_empty() { String::new() } else { format!("({}) ", question.header) };
                let multi = if question.multi_select { "  [multi-select]" } else { "" };
                out.push_str(&format!("  Q{}: {header}{}{multi}\n", i + 1, question.question));
                out.push_str(&options_text(&question.options, "      "));
            }
        }
        Some(Content::Permission(pc)) => {
            out.push_str(&format!("  tool: {}\n", pc.tool_name));
            if !pc.command.is_empty() {
                out.push_str("  command:\n");
                out.push_str(&indent(&pc.command, "    "));
            }
            if !pc.file_path.is_empty() {
                out.push_str(&format!("  file: {}\n", pc.file_path));
            }
            if !pc.url.is_empty() {
                out.push_str(&format!("  url: {}\n", pc.url));
            }
            if !pc.description.is_empty() {
                out.push_str(&format!("  description: {}\n", pc.description));
            }
            if !pc.content.is_empty() {
                out.push_str("  content:\n");
                out.push_str(&indent(&truncate_lines(&pc.content, 20), "    "));
            }
            if pc.command.is_empty() && pc.file_path.is_empty() && pc.url.is_empty() && !pc.tool_input_json.is_empty() {
                out.push_str(&format!("  input: {}\n", truncate(&pc.tool_input_json, 400)));
            }
        }
        Some(Content::Plan(plan)) => {
            if !plan.plan_file_path.is_empty() {
                out.push_str(&format!("  plan file: {}\n", plan.plan_file_path));
            }
            out.push_str(&indent(&truncate_lines(&plan.plan, 40), "  | "));
        }
        Some(Content::Trust(t)) => {
            out.push_str(&format!("  trust directory: {}\n", t.directory));
        }
        Some(Content::ApiKey(k)) => {
            out.push_str(&format!("  use API key: {} {}\n", k.env_var, k.key_hint));
        }
        None => {}
    }
    if !p.options.is_empty() && !matches!(&p.content, Some(Content::Question(_))) {
        out.push_str("  options on screen:\n");
        out.push_str(&options_text(&p.options, "    "));
    }
    out
}

fn truncate_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        text.to_string()
    } else {
        format!("{}\n… ({} more lines)", lines[..max].join("\n"), lines.len() - max)
    }
}

/// One transcript entry, readable (several lines for long texts).
pub fn entry_text(e: &TranscriptEntry) -> String {
    let t = clock(e.time.as_ref());
    let body = match EntryKind::try_from(e.kind).unwrap_or(EntryKind::Unspecified) {
        EntryKind::UserText => format!("user: {}", e.text),
        EntryKind::AssistantText => format!("assistant: {}", e.text),
        EntryKind::Thinking => format!("thinking: {}", e.text),
        EntryKind::ToolUse => format!("tool_use {} {} {}", e.tool_name, e.tool_use_id, e.tool_input_json),
        EntryKind::ToolResult => {
            let err = if e.is_error { " (error)" } else { "" };
            format!("tool_result {}{err}: {}", e.tool_use_id, truncate_lines(&e.text, 20))
        }
        EntryKind::System => {
            if e.text.is_empty() {
                format!("system/{}", e.subtype)
            } else if e.subtype.is_empty() {
                format!("system: {}", e.text)
            } else {
                format!("system/{}: {}", e.subtype, e.text)
            }
        }
        EntryKind::Unspecified => format!("{}: {}", entry_kind_name(e.kind), e.text),
    };
    let mut lines = body.trim_end().lines();
    let mut out = format!("{t} {}\n", lines.next().unwrap_or(""));
    for l in lines {
        out.push_str(&format!("         {l}\n"));
    }
    out
}

/// What showed a state: `hook PermissionRequest`, `screen "esc to interrupt"`.
pub fn evidence_text(e: Option<&Evidence>) -> String {
    let Some(e) = e else { return String::new() };
    let src = evidence_source_name(e.source).to_ascii_lowercase();
    let mut parts = vec![src];
    if !e.hook_event.is_empty() {
        parts.push(e.hook_event.clone());
    }
    if !e.screen_markers.is_empty() {
        parts.push(e.screen_markers.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(","));
    }
    if !e.transcript_record.is_empty() {
        parts.push(e.transcript_record.clone());
    }
    if !e.detail.is_empty() {
        parts.push(truncate(&first_line(&e.detail), 80));
    }
    parts.join(" ")
}

/// One line for a session event (no colour).
pub fn event_line(e: &SessionEvent, with_session: bool) -> (String, String, String) {
    let kind = event_kind_name(e.kind);
    let mut rest = String::new();
    match EventKind::try_from(e.kind).unwrap_or(EventKind::Unspecified) {
        EventKind::StateChanged => {
            rest.push_str(&format!("{} -> {}", state_name(e.previous_state), state_name(e.state)));
            if e.stable {
                rest.push_str(" (stable)");
            }
            let ev = evidence_text(e.evidence.as_ref());
            if !ev.is_empty() {
                rest.push_str(&format!("  [{ev}]"));
            }
        }
        EventKind::InteractionOpened | EventKind::InteractionResolved => {
            if let Some(p) = &e.interaction {
                rest.push_str(&format!("{} {}", short_interaction(p), p.id));
            }
        }
        EventKind::StallChanged => {
            let stalled = e.stall.as_ref().map(|s| s.stalled).unwrap_or(false);
            rest.push_str(if stalled { "stalled" } else { "progressing" });
        }
        _ => rest.push_str(&state_name(e.state)),
    }
    let detail = truncate(&first_line(&e.detail), 100);
    if !detail.is_empty() && !rest.contains(&detail) {
        rest.push_str(&format!("  {detail}"));
    }
    let who = if with_session { format!("{} ", short_id(&e.session_id)) } else { String::new() };
    let prefix = format!("{} {who}{:<5}", clock(e.time.as_ref()), format!("#{}", e.revision));
    (prefix, kind, rest)
}

/// The first 8 characters of a UUID.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Human text of a gRPC error: message, code and ErrorInfo reason.
pub fn status_text(status: &tonic::Status) -> String {
    let reason = status_reason(status);
    let msg = status.message();
    let code = format!("{:?}", status.code());
    match reason {
        Some(r) => format!("{msg} ({r}, {code})"),
        None => format!("{msg} ({code})"),
    }
}

/// The ErrorInfo reason of a gRPC error, when present.
pub fn status_reason(status: &tonic::Status) -> Option<String> {
    status.get_details_error_info().map(|i| i.reason).filter(|r| !r.is_empty())
}

fn ts_json(ts: Option<&prost_types::Timestamp>) -> Value {
    match rfc3339(ts) {
        s if s.is_empty() => Value::Null,
        s => Value::String(s),
    }
}

fn dur_secs(d: Option<&prost_types::Duration>) -> Value {
    match d {
        Some(d) => json!(d.seconds as f64 + d.nanos as f64 / 1e9),
        None => Value::Null,
    }
}

fn options_json(options: &[ChoiceOption]) -> Value {
    Value::Array(
        options
            .iter()
            .map(|o| {
                let mut m = Map::new();
                m.insert("label".into(), json!(o.label));
                if !o.description.is_empty() {
                    m.insert("description".into(), json!(o.description));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// A pending interaction as JSON (everything, names instead of enum numbers).
pub fn interaction_json(p: &PendingInteraction) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("kind".into(), json!(interaction_kind_name(p.kind)));
    m.insert("since".into(), ts_json(p.since.as_ref()));
    match &p.content {
        Some(Content::Question(q)) => {
            let qs: Vec<Value> = q
                .questions
                .iter()
                .map(|q| {
                    json!({
                        "header": q.header,
                        "question": q.question,
                        "multi_select": q.multi_select,
                        "options": options_json(&q.options),
                    })
                })
                .collect();
            m.insert("questions".into(), Value::Array(qs));
        }
        Some(Content::Permission(pc)) => {
            let mut pm = Map::new();
            pm.insert("tool_name".into(), json!(pc.tool_name));
            for (k, v) in [
                ("command", &pc.command),
                ("file_path", &pc.file_path),
                ("content", &pc.content),
                ("url", &pc.url),
                ("description", &pc.description),
            ] {
                if !v.is_empty() {
                    pm.insert(k.into(), json!(v));
                }
            }
            let input = serde_json::from_str::<Value>(&pc.tool_input_json)
                .unwrap_or_else(|_| Value::String(pc.tool_input_json.clone()));
            if !pc.tool_input_json.is_empty() {
                pm.insert("tool_input".into(), input);
            }
            m.insert("permission".into(), Value::Object(pm));
        }
        Some(Content::Plan(plan)) => {
            m.insert("plan".into(), json!({"plan": plan.plan, "plan_file_path": plan.plan_file_path}));
        }
        Some(Content::Trust(t)) => {
            m.insert("trust".into(), json!({"directory": t.directory}));
        }
        Some(Content::ApiKey(k)) => {
            m.insert("api_key".into(), json!({"env_var": k.env_var, "key_hint": k.key_hint}));
        }
        None => {}
    }
    m.insert("options".into(), options_json(&p.options));
    Value::Object(m)
}

pub fn evidence_json(e: Option<&Evidence>) -> Value {
    let Some(e) = e else { return Value::Null };
    let mut m = Map::new();
    m.insert("source".into(), json!(evidence_source_name(e.source)));
    m.insert("observe_time".into(), ts_json(e.observe_time.as_ref()));
    if !e.hook_event.is_empty() {
        m.insert("hook_event".into(), json!(e.hook_event));
    }
    if !e.screen_markers.is_empty() {
        m.insert("screen_markers".into(), json!(e.screen_markers));
    }
    if !e.transcript_record.is_empty() {
        m.insert("transcript_record".into(), json!(e.transcript_record));
    }
    if !e.detail.is_empty() {
        m.insert("detail".into(), json!(e.detail));
    }
    Value::Object(m)
}

/// A session as JSON (names instead of enum numbers, RFC 3339 times, empty fields left out).
pub fn session_json(s: &Session) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert("name".into(), json!(s.name));
    m.insert("work_dir".into(), json!(s.work_dir));
    m.insert("state".into(), json!(state_name(s.state)));
    m.insert("stable".into(), json!(s.stable));
    m.insert("revision".into(), json!(s.revision));
    m.insert("create_time".into(), ts_json(s.create_time.as_ref()));
    m.insert("update_time".into(), ts_json(s.update_time.as_ref()));
    m.insert("state_since".into(), ts_json(s.state_since.as_ref()));
    m.insert("evidence".into(), evidence_json(s.evidence.as_ref()));
    m.insert(
        "pending_interactions".into(),
        Value::Array(s.pending_interactions.iter().map(interaction_json).collect()),
    );
    let labels: Map<String, Value> = s.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    m.insert("labels".into(), Value::Object(labels));
    for (k, v) in [
        ("permission_mode", &s.permission_mode),
        ("model", &s.model),
        ("cc_session_id", &s.cc_session_id),
        ("transcript_path", &s.transcript_path),
        ("tmux_pane", &s.tmux_pane),
        ("cc_version", &s.cc_version),
        ("last_assistant_message", &s.last_assistant_message),
        ("error_message", &s.error_message),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(x) = &s.exit {
        m.insert(
            "exit".into(),
            json!({"exit_status": x.exit_status, "reason": x.reason, "exit_time": ts_json(x.exit_time.as_ref())}),
        );
    }
    if let Some(st) = s.stall.as_ref().filter(|st| st.stalled) {
        m.insert(
            "stall".into(),
            json!({
                "stalled": st.stalled,
                "last_progress_time": ts_json(st.last_progress_time.as_ref()),
                "threshold_seconds": dur_secs(st.threshold.as_ref()),
            }),
        );
    }
    Value::Object(m)
}

/// A transcript entry as JSON.
pub fn entry_json(e: &TranscriptEntry) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), json!(e.index));
    m.insert("kind".into(), json!(entry_kind_name(e.kind)));
    m.insert("time".into(), ts_json(e.time.as_ref()));
    m.insert("uuid".into(), json!(e.uuid));
    if !e.text.is_empty() {
        m.insert("text".into(), json!(e.text));
    }
    for (k, v) in [("tool_name", &e.tool_name), ("tool_use_id", &e.tool_use_id), ("subtype", &e.subtype)] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if !e.tool_input_json.is_empty() {
        let input = serde_json::from_str::<Value>(&e.tool_input_json)
            .unwrap_or_else(|_| Value::String(e.tool_input_json.clone()));
        m.insert("tool_input".into(), input);
    }
    if e.is_error {
        m.insert("is_error".into(), json!(true));
    }
    Value::Object(m)
}

/// A session event as JSON.
pub fn event_json(e: &SessionEvent) -> Value {
    let mut m = Map::new();
    m.insert("session_id".into(), json!(e.session_id));
    m.insert("revision".into(), json!(e.revision));
    m.insert("sequence".into(), json!(e.sequence));
    m.insert("time".into(), ts_json(e.time.as_ref()));
    m.insert("kind".into(), json!(event_kind_name(e.kind)));
    m.insert("state".into(), json!(state_name(e.state)));
    if e.previous_state != 0 {
        m.insert("previous_state".into(), json!(state_name(e.previous_state)));
    }
    m.insert("stable".into(), json!(e.stable));
    if e.evidence.is_some() {
        m.insert("evidence".into(), evidence_json(e.evidence.as_ref()));
    }
    if let Some(p) = &e.interaction {
        m.insert("interaction".into(), interaction_json(p));
    }
    if let Some(st) = &e.stall {
        m.insert("stalled".into(), json!(st.stalled));
    }
    if !e.detail.is_empty() {
        m.insert("detail".into(), json!(e.detail));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(state_name(SessionState::AskQuestion as i32), "ASK_QUESTION");
        assert_eq!(state_name(99), "STATE_99");
        assert_eq!(parse_state("ask-question"), Some(SessionState::AskQuestion));
        assert_eq!(parse_state("SESSION_STATE_IDLE"), Some(SessionState::Idle));
        assert_eq!(parse_state("nope"), None);
        assert_eq!(parse_entry_kind("tool_use"), Some(EntryKind::ToolUse));
    }

    #[test]
    fn times() {
        let ts = prost_types::Timestamp { seconds: 1_700_000_000, nanos: 5_000_000 };
        assert_eq!(rfc3339(Some(&ts)), "2023-11-14T22:13:20.005Z");
        assert_eq!(clock(Some(&ts)), "22:13:20");
        assert_eq!(human_secs(59), "59s");
        assert_eq!(human_secs(3600 * 5), "5h");
    }

    #[test]
    fn table_aligns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
