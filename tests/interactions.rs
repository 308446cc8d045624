//! End-to-end: questions, permissions, plans and trust, answered by interaction id, against the real CC
//! (each pinned version and renderer) and the scripted fake model.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, wait, Cc, Rig};
use pb::pending_interaction::Content;
use pb::SessionState as S;
use tonic::Code;

/// Sends a prompt and waits for the first stable state of its turn.
async fn ask(rig: &mut Rig, id: &str, text: &str) -> pb::Session {
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

fn only_interaction(s: &pb::Session) -> pb::PendingInteraction {
    assert_eq!(s.pending_interactions.len(), 1, "{s:#?}");
    s.pending_interactions[0].clone()
}

/// The session once the dialog's options are drawn (2.1.330 draws it ~0.5 s after the hook).
async fn with_options(rig: &mut Rig, id: &str) -> pb::Session {
    for _ in 0..60 {
        let s = rig.get(id).await;
        if s.pending_interactions.first().is_some_and(|i| !i.options.is_empty()) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("options never drawn: {}", rig.screen(id).await)
}

fn answer(q: &str, labels: &[&str]) -> pb::QuestionAnswer {
    pb::QuestionAnswer {
        question: q.into(),
        selected_labels: labels.iter().map(|s| s.to_string()).collect(),
        free_text: String::new(),
    }
}

async fn answer_q(rig: &mut Rig, s: &pb::Session, answers: Vec<pb::QuestionAnswer>) -> pb::AnswerQuestionResponse {
    let it = only_interaction(s);
    rig.client
        .answer_question(pb::AnswerQuestionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            answers,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("answer: {e:?}\n{}", rig.server_log()))
        .into_inner()
}

fn tool_results(entries: &[pb::TranscriptEntry]) -> Vec<String> {
    entries.iter().filter(|e| e.kind == pb::EntryKind::ToolResult as i32).map(|e| e.text.clone()).collect()
}

async fn questions_single_multi_two_and_free_text(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();

    let s1 = ask(&mut rig, &s.id, "ASK_ONE").await;
    assert_eq!(state_of(&s1), S::AskQuestion, "{s1:#?}");
    let it = only_interaction(&s1);
    assert!(it.id.starts_with("toolu_"), "CC's tool_use_id is the id: {}", it.id);
    assert_eq!(it.kind, pb::InteractionKind::Question as i32);
    let Some(Content::Question(q)) = &it.content else { panic!("{it:?}") };
    assert_eq!(q.questions.len(), 1);
    assert_eq!(q.questions[0].question, "Which recovery strategy?");
    assert_eq!(q.questions[0].header, "Strategy");
    let labels: Vec<_> = q.questions[0].options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["Clean up", "Auto-restart"]);
    assert!(q.questions[0].options.iter().all(|o| !o.description.is_empty()));
    let r = answer_q(&mut rig, &s1, vec![answer("Which recovery strategy?", &["Auto-restart"])]).await;
    assert_eq!(r.path, pb::AnswerPath::Hook as i32);
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle);

    let s2 = ask(&mut rig, &s.id, "ASK_MULTI").await;
    let it = only_interaction(&s2);
    let Some(Content::Question(q)) = &it.content else { panic!() };
    assert!(q.questions[0].multi_select);
    answer_q(&mut rig, &s2, vec![answer("Features", &["Metrics", "Audit log"])]).await;

    let s3 = ask(&mut rig, &s.id, "ASK_TWO").await;
    let it = only_interaction(&s3);
    let Some(Content::Question(q)) = &it.content else { panic!() };
    assert_eq!(q.questions.len(), 2, "both questions are exposed, not only the first");
    answer_q(
        &mut rig,
        &s3,
        vec![answer("Which recovery strategy?", &["Clean up"]), answer("Which log level?", &["Warn"])],
    )
    .await;

    let s4 = ask(&mut rig, &s.id, "ASK_ONE again").await;
    let free = pb::QuestionAnswer {
        question: "Strategy".into(),
        selected_labels: vec![],
        free_text: "my own strategy".into(),
    };
    answer_q(&mut rig, &s4, vec![free]).await;

    let results = tool_results(&rig.transcript(&s.id).await).join("\n");
    for expected in ["Auto-restart", "Metrics, Audit log", "Clean up", "Warn", "my own strategy"] {
        assert!(results.contains(expected), "{expected:?} missing from tool results:\n{results}");
    }
}
per_cc!(questions_single_multi_two_and_free_text);

