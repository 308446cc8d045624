//! `aegis doctor`: what can be checked locally and through GetServerInfo.
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs as _};
use std::time::Duration;

use serde_json::json;

use super::connect::{connect, normalize_address, request, ConnectOptions};
use super::out::outln;
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
            // Is a service running elsewhere on the default state dir? Its lock says where.
            if local {
                checks.push(lock_check(&crate::server::default_state_dir(), None));
            }
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
            if local && !info.state_dir.is_empty() {
                let state = std::path::Path::new(&info.state_dir);
                checks.push(lock_check(state, Some(&conn.address)));
                checks.push(login_check(state));
                checks.push(hook_probe(state));
                checks.push(tmux_env_check(&info.tmux_socket));
            } else {
                checks.push(hooks_check(&mut client, t).await);
            }
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
        outln!("{}", serde_json::to_string_pretty(&json!({"ok": !failed, "checks": v}))?);
    } else {
        let style = super::term::Style { color: super::term::stdout_color() };
        for c in &checks {
            let mark = match c.level {
                Level::Ok => style.state(pb::SessionState::Idle as i32, "ok  "),
                Level::Warn => style.state(pb::SessionState::Working as i32, "warn"),
                Level::Fail => style.state(pb::SessionState::Error as i32, "FAIL"),
            };
            outln!("{mark}  {:<14} {}", c.name, c.detail);
        }
    }
    Ok(if failed { super::EXIT_ERROR } else { super::EXIT_OK })
}

/// Whether `/proc/locks` shows a flock on the file with this device and inode, and by which pid.
fn flock_holder(proc_locks: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    let key = format!("{major:02x}:{minor:02x}:{ino}");
    proc_locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 2636 fe:00:9979671 0 EOF"
        (f.len() >= 6 && f[1] == "FLOCK" && f[5] == key).then(|| f[4].parse().ok()).flatten()
    })
}

