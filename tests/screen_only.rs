//! End-to-end, screen-only: CC runs without Aegis's hooks (`serve --no-hooks`, as when managed settings
//! block injected hooks). Every dialog kind is still detected with its content from the screen and
//! answered by id, by keys. Real server, tmux and CC (every supported variant).
mod common;
use aegis::proto::v1 as pb;
use common::{state_of, wait, Cc, Rig};
use pb::pending_interaction::Content;
use pb::SessionState as S;

async fn send(rig: &mut Rig, id: &str, text: &str) -> pb::Session {
    let r = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: id.into(),
            text: text.into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("send {text:?}: {e:?}"))
        .into_inner();
    assert!(r.wait_result.unwrap().satisfied, "no stable state after {text:?}\n{}", rig.server_log());
    r.session.unwrap()
}

/// The session once its dialog's options are drawn and parsed.
async fn with_options(rig: &mut Rig, id: &str) -> pb::Session {
    for _ in 0..100 {
        let s = rig.get(id).await;
        if s.pending_interactions.first().is_some_and(|i| !i.options.is_empty()) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("options never parsed: {:#?}\n{}", rig.get(id).await, rig.screen(id).await)
}

async fn approve(rig: &mut Rig, s: &pb::Session, plan_mode: pb::PlanApprovalMode) -> pb::ApprovePermissionResponse {
    let it = &s.pending_interactions[0];
    rig.client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id.clone(),
            plan_mode: plan_mode as i32,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("approve {it:?}: {e:?}\n{}", rig.server_log()))
        .into_inner()
}

fn no_hook_evidence(events: &[pb::SessionEvent]) {
    let hooked: Vec<_> = events
        .iter()
        .filter(|e| e.evidence.as_ref().is_some_and(|ev| ev.source == pb::EvidenceSource::Hook as i32))
        .collect();
    assert!(hooked.is_empty(), "hook evidence although hooks are off: {hooked:#?}");
}

async fn every_dialog_is_answerable_without_hooks(cc: Cc) {
    let mut rig =
        Rig::start_configured(cc, aegis::fakeapi::Script::builtin(), vec!["--no-hooks".into()], Vec::new()).await;
    let work = std::path::PathBuf::from(rig.work_dir());
    let s = rig.create("", 60).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:#?}");

    // Bash: the command comes from the screen; approved by keys.
    let b = send(&mut rig, &s.id, "BASH(touch screen-only.txt)").await;
    assert_eq!(state_of(&b), S::BashApproval, "{b:#?}\n{}", rig.screen(&s.id).await);
    let b = with_options(&mut rig, &s.id).await;
    let Some(Content::Permission(p)) = &b.pending_interactions[0].content else { panic!("{b:#?}") };
    assert!(p.command.contains("touch screen-only.txt"), "{p:?}");
    let r = approve(&mut rig, &b, pb::PlanApprovalMode::Unspecified).await;
    assert_eq!(r.path, pb::AnswerPath::Keys as i32);
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle, "{r:#?}");
    assert!(work.join("screen-only.txt").exists(), "the approved command did not run");

    // Write: the file path comes from the screen; rejected by keys.
    let w = send(&mut rig, &s.id, "WRITE(not-written.txt:gamma)").await;
    assert_eq!(state_of(&w), S::PermissionPrompt, "{w:#?}\n{}", rig.screen(&s.id).await);
    let w = with_options(&mut rig, &s.id).await;
    let Some(Content::Permission(p)) = &w.pending_interactions[0].content else { panic!("{w:#?}") };
    assert!(p.file_path.ends_with("not-written.txt") || p.content.contains("gamma"), "{p:?}");
    let r = rig
        .client
        .reject_permission(pb::RejectPermissionRequest {
            session_id: s.id.clone(),
            interaction_id: w.pending_interactions[0].id.clone(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", rig.server_log()))
        .into_inner();
    assert!(r.session.as_ref().unwrap().stable, "{r:#?}");
    assert!(!work.join("not-written.txt").exists(), "a rejected write happened");

    // Question: text and options from the screen; answered by keys.
    let q = send(&mut rig, &s.id, "ASK_ONE").await;
    assert_eq!(state_of(&q), S::AskQuestion, "{q:#?}\n{}", rig.screen(&s.id).await);
    let q = with_options(&mut rig, &s.id).await;
    let it = q.pending_interactions[0].clone();
    let Some(Content::Question(qc)) = &it.content else { panic!("{it:?}") };
    assert_eq!(qc.questions[0].question, "Which recovery strategy?", "{qc:?}");
    let labels: Vec<_> = it.options.iter().map(|o| o.label.as_str()).collect();
    assert!(labels.contains(&"Clean up") && labels.contains(&"Auto-restart"), "{labels:?}");
    let r = rig
        .client
        .answer_question(pb::AnswerQuestionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id.clone(),
            answers: vec![pb::QuestionAnswer {
                question: "Which recovery strategy?".into(),
                selected_labels: vec!["Auto-restart".into()],
                free_text: String::new(),
            }],
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", rig.server_log()))
        .into_inner();
    assert_eq!(r.path, pb::AnswerPath::Keys as i32);
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle, "{r:#?}");
    let asked = rig.api.main_requests();
    assert!(asked.iter().any(|m| m.last_user_text.contains("Auto-restart")), "the answer never reached the model");
    let events = rig.events(&s.id).await;
    no_hook_evidence(&events);
    rig.client
        .delete_session(pb::DeleteSessionRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap();

    // Trust, then a plan, in plan mode: both from the screen, approved by keys.
    let mut req = rig.create_request("");
    req.work_dir = rig.path("untrusted").canonicalize().unwrap().to_string_lossy().into_owned();
    req.permission_mode = "plan".into();
    req.wait = Some(wait(60, &[]));
    let t = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&t), S::TrustPrompt, "{t:#?}");
    let t = with_options(&mut rig, &t.id).await;
    let r = approve(&mut rig, &t, pb::PlanApprovalMode::Unspecified).await;
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle, "{r:#?}");
    let p = send(&mut rig, &t.id, "PLAN").await;
    assert_eq!(state_of(&p), S::PlanMode, "{p:#?}\n{}", rig.screen(&t.id).await);
    let p = with_options(&mut rig, &t.id).await;
    let Some(Content::Plan(plan)) = &p.pending_interactions[0].content else { panic!("{p:#?}") };
    assert!(plan.plan.contains("Plan"), "{plan:?}");
    let r = approve(&mut rig, &p, pb::PlanApprovalMode::Manual).await;
    assert_eq!(r.path, pb::AnswerPath::Keys as i32);
    assert!(r.session.as_ref().unwrap().stable, "{r:#?}");
    let events = rig.events(&t.id).await;
    no_hook_evidence(&events);
}
per_cc!(every_dialog_is_answerable_without_hooks);

