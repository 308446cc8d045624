//! `aegis watch`: one line (or JSON object) per event of a session, or of all sessions with --all.
use std::time::Duration;

use futures::StreamExt as _;

use super::super::out::{self, outln};
use super::super::render::{self, state_name};
use super::super::term::{self, Style};
use super::super::{resolve, Client, WatchArgs, EXIT_OK};
use crate::proto::v1::{self as pb, watch_events_response, watch_session_response, EventKind};

fn print_event(style: &Style, e: &pb::SessionEvent, with_session: bool, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", render::event_json(e));
        return Ok(());
    }
    let (prefix, kind, rest) = render::event_line(e, with_session);
    let rest = if e.kind == EventKind::StateChanged as i32 {
        // Colour only the new state name.
        let name = state_name(e.state);
        rest.replacen(&format!("-> {name}"), &format!("-> {}", style.state(e.state, &name)), 1)
    } else {
        rest
    };
    outln!("{} {} {rest}", style.dim(&prefix), style.kind(&format!("{kind:<20}")));
    Ok(())
}

pub async fn run(client: &mut Client, t: Duration, a: WatchArgs) -> anyhow::Result<i32> {
    let style = Style { color: term::stdout_color() };
    if a.all {
        let req = pb::WatchEventsRequest { start_sequence: a.from.unwrap_or(0), ..Default::default() };
        let mut stream = client.watch_events(req).await?.into_inner();
        while let Some(item) = stream.next().await {
            if let Some(watch_events_response::Item::Event(e)) = item?.item {
                print_event(&style, &e, true, a.json)?;
                out::flush()?;
            }
        }
        return Ok(EXIT_OK);
    }
    let id = resolve::session(client, t, a.id.as_deref().unwrap_or_default()).await?.id;
    let req = pb::WatchSessionRequest {
        session_id: id,
        start_revision: a.from.unwrap_or(0),
        include_snapshot: true,
        until_states: a.until.iter().map(|s| *s as i32).collect(),
        heartbeat_interval: None,
    };
    let mut stream = client.watch_session(req).await?.into_inner();
    while let Some(item) = stream.next().await {
        match item?.item {
            Some(watch_session_response::Item::Snapshot(s)) => {
                if a.json {
                    outln!("{}", serde_json::json!({"snapshot": render::session_json(&s)}));
                } else {
                    outln!(
                        "{} {} {} {}",
                        style.dim(&format!(
                            "{} {:<5}",
                            render::clock(s.update_time.as_ref()),
                            format!("#{}", s.revision)
                        )),
                        style.kind(&format!("{:<20}", "SNAPSHOT")),
                        style.state(s.state, &state_name(s.state)),
                        render::pending_summary(&s)
                    );
                }
            }
            Some(watch_session_response::Item::Event(e)) => print_event(&style, &e, false, a.json)?,
            _ => {}
        }
        out::flush()?;
    }
    Ok(EXIT_OK)
}
