//! `aegis new`: CreateSession, printing the id (or the response as JSON).
use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::super::out::outln;
use super::super::render;
use super::super::waiting::{self, with_spinner};
use super::super::{request, Client, NewArgs};
use crate::proto::v1 as pb;

pub async fn run(client: &mut Client, t: Duration, a: NewArgs) -> anyhow::Result<i32> {
    let wait = a.wait.options();
    let req = pb::CreateSessionRequest {
        work_dir: super::abs_dir(&a.dir)?,
        name: a.name.unwrap_or_default(),
        prompt: a.prompt.map(super::read_text_arg).transpose()?.unwrap_or_default(),
        permission_mode: a.permission_mode.unwrap_or_default(),
        model: a.model.unwrap_or_default(),
        env: a.env.into_iter().collect::<HashMap<_, _>>(),
        extra_args: a.extra_args,
        labels: a.label.into_iter().collect::<HashMap<_, _>>(),
        request_id: a.request_id.unwrap_or_default(),
        wait: wait.clone(),
        cols: a.cols.unwrap_or(0),
        rows: a.rows.unwrap_or(0),
        policy: Some(pb::InteractionPolicy {
            trust_work_dir: a.trust,
            approve_tools: a.approve_tools,
            accept_own_api_key: a.accept_own_api_key,
        }),
    };
    let deadline = waiting::wait_deadline(t, wait.as_ref());
    let mut rpc = client.clone();
    let call = rpc.create_session(request(req, deadline));
    let resp =
        if wait.is_some() { with_spinner(client, "starting", None, call).await } else { call.await }?.into_inner();
    let session = resp.session.context("server returned no session")?;
    let o = waiting::outcome(resp.wait_result.as_ref(), &session, &a.wait.until);
    if a.json {
        super::print_json(&json!({
            "session": render::session_json(&session),
            "wait_result": waiting::wait_result_json(resp.wait_result.as_ref()),
        }))?;
    } else {
        // The id alone on stdout (scripts capture it), even when the wait then fails.
        outln!("{}", session.id);
        if wait.is_some() && o != waiting::Outcome::TimedOut {
            waiting::print_after_wait_stderr(&session);
        }
    }
    waiting::finish(o, &session)
}
