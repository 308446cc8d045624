//! Orchestrator guarantees, end to end with the real server process, real tmux and real CC:
//! restart re-adoption with resumable watches, compaction and lag errors, idempotent replays, waits.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, wait, Cc, Rig};
use pb::watch_session_response::Item;
use pb::SessionState as S;
use std::time::Duration;
use tonic::Code;

const CC: Cc = Cc::NEWEST;

/// Reads a watch until `stop` says so, the stream ends, or `limit` passes; returns the events.
async fn collect(
    stream: &mut tonic::Streaming<pb::WatchSessionResponse>,
    limit: Duration,
    stop: impl Fn(&pb::SessionEvent) -> bool,
) -> (Vec<pb::SessionEvent>, Option<tonic::Status>) {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(pb::WatchSessionResponse { item: Some(Item::Event(e)) }))) => {
                let done = stop(&e);
                out.push(e);
                if done {
                    return (out, None);
                }
            }
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) | Err(_) => return (out, None),
            Ok(Err(st)) => return (out, Some(st)),
        }
    }
}

async fn watch(rig: &mut Rig, id: &str, from: i64) -> tonic::Streaming<pb::WatchSessionResponse> {
    let req = pb::WatchSessionRequest {
        session_id: id.into(),
        start_revision: from,
        heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    rig.client.watch_session(req).await.unwrap().into_inner()
}

/// Re-adoption reads each version's status file, transcript and screens: every supported variant.
async fn kill_9_restart_readopts_and_watchers_resume_exactly_once(cc: Cc) {
    let mut rig = Rig::start(cc).await;
    let idle = rig.create("", 60).await.session.unwrap();
    let busy = rig.create("", 60).await.session.unwrap();
    rig.client
        .send_message(pb::SendMessageRequest {
            session_id: busy.id.clone(),
            text: "SLOW(6000) work hard".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut w_idle = watch(&mut rig, &idle.id, 1).await;
    let mut w_busy = watch(&mut rig, &busy.id, 1).await;
    let (before_idle, _) = collect(&mut w_idle, Duration::from_millis(800), |_| false).await;
    let (before_busy, _) = collect(&mut w_busy, Duration::from_millis(800), |_| false).await;
    let last_busy = before_busy.last().unwrap().revision;
    let last_idle = before_idle.last().unwrap().revision;
    assert_eq!(S::try_from(before_busy.last().unwrap().state).unwrap(), S::Working);

    rig.kill_server();
    // The watchers see their stream end (not a silent hang).
    let (_, err) = collect(&mut w_busy, Duration::from_secs(5), |_| false).await;
    assert!(err.is_some(), "stream should fail when the server dies");
    rig.start_server("127.0.0.1:0").await;

    let listed = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.sessions.len(), 2, "both sessions re-adopted");
    assert_eq!(state_of(&rig.get(&idle.id).await), S::Idle);
    // The busy one finishes its turn after the restart, and the resumed watcher sees it exactly once.
    let mut w_busy = watch(&mut rig, &busy.id, last_busy + 1).await;
    let (after, err) = collect(&mut w_busy, Duration::from_secs(30), |e| {
        e.state == S::Idle as i32 && e.kind == pb::EventKind::StateChanged as i32
    })
    .await;
    assert!(err.is_none(), "{err:?}");
    let revs: Vec<i64> = after.iter().map(|e| e.revision).collect();
    assert_eq!(
        revs,
        (last_busy + 1..last_busy + 1 + revs.len() as i64).collect::<Vec<_>>(),
        "contiguous, no gap, no repeat"
    );
    assert_eq!(S::try_from(after.last().unwrap().state).unwrap(), S::Idle, "{after:#?}");

    // Hooks still reach a re-adopted session (the hook port is kept across restarts).
    let r = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: idle.id.clone(),
            text: "after restart".into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The delivery may be confirmed by the hook or by the emptied box, whichever is seen first; the
    // last assistant message comes from the Stop hook only.
    assert_eq!(state_of(r.session.as_ref().unwrap()), S::Idle);
    let mut last = String::new();
    for _ in 0..100 {
        last = rig.get(&idle.id).await.last_assistant_message;
        if last == "Fake reply: after restart" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "Fake reply: after restart", "no Stop hook reached the re-adopted session");
    let mut w_idle = watch(&mut rig, &idle.id, last_idle + 1).await;
    let (after_idle, _) = collect(&mut w_idle, Duration::from_millis(1500), |_| false).await;
    assert_eq!(after_idle.first().unwrap().revision, last_idle + 1);
    assert!(after_idle.iter().any(|e| e.kind == pb::EventKind::MessageSent as i32));
}
per_cc!(kill_9_restart_readopts_and_watchers_resume_exactly_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_resume_point_is_out_of_range() {
    let mut rig = Rig::start(CC).await;
    let s = rig.create("make some events", 60).await.session.unwrap();
    assert!(s.revision >= 4, "{s:?}");
    // IDLE goes out on the Stop hook; the transcript's catch-up may log after it. Let the session
    // settle so the restart below has nothing left to write (a new event would compact again).
    let mut last = s.revision;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = rig.get(&s.id).await.revision;
        if now == last {
            break;
        }
        last = now;
    }
    rig.stop_server();
    // Restart keeping only the last 2 events per session.
    rig.server_args = vec!["--retain-events".into(), "2".into()];
    rig.start_server("127.0.0.1:0").await;
    let mut stream = watch(&mut rig, &s.id, 1).await;
    let err = loop {
        match stream.message().await {
            Err(e) => break e,
            Ok(None) => panic!("stream ended without the compaction error"),
            Ok(Some(_)) => {}
        }
    };
    assert_eq!((err.code(), reason(&err).as_str()), (Code::OutOfRange, "REVISION_COMPACTED"));
    use tonic_types::StatusExt;
    let oldest: i64 = err.get_details_error_info().unwrap().metadata["oldest_available"].parse().unwrap();
    // The last 2 events are kept.
    assert_eq!(oldest, last - 1);
    // From the compaction point it works.
    let mut stream = watch(&mut rig, &s.id, oldest).await;
    let (evs, err) = collect(&mut stream, Duration::from_millis(1500), |_| false).await;
    assert!(err.is_none());
    assert_eq!(evs.first().unwrap().revision, oldest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_replay_without_acting_again() {
    let mut rig = Rig::start(CC).await;
    let mut req = rig.create_request("replayed prompt one");
    req.request_id = "task-42".into();
    req.wait = Some(wait(60, &[]));
    let replay = req.clone();
    let a = rig.client.create_session(req.clone()).await.unwrap().into_inner();
    let b = rig.client.create_session(req.clone()).await.unwrap().into_inner();
    assert_eq!(a, b, "a replay returns the stored result");
    let all = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.sessions.len(), 1, "two creates for the same task never make two sessions");
    req.name = "different".into();
    let e = rig.client.create_session(req).await.unwrap_err();
    assert_eq!((e.code(), reason(&e).as_str()), (Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED"));
    let id = a.session.unwrap().id;

    let send = pb::SendMessageRequest {
        session_id: id.clone(),
        text: "replayed prompt two".into(),
        request_id: "send-1".into(),
        wait: Some(wait(60, &[])),
        ..Default::default()
    };
    let s1 = rig.client.send_message(send.clone()).await.unwrap().into_inner();
    let s2 = rig.client.send_message(send).await.unwrap().into_inner();
    assert_eq!(s1, s2);
    let sent = rig.api.main_requests().iter().filter(|r| r.last_user_text.contains("replayed prompt two")).count();
    assert_eq!(sent, 1, "the prompt went to CC once");

    // An answer replayed after the interaction is gone returns the first result instead of an error.
    let q = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: id.clone(),
            text: "ASK_ONE".into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let it = q.pending_interactions[0].id.clone();
    let ans = pb::AnswerQuestionRequest {
        session_id: id.clone(),
        interaction_id: it,
        answers: vec![pb::QuestionAnswer {
            question: "Which recovery strategy?".into(),
            selected_labels: vec!["Clean up".into()],
            free_text: String::new(),
        }],
        request_id: "answer-1".into(),
        wait: Some(wait(60, &[])),
    };
    let x = rig.client.answer_question(ans.clone()).await.unwrap().into_inner();
    let y = rig.client.answer_question(ans).await.unwrap().into_inner();
    assert_eq!(x, y);

    for rid in ["esc-1", "int-1"] {
        let e1 = rig
            .client
            .escape(pb::EscapeRequest { session_id: id.clone(), request_id: rid.into() })
            .await
            .unwrap()
            .into_inner();
        let e2 = rig
            .client
            .escape(pb::EscapeRequest { session_id: id.clone(), request_id: rid.into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(e1, e2);
    }
    let i1 = rig
        .client
        .interrupt(pb::InterruptRequest { session_id: id.clone(), request_id: "int-2".into() })
        .await
        .unwrap()
        .into_inner();
    let i2 = rig
        .client
        .interrupt(pb::InterruptRequest { session_id: id.clone(), request_id: "int-2".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(i1, i2);

    let d1 = rig
        .client
        .delete_session(pb::DeleteSessionRequest { session_id: id.clone(), request_id: "del-1".into() })
        .await
        .unwrap()
        .into_inner();
    let d2 = rig
        .client
        .delete_session(pb::DeleteSessionRequest { session_id: id.clone(), request_id: "del-1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d1, d2);

    // Replays survive a restart (the store keeps request ids for 24 h).
    rig.stop_server();
    rig.start_server("127.0.0.1:0").await;
    let c = rig.client.create_session(replay).await.unwrap().into_inner();
    assert_eq!(c.session.unwrap().id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_ok_and_ends_when_the_session_dies() {
    let mut rig = Rig::start(CC).await;
    let s = rig.create("", 60).await.session.unwrap();
    let t0 = std::time::Instant::now();
    let w = rig.wait_for(&s.id, 0, &[S::AskQuestion], 1).await;
    assert!(!w.wait_result.unwrap().satisfied);
    assert_eq!(state_of(w.session.as_ref().unwrap()), S::Idle);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // A stale IDLE never satisfies a turn-scoped wait.
    let w = rig.wait_for(&s.id, 0, &[S::Idle], 1).await;
    assert!(!w.wait_result.unwrap().satisfied);

    let mut client = rig.client.clone();
    let id = s.id.clone();
    let waiter = tokio::spawn(async move {
        client
            .wait_session(pb::WaitSessionRequest {
                session_id: id,
                after_revision: 0,
                wait: Some(wait(60, &[S::AskQuestion])),
            })
            .await
            .unwrap()
            .into_inner()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = std::process::Command::new("tmux")
        .args(["-L", &rig.socket, "display-message", "-p", "-t", &s.tmux_pane, "#{pane_pid}"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let t0 = std::time::Instant::now();
    std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
    let w = waiter.await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "the wait ended at once, not at its timeout");
    assert!(!w.wait_result.unwrap().satisfied);
    let after = w.session.unwrap();
    assert_eq!(state_of(&after), S::Exited);
    assert!(after.exit.unwrap().reason.contains("killed by signal 9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_tmux_server_is_noticed_and_the_service_stays_up() {
    let mut rig = Rig::start(CC).await;
    let a = rig.create("", 60).await.session.unwrap();
    let b = rig.create("", 60).await.session.unwrap();
    std::process::Command::new("tmux").args(["-L", &rig.socket, "kill-server"]).status().unwrap();
    for id in [&a.id, &b.id] {
        let w = rig.wait_for(id, 0, &[S::Exited], 10).await;
        let s = w.session.unwrap();
        assert_eq!(state_of(&s), S::Exited, "{s:?}");
        assert!(s.exit.unwrap().reason.contains("tmux server died"));
    }
    let info = rig.client.get_server_info(pb::GetServerInfoRequest {}).await.unwrap().into_inner();
    assert_eq!(info.sessions_live, 0);
    let c = rig.create("a new session after tmux died", 60).await;
    assert!(c.wait_result.unwrap().satisfied);
    assert_eq!(state_of(c.session.as_ref().unwrap()), S::Idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_without_progress_is_marked_stalled_with_evidence() {
    let mut rig = Rig::start(CC).await;
    rig.stop_server();
    rig.server_args = vec!["--stall-secs".into(), "2".into()];
    rig.start_server("127.0.0.1:0").await;
    let s = rig.create("", 60).await.session.unwrap();
    rig.client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "SLOW(9000) think long".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut stream = watch(&mut rig, &s.id, s.revision + 1).await;
    let (evs, _) = collect(&mut stream, Duration::from_secs(8), |e| e.kind == pb::EventKind::StallChanged as i32).await;
    let stall = evs
        .last()
        .filter(|e| e.kind == pb::EventKind::StallChanged as i32)
        .unwrap_or_else(|| panic!("no stall event: {evs:#?}"));
    let st = stall.stall.as_ref().unwrap();
    assert!(st.stalled);
    assert_eq!(st.threshold.unwrap().seconds, 2);
    assert_eq!(S::try_from(stall.state).unwrap(), S::Working);
    assert!(!stall.evidence.as_ref().unwrap().detail.is_empty());
    assert!(rig.get(&s.id).await.stall.unwrap().stalled);
    // Progress (the answer) ends the stall.
    let w = rig.wait_for(&s.id, stall.revision, &[S::Idle], 30).await;
    assert!(w.wait_result.unwrap().satisfied);
    assert!(!w.session.unwrap().stall.unwrap().stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_filters_by_interaction_kind_in_global_order() {
    use pb::watch_events_response::Item as EItem;
    let mut rig = Rig::start(CC).await;
    let req = pb::WatchEventsRequest {
        interaction_kinds: vec![pb::InteractionKind::Question as i32],
        heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let mut questions = rig.client.watch_events(req).await.unwrap().into_inner();
    let mut all = rig
        .client
        .watch_events(pb::WatchEventsRequest { start_sequence: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let s = rig.create("", 60).await.session.unwrap();
    rig.client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "ASK_ONE".into(),
            wait: Some(wait(60, &[])),
            ..Default::default()
        })
        .await
        .unwrap();
    let opened = loop {
        match tokio::time::timeout(Duration::from_secs(20), questions.message()).await.unwrap().unwrap().unwrap().item {
            Some(EItem::Event(e)) => break e,
            _ => continue,
        }
    };
    assert_eq!(opened.kind, pb::EventKind::InteractionOpened as i32);
    assert_eq!(opened.session_id, s.id);
    assert!(matches!(
        opened.interaction.as_ref().unwrap().content,
        Some(pb::pending_interaction::Content::Question(_))
    ));
    // The unfiltered stream has everything, in strictly increasing global sequence, and includes it.
    let mut seqs = Vec::new();
    while let Ok(Ok(Some(item))) = tokio::time::timeout(Duration::from_secs(2), all.message()).await {
        if let Some(EItem::Event(e)) = item.item {
            seqs.push(e.sequence);
            if e.sequence == opened.sequence {
                break;
            }
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.last(), Some(&opened.sequence));
    assert_eq!(seqs.first(), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_streams_cleanly_and_leaves_sessions_running() {
    use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};
    let mut rig = Rig::start(CC).await;
    let s = rig.create("", 60).await.session.unwrap();
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", rig.addr)).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel);
    let st = health.check(HealthCheckRequest { service: "aegis.v1.SessionService".into() }).await.unwrap().into_inner();
    assert_eq!(st.status, ServingStatus::Serving as i32);
    let mut stream = watch(&mut rig, &s.id, 0).await;
    let mut child = rig.server.take().unwrap();
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    // The watch ends with OK (not an error, not a hang).
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("stream did not end on shutdown");
    assert!(matches!(end, Ok(None)), "{end:?}");
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    // CC keeps running in tmux for the next start to re-adopt.
    let panes = std::process::Command::new("tmux")
        .args(["-L", &rig.socket, "list-panes", "-a", "-F", "#{pane_id} #{pane_dead}"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&panes.stdout).lines().any(|l| l == format!("{} 0", s.tmux_pane)));
}