/// 2.1.330+ default to auto mode; behind a gateway the first risky call opens "Auto mode can't check
/// actions in this session". Without hooks it is still a pending interaction, the call read from the
/// screen; approved (Enter), then the call's own unnumbered `No` / `Yes` prompt approved (Down Enter).
async fn auto_mode_dialog_without_hooks(cc: Cc) {
    if cc.version() == "2.1.197" {
        eprintln!("skipped on 2.1.197: it has no auto mode, so no auto-mode dialog");
        return;
    }
    let mut rig =
        Rig::start_configured(cc, aegis::fakeapi::Script::builtin(), vec!["--no-hooks".into()], Vec::new()).await;
    // Outside the work dir: auto mode runs `rm` inside it without asking.
    let build = rig.path("build");
    std::fs::create_dir_all(&build).unwrap();
    let build = build.canonicalize().unwrap();
    let cmd = format!("rm -rf {}", build.display());
    let mut req = rig.create_request("");
    req.name = "impl-#123".into();
    req.permission_mode = String::new();
    req.wait = Some(wait(60, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:#?}");
    let d = send(&mut rig, &s.id, &format!("BASH({cmd})")).await;
    assert_eq!(state_of(&d), S::PermissionPrompt, "{d:#?}\n{}", rig.screen(&s.id).await);
    let it = &d.pending_interactions[0];
    assert!(it.id.starts_with("automode-"), "{it:?}");
    let Some(Content::Permission(p)) = &it.content else { panic!("{d:#?}") };
    assert_eq!(p.description, "Auto mode can't check actions in this session", "{p:?}");
    assert_eq!((p.tool_name.as_str(), p.command.as_str()), ("Bash", cmd.as_str()), "{p:?}");
    let r = approve(&mut rig, &d, pb::PlanApprovalMode::Unspecified).await;
    assert_eq!(r.path, pb::AnswerPath::Keys as i32);
    let after = r.session.unwrap();
    if state_of(&after) != S::Idle {
        assert_eq!(state_of(&after), S::BashApproval, "{after:#?}\n{}", rig.screen(&s.id).await);
        let b = with_options(&mut rig, &s.id).await;
        let labels: Vec<_> = b.pending_interactions[0].options.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(labels, ["No", "Yes"], "{b:#?}");
        let r = approve(&mut rig, &b, pb::PlanApprovalMode::Unspecified).await;
        assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle, "{r:#?}\n{}", rig.screen(&s.id).await);
    }
    assert!(!build.exists(), "the approved rm did not run");
    let events = rig.events(&s.id).await;
    no_hook_evidence(&events);
    assert!(!events.iter().any(|e| e.state == S::Unknown as i32), "{events:#?}");
}
per_cc!(auto_mode_dialog_without_hooks);
