//! Operations, end to end: the Prometheus scrape after real traffic, the log lines (text without ANSI
//! in a file, JSON), the config file read by the real binary, the systemd unit.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, Cc, Rig};
use pb::SessionState as S;
use std::io::{Read as _, Write as _};
use std::time::Duration;

/// A free loopback port, picked by binding :0 and closing (the rig reads only the `listening` line).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.0 GET. Hand-written (a dozen lines) rather than adding an HTTP client dependency for a test.
fn http_get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = auth.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The value of one series, matched by its name and every given label (any order, others allowed).
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        let (n, rest) = key.split_once('{').map(|(n, r)| (n, r.trim_end_matches('}'))).unwrap_or((key, ""));
        let ok = n == name && labels.iter().all(|(k, v)| rest.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        ok.then(|| value.parse().ok()).flatten()
    })
}

async fn scrape_until(addr: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = http_get(addr, "/metrics", None);
        assert_eq!(code, 200, "{body}");
        if done(&body) || tokio::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn metrics_scrape_shows_sessions_rpcs_events_and_failures() {
    let port = free_port();
    let maddr = format!("127.0.0.1:{port}");
    let args = vec!["--metrics-listen".to_string(), maddr.clone()];
    let mut rig = Rig::start_configured(Cc::NEWEST, aegis::fakeapi::Script::builtin(), args, vec![]).await;
    let resp = rig.create("hello from the metrics test", 90).await;
    let s = resp.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:?}\n{}", rig.server_log());
    let e = rig
        .client
        .get_session(pb::GetSessionRequest { session_id: "00000000-0000-4000-8000-000000000000".into() })
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "SESSION_NOT_FOUND");

    let m = scrape_until(&maddr, |m| series(m, "aegis_sessions", &[("state", "IDLE")]) == Some(1.0)).await;
    assert_eq!(series(&m, "aegis_sessions", &[("state", "IDLE")]), Some(1.0), "{m}");
    assert_eq!(series(&m, "aegis_sessions", &[("state", "WORKING")]), Some(0.0), "{m}");
    let svc = ("service", "aegis.v1.SessionService");
    let ok = series(&m, "aegis_rpc_total", &[svc, ("method", "CreateSession"), ("code", "OK")]);
    assert!(ok.is_some_and(|n| n >= 1.0), "{m}");
    let nf = series(&m, "aegis_rpc_total", &[svc, ("method", "GetSession"), ("code", "NOT_FOUND")]);
    assert_eq!(nf, Some(1.0), "{m}");
    assert!(
        series(&m, "aegis_rpc_seconds_count", &[svc, ("method", "CreateSession")]).is_some_and(|n| n >= 1.0),
        "{m}"
    );
    // Every event of the session was committed (and counted) by the store.
    let events = rig.events(&s.id).await.len() as f64;
    let committed = series(&m, "aegis_events_committed_total", &[]).unwrap_or(0.0);
    assert!(committed >= events && events > 0.0, "committed {committed}, session has {events}\n{m}");
    assert!(series(&m, "aegis_state_changes_total", &[("to", "IDLE")]).is_some_and(|n| n >= 1.0), "{m}");
    assert!(series(&m, "aegis_state_changes_total", &[("from", "STARTING")]).is_some_and(|n| n >= 1.0), "{m}");
    assert!(series(&m, "aegis_tmux_commands_total", &[("subcommand", "new-window")]).is_some_and(|n| n >= 1.0), "{m}");
    // The prompt's turn went through CC's hooks (UserPromptSubmit, Stop at least).
    assert!(series(&m, "aegis_hook_reply_seconds_count", &[("event", "Stop")]).is_some_and(|n| n >= 1.0), "{m}");
    assert_eq!(series(&m, "aegis_watchers", &[]), Some(0.0), "{m}");

    // Logs: a file gets no ANSI escapes; one line per lifecycle change with id and name; one warn per
    // failed call with method, code and reason; no prompt text.
    let log = rig.server_log();
    assert!(!log.contains('\u{1b}'), "ANSI escapes in the log file:\n{log}");
    let created = log.lines().find(|l| l.contains("session created")).unwrap_or_else(|| panic!("{log}"));
    assert!(created.contains(&s.id) && created.contains(&s.name), "{created}");
    // The RPC span names the method and, once known, the session.
    assert!(created.contains("rpc{") && created.contains("method=CreateSession"), "{created}");
    assert!(
        log.lines().any(|l| l.contains("session state changed") && l.contains(&s.id) && l.contains("to=\"IDLE\"")
            || l.contains("session state changed") && l.contains(&s.id) && l.contains("to=IDLE")),
        "{log}"
    );
    let failed = log.lines().find(|l| l.contains("call failed")).unwrap_or_else(|| panic!("{log}"));
    assert!(failed.contains("WARN") && failed.contains("GetSession"), "{failed}");
    assert!(failed.contains("NOT_FOUND") && failed.contains("SESSION_NOT_FOUND"), "{failed}");
    assert!(!log.contains("hello from the metrics test"), "prompt text in the log:\n{log}");
    rig.client
        .delete_session(pb::DeleteSessionRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap();
    let log = rig.server_log();
    assert!(log.lines().any(|l| l.contains("session deleted") && l.contains(&s.id)), "{log}");
}

