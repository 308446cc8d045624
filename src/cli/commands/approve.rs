//! `aegis approve`: ApprovePermission for the pending (or given) permission, bash command, plan, trust or
//! API-key dialog.
use std::time::Duration;

use super::super::waiting::{self, with_spinner};
use super::super::{request, resolve, ApproveArgs, Client};
use super::respond::{self, pick_interaction, Response, APPROVABLE};
use crate::proto::v1 as pb;

pub async fn run(client: &mut Client, t: Duration, a: ApproveArgs) -> anyhow::Result<i32> {
    let s = resolve::session(client, t, &a.id).await?;
    let p = pick_interaction(&s, a.interaction, &APPROVABLE, "permission")?;
    let wait = a.wait.options();
    let req = pb::ApprovePermissionRequest {
        session_id: s.id.clone(),
        interaction_id: p.id.clone(),
        scope: if a.always { pb::ApprovalScope::Session } else { pb::ApprovalScope::Once } as i32,
        plan_mode: if a.auto { pb::PlanApprovalMode::Auto } else { pb::PlanApprovalMode::Manual } as i32,
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.approve_permission(request(req, waiting::wait_deadline(t, wait.as_ref())));
    let r = if wait.is_some() { with_spinner(client, "waiting", Some(s.id.clone()), call).await } else { call.await }?
        .into_inner();
    respond::finish(Response {
        what: "approved",
        interaction_id: &p.id,
        path: r.path,
        session: r.session.as_ref(),
        wait: r.wait_result.as_ref(),
        wanted: &a.wait.until,
        json: a.json,
    })
}
