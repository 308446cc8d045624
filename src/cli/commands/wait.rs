//! `aegis wait`: WaitSession until the session is stable (or in the given states). Exit codes: 0 reached,
//! 3 timed out, 5/6 when it ended EXITED/ERROR instead (unless those were asked for).
use std::time::Duration;

use serde_json::json;

use super::super::render;
use super::super::waiting::{self, with_spinner, Outcome};
use super::super::{request, resolve, Client, WaitArgs};
use crate::proto::v1::{self as pb, Session, SessionState};

pub async fn run(client: &mut Client, t: Duration, a: WaitArgs) -> anyhow::Result<i32> {
    let wanted = |s: &Session| {
        if a.until.is_empty() {
            s.stable
        } else {
            a.until.iter().any(|w| *w as i32 == s.state)
        }
    };
    let s = resolve::session(client, t, &a.id).await?;
    // EXITED is final: waiting longer cannot change it.
    if (a.now && wanted(&s)) || s.state == SessionState::Exited as i32 {
        let now = pb::WaitResult { satisfied: wanted(&s), matched_revision: s.revision };
        return report(&a, &s, Some(&now));
    }
    let wait = pb::WaitOptions {
        states: a.until.iter().map(|s| *s as i32).collect(),
        timeout: Some(prost_types::Duration { seconds: a.timeout as i64, nanos: 0 }),
    };
    let deadline = waiting::wait_deadline(t, Some(&wait));
    let req =
        pb::WaitSessionRequest { session_id: s.id.clone(), after_revision: a.after.unwrap_or(0), wait: Some(wait) };
    let mut rpc = client.clone();
    let call = rpc.wait_session(request(req, deadline));
    let r = with_spinner(client, "waiting", Some(s.id.clone()), call).await?.into_inner();
    let s = r.session.unwrap_or(s);
    report(&a, &s, r.wait_result.as_ref())
}

fn report(a: &WaitArgs, s: &Session, w: Option<&pb::WaitResult>) -> anyhow::Result<i32> {
    // A wait always has a result; a server that sent none is read as "timed out".
    let missing = pb::WaitResult::default();
    let w = w.unwrap_or(&missing);
    let o = waiting::outcome(Some(w), s, &a.until);
    if a.json {
        super::print_json(
            &json!({"session": render::session_json(s), "wait_result": waiting::wait_result_json(Some(w))}),
        )?;
    } else if o != Outcome::TimedOut {
        waiting::print_after_wait(s)?;
    }
    waiting::finish(o, s)
}