#[tokio::test]
async fn a_config_file_sets_json_logs_and_metrics_and_flags_still_win() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("aegis.toml");
    // The rig's --tmux-socket flag beats the file's; metrics and log format come from the file.
    let text = format!("log-format = \"json\"\nmetrics-listen = \"127.0.0.1:{port}\"\ntmux-socket = \"from-file\"\n");
    std::fs::write(&cfg, text).unwrap();
    let args = vec!["--config".into(), cfg.to_string_lossy().into_owned()];
    let mut rig = Rig::start_configured(Cc::NEWEST, aegis::fakeapi::Script::builtin(), args, vec![]).await;
    let s = rig.create("", 90).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:?}\n{}", rig.server_log());
    let (code, body) = http_get(&format!("127.0.0.1:{port}"), "/metrics", None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("aegis_sessions"), "{body}");
    let log = rig.server_log();
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let created = lines
        .iter()
        .find(|v| v["fields"]["message"] == "session created")
        .unwrap_or_else(|| panic!("no created line:\n{log}"));
    assert_eq!(created["fields"]["session_id"], s.id.as_str(), "{created}");
    assert_eq!(created["level"], "INFO");
    assert_eq!(created["span"]["method"], "CreateSession", "{created}");
    let info = rig.client.get_server_info(pb::GetServerInfoRequest::default()).await.unwrap().into_inner();
    assert_eq!(info.tmux_socket, rig.socket, "{info:?}");
}

#[test]
fn metrics_on_a_public_address_need_a_token() {
    let t = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["serve", "--metrics-listen", "0.0.0.0:0", "--state-dir"])
        .arg(t.path().join("state"))
        .env("HOME", t.path())
        .env("XDG_CONFIG_HOME", t.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve metrics on 0.0.0.0:0 without a token"), "{err}");
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(v) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        println!("SKIPPED: systemd-analyze is not installed");
        return;
    };
    assert!(v.status.success());
    let t = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/aegis.service")).unwrap();
    assert!(unit.contains("ExecStart=%h/.cargo/bin/aegis serve"), "{unit}");
    // verify checks that ExecStart exists: point it at the binary under test.
    let unit = unit.replace("%h/.cargo/bin/aegis", env!("CARGO_BIN_EXE_aegis"));
    let path = t.path().join("aegis.service");
    std::fs::write(&path, unit).unwrap();
    // System-manager mode: `--user` needs a running user manager ($XDG_RUNTIME_DIR), which CI lacks;
    // the unit's syntax and keys are the same.
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{err}");
    // Unknown keys are only warnings: there must be none.
    assert!(!err.contains("aegis.service"), "systemd-analyze verify warned:\n{err}");
}

/// `aegis serve | head -1`, or a supervisor that closes the pipe: the banner lines must not take the
/// service down (a `println!` panics on EPIPE).
#[test]
fn the_service_outlives_a_closed_stdout() {
    let t = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let socket = format!("aegis-test-{}", uuid::Uuid::new_v4().simple());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--tmux-socket", &socket, "--claude-bin", concat!(env!("CARGO_MANIFEST_DIR"), "/bench/fake-claude")])
        .arg("--state-dir")
        .arg(t.path().join("state"))
        .env("HOME", t.path())
        .env("XDG_CONFIG_HOME", t.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closed before the service writes its banner
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let up = loop {
        if std::net::TcpStream::connect(("127.0.0.1", metrics)).is_ok() {
            std::thread::sleep(Duration::from_millis(300)); // past the banner write
            break http_get(&format!("127.0.0.1:{metrics}"), "/metrics", None).0 == 200;
        }
        if std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let alive = child.try_wait().unwrap().is_none();
    let grpc = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::process::Command::new("tmux").args(["-L", &socket, "kill-server"]).output();
    assert!(up && alive && grpc, "up {up}, alive {alive}, gRPC port open {grpc}");
}
