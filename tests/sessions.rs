//! End-to-end: the real server, real tmux, real Claude Code (each pinned version and renderer), the
//! scripted fake Anthropic API. These assert what a gRPC client sees.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, wait, Cc, Rig};
use pb::SessionState as S;
use tonic::Code;

fn states_seen(events: &[pb::SessionEvent]) -> Vec<S> {
    events
        .iter()
        .filter(|e| e.kind == pb::EventKind::StateChanged as i32)
        .map(|e| S::try_from(e.state).unwrap())
        .collect()
}

async fn create_with_prompt_reaches_idle_with_the_answer(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let resp = rig.create("hello from the create test", 90).await;
    let s = resp.session.unwrap();
    assert!(resp.wait_result.unwrap().satisfied, "wait not satisfied: {s:?}\n{}", rig.server_log());
    assert_eq!(state_of(&s), S::Idle, "{s:?}");
    assert!(s.stable);
    // Every state change says what showed it.
    let ev = s.evidence.unwrap();
    assert_ne!(ev.source, pb::EvidenceSource::Unspecified as i32);
    let entries = rig.transcript(&s.id).await;
    let answer = entries.iter().rev().find(|e| e.kind == pb::EntryKind::AssistantText as i32).expect("assistant entry");
    assert!(answer.text.contains("Fake reply: hello from the create test"), "{answer:?}");
    let seen = states_seen(&rig.events(&s.id).await);
    assert!(seen.contains(&S::Working), "never saw WORKING: {seen:?}");
    assert_eq!(seen.last(), Some(&S::Idle), "{seen:?}");
    assert_eq!(s.last_assistant_message, "Fake reply: hello from the create test");
    // Revisions are contiguous from 1.
    let revs: Vec<i64> = rig.events(&s.id).await.iter().map(|e| e.revision).collect();
    assert_eq!(revs, (1..=revs.len() as i64).collect::<Vec<_>>());
}
per_cc!(create_with_prompt_reaches_idle_with_the_answer);

async fn multi_line_message_is_one_turn(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{}", rig.server_log());
    let text = "first line of the turn\nsecond line\nthird line with 'quotes' and $(no shell)";
    let resp = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: text.into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.wait_result.unwrap().satisfied);
    assert!(resp.delivered_revision > s.revision);
    assert_eq!(state_of(resp.session.as_ref().unwrap()), S::Idle);
    let users: Vec<_> =
        rig.transcript(&s.id).await.into_iter().filter(|e| e.kind == pb::EntryKind::UserText as i32).collect();
    assert_eq!(users.len(), 1, "one turn expected: {users:?}");
    assert!(
        users[0].text.contains("first line of the turn\nsecond line\nthird line with 'quotes' and $(no shell)"),
        "{:?}",
        users[0].text
    );
    let main: Vec<_> = rig.api.main_requests();
    assert_eq!(main.iter().filter(|r| r.last_user_text.contains("first line of the turn")).count(), 1);
}
per_cc!(multi_line_message_is_one_turn);

async fn interrupt_while_working(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    let sent = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "SLOW(30000) please wait".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(sent.delivered_revision > s.revision);
    let w = rig.wait_for(&s.id, s.revision, &[S::Working], 20).await;
    assert!(w.wait_result.unwrap().satisfied, "never WORKING");
    let r = rig
        .client
        .interrupt(pb::InterruptRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(r.observed, "interrupt had no visible effect: {:?}", r.session);
    let idle = rig.wait_for(&s.id, 0, &[S::Idle], 20).await;
    let st = state_of(idle.session.as_ref().unwrap());
    assert!(idle.wait_result.unwrap().satisfied || st == S::Idle, "not idle after interrupt: {st:?}");
}
per_cc!(interrupt_while_working);

async fn slash_command_and_bash_line(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("first turn", 60).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle);
    let r = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "/clear".into(),
            kind: pb::MessageKind::SlashCommand as i32,
            wait: Some(wait(30, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.delivered_revision > 0);
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle);
    assert!(!rig.screen(&s.id).await.contains("first turn"), "screen not cleared");
    let r = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "echo aegis-bash-$((20+22))".into(),
            kind: pb::MessageKind::Bash as i32,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.wait_result.unwrap().satisfied);
    assert!(rig.screen(&s.id).await.contains("aegis-bash-42"), "{}", rig.screen(&s.id).await);
}
per_cc!(slash_command_and_bash_line);