/// The state lock (`<state>/lock`, see `server::StateLock`): read through `/proc/locks`, so the
/// doctor never takes the lock itself (a service starting at that moment would refuse to run).
fn lock_check(state: &std::path::Path, connected: Option<&str>) -> Check {
    use std::os::unix::fs::MetadataExt as _;
    let name = "state lock";
    let path = state.join("lock");
    let Ok(meta) = std::fs::metadata(&path) else {
        return Check {
            name,
            level: if connected.is_some() { Level::Warn } else { Level::Fail },
            detail: format!("{} does not exist: no service ever ran on {}", path.display(), state.display()),
        };
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let holder = flock_holder(&locks, libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let address = text.lines().find_map(|l| l.strip_prefix("address ")).map(str::trim).unwrap_or("");
    lock_verdict(state, holder, address, connected)
}

fn lock_verdict(state: &std::path::Path, holder: Option<u32>, address: &str, connected: Option<&str>) -> Check {
    let name = "state lock";
    let same = |a: &str| host_port(a).map(|(_, p)| p) == host_port(address).map(|(_, p)| p);
    match (holder, connected) {
        (None, None) => Check {
            name,
            level: Level::Fail,
            detail: format!("no service holds {}: start one with `aegis serve`", state.display()),
        },
        (None, Some(_)) => Check {
            name,
            level: Level::Warn,
            detail: format!(
                "nothing holds {}/lock (the server may run in another mount or PID namespace)",
                state.display()
            ),
        },
        (Some(pid), None) => Check {
            name,
            level: Level::Fail,
            detail: format!(
                "aegis serve (pid {pid}) holds {} and listens on {address}: use --address http://{address} \
                 (or stop it before starting another on this state dir)",
                state.display()
            ),
        },
        (Some(pid), Some(c)) if !address.is_empty() && !same(c) => Check {
            name,
            level: Level::Fail,
            detail: format!(
                "{} is held by pid {pid} listening on {address}, not by the server at {c}: two services share \
                 the state dir's sessions? stop one",
                state.display()
            ),
        },
        (Some(pid), Some(_)) => Check {
            name,
            level: Level::Ok,
            detail: format!("held by this server (pid {pid}); a second `aegis serve` on it would refuse to start"),
        },
    }
}

/// How the sessions will authenticate (`<state>/service.json` names their config dir and variables).
fn login_check(state: &std::path::Path) -> Check {
    let name = "login";
    let facts: Option<serde_json::Value> = std::fs::read_to_string(state.join(crate::server::SERVICE_FACTS))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let Some(facts) = facts else {
        return Check { name, level: Level::Warn, detail: "not checked: the server wrote no service.json".into() };
    };
    let dir = std::path::PathBuf::from(facts["claude_config_dir"].as_str().unwrap_or_default());
    let names: Vec<&str> = facts["session_env_names"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let demo = facts["demo"].as_bool().unwrap_or(false);
    login_verdict(&dir, demo, crate::cc::auth::check(&dir, names.iter().copied()))
}

fn login_verdict(dir: &std::path::Path, demo: bool, auth: crate::cc::auth::Auth) -> Check {
    use crate::cc::auth::Auth;
    let name = "login";
    let d = dir.display();
    let (level, detail) = match auth {
        _ if demo => (Level::Ok, "demo: sessions use the built-in scripted model (no account needed)".to_string()),
        Auth::Env(v) => (Level::Ok, format!("sessions get {v} from the service's environment (config dir {d})")),
        Auth::Login => (Level::Ok, format!("CC is logged in for the sessions' config dir {d}")),
        Auth::Helper => (Level::Ok, format!("an apiKeyHelper in {d}/settings.json gives the key")),
        Auth::AccountOnly => (
            Level::Warn,
            format!("{d} names an account but holds no token file (keychain, or logged out?): if sessions fail, run `aegis login`"),
        ),
        Auth::None => (
            Level::Fail,
            format!(
                "no login and no API key for the sessions' config dir {d}: sessions will exit ('Unable to connect'). \
                 Fix: `aegis login` (same --claude-config-dir), or ANTHROPIC_API_KEY in the service's environment \
                 (then restart it), or `aegis serve --demo`"
            ),
        ),
    };
    Check { name, level, detail }
}

/// A live probe of the service's hook endpoint (`<state>/hook-port`, loopback): what CC's hooks post
/// to. A plain HTTP/1.0 GET over std's TcpStream: one request with a 2 s deadline needs no client crate.
fn hook_probe(state: &std::path::Path) -> Check {
    use std::io::{Read as _, Write as _};
    let name = "hooks";
    let Some(port) = std::fs::read_to_string(state.join("hook-port")).ok().and_then(|t| t.trim().parse::<u16>().ok())
    else {
        return Check {
            name,
            level: Level::Fail,
            detail: format!("{}/hook-port is missing: restart aegis serve", state.display()),
        };
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let probe = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut body = String::new();
        s.take(4096).read_to_string(&mut body)?;
        Ok(body)
    };
    match probe() {
        Ok(r) if r.starts_with("HTTP/1.") && r.ends_with(crate::hooks_http::PROBE_REPLY) => {
            Check { name, level: Level::Ok, detail: format!("the hook endpoint {addr} answers") }
        }
        Ok(r) => Check {
            name,
            level: Level::Fail,
            detail: format!(
                "{addr} answers but not as Aegis's hook endpoint ({:?}): another program took the port; restart aegis serve",
                r.lines().next().unwrap_or("")
            ),
        },
        Err(e) => Check {
            name,
            level: Level::Fail,
            detail: format!("the hook endpoint {addr} is not reachable ({e}): CC's hooks are lost; restart aegis serve"),
        },
    }
}

/// The tmux server's global environment: since sessions take their env at creation, the only
/// thing that can still go stale there is a variable of the passed family a service failed to unset.
fn tmux_env_check(socket: &str) -> Check {
    let name = "session env";
    let out = std::process::Command::new("tmux").args(["-L", socket, "show-environment", "-g"]).output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        // tmux says "no server running" or "error connecting to <socket>" when no server listens there.
        Ok(o)
            if ["no server running", "error connecting"]
                .iter()
                .any(|m| String::from_utf8_lossy(&o.stderr).contains(m)) =>
        {
            return Check { name, level: Level::Ok, detail: "no tmux server yet: the first session starts it".into() }
        }
        _ => {
            return Check {
                name,
                level: Level::Warn,
                detail: format!("cannot read the environment of tmux -L {socket}"),
            }
        }
    };
    env_verdict(&text)
}

fn env_verdict(show_environment: &str) -> Check {
    let name = "session env";
    let stale: Vec<&str> = show_environment
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| crate::session_env::is_scrubbed(k))
        .collect();
    if stale.is_empty() {
        Check {
            name,
            level: Level::Ok,
            detail: "taken from the service at each session creation (request env > service env > tmux server); \
                     the tmux server holds no stale ANTHROPIC_*/CLAUDE_*/proxy value"
                .into(),
        }
    } else {
        Check {
            name,
            level: Level::Warn,
            detail: format!(
                "the tmux server still holds {} (not from this service): restart aegis serve to unset them",
                stale.join(", ")
            ),
        }
    }
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
    fn the_lock_holder_is_read_from_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  WRITE 2636 fe:00:9979671 0 EOF\n2: POSIX  ADVISORY  WRITE 7 fe:00:42 0 EOF\n";
        assert_eq!(flock_holder(locks, 0xfe, 0, 9979671), Some(2636));
        assert_eq!(flock_holder(locks, 0xfe, 0, 42), None);
        assert_eq!(flock_holder(locks, 0xfe, 1, 9979671), None);
    }

    #[test]
    fn lock_findings_say_who_holds_the_state_dir_and_what_to_do() {
        let st = std::path::Path::new("/s");
        let v = lock_verdict(st, None, "", None);
        assert!(v.level == Level::Fail && v.detail.contains("aegis serve"), "{}", v.detail);
        let v = lock_verdict(st, Some(7), "127.0.0.1:6000", None);
        assert!(v.level == Level::Fail && v.detail.contains("--address http://127.0.0.1:6000"), "{}", v.detail);
        let v = lock_verdict(st, Some(7), "127.0.0.1:6000", Some("http://127.0.0.1:50051"));
        assert!(v.level == Level::Fail && v.detail.contains("pid 7"), "{}", v.detail);
        assert!(lock_verdict(st, Some(7), "127.0.0.1:6000", Some("http://127.0.0.1:6000")).level == Level::Ok);
    }

    #[test]
    fn a_missing_login_fails_with_the_fix() {
        use crate::cc::auth::Auth;
        let d = std::path::Path::new("/cfg");
        let v = login_verdict(d, false, Auth::None);
        assert!(
            v.level == Level::Fail && v.detail.contains("aegis login") && v.detail.contains("/cfg"),
            "{}",
            v.detail
        );
        assert!(login_verdict(d, false, Auth::AccountOnly).level == Level::Warn);
        assert!(login_verdict(d, false, Auth::Env("ANTHROPIC_API_KEY".into())).level == Level::Ok);
        assert!(login_verdict(d, true, Auth::None).level == Level::Ok);
    }

    #[test]
    fn a_stale_tmux_env_is_named() {
        let v = env_verdict("HOME=/h\nANTHROPIC_BASE_URL=http://old\nPATH=/bin\n");
        assert!(v.level == Level::Warn && v.detail.contains("ANTHROPIC_BASE_URL") && !v.detail.contains("http://old"));
        assert!(env_verdict("HOME=/h\nPATH=/bin\n-ANTHROPIC_API_KEY\n").level == Level::Ok);
    }

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
