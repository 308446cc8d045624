//! `aegis doctor`: what can be checked locally and through GetServerInfo.
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs as _};
use std::time::Duration;

use serde_json::json;

use super::connect::{connect, normalize_address, request, ConnectOptions};
use super::render;
use crate::proto::v1::{self as pb, EvidenceSource};

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Check {
    name: &'static str,
    level: Level,
    detail: String,
}

/// `host:port` of an address like `http://127.0.0.1:50051`.
fn host_port(address: &str) -> Option<(String, u16)> {
    let a = normalize_address(address);
    let rest = a.split_once("://")?.1;
    let hostport = rest.split('/').next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Some((host, port.parse().ok()?))
}

/// Whether the address names this machine (loopback or `localhost`).
pub fn is_local_address(address: &str) -> bool {
    match host_port(address) {
        Some((host, _)) => {
            host == "localhost"
                || host.parse::<IpAddr>().map(|ip| ip.is_loopback() || ip.is_unspecified()).unwrap_or(false)
        }
        None => false,
    }
}

fn local_tmux() -> Check {
    match std::process::Command::new("tmux").arg("-V").output() {
        Ok(o) if o.status.success() => Check {
            name: "tmux (local)",
            level: Level::Ok,
            detail: String::from_utf8_lossy(&o.stdout).trim().to_string(),
        },
        Ok(o) => Check {
            name: "tmux (local)",
            level: Level::Fail,
            detail: format!("`tmux -V` failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        },
        Err(e) => Check { name: "tmux (local)", level: Level::Fail, detail: format!("tmux not found: {e}") },
    }
}

fn port_check(address: &str, server_up: bool) -> Check {
    let name = "port";
    let Some((host, port)) = host_port(address) else {
        return Check { name, level: Level::Fail, detail: format!("cannot parse a host:port from {address:?}") };
    };
    if server_up {
        return Check { name, level: Level::Ok, detail: format!("{host}:{port} is served by Aegis") };
    }
    if !is_local_address(address) {
        return Check {
            name,
            level: Level::Fail,
            detail: format!("nothing answers at {host}:{port} (remote, not checked further)"),
        };
    }
    let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs().map(|a| a.collect()).unwrap_or_default();
    match addrs.first().map(TcpListener::bind) {
        Some(Ok(_)) => Check {
            name,
            level: Level::Fail,
            detail: format!("{host}:{port} is free: no server is listening (start one with `aegis serve`)"),
        },
        Some(Err(e)) => Check {
            name,
            level: Level::Fail,
            detail: format!("{host}:{port} is in use but does not answer as Aegis ({e})"),
        },
        None => Check { name, level: Level::Fail, detail: format!("cannot resolve {host}") },
    }
}

fn state_dir_check(dir: &str, local: bool) -> Check {
    let name = "state dir";
    if dir.is_empty() {
        return Check { name, level: Level::Warn, detail: "the server did not report its state dir".into() };
    }
    if !local {
        return Check { name, level: Level::Warn, detail: format!("{dir} (server is remote, not checked)") };
    }
    let probe = std::path::Path::new(dir).join(format!(".aegis-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Check { name, level: Level::Ok, detail: format!("{dir} is writable") }
        }
        Err(e) => Check { name, level: Level::Fail, detail: format!("{dir} is not writable by this user: {e}") },
    }
}

/// Runs the checks, prints them, and returns 0 when none failed.
pub async fn run(conn: &ConnectOptions, as_json: bool) -> anyhow::Result<i32> {
    let mut checks = vec![local_tmux()];
    let local = is_local_address(&conn.address);
    let t = conn.timeout.min(Duration::from_secs(10));
    let quick = ConnectOptions { timeout: t, ..conn.clone() };
    let info = match connect(&quick).await {
        Ok(mut c) => match c.get_server_info(request(pb::GetServerInfoRequest {}, t)).await {
            Ok(r) => Ok((c, r.into_inner())),
            Err(s) => Err(render::status_text(&s)),
        },
        Err(e) => Err(format!("{e:#}")),
    };
    match info {
        Err(e) => {
            checks.push(Check { name: "server", level: Level::Fail, detail: e });
            checks.push(port_check(&conn.address, false));
        }
        Ok((mut client, info)) => {
            let uptime = info.uptime.as_ref().map(|d| render::human_secs(d.seconds.max(0) as u64)).unwrap_or_default();
            checks.push(Check {
                name: "server",
                level: Level::Ok,
                detail: format!(
                    "aegis {} at {}, up {uptime}, {} live / {} total sessions",
                    info.version, conn.address, info.sessions_live, info.sessions_total
                ),
            });
            checks.push(port_check(&conn.address, true));
            checks.push(if info.tmux_version.is_empty() {
                Check { name: "tmux (server)", level: Level::Fail, detail: "the server found no tmux".into() }
            } else {
                Check {
                    name: "tmux (server)",
                    level: Level::Ok,
                    detail: format!("{} on socket -L {}", info.tmux_version, info.tmux_socket),
                }
            });
            // The binary may have vanished or lost its exec bit since the server started.
            let problem =
                local.then(|| crate::process::binary_problem(std::path::Path::new(&info.cc_binary))).flatten();
            checks.push(if let Some(problem) = problem {
                Check { name: "claude code", level: Level::Fail, detail: format!("{} {problem}", info.cc_binary) }
            } else if info.cc_version.is_empty() {
                Check {
                    name: "claude code",
                    level: Level::Fail,
                    detail: format!("not found or not runnable: {:?}", info.cc_binary),
                }
            } else if !info.cc_version_tested {
                Check {
                    name: "claude code",
                    level: Level::Warn,
                    detail: format!(
                        "{} ({}) is not a tested version (tested: {})",
                        info.cc_version,
                        info.cc_binary,
                        info.tested_cc_versions.join(", ")
                    ),
                }
            } else {
                Check {
                    name: "claude code",
                    level: Level::Ok,
                    detail: format!("{} ({}), a tested version", info.cc_version, info.cc_binary),
                }
            });
            checks.push(state_dir_check(&info.state_dir, local));
            checks.push(hooks_check(&mut client, t).await);
        }
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    if as_json {
        let v: Vec<_> = checks
            .iter()
            .map(|c| {
                json!({
                    "check": c.name,
                    "status": match c.level { Level::Ok => "ok", Level::Warn => "warn", Level::Fail => "fail" },
                    "detail": c.detail,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({"ok": !failed, "checks": v}))?);
    } else {
        let style = super::term::Style { color: super::term::stdout_color() };
        for c in &checks {
            let mark = match c.level {
                Level::Ok => style.state(pb::SessionState::Idle as i32, "ok  "),
                Level::Warn => style.state(pb::SessionState::Working as i32, "warn"),
                Level::Fail => style.state(pb::SessionState::Error as i32, "FAIL"),
            };
            println!("{mark}  {:<14} {}", c.name, c.detail);
        }
    }
    Ok(if failed { super::EXIT_ERROR } else { super::EXIT_OK })
}

/// Hooks reach the server when some event of a recent session was shown by a hook (each session's event
/// history is read with WatchSession from revision 1 until the stream catches up).
async fn hooks_check(client: &mut super::Client, t: Duration) -> Check {
    let name = "hooks";
    let req = pb::ListSessionsRequest { include_exited: true, page_size: 5, ..Default::default() };
    let sessions = match client.list_sessions(request(req, t)).await {
        Ok(r) => r.into_inner().sessions,
        Err(s) => {
            return Check {
                name,
                level: Level::Warn,
                detail: format!("cannot list sessions: {}", render::status_text(&s)),
            }
        }
    };
    if sessions.is_empty() {
        return Check {
            name,
            level: Level::Warn,
            detail: "not checked: no sessions yet (create one and rerun)".into(),
        };
    }
    let mut turns = 0;
    for s in &sessions {
        match hook_seen(client, &s.id).await {
            Some(event) => {
                return Check {
                    name,
                    level: Level::Ok,
                    detail: format!("CC hook {event:?} reached the server (session {})", render::short_id(&s.id)),
                }
            }
            None => turns += 1,
        }
    }
    Check {
        name,
        level: Level::Warn,
        detail: format!("no hook event in the history of the last {turns} session(s); hooks may not reach the server"),
    }
}

/// The name of the first hook event in a session's history, reading at most 3 s.
async fn hook_seen(client: &mut super::Client, id: &str) -> Option<String> {
    use futures::StreamExt as _;
    use pb::watch_session_response::Item;
    let req = pb::WatchSessionRequest {
        session_id: id.to_string(),
        start_revision: 1,
        heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let read = async {
        let mut stream = client.watch_session(req).await.ok()?.into_inner();
        while let Some(Ok(item)) = stream.next().await {
            match item.item {
                Some(Item::Event(e)) => {
                    if let Some(ev) = e.evidence.filter(|ev| ev.source == EvidenceSource::Hook as i32) {
                        return Some(ev.hook_event);
                    }
                }
                Some(Item::Heartbeat(_)) => return None,
                _ => {}
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(3), read).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(host_port("http://127.0.0.1:50051"), Some(("127.0.0.1".into(), 50051)));
        assert_eq!(host_port("localhost:7"), Some(("localhost".into(), 7)));
        assert_eq!(host_port("http://[::1]:9/"), Some(("::1".into(), 9)));
        assert!(is_local_address("http://127.0.0.1:1"));
        assert!(is_local_address("http://[::1]:1"));
        assert!(!is_local_address("http://10.1.2.3:1"));
    }
}
