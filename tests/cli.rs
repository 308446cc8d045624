//! The human commands (`aegis ls|new|show|send|…`) run as the real binary against a live server (real
//! tmux, real Claude Code 2.1.330, scripted fake Anthropic API). Output is piped, so: no colour, no spinner.
mod cli_rig;

use cli_rig::{terminate, wait_output, Rig, Run, CC_VERSION};
use std::time::Duration;

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

/// Runs the CLI without a rig (no server at that address).
fn run_offline(args: &[&str]) -> Run {
    let mut c = std::process::Command::new(cli_rig::cli_bin());
    c.args(args).env_remove("AEGIS_TOKEN").env_remove("AEGIS_ADDRESS");
    Run::from(c.output().unwrap(), args)
}

/// Runs `aegis --address … ARGS` under script(1), i.e. on a pseudo-terminal; returns what it wrote.
fn run_tty(rig: &Rig, args: &str, no_color: bool) -> String {
    let cmdline = format!("{} --address {} {args}", cli_rig::cli_bin().display(), rig.address);
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmdline, "/dev/null"]).env_remove("NO_COLOR").stdin(std::process::Stdio::null());
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("script(1)");
    let out = wait_output(child, Duration::from_secs(30)).expect("script(1) did not finish");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn unreachable_server_is_an_error_and_usage_errors_exit_2() {
    // Port 1 on loopback: nothing listens there.
    run_offline(&["--address", "http://127.0.0.1:1", "ls"]).code(4).stderr_has("cannot reach the Aegis server");
    let d = run_offline(&["--address", "http://127.0.0.1:1", "doctor"]);
    d.code(1).stdout_has("FAIL").stdout_has("server").stdout_has("port");
    run_offline(&["--address", "http://127.0.0.1:1", "ls", "--state", "bogus"]).code(2).stderr_has("unknown state");
    run_offline(&["--address", "http://127.0.0.1:1", "watch"]).code(2);
    run_offline(&["--address", "http://127.0.0.1:1", "send", "x"]).code(2);
}

