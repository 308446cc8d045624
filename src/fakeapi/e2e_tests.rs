//! End-to-end tests: the real Claude Code CLI (`claude -p`) against the fake API.
//!
//! The CLI binaries are looked up where scripts/install-claude-code.sh puts them
//! (`$AEGIS_CC_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/aegis/claude-code/<version>/`); a test whose binary is missing prints a message and passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::*;

const API_KEY: &str = "sk-ant-test-0123456789abcdefghij";

fn claude_bin(version: &str) -> Option<PathBuf> {
    // Same lookup as scripts/install-claude-code.sh.
    let root = std::env::var_os("AEGIS_CC_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| Path::new(&c).join("aegis/claude-code")))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/aegis/claude-code")))?;
    let p = root.join(version).join("node_modules/.bin/claude");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: Claude Code {version} not installed at {}", p.display());
        None
    }
}

/// Temp HOME / CLAUDE_CONFIG_DIR / work dir with onboarding, key approval and trust seeded.
struct CcHome {
    _dir: tempfile::TempDir,
    home: PathBuf,
    cfg: PathBuf,
    work: PathBuf,
}

impl CcHome {
    fn new() -> CcHome {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        let cfg = home.join("cfg");
        let work = home.join("work");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let seed = serde_json::json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": [&API_KEY[API_KEY.len() - 20..]], "rejected": []},
            "projects": {work.to_string_lossy(): {"hasTrustDialogAccepted": true}},
        });
        std::fs::write(cfg.join(".claude.json"), seed.to_string()).unwrap();
        CcHome { _dir: dir, home, cfg, work }
    }
}

struct CcRun {
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl CcRun {
    fn result(&self) -> Option<&Value> {
        self.events.iter().rev().find(|e| e["type"] == "result")
    }
    fn result_text(&self) -> String {
        self.result().and_then(|r| r["result"].as_str()).unwrap_or_default().to_string()
    }
    fn dump(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `claude -p <prompt> --output-format stream-json --verbose <args>`; kills the whole
/// process group if it does not finish within `limit`.
async fn run_cc(
    bin: &Path,
    home: &CcHome,
    api: &FakeApi,
    prompt: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> CcRun {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env_clear()
        .env("HOME", &home.home)
        .env("PATH", "/usr/bin:/bin")
        .env("CLAUDE_CONFIG_DIR", &home.cfg)
        .env("ANTHROPIC_BASE_URL", api.base_url())
        .env("ANTHROPIC_API_KEY", API_KEY)
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .envs(env.iter().copied())
        .current_dir(&home.work)
        .arg("-p")
        .arg(prompt)
        .args(["--output-format", "stream-json", "--verbose"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().expect("spawn claude");
    let pid = child.id();
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out.expect("wait claude"),
        Err(_) => {
            if let Some(pid) = pid {
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            }
            panic!("claude did not finish within {limit:?}");
        }
    };
    // Tool subprocesses share the group; make sure nothing is left behind.
    if let Some(pid) = pid {
        let _ =
            std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
    }
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let events = stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect();
    CcRun { events, stdout, stderr: String::from_utf8_lossy(&out.stderr).to_string() }
}

const LIMIT: Duration = Duration::from_secs(90);

async fn plain_text(version: &str) {
    let Some(bin) = claude_bin(version) else {
        return;
    };
    let home = CcHome::new();
    let api = FakeApi::start(Script::builtin()).await.unwrap();
    let run = run_cc(&bin, &home, &api, "hello e2e\nsecond line", &[], &[], LIMIT).await;
    assert_eq!(run.result_text(), "Fake reply: hello e2e", "{}", run.dump());
    assert_eq!(run.result().unwrap()["is_error"], false);
    let main = api.main_requests();
    assert_eq!(main.len(), 1, "{:?}", api.requests());
    assert_eq!(main[0].last_user_text, "hello e2e\nsecond line");
    assert!(main[0].tools.iter().any(|t| t == "Bash"));
    assert!(main[0].stream);
    api.shutdown().await;
}

async fn bash_tool(version: &str) {
    let Some(bin) = claude_bin(version) else {
        return;
    };
    let home = CcHome::new();
    let api = FakeApi::start(Script::builtin()).await.unwrap();
    let run = run_cc(&bin, &home, &api, "BASH(echo aegis-e2e-$((6*7)))", &["--allowedTools", "Bash"], &[], LIMIT).await;
    assert_eq!(run.result_text(), "Tool finished: aegis-e2e-42", "{}", run.dump());
    let main = api.main_requests();
    assert_eq!(main.len(), 2, "{:?}", api.requests());
    assert_eq!(main[0].reply_tools, vec!["Bash".to_string()]);
    assert_eq!(main[1].turn, Some(Turn::ToolResult));
    assert_eq!(main[1].result_tools, vec!["Bash".to_string()]);
    assert_eq!(main[1].last_user_text.trim(), "aegis-e2e-42");
    api.shutdown().await;
}

async fn write_and_edit(version: &str) {
    let Some(bin) = claude_bin(version) else {
        return;
    };
    let home = CcHome::new();
    let api = FakeApi::start(Script::builtin()).await.unwrap();
    let args = ["--permission-mode", "acceptEdits"];
    let run = run_cc(&bin, &home, &api, "WRITE(notes/a.txt:alpha beta)", &args, &[], LIMIT).await;
    assert!(run.result_text().starts_with("Tool finished: "), "{}", run.dump());
    let file = home.work.join("notes/a.txt");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "alpha beta\n");
    let run = run_cc(&bin, &home, &api, "EDIT(notes/a.txt:beta->gamma)", &args, &[], LIMIT).await;
    assert!(run.result_text().starts_with("Tool finished: "), "{}", run.dump());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "alpha gamma\n");
    let tools: Vec<String> = api.main_requests().iter().flat_map(|r| r.reply_tools.clone()).collect();
    assert_eq!(tools, ["Write", "Read", "Edit"]);
    api.shutdown().await;
}

async fn error_retry(version: &str) {
    let Some(bin) = claude_bin(version) else {
        return;
    };
    let home = CcHome::new();
    let api = FakeApi::start(Script::builtin()).await.unwrap();
    let env = [("CLAUDE_CODE_MAX_RETRIES", "2")];
    let run = run_cc(&bin, &home, &api, "ERROR(500x1) then fine", &[], &env, LIMIT).await;
    assert_eq!(run.result_text(), "Fake reply: ERROR(500x1) then fine", "{}", run.dump());
    let statuses: Vec<u16> = api.main_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200]);

    // Always failing: CC gives up after 1 + MAX_RETRIES attempts and reports the error.
    let run = run_cc(&bin, &home, &api, "ERROR(500) forever", &[], &env, LIMIT).await;
    let r = run.result().expect("result event");
    assert_eq!(r["is_error"], true, "{}", run.dump());
    let failed = api.main_requests().iter().filter(|r| r.last_user_text.contains("forever")).count();
    assert_eq!(failed, 3);
    api.shutdown().await;
}

macro_rules! e2e_for_version {
    ($modname:ident, $version:literal) => {
        mod $modname {
            #[tokio::test]
            async fn plain_text() {
                super::plain_text($version).await
            }
            #[tokio::test]
            async fn bash_tool() {
                super::bash_tool($version).await
            }
            #[tokio::test]
            async fn write_and_edit() {
                super::write_and_edit($version).await
            }
            #[tokio::test]
            async fn error_retry() {
                super::error_retry($version).await
            }
        }
    };
}

e2e_for_version!(cc_2_1_197, "2.1.197");
e2e_for_version!(cc_2_1_330, "2.1.330");
