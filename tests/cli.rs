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
    run_offline(&["--address", "http://127.0.0.1:1", "ls"]).code(1).stderr_has("cannot reach the Aegis server");
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
    rig.run(&["attach", &id], 20).code(1).stderr_has("has exited");
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