async fn delete_keeps_the_record_and_transcript(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("before delete", 60).await.session.unwrap();
    let d = rig
        .client
        .delete_session(pb::DeleteSessionRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let d = d.session.unwrap();
    assert_eq!(state_of(&d), S::Exited);
    assert_eq!(d.exit.unwrap().reason, "deleted");
    let after = rig.get(&s.id).await;
    assert_eq!(state_of(&after), S::Exited);
    assert!(rig.transcript(&s.id).await.iter().any(|e| e.text.contains("before delete")));
    // The screen the pane showed until the delete stays readable.
    let last = rig
        .client
        .capture_screen(pb::CaptureScreenRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(last.text.contains('❯'), "{:?}", last.text);
    let panes = std::process::Command::new("tmux")
        .args(["-L", &rig.socket, "list-panes", "-a", "-F", "#{pane_id}"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&panes.stdout).lines().any(|p| p == s.tmux_pane), "pane still there");
    let listed = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
    assert!(listed.sessions.is_empty(), "exited sessions are not listed by default");
    let listed = rig
        .client
        .list_sessions(pb::ListSessionsRequest { include_exited: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sessions.len(), 1);
}
per_cc!(delete_keeps_the_record_and_transcript);

async fn exit_from_inside_cc_is_noticed(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    let _ = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "/exit".into(),
            kind: pb::MessageKind::SlashCommand as i32,
            ..Default::default()
        })
        .await;
    let w = rig.wait_for(&s.id, s.revision, &[S::Exited], 20).await;
    let after = w.session.unwrap();
    assert_eq!(state_of(&after), S::Exited, "{}", rig.server_log());
    // "process exited", then the status and CC's last words once known.
    assert!(after.exit.unwrap().reason.starts_with("process exited"));
    // The status can follow the exit by a moment (tmux learns it when the process is reaped).
    // The status follows when tmux learns it (an UPDATED event). Under heavy parallel load tmux was
    // seen to flag the pane dead without ever learning a status; then it stays unset, never wrong.
    let mut exit = rig.get(&s.id).await.exit.unwrap();
    for _ in 0..40 {
        if exit.exit_status.is_some() || exit.signal.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        exit = rig.get(&s.id).await.exit.unwrap();
    }
    if let Some(code) = exit.exit_status {
        assert_eq!(code, 0, "{exit:?}");
    }
}
per_cc!(exit_from_inside_cc_is_noticed);

async fn trust_prompt_is_detected(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let dir = rig.path("untrusted").canonicalize().unwrap();
    let mut req = rig.create_request("");
    req.work_dir = dir.to_string_lossy().into_owned();
    req.wait = Some(wait(60, &[]));
    let resp = rig.client.create_session(req).await.unwrap().into_inner();
    let s = resp.session.unwrap();
    assert_eq!(state_of(&s), S::TrustPrompt, "{}", rig.server_log());
    assert!(s.stable);
    let it = s.pending_interactions.first().expect("a pending trust interaction");
    assert_eq!(it.kind, pb::InteractionKind::Trust as i32);
    match it.content.as_ref().unwrap() {
        pb::pending_interaction::Content::Trust(t) => {
            assert!(t.directory.contains("untrusted"), "{t:?}")
        }
        other => panic!("{other:?}"),
    }
    assert!(it.options.iter().any(|o| o.label.contains("Yes, I trust this folder")), "{:?}", it.options);
}
per_cc!(trust_prompt_is_detected);

#[test]
fn cc_variants_match_the_list() {
    common::assert_variants_match_the_list();
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let mut req = rig.create_request("");
    req.work_dir = "/no/such/dir".into();
    let e = rig.client.create_session(req.clone()).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::NotFound, "WORK_DIR_NOT_FOUND"));
    req.work_dir = "relative/dir".into();
    let e = rig.client.create_session(req.clone()).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::InvalidArgument, "WORK_DIR_NOT_ABSOLUTE"));
    req.work_dir = rig.work_dir();
    req.extra_args = vec!["--session-id".into(), "x".into()];
    let e = rig.client.create_session(req.clone()).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::InvalidArgument, "EXTRA_ARG_RESERVED"));
    req.extra_args.clear();
    req.permission_mode = "yolo".into();
    let e = rig.client.create_session(req).await.unwrap_err();
    assert_eq!(reason(&e), "INVALID_PERMISSION_MODE");
    let e = rig
        .client
        .get_session(pb::GetSessionRequest { session_id: "00000000-0000-4000-8000-000000000000".into() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::NotFound, "SESSION_NOT_FOUND"));
    let e = rig.client.get_session(pb::GetSessionRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = rig
        .client
        .send_message(pb::SendMessageRequest { session_id: "nope".into(), text: "x".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::NotFound, "SESSION_NOT_FOUND"));
    // Nothing was created by the failed calls.
    let all = rig
        .client
        .list_sessions(pb::ListSessionsRequest { include_exited: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(all.sessions.is_empty());
}

#[tokio::test]
async fn list_filters_and_pages() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut req = rig.create_request("");
        req.labels.insert("team".into(), if i == 0 { "a".into() } else { "b".into() });
        req.name = format!("review PR #{i} — tâche");
        ids.push(rig.client.create_session(req).await.unwrap().into_inner().session.unwrap().id);
    }
    let page1 = rig
        .client
        .list_sessions(pb::ListSessionsRequest { page_size: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page1.sessions.len(), 2);
    assert!(!page1.next_page_token.is_empty());
    let page2 = rig
        .client
        .list_sessions(pb::ListSessionsRequest {
            page_size: 2,
            page_token: page1.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.sessions.len(), 1);
    assert!(page2.next_page_token.is_empty());
    let mut req = pb::ListSessionsRequest::default();
    req.labels.insert("team".into(), "b".into());
    assert_eq!(rig.client.list_sessions(req).await.unwrap().into_inner().sessions.len(), 2);
    let by_name = rig.get("review PR #0 — tâche").await;
    assert_eq!(by_name.id, ids[0]);
    let info = rig.client.get_server_info(pb::GetServerInfoRequest {}).await.unwrap().into_inner();
    assert_eq!(info.sessions_live, 3);
    assert!(info.cc_version.starts_with(Cc::NEWEST.version), "{info:?}");
    assert!(info.cc_version_tested, "{info:?}");
    assert!(info.tested_cc_versions.iter().any(|v| v == "2.1.332"), "{info:?}");
    assert!(info.tmux_version.starts_with("tmux"), "{info:?}");
}

#[tokio::test]
async fn a_draft_typed_by_someone_else_is_never_submitted_with_our_text() {
    let mut rig = Rig::start(Cc::NEWEST).await;
    let s = rig.create("", 60).await.session.unwrap();
    std::process::Command::new("tmux")
        .args(["-L", &rig.socket, "send-keys", "-t", &s.tmux_pane, "-l", "half-typed draft"])
        .status()
        .unwrap();
    // Give tmux's output notice and the capture a moment to see the draft.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let e = rig
        .client
        .send_message(pb::SendMessageRequest { session_id: s.id.clone(), text: "ours".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "INPUT_NOT_EMPTY"));
    assert!(rig.api.main_requests().iter().all(|r| !r.last_user_text.contains("half-typed draft")));
}

#[tokio::test]
async fn batch_create_reports_each_result_or_error() {
    use pb::batch_create_result::Result as R;
    let mut rig = Rig::start(Cc::NEWEST).await;
    let mut good = rig.create_request("");
    good.request_id = "batch-a".into();
    let mut bad = rig.create_request("");
    bad.work_dir = "/no/such/dir".into();
    let other = rig.create_request("");
    let req = pb::BatchCreateSessionsRequest { requests: vec![good.clone(), bad, other] };
    let out = rig.client.batch_create_sessions(req).await.unwrap().into_inner().results;
    assert_eq!(out.len(), 3);
    let first = match &out[0].result {
        Some(R::Response(r)) => r.session.clone().unwrap().id,
        other => panic!("{other:?}"),
    };
    match &out[1].result {
        Some(R::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (Code::NotFound as i32, "WORK_DIR_NOT_FOUND")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&out[2].result, Some(R::Response(_))));
    // Entries keep their own idempotency keys: a replayed entry returns the same session.
    let again = rig
        .client
        .batch_create_sessions(pb::BatchCreateSessionsRequest { requests: vec![good] })
        .await
        .unwrap()
        .into_inner();
    match &again.results[0].result {
        Some(R::Response(r)) => assert_eq!(r.session.as_ref().unwrap().id, first),
        other => panic!("{other:?}"),
    }
    let live = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
    assert_eq!(live.sessions.len(), 2);
}
