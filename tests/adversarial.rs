//! End-to-end: caller text is data. Prompts that look like commands (`!`, `/`, `#`), control bytes, paste
//! markers, a 1 MiB text and multi-line shell lines either reach the model as ONE literal prompt or are
//! refused with a reason; nothing ever runs and the session never exits. One CC process per test
//! function: the cases run one after another in the same session.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, wait, Cc, Rig};
use pb::SessionState as S;
use std::path::Path;
use tonic::Code;

async fn send(
    rig: &mut Rig,
    id: &str,
    text: &str,
    kind: pb::MessageKind,
) -> Result<pb::SendMessageResponse, tonic::Status> {
    rig.client
        .send_message(pb::SendMessageRequest {
            session_id: id.into(),
            text: text.into(),
            kind: kind as i32,
            wait: Some(wait(90, &[])),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

/// Sends a prompt that must be delivered, and checks the turn ended idle.
async fn deliver(rig: &mut Rig, id: &str, text: &str) {
    let text_ = text;
    let text: String = text.chars().take(80).collect();
    let r = match send(rig, id, text_, pb::MessageKind::Prompt).await {
        Ok(r) => r,
        Err(e) => panic!("{text:?} refused: {e:?}\n{}", rig.screen(id).await),
    };
    assert!(r.wait_result.unwrap().satisfied, "{text:?}: no stable state\n{}", rig.screen(id).await);
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle, "{text:?}\n{}", rig.screen(id).await);
}

/// The model received `text` as one user text block, byte for byte.
fn model_received(rig: &Rig, text: &str) {
    let reqs = rig.api.main_requests();
    assert!(
        reqs.iter().any(|r| r.user_blocks.iter().any(|b| b == text)),
        "the model never received {text:?}; last user blocks seen: {:?}",
        reqs.iter().filter_map(|r| r.user_blocks.last()).collect::<Vec<_>>()
    );
}

/// Sends a text that must be refused with INVALID_ARGUMENT and `why`; returns the ErrorInfo metadata.
async fn refused(
    rig: &mut Rig,
    id: &str,
    text: &str,
    kind: pb::MessageKind,
    why: &str,
) -> std::collections::HashMap<String, String> {
    use tonic_types::StatusExt;
    let e = send(rig, id, text, kind).await.expect_err(text);
    assert_eq!((e.code(), reason(&e).as_str()), (Code::InvalidArgument, why), "{text:?}: {e:?}");
    e.get_details_error_info().unwrap().metadata
}

async fn alive_and_idle(rig: &mut Rig, id: &str, marks: &Path) {
    let s = rig.get(id).await;
    assert_eq!(state_of(&s), S::Idle, "{s:?}\n{}", rig.screen(id).await);
    let made: Vec<_> = std::fs::read_dir(marks).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(made.is_empty(), "a command ran: {made:?}");
}

async fn untrusted_text_is_one_literal_prompt_or_refused(cc: Cc) {
    use pb::MessageKind::{Bash, Prompt, SlashCommand};
    let mut rig = Rig::start(cc).await;
    let marks = rig.path("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let mark = |n: &str| marks.join(n).to_string_lossy().into_owned();
    let s = rig.create("", 90).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{}", rig.server_log());
    let id = s.id.clone();

    // Leading characters CC gives a meaning to in an empty box or on submit: delivered as text.
    let delivered = [
        format!("!touch {}", mark("bang")),
        format!("# remember to touch {}", mark("hash")),
        "/tmp/x is broken, please look".to_string(),
        format!("  \n!touch {}\nsecond line", mark("indented-bang")),
        "? what does this shortcut do".to_string(),
        "tabs\tstay\ttext and 'quotes' $(stay) `too`".to_string(),
        "  leading white space stays, trailing goes \t \n".to_string(),
    ];
    // Back to back with very short turns: the box is empty each time (decided on a fresh capture).
    for text in &delivered {
        deliver(&mut rig, &id, text).await;
        // What CC changes: it drops trailing white space and turns a pasted tab into 4 spaces.
        model_received(&rig, &text.trim_end().replace('\t', "    "));
    }
    alive_and_idle(&mut rig, &id, &marks).await;

    // A slash command name as a prompt: refused, naming SLASH_COMMAND.
    for text in ["/exit", "  \n/exit now"] {
        let meta = refused(&mut rig, &id, text, Prompt, "PROMPT_IS_SLASH_COMMAND").await;
        assert_eq!(meta["command"], "exit");
    }
    // Control bytes and paste markers: refused with the byte offset of the first one.
    let touch = mark("ctl");
    for (text, offset) in [
        (format!("erase\u{15}!touch {touch}"), 5),
        (format!("interrupt\u{3}{touch}"), 9),
        (format!("x\u{1b}[201~!touch {touch}\u{1b}[200~"), 1),
        ("submitted early\u{1b}OM".to_string(), 15),
        (format!("echo one\rtouch {touch}"), 8),
        ("c1 \u{9b}201~".to_string(), 3),
    ] {
        let meta = refused(&mut rig, &id, &text, Prompt, "MESSAGE_CONTROL_CHARACTER").await;
        assert_eq!(meta["offset"], offset.to_string(), "{text:?}");
    }
    // Shell lines and slash commands are one line.
    let meta = refused(&mut rig, &id, &format!("echo one\rtouch {touch}"), Bash, "MESSAGE_NOT_SINGLE_LINE").await;
    assert_eq!(meta["offset"], "8");
    refused(&mut rig, &id, &format!("echo one\ntouch {touch}"), Bash, "MESSAGE_NOT_SINGLE_LINE").await;
    refused(&mut rig, &id, "compact\rexit", SlashCommand, "MESSAGE_NOT_SINGLE_LINE").await;
    refused(&mut rig, &id, "compact\u{1b}[201~", SlashCommand, "MESSAGE_CONTROL_CHARACTER").await;
    alive_and_idle(&mut rig, &id, &marks).await;

    // A 1 MiB prompt is accepted as one prompt and does not wedge the session.
    let line = "the quick brown fox jumps over the lazy dog 0123456789 !touch /tmp/nothing\n";
    let mut big = line.repeat(((1 << 20) - 17) / line.len());
    big.push_str("END OF BIG PROMPT");
    assert!(big.len() <= 1 << 20);
    deliver(&mut rig, &id, &big).await;
    let reqs = rig.api.main_requests();
    let block = reqs
        .iter()
        .flat_map(|r| r.user_blocks.iter())
        .find(|b| b.contains("END OF BIG PROMPT"))
        .expect("the model never got the 1 MiB prompt");
    // CC 2.1.330 and later wrap a text they show as `[Pasted text #N]` in their own tags; 2.1.197 does not.
    if block != &big {
        let inner = block.trim().strip_prefix("<pasted_content id=\"").and_then(|r| r.split_once("\">\n"));
        let (tag, rest) = inner.unwrap_or_else(|| panic!("unexpected form: {:?}", &block[..200]));
        assert_eq!(rest, format!("{big}\n</pasted_content id=\"{tag}\">"), "CC {cc:?}");
    }
    deliver(&mut rig, &id, "still answering after the big one").await;
    model_received(&rig, "still answering after the big one");
    alive_and_idle(&mut rig, &id, &marks).await;
}
per_cc!(untrusted_text_is_one_literal_prompt_or_refused);

async fn interrupted_prompt_is_replaced_by_the_next_message(cc: Cc) {
    // A turn whose whole text is the `HOLD_ONCE` prompt is answered after a minute; the next request
    // carries the interrupted prompt too (CC keeps it in the conversation) and is answered at once.
    let script =
        r#"{"rules": [{"name": "hold", "match": "\\AHOLD_ONCE[^\\n]*\\z", "delay_ms": 60000}], "builtin": true}"#;
    let mut rig = Rig::start_with(cc, aegis::fakeapi::Script::from_json(script).unwrap()).await;
    let marks = rig.path("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // The first prompt travels on CC's command line: `!` there is text as well.
    let first = format!("!touch {}", marks.join("first").display());
    let s = rig.create(&first, 90).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{}", rig.server_log());
    model_received(&rig, &first);
    let mut req = rig.create_request("/exit");
    req.wait = Some(wait(5, &[]));
    let e = rig.client.create_session(req).await.expect_err("a first prompt /exit must be refused");
    assert_eq!((e.code(), reason(&e).as_str()), (Code::InvalidArgument, "PROMPT_IS_SLASH_COMMAND"));

    // Long enough to wrap in the box: the restored draft is recognised whatever the wrapping.
    let slow = "HOLD_ONCE a first prompt that the fake model answers only after a minute, long enough to wrap \
                around in the input box of a 120 column terminal window";
    let req = pb::SendMessageRequest { session_id: s.id.clone(), text: slow.into(), ..Default::default() };
    let sent = rig.client.send_message(req).await.unwrap().into_inner();
    let w = rig.wait_for(&s.id, sent.delivered_revision, &[S::Working], 30).await;
    assert!(w.wait_result.unwrap().satisfied || state_of(w.session.as_ref().unwrap()) == S::Working);
    let r = rig.client.interrupt(pb::InterruptRequest { session_id: s.id.clone(), ..Default::default() }).await;
    let r = r.unwrap().into_inner();
    assert!(r.observed, "interrupt had no visible effect: {:?}\n{}", r.session, rig.screen(&s.id).await);
    rig.wait_for(&s.id, 0, &[S::Idle], 30).await;
    // CC put the interrupted prompt back into the box.
    let mut restored = false;
    for _ in 0..50 {
        let screen = rig.screen(&s.id).await;
        if screen.contains("❯\u{a0}HOLD_ONCE a first prompt") {
            restored = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(restored, "CC did not restore the prompt:\n{}", rig.screen(&s.id).await);

    let next = "the next message replaces the restored draft";
    deliver(&mut rig, &s.id, next).await;
    model_received(&rig, next);
    let reqs = rig.api.main_requests();
    let joined = reqs.iter().flat_map(|r| r.user_blocks.iter()).any(|b| b.contains("HOLD_ONCE") && b.contains(next));
    assert!(!joined, "the restored draft was sent together with the next message");

    // A draft typed by someone else at the terminal is still refused.
    std::process::Command::new("tmux")
        .args(["-L", &rig.socket, "send-keys", "-t", &s.tmux_pane, "-l", "typed by a human"])
        .status()
        .unwrap();
    let mut seen = false;
    for _ in 0..50 {
        if rig.screen(&s.id).await.contains("typed by a human") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen);
    let e = send(&mut rig, &s.id, "ours", pb::MessageKind::Prompt).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "INPUT_NOT_EMPTY"));
    assert!(rig.api.main_requests().iter().all(|r| r.user_blocks.iter().all(|b| !b.contains("typed by a human"))));
    assert!(std::fs::read_dir(&marks).unwrap().next().is_none(), "the first prompt ran as a command");
}
per_cc!(interrupted_prompt_is_replaced_by_the_next_message);
