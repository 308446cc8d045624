//! End-to-end: a turn's end is announced on CC's Stop hook (not held for the transcript), and a
//! GetTranscript issued on that IDLE already holds the turn's final answer (read-your-writes).
//! Real server, tmux and CC (every supported variant).
mod common;
use aegis::proto::v1 as pb;
use common::{wait, Cc, Rig};
use pb::SessionState as S;

fn last_assistant_text(entries: &[pb::TranscriptEntry]) -> Option<&str> {
    entries.iter().rev().find(|e| e.kind == pb::EntryKind::AssistantText as i32).map(|e| e.text.as_str())
}

async fn idle_comes_from_the_stop_hook_and_the_transcript_has_the_answer(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let mut req = rig.create_request("SAY(warmed up)");
    // The tool turns below go through the policy's approval, answered by the hook on arrival.
    req.policy = Some(pb::InteractionPolicy { approve_tools: vec!["Bash".into()], ..Default::default() });
    req.wait = Some(wait(90, &[]));
    let s = rig.client.create_session(req).await.unwrap().into_inner().session.unwrap();
    assert_eq!(common::state_of(&s), S::Idle, "{s:#?}\n{}", rig.server_log());
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    // A turn with a tool call CC asks permission for (`echo` alone it runs unasked), and a plain answer (its records are written in one go).
    let turns = [(format!("BASH(touch tool-{tag}.txt && echo tool-{tag})"), format!("Tool finished: tool-{tag}")), {
        let t = format!("plain-{tag}");
        (format!("SAY({t})"), t)
    }];
    for (prompt, answer) in &turns {
        let r = rig
            .client
            .send_message(pb::SendMessageRequest {
                session_id: s.id.clone(),
                text: prompt.clone(),
                wait: Some(wait(90, &[S::Idle])),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("send: {e:?}\n{}", rig.server_log()))
            .into_inner();
        // Immediately on the IDLE, before anything else: the final answer is in the transcript.
        let entries = rig.transcript(&s.id).await;
        let got = r.session.unwrap();
        assert_eq!(common::state_of(&got), S::Idle, "{got:#?}");
        assert_eq!(last_assistant_text(&entries), Some(answer.as_str()), "transcript at IDLE: {entries:#?}");
        let ev = got.evidence.clone().unwrap_or_default();
        assert_eq!(
            (ev.source, ev.hook_event.as_str()),
            (pb::EvidenceSource::Hook as i32, "Stop"),
            "IDLE is not the Stop hook's: {ev:#?}\n{}",
            rig.server_log()
        );
        assert_eq!(got.last_assistant_message.trim(), answer, "{got:#?}");
    }
    // The policy's approval of the tool turn was still recorded (the hook was answered before it).
    let events = rig.events(&s.id).await;
    assert!(
        events.iter().any(|e| e.kind == pb::EventKind::InteractionResolved as i32 && e.detail.contains("policy")),
        "{events:#?}"
    );
    common::assert_events_say_something(&events);
}
per_cc!(idle_comes_from_the_stop_hook_and_the_transcript_has_the_answer);
