//! `aegis logs`: a session's transcript, optionally following it. Secrets are always redacted; terminal
//! control sequences are removed unless stdout is a terminal (JSON keeps the text, escaped by JSON).
use std::io::IsTerminal as _;
use std::time::Duration;

use futures::StreamExt as _;

use super::super::out::{self, out, outln};
use super::super::render;
use super::super::sanitize;
use super::super::{request, resolve, Client, LogsArgs, EXIT_OK};
use crate::proto::v1::{self as pb, watch_session_response, SessionState};

/// How entries are printed.
#[derive(Clone, Copy)]
struct Format {
    json: bool,
    strip: bool,
}

fn print_entry(e: &pb::TranscriptEntry, f: Format) -> anyhow::Result<()> {
    let e = sanitize::redact_entry(e);
    if f.json {
        outln!("{}", render::entry_json(&e));
    } else {
        let text = render::entry_text(&e);
        out!("{}", if f.strip { sanitize::strip_control(&text) } else { text.into() });
    }
    Ok(())
}

/// Prints every entry from `cursor` on; returns the cursor after the last one.
async fn print_from(
    mut client: Client,
    t: Duration,
    id: &str,
    kinds: &[i32],
    mut cursor: i64,
    f: Format,
) -> anyhow::Result<i64> {
    loop {
        let req = pb::GetTranscriptRequest { session_id: id.to_string(), cursor, limit: 1000, kinds: kinds.to_vec() };
        let resp = client.get_transcript(request(req, t)).await?.into_inner();
        for e in &resp.entries {
            print_entry(e, f)?;
        }
        out::flush()?;
        let advanced = resp.next_cursor > cursor;
        if advanced {
            cursor = resp.next_cursor;
        }
        if resp.entries.is_empty() || !advanced {
            return Ok(cursor);
        }
    }
}

pub async fn run(client: &mut Client, t: Duration, a: LogsArgs) -> anyhow::Result<i32> {
    let session = resolve::session(client, t, &a.id).await?;
    let id = session.id.clone();
    let kinds: Vec<i32> = a.kind.iter().map(|k| *k as i32).collect();
    let f = Format { json: a.json, strip: !std::io::stdout().is_terminal() };
    let mut cursor = a.from;
    if !a.follow {
        print_from(client.clone(), t, &id, &kinds, cursor, f).await?;
        return Ok(EXIT_OK);
    }
    // Follow: re-read by cursor whenever the session changes (WatchSession), and at least every second.
    let req = pb::WatchSessionRequest {
        session_id: id.clone(),
        include_snapshot: true,
        heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let mut stream = client.watch_session(req).await.ok().map(|r| r.into_inner());
    let mut exited = session.state == SessionState::Exited as i32;
    loop {
        cursor = match print_from(client.clone(), t, &id, &kinds, cursor, f).await {
            Ok(c) => c,
            // The transcript file may not exist yet right after creation.
            Err(e) if !exited && is_transcript_not_found(&e) => cursor,
            Err(e) => return Err(e),
        };
        if exited {
            return Ok(EXIT_OK);
        }
        let next = match stream.as_mut() {
            Some(s) => tokio::time::timeout(Duration::from_secs(2), s.next()).await.ok(),
            None => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        };
        match next {
            Some(Some(Ok(item))) => {
                let state = match item.item {
                    Some(watch_session_response::Item::Snapshot(s)) => Some(s.state),
                    Some(watch_session_response::Item::Event(e)) => Some(e.state),
                    _ => None,
                };
                if state == Some(SessionState::Exited as i32) {
                    // One last read after the exit, then stop.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    exited = true;
                }
            }
            Some(None) | Some(Some(Err(_))) => stream = None,
            None => {}
        }
    }
}

/// NOT_FOUND for the transcript, not for the session itself.
fn is_transcript_not_found(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<tonic::Status>() {
        Some(s) => {
            s.code() == tonic::Code::NotFound && render::status_reason(s).as_deref() != Some("SESSION_NOT_FOUND")
        }
        None => false,
    }
}
