//! `aegis send`: SendMessage (a prompt, slash command or bash line), optionally waiting.
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::super::out::errln;
use super::super::render;
use super::super::waiting::{self, with_spinner, Outcome};
use super::super::{request, resolve, CliError, Client, SendArgs};
use crate::proto::v1::{self as pb, MessageKind};

pub async fn run(client: &mut Client, t: Duration, a: SendArgs) -> anyhow::Result<i32> {
    let kind = if a.slash {
        MessageKind::SlashCommand
    } else if a.bash {
        MessageKind::Bash
    } else {
        MessageKind::Prompt
    };
    let text = super::read_text_arg(a.text)?;
    if text.is_empty() {
        return Err(CliError::usage("the text is empty").into());
    }
    let id = resolve::session(client, t, &a.id).await?.id;
    let wait = a.wait.options();
    let req = pb::SendMessageRequest {
        session_id: id.clone(),
        text,
        kind: kind as i32,
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.send_message(request(req, waiting::wait_deadline(t, wait.as_ref())));
    let resp =
        if wait.is_some() { with_spinner(client, "waiting", Some(id), call).await } else { call.await }?.into_inner();
    let s = resp.session.as_ref().context("server returned no session")?;
    let o = waiting::outcome(resp.wait_result.as_ref(), s, &a.wait.until);
    if a.json {
        super::print_json(&json!({
            "session": render::session_json(s),
            "delivered_revision": resp.delivered_revision,
            "delivery_evidence": render::evidence_json(resp.delivery_evidence.as_ref()),
            "wait_result": waiting::wait_result_json(resp.wait_result.as_ref()),
        }))?;
    } else if wait.is_some() {
        if o != Outcome::TimedOut {
            waiting::print_after_wait(s)?;
        }
    } else {
        let ev = render::evidence_text(resp.delivery_evidence.as_ref());
        errln!(
            "delivered to {} at revision {}{}",
            render::short_id(&s.id),
            resp.delivered_revision,
            if ev.is_empty() { String::new() } else { format!(" [{ev}]") }
        );
    }
    waiting::finish(o, s)
}
