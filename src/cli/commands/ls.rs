//! `aegis ls`: the sessions as a table, or a JSON array.
use std::time::{Duration, SystemTime};

use super::super::out::{errln, out};
use super::super::render::{self, state_name};
use super::super::{list_all, Client, LsArgs, EXIT_OK};
use crate::proto::v1 as pb;

pub async fn run(client: &mut Client, t: Duration, a: LsArgs) -> anyhow::Result<i32> {
    let req = pb::ListSessionsRequest {
        states: a.state.iter().map(|s| *s as i32).collect(),
        work_dir: a.work_dir.as_deref().map(super::abs_dir).transpose()?.unwrap_or_default(),
        labels: a.label.into_iter().collect(),
        page_size: 500,
        page_token: String::new(),
        include_exited: a.all,
    };
    let sessions = list_all(client, t, req).await?;
    if a.json {
        super::print_json(&serde_json::Value::Array(sessions.iter().map(render::session_json).collect()))?;
        return Ok(EXIT_OK);
    }
    if sessions.is_empty() {
        errln!("no sessions");
        return Ok(EXIT_OK);
    }
    let now = SystemTime::now();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                if s.name.is_empty() { "-".into() } else { s.name.clone() },
                state_name(s.state),
                render::pending_summary(s),
                s.work_dir.clone(),
                render::age(s.create_time.as_ref(), now),
            ]
        })
        .collect();
    out!("{}", render::table(&["ID", "NAME", "STATE", "PENDING", "WORK DIR", "AGE"], &rows));
    Ok(EXIT_OK)
}
