//! Bad input is refused with canonical codes and ErrorInfo reasons, quotas hold, and idempotency is exact
//! across a crash — end to end with the real server process. Tests that create no session start no CC.
mod common;
use aegis::proto::v1 as pb;
use common::{reason, state_of, wait, Cc, Rig};
use pb::SessionState as S;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

const CC: Cc = Cc::NEWEST;

fn assert_invalid_enum(st: &tonic::Status, field: &str) {
    assert_eq!((st.code(), reason(st).as_str()), (Code::InvalidArgument, "INVALID_ENUM_VALUE"), "{st:?}");
    assert_eq!(st.get_details_error_info().unwrap().metadata["field"], field, "{st:?}");
}

fn heartbeat() -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds: 1, nanos: 0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_enum_values_are_invalid_in_every_request() {
    let mut rig = Rig::start(CC).await;
    let c = &mut rig.client;
    let st = c
        .send_message(pb::SendMessageRequest {
            session_id: "s".into(),
            text: "hi".into(),
            kind: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_enum(&st, "kind");
    let st = c
        .list_sessions(pb::ListSessionsRequest { states: vec![S::Idle as i32, 99], ..Default::default() })
        .await
        .unwrap_err();
    assert_invalid_enum(&st, "states");
    let st = c
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: "s".into(),
            interaction_id: "i".into(),
            scope: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_enum(&st, "scope");
    let st = c
        .approve_permission(pb::ApprovePermissionRequest {
            session_id: "s".into(),
            interaction_id: "i".into(),
            plan_mode: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_enum(&st, "plan_mode");
    let st =
        c.watch_events(pb::WatchEventsRequest { interaction_kinds: vec![42], ..Default::default() }).await.unwrap_err();
    assert_invalid_enum(&st, "interaction_kinds");
    let st = c.watch_events(pb::WatchEventsRequest { states: vec![1000], ..Default::default() }).await.unwrap_err();
    assert_invalid_enum(&st, "states");
    let st = c
        .get_transcript(pb::GetTranscriptRequest { session_id: "s".into(), kinds: vec![77], ..Default::default() })
        .await
        .unwrap_err();
    assert_invalid_enum(&st, "kinds");
    let st = c
        .wait_session(pb::WaitSessionRequest {
            session_id: "s".into(),
            wait: Some(pb::WaitOptions { states: vec![55], timeout: None }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_enum(&st, "wait.states");
    let mut create = rig.create_request("");
    create.wait = Some(pb::WaitOptions { states: vec![66], timeout: None });
    let st = rig.client.create_session(create).await.unwrap_err();
    assert_invalid_enum(&st, "wait.states");
    let listed = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
    assert!(listed.sessions.is_empty(), "a refused create started nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_sequence_is_out_of_range_with_the_head() {
    let mut rig = Rig::start(CC).await;
    let st = rig
        .client
        .watch_events(pb::WatchEventsRequest {
            start_sequence: 1_000_000,
            heartbeat_interval: heartbeat(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((st.code(), reason(&st).as_str()), (Code::OutOfRange, "SEQUENCE_IN_FUTURE"));
    assert_eq!(st.get_details_error_info().unwrap().metadata["current"], "0");
    // The next sequence is a valid start.
    rig.client
        .watch_events(pb::WatchEventsRequest {
            start_sequence: 1,
            heartbeat_interval: heartbeat(),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_id_is_not_found_and_not_echoed_in_full() {
    let mut rig = Rig::start(CC).await;
    let id = "a".repeat(100 * 1024);
    let st = rig.client.get_session(pb::GetSessionRequest { session_id: id.clone() }).await.unwrap_err();
    assert_eq!((st.code(), reason(&st).as_str()), (Code::NotFound, "SESSION_NOT_FOUND"), "{:?}", st.code());
    assert!(st.message().len() < 1024, "message of {} bytes", st.message().len());
    let echoed = &st.get_details_error_info().unwrap().metadata["session_id"];
    assert!(echoed.ends_with('…') && echoed.chars().count() == 129, "{} chars", echoed.chars().count());
    let st =
        rig.client.get_transcript(pb::GetTranscriptRequest { session_id: id, ..Default::default() }).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_flags_are_refused_in_every_spelling_before_any_cc_starts() {
    let mut rig = Rig::start(CC).await;
    for flag in ["-pc", "-rc", "-r0b5c7a52", "--print=x", "--resume=abc", "--session-id=x", "--settings={}", "-cp"] {
        let mut req = rig.create_request("");
        req.extra_args = vec![flag.into()];
        let st = rig.client.create_session(req).await.unwrap_err();
        assert_eq!((st.code(), reason(&st).as_str()), (Code::InvalidArgument, "EXTRA_ARG_RESERVED"), "{flag}");
    }
    let listed = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
    assert!(listed.sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_are_capped_and_a_closed_one_frees_its_slot() {
    let mut rig = Rig::start(CC).await;
    rig.stop_server();
    rig.server_args = vec!["--max-watchers".into(), "2".into()];
    rig.start_server("127.0.0.1:0").await;
    let req = || pb::WatchEventsRequest { heartbeat_interval: heartbeat(), ..Default::default() };
    let first = rig.client.watch_events(req()).await.unwrap().into_inner();
    let _second = rig.client.watch_events(req()).await.unwrap().into_inner();
    let st = rig.client.watch_events(req()).await.unwrap_err();
    assert_eq!((st.code(), reason(&st).as_str()), (Code::ResourceExhausted, "TOO_MANY_WATCHERS"));
    let quota = st.get_details_quota_failure().expect("QuotaFailure detail");
    assert_eq!(quota.violations[0].subject, "watchers");
    assert_eq!(st.get_details_error_info().unwrap().metadata["limit"], "2");
    drop(first);
    // The server notices the closed stream and frees the slot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match rig.client.watch_events(req()).await {
            Ok(_) => break,
            Err(st) if st.code() == Code::ResourceExhausted && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(st) => panic!("slot never freed: {st:?}"),
        }
    }
}

/// One live session with `--max-sessions 1 --retain-events 3`: the second create is refused with a
/// QuotaFailure, future start points are OUT_OF_RANGE with the head, and retention holds at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cap_future_revisions_and_retention_on_write() {
    let mut rig = Rig::start(CC).await;
    rig.stop_server();
    rig.server_args = ["--max-sessions", "1", "--retain-events", "3"].map(String::from).to_vec();
    rig.start_server("127.0.0.1:0").await;
    let s = rig.create("", 90).await.session.unwrap();
    assert_eq!(state_of(&s), S::Idle);
    let st = rig.client.create_session(rig.create_request("")).await.unwrap_err();
    assert_eq!((st.code(), reason(&st).as_str()), (Code::ResourceExhausted, "TOO_MANY_SESSIONS"));
    assert_eq!(st.get_details_quota_failure().expect("QuotaFailure").violations[0].subject, "sessions");

    let sent = rig
        .client
        .send_message(pb::SendMessageRequest {
            session_id: s.id.clone(),
            text: "make some events".into(),
            wait: Some(wait(90, &[S::Idle])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let head = sent.session.unwrap().revision;
    assert!(head > 4, "revision {head}");
    let st = rig
        .client
        .watch_session(pb::WatchSessionRequest {
            session_id: s.id.clone(),
            start_revision: head + 5,
            heartbeat_interval: heartbeat(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((st.code(), reason(&st).as_str()), (Code::OutOfRange, "REVISION_IN_FUTURE"));
    let current: i64 = st.get_details_error_info().unwrap().metadata["current"].parse().unwrap();
    assert!(current >= head);
    let st = rig
        .client
        .wait_session(pb::WaitSessionRequest {
            session_id: s.id.clone(),
            after_revision: current + 100,
            wait: Some(wait(2, &[])),
        })
        .await
        .unwrap_err();
    assert_eq!((st.code(), reason(&st).as_str()), (Code::OutOfRange, "REVISION_IN_FUTURE"));

    // Only the last 3 events are kept, without a restart.
    let mut stream = rig
        .client
        .watch_session(pb::WatchSessionRequest {
            session_id: s.id.clone(),
            start_revision: 1,
            heartbeat_interval: heartbeat(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message()).await.expect("no compaction error") {
            Err(e) => break e,
            Ok(None) => panic!("stream ended without the compaction error"),
            Ok(Some(_)) => {}
        }
    };
    assert_eq!((err.code(), reason(&err).as_str()), (Code::OutOfRange, "REVISION_COMPACTED"));
    let oldest: i64 = err.get_details_error_info().unwrap().metadata["oldest_available"].parse().unwrap();
    let now = rig.get(&s.id).await.revision;
    assert_eq!(oldest, now - 2);

    // The cap counts live sessions: after a delete, a create works again.
    rig.client
        .delete_session(pb::DeleteSessionRequest { session_id: s.id.clone(), ..Default::default() })
        .await
        .unwrap();
    let again = rig.create("", 90).await.session.unwrap();
    assert_ne!(again.id, s.id);
}

/// A CreateSession with a request_id and a wait, in flight when the service is SIGKILLed, retried after
/// the restart: the same session answers, and no second session (no second CC) is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_in_flight_at_a_crash_is_answered_by_the_same_session_on_retry() {
    let mut rig = Rig::start(CC).await;
    let mut req = rig.create_request("SLOW(6000) take your time");
    req.request_id = "create-crash-1".into();
    req.wait = Some(wait(120, &[S::Idle]));
    let mut first_client = rig.client.clone();
    let first_req = req.clone();
    let first = tokio::spawn(async move { first_client.create_session(first_req).await });
    // Kill the service while the create waits for IDLE: the first turn (6 s) is running.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let created = loop {
        let listed = rig.client.list_sessions(pb::ListSessionsRequest::default()).await.unwrap().into_inner();
        if let Some(s) = listed.sessions.into_iter().find(|s| state_of(s) == S::Working) {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "the session never worked on its prompt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!first.is_finished(), "the create must still be in flight when the service dies");
    rig.kill_server();
    assert!(first.await.unwrap().is_err(), "the first call died with the service");
    rig.start_server("127.0.0.1:0").await;

    let retried = rig
        .client
        .create_session(req.clone())
        .await
        .unwrap_or_else(|e| panic!("retry: {e:?}\n{}", rig.server_log()))
        .into_inner();
    let session = retried.session.unwrap();
    assert_eq!(session.id, created.id, "the retry answers with the session of the first attempt");
    if !retried.wait_result.unwrap().satisfied {
        let evs = rig.events(&session.id).await;
        let seen: Vec<_> = evs.iter().map(|e| (e.revision, e.kind, e.state, e.detail.clone())).collect();
        panic!("the retry did not see the turn end: {seen:?}\n{}", rig.server_log());
    }
    if state_of(&session) != S::Idle {
        let evs = rig.events(&session.id).await;
        let seen: Vec<_> = evs.iter().map(|e| (e.revision, e.kind, e.state, e.detail.clone())).collect();
        panic!("answered in {:?}: {seen:?}", state_of(&session));
    }
    let all = rig
        .client
        .list_sessions(pb::ListSessionsRequest { include_exited: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.sessions.len(),
        1,
        "no second session: {:?}",
        all.sessions.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    // A replay now answers from the completed record.
    let replay = rig.client.create_session(req).await.unwrap().into_inner();
    assert_eq!(replay.session.unwrap().id, created.id);
}
