//! End-to-end security properties (see SECURITY.md): no secret reaches a child process's environment or
//! command line, state files are private whatever the umask, forged hooks cannot redirect the
//! transcript, token configuration is strict, and one service owns a state dir.
mod common;
use aegis::fakeapi::Script;
use aegis::proto::v1 as pb;
use aegis::proto::v1::session_service_client::SessionServiceClient;
use common::{Cc, Rig};
use pb::SessionState as S;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;

#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

type AuthedClient = SessionServiceClient<InterceptedService<Channel, Bearer>>;

async fn authed(addr: &str, token: &str) -> AuthedClient {
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    SessionServiceClient::with_interceptor(channel, Bearer(format!("Bearer {token}").parse().unwrap()))
}

/// A token file with `mode` in its own temp dir.
fn token_file(dir: &Path, content: &str, mode: u32) -> PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// The session's hook secret, read from the store (as only the service user can).
fn hook_secret(state: &Path, session_id: &str) -> String {
    let db = rusqlite::Connection::open_with_flags(state.join("aegis.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let json: String =
        db.query_row("SELECT json FROM sessions WHERE id = ?1", [session_id], |r| r.get(0)).expect("session in db");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let secret = v["hook_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 16, "{secret:?}");
    secret
}

fn tmux_server_pid(socket: &str) -> u32 {
    let out = Command::new("tmux").args(["-L", socket, "display-message", "-p", "#{pid}"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("tmux server pid")
}

/// `root` and every process below it.
fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        let ppid: u32 = after.split_whitespace().nth(1).unwrap().parse().unwrap();
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        out.extend(children.get(&out[i]).cloned().unwrap_or_default());
        i += 1;
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn wait_until(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ok()
}

/// The token (given with --token-file, next to an AEGIS_* variable) and the hook secret are in no
/// environment and no command line of the tmux server, CC, or the commands the model runs; tmux's
/// global environment holds no AEGIS_* variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_child_process_sees_the_token_or_the_hook_secret() {
    let secrets = tempfile::tempdir().unwrap();
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let file = token_file(secrets.path(), &format!("{token}\n"), 0o600);
    let args = vec!["--token-file".to_string(), file.to_string_lossy().into_owned()];
    let env = vec![("AEGIS_STALL_SECS".to_string(), "4242".to_string())];
    let mut rig = Rig::start_configured(Cc::NEWEST, Script::builtin(), args, env).await;
    let e = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "the token from the file is enforced");
    let mut client = authed(&rig.addr, &token).await;

    let mut req = rig.create_request("BASH(cat /proc/self/environ > bash-env.bin; sleep 120)");
    req.policy = Some(pb::InteractionPolicy { approve_tools: vec!["Bash".into()], ..Default::default() });
    let s = client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let bash_env = Path::new(&rig.work_dir()).join("bash-env.bin");
    let ran = wait_until(120, || std::fs::metadata(&bash_env).is_ok_and(|m| m.len() > 0)).await;
    assert!(ran, "the model's Bash command did not run (approved through the hook)\n{}", rig.server_log());
    let secret = hook_secret(&rig.path("state"), &s.id);

    let tmux = tmux_server_pid(&rig.socket);
    let tree = process_tree(tmux);
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(tree.iter().any(|p| contains(&cmdline(*p), &s.id)), "CC is in the tmux server's tree: {tree:?}");
    assert!(tree.iter().any(|p| cmdline(*p).starts_with(b"sleep\0")), "the Bash command is in the tree: {tree:?}");
    for pid in tree {
        let (cmd, env) = (cmdline(pid), std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default());
        let what = String::from_utf8_lossy(&cmd).replace('\0', " ");
        for (name, text) in [("cmdline", &cmd), ("environ", &env)] {
            assert!(!contains(text, &token), "token in {name} of {pid} ({what})");
            assert!(!contains(text, &secret), "hook secret in {name} of {pid} ({what})");
        }
        let aegis_vars: Vec<_> = env.split(|b| *b == 0).filter(|v| v.starts_with(b"AEGIS_")).collect();
        assert!(aegis_vars.is_empty(), "{pid} ({what}) inherits {:?}", String::from_utf8_lossy(&aegis_vars.concat()));
    }
    let bash = std::fs::read(&bash_env).unwrap();
    assert!(!contains(&bash, "AEGIS_") && !contains(&bash, &token), "{}", String::from_utf8_lossy(&bash));
    let global = Command::new("tmux").args(["-L", &rig.socket, "show-environment", "-g"]).output().unwrap().stdout;
    assert!(!contains(&global, "AEGIS_") && !contains(&global, &token), "{}", String::from_utf8_lossy(&global));
}

/// Sends one HTTP/1.1 POST to the hook receiver; returns the status code.
async fn post(port: u16, path: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    // The server may answer 413 and close before the whole body is written.
    let _ = c.write_all(body).await;
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut resp)).await;
    let text = String::from_utf8_lossy(&resp);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// Under umask 022 the state dir and everything in it are private. A hook with a wrong secret is
/// refused; one with the right secret cannot point the transcript outside the session's CC projects
/// folder (GetTranscript still reads the real one); oversized bodies are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_files_are_private_and_forged_hooks_cannot_redirect_the_transcript() {
    // SAFETY: umask only swaps the process's file mode mask; every test of this binary wants 022.
    unsafe { libc::umask(0o022) };
    let mut rig = Rig::start(Cc::NEWEST).await;
    let s = rig.create("hello from the security test", 90).await.session.unwrap();
    assert_eq!(common::state_of(&s), S::Idle, "{}", rig.screen(&s.id).await);

    let state = rig.path("state");
    let mut seen = Vec::new();
    let mut dirs = vec![state.clone()];
    while let Some(d) = dirs.pop() {
        assert_eq!(mode(&d), 0o700, "{d:?}");
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                dirs.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{p:?}");
                seen.push(p.strip_prefix(&state).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let settings = format!("sessions/{}/settings.json", s.id);
    for f in ["aegis.db", "aegis.db-wal", "aegis.db-shm", "hook-port", "lock", settings.as_str()] {
        assert!(seen.iter().any(|x| x == f), "{f} missing from {seen:?}");
    }
    let lock = std::fs::read_to_string(state.join("lock")).unwrap();
    let pid = rig.server.as_ref().unwrap().id();
    assert!(lock.contains(&format!("pid {pid}\n")) && lock.contains(&format!("address {}", rig.addr)), "{lock}");

    let real = rig
        .client
        .get_transcript(pb::GetTranscriptRequest { session_id: s.id.clone(), limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(real.entries.iter().any(|e| e.text.contains("hello from the security test")), "{:?}", real.entries);
    let port: u16 = std::fs::read_to_string(state.join("hook-port")).unwrap().trim().parse().unwrap();
    let secret = hook_secret(&state, &s.id);
    let forged = rig.path("forged.jsonl");
    let record = serde_json::json!({"type": "user", "uuid": "f0", "timestamp": "2026-01-01T00:00:00.000Z",
        "sessionId": s.id, "message": {"role": "user", "content": "FORGED TRANSCRIPT"}});
    std::fs::write(&forged, format!("{record}\n")).unwrap();
    let hook = |transcript: &Path| {
        serde_json::json!({"session_id": s.id, "hook_event_name": "Notification", "transcript_path": transcript,
            "cwd": rig.work_dir(), "notification_type": "idle_prompt", "message": "Claude is waiting for your input"})
        .to_string()
    };
    let wrong = format!("/hooks/{}/{}", s.id, "0".repeat(secret.len()));
    assert_eq!(post(port, &wrong, hook(&forged).as_bytes()).await, 404, "a wrong secret is refused");
    let right = format!("/hooks/{}/{secret}", s.id);
    let sneaky = Path::new(&real.transcript_path).parent().unwrap().join("../../../forged.jsonl");
    for outside in [forged.clone(), sneaky, PathBuf::from("/etc/passwd")] {
        assert_eq!(post(port, &right, hook(&outside).as_bytes()).await, 200);
    }
    assert_eq!(post(port, &right, &vec![b' '; 5 << 20]).await, 413, "oversized hook bodies are refused");

    let after = rig
        .client
        .get_transcript(pb::GetTranscriptRequest { session_id: s.id.clone(), limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.transcript_path, real.transcript_path);
    assert!(!after.entries.iter().any(|e| e.text.contains("FORGED")), "{:?}", after.entries);
    assert!(after.entries.iter().any(|e| e.text.contains("hello from the security test")));
    assert_eq!(rig.get(&s.id).await.transcript_path, real.transcript_path);
    assert!(rig.server_log().contains("outside the session's CC projects folder"));
}

/// `aegis serve` with its own temp state dir and tmux socket (no session is created, so no tmux
/// server starts).
fn serve_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegis"));
    cmd.arg("serve")
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--tmux-socket", &format!("aegis-test-{}", uuid::Uuid::new_v4().simple())])
        .arg("--claude-bin")
        .arg(Cc::NEWEST.binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits up to `secs` for `child` to exit; a child still running is killed and `None` returned.
fn exit_within(mut child: Child, secs: u64) -> Option<(std::process::ExitStatus, String)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return Some((status, err));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn refused(mut cmd: Command, what: &str, expect: &str) {
    let res = exit_within(cmd.spawn().unwrap(), 20);
    let (status, err) = res.unwrap_or_else(|| panic!("{what}: still running after 20 s"));
    assert!(!status.success(), "{what}: exited with success");
    assert!(err.contains(expect), "{what}: {expect:?} not in {err:?}");
}

/// A token file must be the user's own with mode 0600/0400; an empty token (flag, env or file) is a
/// configuration error for `serve` and for the client commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_configuration_is_strict() {
    let dir = tempfile::tempdir().unwrap();
    let file = token_file(dir.path(), "s3cret-token\n", 0o644);
    let f = file.to_str().unwrap();
    refused(serve_cmd(dir.path(), &["--token-file", f]), "token file 0644", "mode 0644");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = serve_cmd(dir.path(), &["--token-file", f, "--listen", "127.0.0.1:0"]).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    let mut anon = SessionServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let e = anon.list_sessions(pb::ListSessionsRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // The trailing newline is not part of the token.
    let mut ok = authed(&addr, "s3cret-token").await;
    ok.list_sessions(pb::ListSessionsRequest::default()).await.unwrap();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(exit_within(child, 20).is_some_and(|(s, _)| s.success()));

    let empty = tempfile::tempdir().unwrap();
    let empty_file = token_file(empty.path(), "\n", 0o600);
    let d = dir.path();
    refused(serve_cmd(d, &["--listen", "0.0.0.0:0", "--token", ""]), "--token ''", "token is empty");
    let mut env_empty = serve_cmd(d, &["--listen", "0.0.0.0:0"]);
    env_empty.env("AEGIS_TOKEN", "");
    refused(env_empty, "AEGIS_TOKEN=", "token is empty");
    refused(serve_cmd(d, &["--token-file", empty_file.to_str().unwrap()]), "empty token file", "token is empty");
    let mut client = Command::new(env!("CARGO_BIN_EXE_aegis"));
    client.args(["ls", "--address", "http://127.0.0.1:9", "--token", ""]).stdout(Stdio::null()).stderr(Stdio::piped());
    refused(client, "aegis ls --token ''", "token is empty");
}

/// A second `aegis serve` on the same state dir exits non-zero naming the running one, and leaves
/// its hook port alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_state_dir_exits_naming_the_first() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let pid = rig.server.as_ref().unwrap().id();
    let port_before = std::fs::read_to_string(rig.path("state/hook-port")).unwrap();
    let mut second = Command::new(env!("CARGO_BIN_EXE_aegis"));
    second
        .args(["serve", "--listen", "127.0.0.1:0", "--tmux-socket", &rig.socket, "--state-dir"])
        .arg(rig.path("state"))
        .arg("--claude-bin")
        .arg(Cc::NEWEST.binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", rig.path("home"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (status, err) = exit_within(second.spawn().unwrap(), 20).expect("the second server is still running");
    assert!(!status.success());
    assert!(err.contains(&format!("pid {pid}")) && err.contains(&rig.addr), "{err}");
    assert_eq!(std::fs::read_to_string(rig.path("state/hook-port")).unwrap(), port_before);
    rig.client.list_sessions(pb::ListSessionsRequest::default()).await.expect("the first one still serves");
}
