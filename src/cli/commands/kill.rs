//! `aegis kill`: DeleteSession (CC ended, tmux window removed; the record stays readable).
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::super::out::outln;
use super::super::render::{self, state_name};
use super::super::{request, resolve, Client, IdArg, EXIT_OK};
use crate::proto::v1 as pb;

pub async fn run(client: &mut Client, t: Duration, a: IdArg) -> anyhow::Result<i32> {
    let id = resolve::session(client, t, &a.id).await?.id;
    let r = client
        .delete_session(request(pb::DeleteSessionRequest { session_id: id, request_id: String::new() }, t))
        .await?
        .into_inner();
    let s = r.session.context("server returned no session")?;
    if a.json {
        super::print_json(&json!({"session": render::session_json(&s)}))?;
    } else {
        outln!("killed {} ({})", s.id, state_name(s.state));
    }
    Ok(EXIT_OK)
}
