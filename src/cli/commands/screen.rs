//! `aegis screen`: the session's current tmux pane.
use std::time::Duration;

use serde_json::json;

use super::super::out;
use super::super::render;
use super::super::{request, resolve, Client, ScreenArgs, EXIT_OK};
use crate::proto::v1 as pb;

pub async fn run(client: &mut Client, t: Duration, a: ScreenArgs) -> anyhow::Result<i32> {
    let id = resolve::session(client, t, &a.id).await?.id;
    let req = pb::CaptureScreenRequest { session_id: id.clone(), ansi: a.ansi, scrollback_lines: a.scrollback };
    let r = client.capture_screen(request(req, t)).await?.into_inner();
    if a.json {
        super::print_json(&json!({
            "session_id": id,
            "text": r.text,
            "cols": r.cols,
            "rows": r.rows,
            "capture_time": render::rfc3339(r.capture_time.as_ref()),
        }))?;
        return Ok(EXIT_OK);
    }
    out::bytes(r.text.as_bytes())?;
    if !r.text.ends_with('\n') {
        out::bytes(b"\n")?;
    }
    Ok(EXIT_OK)
}