async fn bash_approve_always_reject_and_race(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    let work = std::path::PathBuf::from(rig.work_dir());

    let s1 = ask(&mut rig, &s.id, "BASH(touch once.txt)").await;
    assert_eq!(state_of(&s1), S::BashApproval, "{s1:#?}");
    let it = only_interaction(&s1);
    assert_eq!(it.kind, pb::InteractionKind::Bash as i32);
    let Some(Content::Permission(p)) = &it.content else { panic!("{it:?}") };
    assert_eq!((p.tool_name.as_str(), p.command.as_str()), ("Bash", "touch once.txt"));
    let it = only_interaction(&with_options(&mut rig, &s.id).await);
    assert!(it.options.iter().any(|o| o.label == "Yes"), "{:?}", it.options);
    assert!(it.options.iter().any(|o| o.label.starts_with("No")), "{:?}", it.options);
    // Two answers race: exactly one wins; the other types nothing.
    let req =
        pb::ApprovePermissionRequest { session_id: s.id.clone(), interaction_id: it.id.clone(), ..Default::default() };
    let (mut c1, mut c2) = (rig.client.clone(), rig.client.clone());
    let (a, b) = tokio::join!(c1.approve_permission(req.clone()), c2.approve_permission(req.clone()));
    let (ok, err) = match (a, b) {
        (Ok(x), Err(e)) | (Err(e), Ok(x)) => (x.into_inner(), e),
        other => panic!("expected one winner: {other:?}"),
    };
    assert_eq!(ok.path, pb::AnswerPath::Hook as i32);
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "INTERACTION_NOT_PENDING"));
    let idle = rig.wait_for(&s.id, 0, &[S::Idle], 30).await;
    assert_eq!(state_of(idle.session.as_ref().unwrap()), S::Idle);
    assert!(work.join("once.txt").exists());
    // A late answer for the same id.
    let late = rig.client.approve_permission(req).await.unwrap_err();
    assert_eq!(reason(&late), "INTERACTION_NOT_PENDING");

    // Rejected before any always-allow: "always allow access to <dir>" also covers `rm` there.
    std::fs::create_dir_all(work.join("precious")).unwrap();
    let s3 = ask(&mut rig, &s.id, "BASH(rm -rf precious)").await;
    assert_eq!(state_of(&s3), S::BashApproval, "{s3:#?}");
    let it = only_interaction(&s3);
    let r = rig
        .client
        .reject_permission(pb::RejectPermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            feedback: "do not delete anything, list it instead".into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.path, pb::AnswerPath::Hook as i32);
    assert!(work.join("precious").exists());
    assert!(
        rig.api.main_requests().iter().any(|r| r.last_user_text.contains("do not delete anything, list it instead")),
        "the model never saw the feedback"
    );
    let s2 = ask(&mut rig, &s.id, "BASH(touch always.txt)").await;
    let it = only_interaction(&s2);
    let r = rig
        .client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            scope: pb::ApprovalScope::Session as i32,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", rig.server_log()))
        .into_inner();
    assert_eq!(r.path, pb::AnswerPath::Keys as i32, "always-allow goes in by keys, chosen by label");
    assert!(work.join("always.txt").exists());
    let mode_after = rig.screen(&s.id).await;
    assert!(!mode_after.contains("auto mode on"), "always-allow must never switch to auto mode:\n{mode_after}");
}
per_cc!(bash_approve_always_reject_and_race);

