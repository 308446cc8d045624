//! `aegis reject`: RejectPermission for the pending (or given) permission, bash command, plan, trust or
//! API-key dialog, optionally telling Claude what to do instead.
use std::time::Duration;

use super::super::waiting::{self, with_spinner};
use super::super::{request, resolve, Client, RejectArgs};
use super::respond::{self, pick_interaction, Response, APPROVABLE};
use crate::proto::v1 as pb;

pub async fn run(client: &mut Client, t: Duration, a: RejectArgs) -> anyhow::Result<i32> {
    let s = resolve::session(client, t, &a.id).await?;
    let p = pick_interaction(&s, a.interaction, &APPROVABLE, "permission")?;
    let wait = a.wait.options();
    let req = pb::RejectPermissionRequest {
        session_id: s.id.clone(),
        interaction_id: p.id.clone(),
        feedback: a.feedback.unwrap_or_default(),
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.reject_permission(request(req, waiting::wait_deadline(t, wait.as_ref())));
    let r = if wait.is_some() { with_spinner(client, "waiting", Some(s.id.clone()), call).await } else { call.await }?
        .into_inner();
    respond::finish(Response {
        what: "rejected",
        interaction_id: &p.id,
        path: r.path,
        session: r.session.as_ref(),
        wait: r.wait_result.as_ref(),
        wanted: &a.wait.until,
        json: a.json,
    })
}
