//! `aegis show`: one session with its pending interactions and last messages.
use std::collections::VecDeque;
use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime};

use super::super::out::{errln, out, outln};
use super::super::render::{self, state_name, status_text};
use super::super::sanitize;
use super::super::term::{self, Style};
use super::super::{request, resolve, Client, ShowArgs, EXIT_OK};
use crate::proto::v1::{self as pb, EntryKind, Session};

pub async fn run(client: &mut Client, t: Duration, a: ShowArgs) -> anyhow::Result<i32> {
    let s = resolve::session(client, t, &a.id).await?;
    let kinds = [EntryKind::UserText, EntryKind::AssistantText, EntryKind::ToolUse];
    // The transcript may not exist yet (CC starting): show the session anyway.
    let entries = match last_entries(client, t, &s.id, &kinds, a.messages).await {
        Ok(e) => e.iter().map(sanitize::redact_entry).collect(),
        Err(e) => {
            if a.messages > 0 {
                errln!("aegis: transcript unavailable: {}", error_text(&e));
            }
            Vec::new()
        }
    };
    if a.json {
        let mut v = render::session_json(&s);
        v["last_messages"] = serde_json::Value::Array(entries.iter().map(render::entry_json).collect());
        super::print_json(&v)?;
        return Ok(EXIT_OK);
    }
    let style = Style { color: term::stdout_color() };
    out!("{}", session_text(&s, &style));
    if !s.pending_interactions.is_empty() {
        outln!("\n{}", style.bold("Pending interactions:"));
        for p in &s.pending_interactions {
            out!("{}", render::interaction_text(p));
        }
    }
    if a.messages > 0 {
        outln!("\n{}", style.bold("Last messages:"));
        if entries.is_empty() {
            outln!("(none)");
        }
        let tty = std::io::stdout().is_terminal();
        for e in &entries {
            let text = render::entry_text(e);
            out!("{}", if tty { text.into() } else { sanitize::strip_control(&text) });
        }
    }
    Ok(EXIT_OK)
}

/// The last `n` entries of these kinds (reads the transcript by cursor from the start).
pub async fn last_entries(
    client: &mut Client,
    t: Duration,
    id: &str,
    kinds: &[EntryKind],
    n: usize,
) -> anyhow::Result<Vec<pb::TranscriptEntry>> {
    let mut last: VecDeque<pb::TranscriptEntry> = VecDeque::with_capacity(n + 1);
    let mut cursor = 0i64;
    loop {
        let resp = client
            .get_transcript(request(
                pb::GetTranscriptRequest {
                    session_id: id.to_string(),
                    cursor,
                    limit: 1000,
                    kinds: kinds.iter().map(|k| *k as i32).collect(),
                },
                t,
            ))
            .await?
            .into_inner();
        if resp.entries.is_empty() {
            break;
        }
        for e in resp.entries {
            last.push_back(e);
            if last.len() > n {
                last.pop_front();
            }
        }
        if resp.next_cursor <= cursor {
            break;
        }
        cursor = resp.next_cursor;
    }
    Ok(last.into())
}

/// The header block of `show`.
pub fn session_text(s: &Session, style: &Style) -> String {
    let now = SystemTime::now();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{:<12}{v}\n", format!("{k}:")));
        }
    };
    kv("id", s.id.clone());
    kv("name", s.name.clone());
    let stable = if s.stable { "stable" } else { "not stable" };
    let ev = render::evidence_text(s.evidence.as_ref());
    let ev = if ev.is_empty() { String::new() } else { format!("  [{ev}]") };
    kv(
        "state",
        format!(
            "{} ({stable}, for {}, revision {}){ev}",
            style.state(s.state, &state_name(s.state)),
            render::age(s.state_since.as_ref(), now),
            s.revision
        ),
    );
    kv("work dir", s.work_dir.clone());
    kv(
        "created",
        format!("{} ({} ago)", render::rfc3339(s.create_time.as_ref()), render::age(s.create_time.as_ref(), now)),
    );
    let mut cc = vec![];
    if !s.cc_version.is_empty() {
        cc.push(format!("claude {}", s.cc_version));
    }
    if !s.model.is_empty() {
        cc.push(format!("model {}", s.model));
    }
    if !s.permission_mode.is_empty() {
        cc.push(format!("permission mode {}", s.permission_mode));
    }
    kv("cc", cc.join(", "));
    if !s.labels.is_empty() {
        let mut l: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort();
        kv("labels", l.join(" "));
    }
    kv("tmux pane", s.tmux_pane.clone());
    kv("transcript", s.transcript_path.clone());
    if let Some(st) = s.stall.as_ref().filter(|st| st.stalled) {
        kv("stalled", format!("no progress since {}", render::rfc3339(st.last_progress_time.as_ref())));
    }
    kv("error", s.error_message.clone());
    if let Some(x) = &s.exit {
        let status = x.exit_status.map(|c| format!(" (status {c})")).unwrap_or_default();
        kv("exited", format!("{}{status} at {}", x.reason, render::rfc3339(x.exit_time.as_ref())));
    }
    if !s.last_assistant_message.is_empty() {
        kv("last reply", render::truncate(&render::first_line(&s.last_assistant_message), 100));
    }
    out
}

fn error_text(e: &anyhow::Error) -> String {
    match e.downcast_ref::<tonic::Status>() {
        Some(s) => status_text(s),
        None => format!("{e:#}"),
    }
}