async fn write_and_edit_approval(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    let work = std::path::PathBuf::from(rig.work_dir());
    let s1 = ask(&mut rig, &s.id, "WRITE(notes.txt:alpha)").await;
    assert_eq!(state_of(&s1), S::PermissionPrompt, "{s1:#?}");
    let it = only_interaction(&s1);
    let Some(Content::Permission(p)) = &it.content else { panic!() };
    assert_eq!(p.tool_name, "Write");
    assert!(p.file_path.ends_with("notes.txt"), "{p:?}");
    assert!(p.content.contains("alpha"));
    let r = rig
        .client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle);
    assert!(std::fs::read_to_string(work.join("notes.txt")).unwrap().contains("alpha"));

    let s2 = ask(&mut rig, &s.id, "EDIT(notes.txt:alpha->beta)").await;
    assert_eq!(state_of(&s2), S::PermissionPrompt, "{s2:#?}");
    let it = only_interaction(&s2);
    let Some(Content::Permission(p)) = &it.content else { panic!() };
    assert_eq!(p.tool_name, "Edit");
    assert!(p.content.contains("alpha") && p.content.contains("beta"), "{p:?}");
    rig.client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(std::fs::read_to_string(work.join("notes.txt")).unwrap().contains("beta"));
}
per_cc!(write_and_edit_approval);