#[test]
fn session_lifecycle_over_the_cli() {
    let rig = Rig::start();
    let work = rig.work_dir();

    rig.run(&["doctor"], 30)
        .ok()
        .stdout_has("claude code")
        .stdout_has(CC_VERSION)
        .stdout_has("tmux (server)")
        .stdout_has("state dir");
    rig.run(&["ls"], 20).ok().stderr_has("no sessions");

    let created = rig.run(
        &["new", &work, "hello aegis", "--wait", "--name", "impl-#123 tâche", "--permission-mode", "default"],
        180,
    );
    created.ok();
    let id = created.stdout.trim().to_string();
    assert!(is_uuid(&id), "`new` must print only the id, got {:?}\n{}", created.stdout, rig.server_log());
    created.stderr_has("IDLE");

    // Table: header and the row.
    let ls = rig.run(&["ls"], 20);
    ls.ok()
        .stdout_has("ID")
        .stdout_has("NAME")
        .stdout_has("STATE")
        .stdout_has("PENDING")
        .stdout_has("WORK DIR")
        .stdout_has("AGE");
    let row =
        ls.stdout.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("no row for {id}:\n{}", ls.stdout));
    assert!(row.contains("impl-#123 tâche") && row.contains("IDLE") && row.contains(&work), "row: {row}");
    assert!(!ls.stdout.contains('\x1b'), "no colour when piped");

    let json = rig.run(&["ls", "--json"], 20);
    json.ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("ls --json is JSON");
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["state"], "IDLE");
    assert_eq!(v[0]["stable"], true);

    // Hooks: the live probe of the running service's hook endpoint.
    rig.run(&["doctor"], 30).ok().stdout_has("hook endpoint").stdout_has("answers");

    // By name, with the last messages from GetTranscript.
    rig.run(&["show", "impl-#123 tâche"], 20)
        .ok()
        .stdout_has(&format!("id:         {id}"))
        .stdout_has("IDLE (stable")
        .stdout_has("Last messages:")
        .stdout_has("user: hello aegis")
        .stdout_has("assistant: Fake reply: hello aegis");

    rig.run(&["logs", &id], 20).ok().stdout_has("user: hello aegis").stdout_has("assistant: Fake reply: hello aegis");
    let logs_json = rig.run(&["logs", &id, "--json", "--kind", "assistant_text"], 20);
    logs_json.ok();
    for line in logs_json.stdout.lines() {
        let e: serde_json::Value = serde_json::from_str(line).expect("logs --json: one object per line");
        assert_eq!(e["kind"], "ASSISTANT_TEXT");
    }
    let screen = rig.run(&["screen", &id], 20);
    screen.ok();
    assert!(!screen.stdout.trim().is_empty(), "screen is empty");

    // Watch the session while a second turn runs; follow the transcript until the session exits.
    let watch = rig.command(&["watch", &id]).spawn().unwrap();
    let follow = rig.command(&["logs", &id, "--follow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(1));

    rig.run(&["send", &id, "second prompt", "--wait"], 150)
        .ok()
        .stdout_has("Fake reply: second prompt")
        .stderr_has("IDLE");

    // Nothing changes on an idle session: the wait times out with exit code 3.
    rig.run(&["wait", &id, "--timeout", "2"], 30).code(3).stderr_has("timed out");
    // `--now` accepts the current stable state.
    rig.run(&["wait", &id, "--now"], 30).ok().stderr_has("IDLE");
    // No question pending: an error naming the state.
    rig.run(&["answer", &id, "-o", "1"], 20).code(1).stderr_has("no question is pending");
    rig.run(&["approve", &id], 20).code(1).stderr_has("no permission is pending");
    // Errors carry the ErrorInfo reason.
    rig.run(&["show", "no-such-session"], 20).code(1).stderr_has("SESSION_NOT_FOUND");

    let mut watch = watch;
    std::thread::sleep(Duration::from_millis(500));
    terminate(&mut watch);
    let w = wait_output(watch, Duration::from_secs(5)).unwrap();
    let w = String::from_utf8_lossy(&w.stdout).into_owned();
    assert!(w.contains("SNAPSHOT"), "watch output:\n{w}");
    assert!(w.contains("STATE_CHANGED") && w.contains("-> WORKING") && w.contains("-> IDLE"), "watch output:\n{w}");
    assert!(!w.contains('\x1b'), "no colour when piped");

    // On a terminal (script(1) gives the CLI a pty): colour unless NO_COLOR, and a spinner while waiting.
    let tty = run_tty(&rig, &format!("watch {id} --from 1 --until idle"), false);
    assert!(tty.contains("\x1b[") && tty.contains("SNAPSHOT"), "no colour on a TTY:\n{tty}");
    let tty = run_tty(&rig, &format!("watch {id} --from 1 --until idle"), true);
    assert!(!tty.contains("\x1b[") && tty.contains("SNAPSHOT"), "colour despite NO_COLOR:\n{tty}");
    let tty = run_tty(&rig, &format!("wait {id} --timeout 2"), true);
    assert!(tty.contains("waiting") && tty.contains("timed out"), "no spinner on a TTY:\n{tty}");

    rig.run(&["kill", &id], 30).ok().stdout_has(&format!("killed {id} (EXITED)"));

    // logs --follow ends by itself once the session exited, having printed both turns.
    let f = wait_output(follow, Duration::from_secs(20)).expect("logs --follow did not end after the session exited");
    let fout = String::from_utf8_lossy(&f.stdout);
    assert!(f.status.success(), "logs --follow failed: {}", String::from_utf8_lossy(&f.stderr));
    assert!(fout.contains("Fake reply: hello aegis") && fout.contains("Fake reply: second prompt"), "follow:\n{fout}");

    rig.run(&["show", &id], 20).ok().stdout_has("EXITED");
    rig.run(&["ls"], 20).ok().stderr_has("no sessions");
    rig.run(&["ls", "--all"], 20).ok().stdout_has(&id);
    rig.run(&["attach", &id], 20).code(5).stderr_has("has exited");
}

#[test]
fn bash_permission_approve_and_reject() {
    let rig = Rig::start();
    let work = rig.work_dir();
    let created = rig.run(&["new", &work, "BASH(touch approved.txt)", "--wait", "--permission-mode", "default"], 180);
    created.ok().stderr_has("BASH_APPROVAL").stderr_has("touch approved.txt");
    let id = created.stdout.trim().to_string();

    let ls = rig.run(&["ls"], 20);
    ls.ok().stdout_has("BASH_APPROVAL").stdout_has("bash: touch approved.txt");
    rig.run(&["show", &id], 20)
        .ok()
        .stdout_has("Pending interactions:")
        .stdout_has("[BASH]")
        .stdout_has("touch approved.txt");

    // attach execs `tmux attach` on the server's socket: a (non-control) tmux client appears.
    let cmdline = format!("{} --address {} attach {id}", cli_rig::cli_bin().display(), rig.address);
    let mut attached = std::process::Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script(1)");
    let client = cli_rig::eventually(15, || {
        let o = std::process::Command::new("tmux")
            .args(["-L", &rig.socket, "list-clients", "-F", "#{client_control_mode} #{window_id}"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&o.stdout).lines().find(|l| l.starts_with("0 ")).map(str::to_string)
    });
    terminate(&mut attached);
    let client = client.expect("`aegis attach` did not attach a tmux client");
    let show = rig.run(&["show", &id, "--json"], 20);
    let pane =
        serde_json::from_str::<serde_json::Value>(&show.stdout).unwrap()["tmux_pane"].as_str().unwrap().to_string();
    let o = std::process::Command::new("tmux")
        .args(["-L", &rig.socket, "display-message", "-p", "-t", &pane, "#{window_id}"])
        .output()
        .unwrap();
    let window = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(client, format!("0 {window}"), "attached to the wrong window");

    rig.run(&["approve", &id, "--wait"], 150).ok().stderr_has("approved").stderr_has("IDLE");
    let approved = rig.path("work/approved.txt");
    assert!(cli_rig::eventually(10, || approved.exists().then_some(())).is_some(), "approved command did not run");

    rig.run(&["send", &id, "BASH(touch rejected.txt)", "--wait"], 150)
        .ok()
        .stdout_has("[BASH]")
        .stdout_has("touch rejected.txt");
    rig.run(&["reject", &id, "--feedback", "do not touch files", "--wait"], 150).ok().stderr_has("rejected");
    assert!(!rig.path("work/rejected.txt").exists(), "rejected command ran");
    rig.run(&["kill", &id], 30).ok();
}

#[test]
fn answer_a_question() {
    let rig = Rig::start();
    let work = rig.work_dir();
    let created = rig.run(&["new", &work, "ASK_ONE", "--wait", "--permission-mode", "default"], 180);
    created.ok().stderr_has("ASK_QUESTION");
    let id = created.stdout.trim().to_string();
    rig.run(&["show", &id], 20)
        .ok()
        .stdout_has("[QUESTION]")
        .stdout_has("Which recovery strategy?")
        .stdout_has("1. Clean up")
        .stdout_has("2. Auto-restart");
    // Option by number; the pending question is found without naming it.
    rig.run(&["answer", &id, "-o", "2", "--wait"], 150).ok().stderr_has("answered").stderr_has("IDLE");
    rig.run(&["logs", &id], 20).ok().stdout_has("Auto-restart");
    rig.run(&["kill", &id], 30).ok();
}

/// Parses a `--json` document (stdout), with the run in the message when it is not JSON.
#[track_caller]
fn json_of(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("`aegis {}` stdout is not JSON ({e}):\n{}", r.args, r.stdout))
}

/// Parses the JSON error object a `--json` run printed on stderr.
#[track_caller]
fn json_error(r: &Run) -> serde_json::Value {
    let line = r.stderr.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| {
        panic!("`aegis {}` printed no JSON error on stderr:\n{}", r.args, r.stderr);
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("`aegis {}` stderr is not JSON ({e}): {line}", r.args))
}

#[test]
fn exit_codes_and_json_errors_without_a_server() {
    let ls = run_offline(&["--address", "http://127.0.0.1:1", "ls", "--json"]);
    ls.code(4);
    let e = json_error(&ls);
    assert_eq!((e["code"].as_str(), e["reason"].as_str()), (Some("UNAVAILABLE"), Some("SERVER_UNREACHABLE")), "{e}");
    assert_eq!(e["metadata"]["address"], "http://127.0.0.1:1");
    assert_eq!(e["exit_code"], 4);
    // A clap usage error is a JSON object too when --json was given.
    let bad = run_offline(&["--address", "http://127.0.0.1:1", "wait", "impl-#123", "--until", "bogus", "--json"]);
    bad.code(2);
    let e = json_error(&bad);
    assert_eq!((e["code"].as_str(), e["reason"].as_str()), (Some("INVALID_ARGUMENT"), Some("USAGE")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("bogus"), "{e}");
    // The table is in every command's help.
    run_offline(&["wait", "--help"]).ok().stdout_has("Exit codes:").stdout_has("5    the session ended EXITED");
}

#[test]
fn json_on_every_command_and_exit_codes_for_ended_sessions() {
    let rig = Rig::start();
    let work = rig.work_dir();
    let created = rig.run(&["new", &work, "hello aegis", "--wait", "--json", "--name", "impl-#123"], 180);
    created.ok();
    let v = json_of(&created);
    let id = v["session"]["id"].as_str().unwrap().to_string();
    assert!(is_uuid(&id), "{v}");
    assert_eq!((v["session"]["state"].as_str(), v["wait_result"]["satisfied"].as_bool()), (Some("IDLE"), Some(true)));
    let short = &id[..8];

    // The printed 8-character short id is accepted as an id.
    let screen = json_of(rig.run(&["screen", short, "--json"], 20).ok());
    assert_eq!(screen["session_id"], id.as_str());
    assert!(
        screen["text"].as_str().is_some_and(|t| !t.trim().is_empty()) && screen["cols"].as_i64() > Some(0),
        "{screen}"
    );

    let sent = json_of(rig.run(&["send", short, "second prompt", "--wait", "--json"], 150).ok());
    assert_eq!(sent["session"]["id"], id.as_str());
    assert!(sent["delivered_revision"].as_i64() > Some(0), "{sent}");
    assert_eq!(sent["wait_result"]["satisfied"], true);
    assert_eq!(sent["session"]["last_assistant_message"], "Fake reply: second prompt");
    let now = json_of(rig.run(&["wait", "impl-#123", "--now", "--json"], 30).ok());
    assert_eq!(
        (now["session"]["state"].as_str(), now["wait_result"]["satisfied"].as_bool()),
        (Some("IDLE"), Some(true))
    );

    // A timed-out wait: the session on stdout, the error object on stderr, exit 3.
    let late = rig.run(&["wait", short, "--timeout", "2", "--json"], 30);
    late.code(3);
    assert_eq!(json_of(&late)["wait_result"]["satisfied"], false);
    let e = json_error(&late);
    assert_eq!((e["reason"].as_str(), e["metadata"]["state"].as_str()), (Some("WAIT_TIMED_OUT"), Some("IDLE")), "{e}");
    // A server error: code, reason and message.
    let missing = rig.run(&["show", "review PR 456", "--json"], 20);
    missing.code(1);
    let e = json_error(&missing);
    assert_eq!((e["code"].as_str(), e["reason"].as_str()), (Some("NOT_FOUND"), Some("SESSION_NOT_FOUND")), "{e}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");

    // A question and a permission, answered with --json, on a session named with non-ASCII text.
    let asked = rig.run(&["new", &work, "ASK_ONE", "--wait", "--name", "tâche-é", "--permission-mode", "default"], 180);
    asked.ok().stderr_has("ASK_QUESTION");
    let answered = json_of(rig.run(&["answer", "tâche-é", "-o", "2", "--wait", "--json"], 150).ok());
    assert!(answered["interaction_id"].as_str().is_some_and(|i| !i.is_empty()), "{answered}");
    assert!(["HOOK", "KEYS"].contains(&answered["path"].as_str().unwrap_or_default()), "{answered}");
    assert_eq!(answered["session"]["state"], "IDLE");
    rig.run(&["send", "tâche-é", "BASH(touch approved.txt)", "--wait"], 150).ok().stdout_has("[BASH]");
    let approved = json_of(rig.run(&["approve", "tâche-é", "--wait", "--json"], 150).ok());
    assert_eq!(
        (approved["session"]["state"].as_str(), approved["wait_result"]["satisfied"].as_bool()),
        (Some("IDLE"), Some(true))
    );
    let interrupted = json_of(rig.run(&["interrupt", "tâche-é", "--json"], 30).ok());
    assert!(interrupted["observed"].is_boolean() && interrupted["session"]["id"].is_string(), "{interrupted}");

    // kill by prefix; afterwards the session has ended: wait exits 5, and so does a call needing it live.
    let killed = json_of(rig.run(&["kill", short, "--json"], 30).ok());
    assert_eq!(
        (killed["session"]["id"].as_str(), killed["session"]["state"].as_str()),
        (Some(id.as_str()), Some("EXITED"))
    );
    rig.run(&["wait", short], 30).code(5).stderr_has("has exited");
    rig.run(&["wait", &id, "--now"], 30).code(5);
    // Unless EXITED is what was asked for.
    rig.run(&["wait", short, "--until", "exited"], 30).ok().stderr_has("EXITED");
    let ended = rig.run(&["wait", "impl-#123", "--json"], 30);
    ended.code(5);
    assert_eq!(json_of(&ended)["session"]["state"], "EXITED");
    let e = json_error(&ended);
    assert_eq!(
        (e["reason"].as_str(), e["metadata"]["session_id"].as_str()),
        (Some("SESSION_EXITED"), Some(id.as_str()))
    );
    rig.run(&["send", short, "are you there?"], 30).code(5).stderr_has("SESSION_EXITED");
    rig.run(&["attach", short], 20).code(5).stderr_has("has exited");
    // Too short to be a prefix, and not a name: not found.
    rig.run(&["show", &id[..3]], 20).code(1).stderr_has("SESSION_NOT_FOUND");
}

/// Spawns the CLI with its stdout closed before it writes anything (the reader is gone, as after
/// `| head -1`); returns the exit code and stderr.
fn run_with_closed_stdout(rig: &Rig, args: &[&str]) -> (i32, String) {
    let mut child = rig.command(args).spawn().expect("spawn aegis");
    drop(child.stdout.take());
    let out = wait_output(child, Duration::from_secs(30)).unwrap_or_else(|| panic!("`aegis {args:?}` hung"));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let rig = Rig::start();
    let work = rig.work_dir();
    let created = rig.run(&["new", &work, "hello aegis", "--wait", "--name", "review PR 456"], 180);
    let id = created.ok().stdout.trim().to_string();
    for args in [
        vec!["ls"],
        vec!["ls", "--json"],
        vec!["logs", &id],
        vec!["logs", &id, "--follow"],
        vec!["watch", &id],
        vec!["show", "review PR 456"],
        vec!["screen", &id[..8]],
    ] {
        let (code, stderr) = run_with_closed_stdout(&rig, &args);
        assert!(!stderr.contains("panicked") && !stderr.contains("failed printing"), "`aegis {args:?}`: {stderr}");
        assert_eq!(code, 141, "`aegis {args:?}` exited {code}; stderr:\n{stderr}");
        assert!(stderr.is_empty(), "`aegis {args:?}` printed on stderr:\n{stderr}");
    }
    rig.run(&["kill", &id], 30).ok();
}

#[test]
fn logs_strip_escapes_when_piped_and_never_print_secrets() {
    let rig = Rig::start();
    let work = rig.work_dir();
    let state = rig.path("state");
    // CC's Bash tool output carries colour escapes and the session's own hook URL (with its secret). A
    // script keeps the command line plain (CC asks again for globs and escapes in a command).
    let script = format!(
        "printf '\\033[1;31mALERT\\033[0m ANTHROPIC_API_KEY=sk-ant-api03-abcdef\\n'\ncat {}/sessions/*/settings.json\n",
        state.display()
    );
    std::fs::write(rig.path("work/show-hooks.sh"), script).unwrap();
    let created = rig.run(
        &[
            "new",
            &work,
            "BASH(sh show-hooks.sh)",
            "--wait",
            "--timeout",
            "60",
            "--name",
            "impl-#123",
            "--approve-tool",
            "Bash",
            "--permission-mode",
            "default",
        ],
        180,
    );
    if created.code != 0 {
        let id = created.stdout.trim();
        panic!("{created:?}\n{}\n{}", rig.run(&["screen", id], 20).stdout, rig.run(&["show", id, "--json"], 20).stdout);
    }
    let id = created.ok().stdout.trim().to_string();
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join(format!("sessions/{id}/settings.json"))).unwrap())
            .unwrap();
    let url = settings["hooks"]["Stop"][0]["hooks"][0]["url"].as_str().unwrap().to_string();
    let secret = url.rsplit('/').next().unwrap().to_string();
    assert!(secret.len() >= 16, "{url}");
    // The entry is there (the command ran and its output was recorded).
    let logs = cli_rig::eventually(30, || {
        let r = rig.run(&["logs", &id[..8]], 20);
        (r.code == 0 && r.stdout.contains("ALERT") && r.stdout.contains("/hooks/")).then_some(r)
    })
    .unwrap_or_else(|| panic!("no tool result in logs:\n{}", rig.run(&["logs", &id], 20).stdout));
    assert!(!logs.stdout.contains('\x1b'), "ESC bytes in piped logs:\n{:?}", logs.stdout);
    assert!(!logs.stdout.contains(&secret), "hook secret in logs:\n{}", logs.stdout);
    assert!(!logs.stdout.contains("sk-ant-api03-abcdef"), "API key in logs:\n{}", logs.stdout);
    assert!(logs.stdout.contains("/hooks/") && logs.stdout.contains("<redacted>"), "{}", logs.stdout);
    let json = rig.run(&["logs", &id, "--json"], 20);
    json.ok();
    assert!(!json.stdout.contains(&secret) && !json.stdout.contains("sk-ant-api03-abcdef"), "{}", json.stdout);
    for line in json.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("logs --json: one object per line");
    }
    let show = rig.run(&["show", "impl-#123", "-n", "50"], 20);
    assert!(!show.ok().stdout.contains(&secret), "hook secret in show:\n{}", show.stdout);
    // On a terminal the colours are kept (the redaction still applies).
    let tty = run_tty(&rig, &format!("logs {id}"), false);
    assert!(tty.contains("\x1b[1;31mALERT"), "colours lost on a TTY:\n{tty:?}");
    assert!(!tty.contains(&secret), "hook secret on the TTY:\n{tty}");
    rig.run(&["kill", &id], 30).ok();
}

#[test]
fn a_turn_that_ends_in_error_exits_6_unless_error_was_asked_for() {
    let rig = Rig::start();
    let work = rig.work_dir();
    let env = "CLAUDE_CODE_MAX_RETRIES=1";
    let created = rig
        .run(&["new", &work, "--wait", "--name", "review PR 456", "--env", env, "--permission-mode", "default"], 180);
    let id = created.ok().stdout.trim().to_string();
    let failed = rig.run(&["send", &id[..8], "ERROR(500) please fail", "--wait", "--json"], 150);
    failed.code(6);
    assert_eq!(json_of(&failed)["session"]["state"], "ERROR");
    let e = json_error(&failed);
    assert_eq!((e["reason"].as_str(), e["exit_code"].as_i64()), (Some("SESSION_ERROR"), Some(6)), "{e}");
    assert!(e["message"].as_str().unwrap().contains("500"), "{e}");
    // Text form, and ERROR as the wanted state.
    rig.run(&["wait", "review PR 456", "--now"], 30).code(6).stderr_has("ended in ERROR");
    rig.run(&["wait", "review PR 456", "--now", "--until", "error"], 30).ok();
    rig.run(&["kill", &id], 30).ok();
}
