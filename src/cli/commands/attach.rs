//! `aegis attach`: your terminal on the session's tmux window (exec of `tmux attach` on the server's
//! socket; local server only). With --json: where to attach, as JSON, without attaching.
use std::time::Duration;

#[cfg(not(unix))]
use anyhow::Context as _;
use serde_json::json;

use super::super::out::errln;
#[cfg(not(unix))]
use super::super::EXIT_ERROR;
use super::super::{doctor, request, resolve, CliError, Client, ConnectOptions, IdArg, EXIT_OK};
use crate::proto::v1::{self as pb, SessionState};

pub async fn run(client: &mut Client, t: Duration, a: IdArg, conn: &ConnectOptions) -> anyhow::Result<i32> {
    let info = client.get_server_info(request(pb::GetServerInfoRequest {}, t)).await?.into_inner();
    let s = resolve::session(client, t, &a.id).await?;
    if s.state == SessionState::Exited as i32 {
        return Err(CliError::ended(&s).into());
    }
    if s.tmux_pane.is_empty() || info.tmux_socket.is_empty() {
        anyhow::bail!("the server did not report the session's tmux pane/socket");
    }
    if !doctor::is_local_address(&conn.address) {
        errln!("aegis: warning: the server at {} may be remote; attach only works on its machine", conn.address);
    }
    let tmux = |args: &[&str]| {
        let mut c = std::process::Command::new("tmux");
        c.arg("-L").arg(&info.tmux_socket).args(args);
        c
    };
    // The pane's window, as `session:@window`, so the right window is selected.
    let target = tmux(&["display-message", "-p", "-t", &s.tmux_pane, "#{session_name}:#{window_id}"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| s.tmux_pane.clone());
    if a.json {
        let argv = ["tmux", "-L", &info.tmux_socket, "attach-session", "-t", &target];
        super::print_json(
            &json!({"session_id": s.id, "tmux_socket": info.tmux_socket, "target": target, "argv": argv}),
        )?;
        return Ok(EXIT_OK);
    }
    errln!("attaching to {} (tmux -L {} attach -t {target}); detach with Ctrl-b d", s.id, info.tmux_socket);
    let mut cmd = tmux(&["attach-session", "-t", &target]);
    // Inside tmux, attaching to another server would be refused; nesting is what the user asked for.
    cmd.env_remove("TMUX");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let err = cmd.exec();
        Err(anyhow::anyhow!("cannot run tmux: {err}"))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().context("cannot run tmux")?;
        Ok(status.code().unwrap_or(EXIT_ERROR))
    }
}