async fn plan_reject_with_feedback_then_approve(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let mut req = rig.create_request("");
    req.permission_mode = "plan".into();
    req.wait = Some(wait(60, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let s1 = ask(&mut rig, &s.id, "PLAN").await;
    assert_eq!(state_of(&s1), S::PlanMode, "{s1:#?}\n{}", rig.screen(&s.id).await);
    let it = only_interaction(&s1);
    let Some(Content::Plan(p)) = &it.content else { panic!("{it:?}") };
    assert!(p.plan.contains("Plan"), "{p:?}");
    let r = rig
        .client
        .reject_permission(pb::RejectPermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            feedback: "make the plan shorter".into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rig.api.main_requests().iter().any(|r| r.last_user_text.contains("make the plan shorter")));
    let s2 = if state_of(r.session.as_ref().unwrap()) == S::PlanMode {
        r.session.unwrap()
    } else {
        ask(&mut rig, &s.id, "PLAN").await
    };
    assert_eq!(state_of(&s2), S::PlanMode, "{s2:#?}");
    let it = only_interaction(&s2);
    let r = rig
        .client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            plan_mode: pb::PlanApprovalMode::Manual as i32,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", rig.server_log()))
        .into_inner();
    assert_eq!(r.path, pb::AnswerPath::Keys as i32);
    assert!(r.session.unwrap().stable);
    let screen = rig.screen(&s.id).await;
    assert!(
        !screen.contains("plan mode on") && !screen.contains("auto mode on"),
        "manual approval leaves plan mode, not into auto:\n{screen}"
    );
}
per_cc!(plan_reject_with_feedback_then_approve);

async fn plan_approve_with_auto_mode(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let mut req = rig.create_request("");
    req.permission_mode = "plan".into();
    req.wait = Some(wait(60, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let s1 = ask(&mut rig, &s.id, "PLAN").await;
    assert_eq!(state_of(&s1), S::PlanMode);
    let it = only_interaction(&s1);
    rig.client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            plan_mode: pb::PlanApprovalMode::Auto as i32,
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap();
    let screen = rig.screen(&s.id).await;
    assert!(screen.contains("auto mode on"), "{screen}");
}
per_cc!(plan_approve_with_auto_mode);

async fn trust_prompt_approve_and_reject(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    for (approve, dir) in [(true, "untrusted"), (false, "home")] {
        // The approved one was created with a prompt: the approval's wait ends at that prompt's answer.
        let mut req = rig.create_request(if approve { "SLOW(500) after trust" } else { "" });
        req.work_dir = rig.path(dir).canonicalize().unwrap().to_string_lossy().into_owned();
        req.wait = Some(wait(60, &[]));
        let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
        assert_eq!(state_of(&s), S::TrustPrompt);
        let it = only_interaction(&s);
        if approve {
            let r = rig
                .client
                .approve_permission(pb::ApprovePermissionRequest {
                    session_id: s.id.clone(),
                    interaction_id: it.id,
                    wait: Some(wait(60, &[])),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{e:?}\n{}", rig.server_log()))
                .into_inner();
            assert_eq!(r.path, pb::AnswerPath::Keys as i32);
            let after = r.session.unwrap();
            assert_eq!(state_of(&after), S::Idle, "{after:?}");
            assert_eq!(after.last_assistant_message, "Fake reply: SLOW(500) after trust", "{after:?}");
            let events = rig.events(&s.id).await;
            let sent = events.iter().position(|e| e.kind == pb::EventKind::MessageSent as i32);
            let idle =
                events.iter().position(|e| e.kind == pb::EventKind::StateChanged as i32 && e.state == S::Idle as i32);
            assert!(sent.is_some() && sent < idle, "IDLE before the first prompt was sent: {events:#?}");
        } else {
            rig.client
                .reject_permission(pb::RejectPermissionRequest {
                    session_id: s.id.clone(),
                    interaction_id: it.id,
                    ..Default::default()
                })
                .await
                .unwrap();
            let w = rig.wait_for(&s.id, 0, &[S::Exited], 20).await;
            assert_eq!(state_of(w.session.as_ref().unwrap()), S::Exited);
        }
    }
}
per_cc!(trust_prompt_approve_and_reject);

async fn api_error_retries_then_final_error(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let mut req = rig.create_request("");
    req.env.insert("CLAUDE_CODE_MAX_RETRIES".into(), "2".into());
    req.wait = Some(wait(60, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let s1 = ask(&mut rig, &s.id, "ERROR(500) please fail").await;
    assert_eq!(state_of(&s1), S::Error, "{s1:#?}\n{}", rig.screen(&s.id).await);
    assert!(s1.error_message.contains("500"), "{:?}", s1.error_message);
    let seen: Vec<_> = rig.events(&s.id).await.iter().map(|e| S::try_from(e.state).unwrap()).collect();
    assert!(seen.contains(&S::RateLimited), "retries were not visible: {seen:?}");
    // One RATE_LIMITED state change, however many countdown ticks and attempts CC draws.
    common::assert_events_say_something(&rig.events(&s.id).await);
    // The next good turn clears the error. CC re-sends the failed prompt merged with the next one, so
    // the fake model gets a rule that answers the merged text.
    let script =
        aegis::fakeapi::Script::from_json(r#"{"rules":[{"match":"now answer normally","text":"recovered"}]}"#).unwrap();
    rig.api.set_script(script);
    let s2 = ask(&mut rig, &s.id, "now answer normally").await;
    assert_eq!(state_of(&s2), S::Idle);
    assert!(s2.error_message.is_empty());
}
per_cc!(api_error_retries_then_final_error);

async fn interrupt_during_pending_permission(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    let s1 = ask(&mut rig, &s.id, "BASH(touch never.txt)").await;
    assert_eq!(state_of(&s1), S::BashApproval);
    let it = only_interaction(&s1);
    let r = rig
        .client
        .escape(pb::EscapeRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(r.observed);
    let w = rig.wait_for(&s.id, 0, &[S::Idle], 20).await;
    let after = w.session.unwrap();
    assert_eq!(state_of(&after), S::Idle);
    assert!(after.pending_interactions.is_empty());
    let e = rig
        .client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "INTERACTION_NOT_PENDING"));
    assert!(!std::path::Path::new(&rig.work_dir()).join("never.txt").exists());
}
per_cc!(interrupt_during_pending_permission);

async fn an_explicit_policy_trusts_the_work_dir_and_approves_listed_tools(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let dir = rig.path("untrusted").canonicalize().unwrap();
    let mut req = rig.create_request("BASH(touch by-policy.txt)");
    req.work_dir = dir.to_string_lossy().into_owned();
    req.policy =
        Some(pb::InteractionPolicy { trust_work_dir: true, approve_tools: vec!["Bash".into()], ..Default::default() });
    req.wait = Some(wait(90, &[]));
    let s = rig.client.create_session(req.clone()).await.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:#?}\n{}", rig.screen(&s.id).await);
    assert!(dir.join("by-policy.txt").exists());
    let events = rig.events(&s.id).await;
    let states: Vec<_> = events.iter().map(|e| S::try_from(e.state).unwrap()).collect();
    assert!(!states.contains(&S::TrustPrompt) && !states.contains(&S::BashApproval), "{states:?}");
    let audited = events
        .iter()
        .find(|e| e.kind == pb::EventKind::InteractionResolved as i32 && e.detail.contains("policy"))
        .expect("the automatic approval is recorded");
    let Some(Content::Permission(p)) = &audited.interaction.as_ref().unwrap().content else { panic!() };
    assert_eq!(p.command, "touch by-policy.txt");
    // Questions and plans are never auto-answered.
    req.policy = Some(pb::InteractionPolicy { approve_tools: vec!["AskUserQuestion".into()], ..Default::default() });
    let e = rig.client.create_session(req).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::InvalidArgument, "INVALID_POLICY"));
}
per_cc!(an_explicit_policy_trusts_the_work_dir_and_approves_listed_tools);

/// 2.1.330+ default to auto mode; behind a gateway (every test) the first risky call opens "Auto mode
/// can't check actions in this session". A session created without a permission mode.
async fn auto_mode_session(rig: &mut Rig) -> Option<(pb::Session, std::path::PathBuf)> {
    if rig.cc.version() == "2.1.197" {
        eprintln!("skipped on 2.1.197: it has no auto mode, so no auto-mode dialog");
        return None;
    }
    // Auto mode runs `rm` in the work dir without asking; outside it, it needs the (missing) check.
    let build = rig.path("build");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::write(build.join("out.o"), "x").unwrap();
    let build = build.canonicalize().unwrap();
    let cmd = format!("rm -rf {}", build.display());
    let mut req = rig.create_request("");
    req.name = "impl-#123".into();
    req.permission_mode = String::new();
    req.wait = Some(wait(60, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&s), S::Idle, "{s:#?}\n{}", rig.screen(&s.id).await);
    let s1 = ask(rig, &s.id, &format!("BASH({cmd})")).await;
    assert_eq!(state_of(&s1), S::PermissionPrompt, "{s1:#?}\n{}", rig.screen(&s.id).await);
    let it = only_interaction(&s1);
    assert_eq!(it.kind, pb::InteractionKind::Permission as i32);
    assert!(it.id.starts_with("automode-"), "{it:?}");
    let Some(Content::Permission(p)) = &it.content else { panic!("{it:?}") };
    assert_eq!(p.description, "Auto mode can't check actions in this session", "{p:?}");
    assert!(p.content.contains("Enter to stay in auto mode"), "{p:?}");
    assert_eq!((p.tool_name.as_str(), p.command.as_str()), ("Bash", cmd.as_str()), "the call it holds: {p:?}");
    Some((s1, build))
}

fn never_unknown(events: &[pb::SessionEvent]) {
    let states: Vec<_> = events.iter().map(|e| S::try_from(e.state).unwrap()).collect();
    assert!(!states.contains(&S::Unknown), "{states:?}");
}

async fn auto_mode_dialog_approve(cc: Cc) {
    auto_mode_stay(cc, true).await
}
per_cc!(auto_mode_dialog_approve);

/// Stays in auto mode, then rejects the call's own prompt (unnumbered `❯ No` / `Yes`).
async fn auto_mode_dialog_approve_then_reject_the_call(cc: Cc) {
    auto_mode_stay(cc, false).await
}
per_cc!(auto_mode_dialog_approve_then_reject_the_call);

/// Approves the auto-mode dialog; then approves (or rejects) the call's own prompt if CC shows one.
async fn auto_mode_stay(cc: Cc, approve_call: bool) {
    let mut rig = Rig::start(cc).await;
    let Some((s, build)) = auto_mode_session(&mut rig).await else { return };
    let mut id = only_interaction(&s).id;
    let mut prompts = 0;
    // Staying in auto mode sends the call on to its own (unnumbered No/Yes) prompt.
    for _ in 0..3 {
        if prompts > 0 && !approve_call {
            let r = rig
                .client
                .reject_permission(pb::RejectPermissionRequest {
                    session_id: s.id.clone(),
                    interaction_id: id.clone(),
                    wait: Some(wait(60, &[])),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("reject {id}: {e:?}\n{}", rig.server_log()))
                .into_inner();
            let after = r.session.unwrap();
            assert_eq!(state_of(&after), S::Idle, "{after:#?}\n{}", rig.screen(&s.id).await);
            break;
        }
        let r = rig
            .client
            .approve_permission(pb::ApprovePermissionRequest {
                session_id: s.id.clone(),
                interaction_id: id.clone(),
                wait: Some(wait(60, &[])),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("approve {id}: {e:?}\n{}", rig.server_log()))
            .into_inner();
        if prompts == 0 {
            assert_eq!(r.path, pb::AnswerPath::Keys as i32, "the auto-mode dialog is answered by Enter");
        }
        let after = r.session.unwrap();
        match state_of(&after) {
            S::Idle => break,
            S::BashApproval | S::PermissionPrompt => {
                prompts += 1;
                let it = only_interaction(&with_options(&mut rig, &s.id).await);
                assert_ne!(it.id, id, "a new interaction, not the answered one");
                let labels: Vec<_> = it.options.iter().map(|o| o.label.as_str()).collect();
                assert!(labels.contains(&"Yes") && labels.contains(&"No"), "{labels:?}");
                id = it.id;
            }
            other => panic!("{other:?} after approving: {after:#?}\n{}", rig.screen(&s.id).await),
        }
    }
    let after = rig.get(&s.id).await;
    assert_eq!(state_of(&after), S::Idle, "{after:#?}\n{}", rig.screen(&s.id).await);
    if approve_call {
        assert!(!build.exists(), "the approved rm did not run");
    } else {
        assert!(prompts > 0, "CC showed no prompt for the call after staying in auto mode");
        assert!(build.join("out.o").exists(), "the rejected rm ran");
    }
    never_unknown(&rig.events(&s.id).await);
}

async fn auto_mode_dialog_reject(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let Some((s, build)) = auto_mode_session(&mut rig).await else { return };
    let it = only_interaction(&s);
    let r = rig
        .client
        .reject_permission(pb::RejectPermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id.clone(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("reject: {e:?}\n{}", rig.server_log()))
        .into_inner();
    assert_eq!(r.path, pb::AnswerPath::Keys as i32);
    let after = r.session.unwrap();
    assert_eq!(state_of(&after), S::Idle, "{after:#?}\n{}", rig.screen(&s.id).await);
    assert!(after.pending_interactions.is_empty(), "{after:#?}");
    assert!(build.join("out.o").exists(), "the rejected rm ran");
    let late = rig
        .client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: s.id.clone(),
            interaction_id: it.id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&late), "INTERACTION_NOT_PENDING");
    never_unknown(&rig.events(&s.id).await);
}
per_cc!(auto_mode_dialog_reject);
