//! `aegis login` and `aegis doctor` against a real service: the login runs CC's own `/login` with
//! the sessions' config dir; the doctor finds a missing login, probes the hook port live, names the
//! state lock's holder and reads the tmux server's environment.
mod common;

use common::*;
use std::process::Command;

fn doctor(rig: &Rig) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["doctor", "--json", "--address", &format!("http://{}", rig.addr)])
        .env("HOME", rig.path("home"))
        .env_remove("AEGIS_TOKEN")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let c = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == name);
    let c = c.unwrap_or_else(|| panic!("no {name} check: {report:#}"));
    (c["status"].as_str().unwrap(), c["detail"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_a_missing_login_and_a_dead_hook_port_with_their_fixes() {
    // No key in the service's environment (an empty one is none) and no login in the config dir.
    let rig = Rig::start_configured(
        Cc::NEWEST,
        aegis::fakeapi::Script::builtin(),
        Vec::new(),
        vec![("ANTHROPIC_API_KEY".into(), String::new())],
    )
    .await;
    let r = doctor(&rig);
    let (status, detail) = check(&r, "login");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("aegis login") && detail.contains(&rig.path("cc-config").display().to_string()),
        "{detail}"
    );
    assert_eq!(r["ok"], false);
    let (status, detail) = check(&r, "hooks");
    assert_eq!(status, "ok", "{detail}");
    let (status, detail) = check(&r, "state lock");
    assert_eq!(status, "ok", "{detail}");
    let pid = rig.server.as_ref().unwrap().id();
    assert!(detail.contains(&format!("pid {pid}")), "{detail}");
    let (status, detail) = check(&r, "session env");
    assert_eq!(status, "ok", "{detail}");

    // What `/login` writes makes it pass, without a restart.
    std::fs::write(rig.path("cc-config/.credentials.json"), r#"{"claudeAiOauth": {"accessToken": "t"}}"#).unwrap();
    assert_eq!(check(&doctor(&rig), "login").0, "ok");

    // The hook port answered by something else (the service's real port is unchanged): the probe is live.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port_file = rig.path("state/hook-port");
    let saved = std::fs::read_to_string(&port_file).unwrap();
    std::fs::write(&port_file, other.local_addr().unwrap().port().to_string()).unwrap();
    let t = std::thread::spawn(move || {
        use std::io::Write as _;
        if let Ok((mut c, _)) = other.accept() {
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\nsomething else");
        }
    });
    let report = doctor(&rig);
    let (status, detail) = check(&report, "hooks");
    std::fs::write(&port_file, saved).unwrap();
    t.join().unwrap();
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("restart aegis serve"), "{detail}");
}

/// `aegis login` runs `<claude> /login` in the terminal with the sessions' CLAUDE_CONFIG_DIR and
/// without AEGIS_*; CC's exit status is its own. (The real flow needs the internet: a recording
/// stand-in for CC checks what it is started with.)
#[test]
fn aegis_login_runs_ccs_own_login_with_the_sessions_config_dir() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let fake = t.path().join("claude");
    let out = t.path().join("seen");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n{{ printf 'args=%s\\n' \"$*\"; printf 'dir=%s\\n' \"$CLAUDE_CONFIG_DIR\"; env | grep '^AEGIS_'; }} > '{}'\nexit 7\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = t.path().join("sessions-cc");
    let st = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["login", "--claude-bin"])
        .arg(&fake)
        .arg("--claude-config-dir")
        .arg(&dir)
        .env("AEGIS_TOKEN", "not-for-cc")
        .env("HOME", t.path())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
    let seen = std::fs::read_to_string(&out).unwrap();
    assert_eq!(seen, format!("args=/login\ndir={}\n", dir.display()));

    // Without a flag: the dir `aegis serve` would use ($CLAUDE_CONFIG_DIR, else ~/.claude).
    let st = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["login", "--claude-bin"])
        .arg(&fake)
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("AEGIS_CLAUDE_CONFIG_DIR")
        .env("HOME", t.path())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
    let seen = std::fs::read_to_string(&out).unwrap();
    assert!(seen.contains(&format!("dir={}/.claude\n", t.path().display())), "{seen}");
}
