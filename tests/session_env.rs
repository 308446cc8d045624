//! The session environment is taken at session creation (request env > service env > tmux server
//! env), never frozen in the long-lived tmux server, and no value travels on a command line. Also
//! the API-key path: a key in the service's environment, CC's key dialog answered by policy.
mod common;

use aegis::fakeapi::{FakeApi, Script};
use aegis::proto::v1 as pb;
use common::*;
use pb::SessionState as S;
use std::process::Command;

/// A `--tmux-bin` that logs every tmux argv (one line each) before running the real tmux.
fn logging_tmux(rig: &Rig) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = rig.path("tmux-argv.log");
    let bin = rig.path("tmux-logged");
    let tmux = aegis::server::which(std::path::Path::new("tmux"));
    std::fs::write(
        &bin,
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), tmux.display()),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

fn prompts(api: &FakeApi) -> Vec<String> {
    api.main_requests().into_iter().map(|r| r.last_user_text).collect()
}

/// The environment of the CC process of a session (its pane's pid).
fn cc_environ(rig: &Rig, s: &pb::Session) -> Vec<String> {
    let out = Command::new("tmux")
        .args(["-L", &rig.socket, "display-message", "-p", "-t", &s.tmux_pane, "#{pane_pid}"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_gives_new_sessions_its_new_environment_while_tmux_lives() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let (bin, log) = logging_tmux(&rig);
    rig.server_args = vec!["--tmux-bin".into(), bin.to_string_lossy().into_owned()];
    rig.stop_server();
    rig.start_server("127.0.0.1:0").await;

    let first = rig.create("FIRST_TURN", 90).await.session.unwrap();
    assert_eq!(state_of(&first), S::Idle, "{first:#?}\n{}", rig.screen(&first.id).await);
    assert!(prompts(&rig.api).iter().any(|p| p.contains("FIRST_TURN")));

    // A new model URL and key in the service's environment; the tmux server (and `first`) live on.
    let other = FakeApi::start(Script::builtin()).await.unwrap();
    let new_key = "sk-ant-test-rotated-key-11111111";
    rig.stop_server();
    rig.server_env =
        vec![("ANTHROPIC_BASE_URL".into(), other.base_url()), ("ANTHROPIC_API_KEY".into(), new_key.into())];
    rig.start_server("127.0.0.1:0").await;
    let mut req = rig.create_request("SECOND_TURN");
    // The rotated key is not pre-approved in the test config: the policy answers CC's dialog for it.
    req.policy = Some(pb::InteractionPolicy { accept_own_api_key: true, ..Default::default() });
    req.wait = Some(wait(90, &[]));
    let second = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&second), S::Idle, "{second:#?}\n{}\n{}", rig.screen(&second.id).await, rig.server_log());
    assert!(prompts(&other).iter().any(|p| p.contains("SECOND_TURN")), "the new ANTHROPIC_BASE_URL was used");
    assert!(!prompts(&rig.api).iter().any(|p| p.contains("SECOND_TURN")), "not the old one");
    // The CC process has the new values in its environment.
    let environ = cc_environ(&rig, &second);
    let has = |kv: &str| environ.iter().any(|v| v == kv);
    assert!(has(&format!("ANTHROPIC_BASE_URL={}", other.base_url())) && has(&format!("ANTHROPIC_API_KEY={new_key}")));

    // The tmux server holds none of the family any more, and no key was ever on a tmux argv.
    let global = Command::new("tmux").args(["-L", &rig.socket, "show-environment", "-g"]).output().unwrap();
    let global = String::from_utf8_lossy(&global.stdout);
    assert!(!global.lines().any(|l| l.starts_with("ANTHROPIC_")), "{global}");
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(argv.contains("source-file -"), "{argv}");
    assert!(!argv.contains(API_KEY) && !argv.contains(new_key), "a key on a tmux command line:\n{argv}");
    other.shutdown().await;
}

/// A request's env still wins over the service's, and `AEGIS_*` of a request never reaches CC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_env_wins_and_aegis_variables_are_dropped() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let mut req = rig.create_request("");
    req.env.insert("DISABLE_TELEMETRY".into(), "from-request".into());
    req.env.insert("AEGIS_STALL_SECS".into(), "1".into());
    req.wait = Some(wait(90, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:#?}");
    let vars = cc_environ(&rig, &s);
    assert!(vars.iter().any(|v| v == "DISABLE_TELEMETRY=from-request"), "{vars:?}");
    assert!(!vars.iter().any(|v| v.starts_with("AEGIS_")), "{vars:?}");
}
