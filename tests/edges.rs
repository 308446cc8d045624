//! End-to-end: exactness at the edges an unattended orchestrator hits — the first turn, interrupts,
//! events that say nothing, exactly one exit. Real server, tmux and CC (every supported variant).
mod common;
use aegis::proto::v1 as pb;
use common::{assert_events_say_something, Cc, Rig};
use pb::SessionState as S;

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().map_or(0, |t| t.seconds * 1000 + t.nanos as i64 / 1_000_000)
}

fn is_kind(e: &pb::SessionEvent, k: pb::EventKind) -> bool {
    e.kind == k as i32
}

/// A session created with a prompt has no stable state before that prompt's turn ran: a WaitSession
/// from the create's own revision ends at the answer, and MESSAGE_SENT precedes every ready state.
async fn no_stable_state_before_the_first_turn(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let mut req = rig.create_request("SLOW(800) first turn please");
    req.wait = None;
    let created = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    let w = rig.wait_for(&created.id, created.revision, &[S::Idle], 90).await;
    assert!(w.wait_result.as_ref().unwrap().satisfied, "never IDLE: {w:?}\n{}", rig.server_log());
    let entries = rig.transcript(&created.id).await;
    assert!(
        entries.iter().any(|e| e.kind == pb::EntryKind::AssistantText as i32 && e.text.contains("first turn please")),
        "IDLE before the first turn's answer is in the transcript: {entries:#?}"
    );
    let events = rig.events(&created.id).await;
    let sent = events.iter().position(|e| is_kind(e, pb::EventKind::MessageSent)).expect("no MESSAGE_SENT");
    let first_ready = events
        .iter()
        .position(|e| {
            is_kind(e, pb::EventKind::StateChanged) && (e.state == S::Idle as i32 || e.state == S::Error as i32)
        })
        .expect("no ready state");
    assert!(sent < first_ready, "a ready state before the first prompt was taken: {events:#?}");
    assert_eq!(
        events.iter().filter(|e| is_kind(e, pb::EventKind::StateChanged) && e.state == S::Idle as i32).count(),
        1,
        "IDLE more than once for one turn: {events:#?}"
    );
    assert_events_say_something(&events);

    // DeleteSession: exactly one exit event, whichever of delete and the window's death came first.
    rig.client
        .delete_session(pb::DeleteSessionRequest { session_id: created.id.clone(), ..Default::default() })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_events_say_something(&rig.events(&created.id).await);
}
per_cc!(no_stable_state_before_the_first_turn);

/// Interrupting a turn before its first token: IDLE follows CC's idle box at once (no wait for a turn
/// end CC never writes), and Interrupt returns having observed it.
async fn interrupt_is_idle_at_once(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let s = rig.create("", 60).await.session.unwrap();
    let sent = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "SLOW(30000) never answered".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let w = rig.wait_for(&s.id, sent.delivered_revision - 1, &[S::Working], 20).await;
    assert!(w.wait_result.unwrap().satisfied, "never WORKING");
    let r = rig
        .client
        .interrupt(pb::InterruptRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(r.observed, "interrupt had no visible effect: {:?}", r.session);
    let idle = rig.wait_for(&s.id, sent.delivered_revision, &[S::Idle], 20).await;
    assert!(idle.wait_result.as_ref().unwrap().satisfied, "not idle after interrupt: {idle:?}");
    let events = rig.events(&s.id).await;
    let ev = events
        .iter()
        .rev()
        .find(|e| is_kind(e, pb::EventKind::StateChanged) && e.state == S::Idle as i32)
        .expect("an IDLE event");
    // The IDLE was committed right after the screen that showed it (main held it ~1.5 s for a
    // transcript record CC never writes); a wide margin for a busy machine.
    let lag = millis(&ev.time) - millis(&ev.evidence.as_ref().unwrap().observe_time);
    eprintln!("interrupt {}: IDLE committed {lag} ms after the evidence that showed it", cc.version);
    assert!(lag < 700, "IDLE committed {lag} ms after the screen showed it: {ev:#?}");
    assert_events_say_something(&events);
}
per_cc!(interrupt_is_idle_at_once);

/// CC's "use this API key?" dialog (a key it has not been told to trust) is a pending interaction,
/// approved by id; a session policy accepts the session's own key without asking.
async fn api_key_dialog_is_an_interaction(cc: Cc) {
    use common::{state_of, wait};
    let mut rig = Rig::start(cc).await;
    let other_key = "sk-ant-other-key-1111111111112222";
    let mut asked = rig.create_request("");
    asked.env.insert("ANTHROPIC_API_KEY".into(), other_key.into());
    asked.wait = Some(wait(60, &[]));
    let mut by_policy = rig.create_request("");
    by_policy.env.insert("ANTHROPIC_API_KEY".into(), other_key.into());
    by_policy.policy = Some(pb::InteractionPolicy { accept_own_api_key: true, ..Default::default() });
    by_policy.wait = Some(wait(60, &[]));
    let (a, b) = {
        let (mut c1, mut c2) = (rig.client.clone(), rig.client.clone());
        tokio::join!(c1.create_session(asked), c2.create_session(by_policy))
    };
    let a = a.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&a), S::ApiKeyPrompt, "{a:#?}\n{}", rig.screen(&a.id).await);
    assert!(a.stable);
    let it = a.pending_interactions.first().expect("a pending interaction").clone();
    assert_eq!(it.kind, pb::InteractionKind::ApiKey as i32, "{it:?}");
    let Some(pb::pending_interaction::Content::ApiKey(k)) = &it.content else { panic!("{it:?}") };
    assert_eq!(k.env_var, "ANTHROPIC_API_KEY");
    assert!(k.key_hint.contains("...") && other_key.ends_with(k.key_hint.split("...").nth(1).unwrap()), "{k:?}");
    assert!(!k.key_hint.contains(other_key), "the whole key is never shown: {k:?}");
    let labels: Vec<_> = it.options.iter().map(|o| o.label.as_str()).collect();
    assert!(labels.contains(&"Yes"), "{labels:?}");
    let r = rig
        .client
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: a.id.clone(),
            interaction_id: it.id.clone(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let after = r.session.unwrap();
    assert_eq!(state_of(&after), S::Idle, "{after:#?}\n{}", rig.screen(&a.id).await);
    // The approved key works: a turn is answered.
    let sent = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: a.id.clone(),
            text: "hello with the other key".into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.session.unwrap().last_assistant_message, "Fake reply: hello with the other key");

    let b = b.unwrap().into_inner().session.unwrap();
    assert_eq!(state_of(&b), S::Idle, "{b:#?}\n{}", rig.screen(&b.id).await);
    let events = rig.events(&b.id).await;
    assert!(
        !events.iter().any(|e| e.state == S::ApiKeyPrompt as i32 || e.kind == pb::EventKind::InteractionOpened as i32),
        "the policy's own key was asked about: {events:#?}"
    );
    assert!(
        events.iter().any(|e| e.evidence.as_ref().is_some_and(|ev| ev.detail.contains("API-key dialog"))),
        "the automatic answer is not in the evidence: {events:#?}"
    );
}
per_cc!(api_key_dialog_is_an_interaction);
