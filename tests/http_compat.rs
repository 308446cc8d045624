//! The original tool's HTTP API (`serve --http`): its documented curl + jq workflow run literally as a
//! shell script (tests/http_compat/workflow.sh) against the real CC, and the bearer token on HTTP.
mod common;
use common::{Cc, Rig};
use std::process::Command;

/// curl and jq are what the original's users drive it with; without them the test cannot say anything.
fn have_tools() -> bool {
    let ok = |t: &str| Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success());
    let have = ok("curl") && ok("jq");
    if !have {
        eprintln!("SKIPPED: curl and jq are needed (apt-get install curl jq)");
    }
    have
}

async fn http_rig(args: &[String], env: Vec<(String, String)>) -> Rig {
    let mut all = vec!["--http".to_string(), "127.0.0.1:0".to_string()];
    all.extend_from_slice(args);
    Rig::start_configured(Cc::NEWEST, aegis::fakeapi::Script::builtin(), all, env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_curl_workflow_runs_unchanged() {
    if !have_tools() {
        return;
    }
    let rig = http_rig(&[], vec![]).await;
    assert!(rig.http.starts_with("127.0.0.1:") && rig.http != rig.addr, "http {} grpc {}", rig.http, rig.addr);
    let out = rig.path("http-out");
    std::fs::create_dir_all(&out).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http_compat/workflow.sh");
    let run = tokio::process::Command::new("bash")
        .arg(script)
        .env("AEGIS_HTTP", &rig.http)
        .env("WORK", rig.work_dir())
        .env("NAME", "review PR 456")
        .env("OUT", &out)
        .kill_on_drop(true)
        .output();
    let o = tokio::time::timeout(std::time::Duration::from_secs(400), run).await.expect("workflow hung").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(
        o.status.success() && stdout.contains("workflow ok"),
        "workflow failed ({}):\n{stdout}\n{stderr}\n--- server log tail ---\n{}",
        o.status,
        tail(&rig.server_log(), 60)
    );
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn curl(args: &[&str]) -> (String, String) {
    let o = Command::new("curl").args(["-s", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_route_but_health_needs_it() {
    if !have_tools() {
        return;
    }
    let secrets = tempfile::tempdir().unwrap();
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let file = secrets.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let rig = http_rig(&["--token-file".into(), file.to_string_lossy().into_owned()], vec![]).await;
    let base = format!("http://{}", rig.http);

    let (code, body) = curl(&[&format!("{base}/v1/sessions")]);
    assert_eq!(code, "401", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "UNAUTHENTICATED", "{v}");
    let wrong = format!("Authorization: Bearer {token}x");
    assert_eq!(curl(&["-H", &wrong, &format!("{base}/v1/sessions")]).0, "401");
    let sse = curl(&["--max-time", "2", &format!("{base}/v1/events")]);
    assert_eq!(sse.0, "401", "streams are guarded too");
    let (code, body) = curl(&["-X", "POST", "-d", "{}", &format!("{base}/v1/sessions")]);
    assert_eq!(code, "401", "nothing is validated or created before the token: {body}");

    // The header from a file (curl -H @file), so the token is in no command line.
    let header = secrets.path().join("header");
    std::fs::write(&header, format!("Authorization: Bearer {token}\n")).unwrap();
    let at = format!("@{}", header.display());
    let (code, body) = curl(&["-H", &at, &format!("{base}/v1/sessions")]);
    assert_eq!((code.as_str(), body.as_str()), ("200", r#"{"sessions":[]}"#));
    let (code, body) = curl(&[&format!("{base}/v1/health")]);
    assert_eq!(code, "200", "health stays open, as gRPC health does: {body}");
}

#[test]
fn a_non_loopback_http_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--state-dir"])
        .arg(dir.path().join("state"))
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "served anyway: {err}");
    assert!(err.contains("refusing to serve the HTTP API on 0.0.0.0:0 without a token"), "{err}");
    assert!(!dir.path().join("state").exists(), "refused before touching the state dir");
}
