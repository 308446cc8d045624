//! `aegis interrupt` (Ctrl-C) and `aegis escape` (Esc): one key each, the resulting state observed.
use std::time::Duration;

use serde_json::json;

use super::super::out::outln;
use super::super::render::{self, state_name};
use super::super::{request, resolve, Client, IdArg, EXIT_OK};
use crate::proto::v1 as pb;

#[derive(Clone, Copy)]
pub enum Key {
    Interrupt,
    Escape,
}

pub async fn run(client: &mut Client, t: Duration, a: IdArg, key: Key) -> anyhow::Result<i32> {
    let id = resolve::session(client, t, &a.id).await?.id;
    let (what, session, observed) = match key {
        Key::Interrupt => {
            let req = pb::InterruptRequest { session_id: id, request_id: String::new() };
            let r = client.interrupt(request(req, t)).await?.into_inner();
            ("interrupt", r.session, r.observed)
        }
        Key::Escape => {
            let req = pb::EscapeRequest { session_id: id, request_id: String::new() };
            let r = client.escape(request(req, t)).await?.into_inner();
            ("escape", r.session, r.observed)
        }
    };
    if a.json {
        super::print_json(&json!({"session": session.as_ref().map(render::session_json), "observed": observed}))?;
        return Ok(EXIT_OK);
    }
    let state = session.map(|s| state_name(s.state)).unwrap_or_default();
    if observed {
        outln!("{what}: done, session is {state}");
    } else {
        outln!("{what}: sent, no state change observed (session is {state})");
    }
    Ok(EXIT_OK)
}
