//! Idempotent mutating RPCs. A `request_id` is stored with a fingerprint of the request BEFORE the
//! request acts (state in flight, with the session chosen up front), then completed with the encoded
//! response; a replay returns that response without acting again, and concurrent duplicates wait for
//! the first one. The same id with other parameters is FAILED_PRECONDITION + IDEMPOTENCY_KEY_REUSED.
//! A request that fails deletes its record (nothing happened; a retry acts), so failures leave nothing
//! behind, neither in the store nor in the in-process lock table.
//!
//! A retry that finds an in-flight record (the service was killed, or the caller hung up, while the
//! first attempt ran) never acts twice:
//!
//! | RPC               | retry finding an in-flight record                                            |
//! |-------------------|------------------------------------------------------------------------------|
//! | CreateSession     | same session: the id was chosen before acting; answered from its current     |
//! |                   | record (waiting like the original when asked); created only if it never was   |
//! | DeleteSession     | acts again: deleting is idempotent (an exited session is answered as is)     |
//! | AnswerQuestion,   | acts again: an interaction is answered at most once, so either the first     |
//! | ApprovePermission,| attempt had no effect and this one answers, or the interaction is gone and   |
//! | RejectPermission  | the retry fails (INTERACTION_NOT_FOUND…) instead of answering twice          |
//! | SendMessage,      | ABORTED + REQUEST_OUTCOME_UNKNOWN: whether the text or key reached CC cannot |
//! | Interrupt, Escape | be known, and sending it again could act twice (a second Ctrl-C exits CC)    |
use super::status::to_status;
use crate::core::{CoreError, ErrorKind};
use crate::model::now_ms;
use crate::store::{RequestState, Store, StoredRequest};
use prost::Message;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tonic::Status;

pub const TTL_MS: i64 = 24 * 3600 * 1000;

/// What a retry that finds an in-flight record does (see the table above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnInterrupted {
    /// Act again: the RPC is safe to repeat.
    ActAgain,
    /// ABORTED + REQUEST_OUTCOME_UNKNOWN.
    Abort,
    /// Act again on the session chosen before the first attempt acted: this one is recorded with the
    /// in-flight record, and a retry gets the recorded one (CreateSession).
    SameSession(String),
}

/// What `act` is told about the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The session chosen before acting: the planned one, or the one of the interrupted attempt.
    pub session_id: String,
    /// An earlier attempt with this key began and never finished.
    pub resumed: bool,
}

type Locks = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

#[derive(Default)]
pub struct Idempotency {
    inflight: Locks,
}

/// Removes a key's lock from the table once nobody else holds or waits for it (on success, failure
/// or cancellation alike), so the table only ever holds keys of running requests.
struct LockEntry<'a> {
    table: &'a Locks,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for LockEntry<'_> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap();
        // The table's reference plus ours: no waiter cloned it (cloning needs the table lock we hold).
        if Arc::strong_count(&self.lock) <= 2 {
            table.remove(&self.key);
        }
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 128 && k.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

fn store_err(e: anyhow::Error) -> Status {
    Status::internal(e.to_string())
}

impl Idempotency {
    /// Runs `act` at most once per (method, request_id). `fingerprint` is the request encoded without
    /// its request_id; `R` is the response type.
    pub async fn run<R, F, Fut>(
        &self,
        store: &Store,
        method: &str,
        request_id: &str,
        fingerprint: Vec<u8>,
        on_interrupted: OnInterrupted,
        act: F,
    ) -> Result<R, Status>
    where
        R: Message + Default,
        F: FnOnce(Attempt) -> Fut,
        Fut: Future<Output = Result<R, Status>>,
    {
        let planned_session = match &on_interrupted {
            OnInterrupted::SameSession(id) => id.clone(),
            _ => String::new(),
        };
        if request_id.is_empty() {
            return act(Attempt { session_id: planned_session, resumed: false }).await;
        }
        if !valid_key(request_id) {
            return Err(to_status(CoreError::invalid(
                "request_id",
                "INVALID_REQUEST_ID",
                "request_id must be 1-128 characters of [A-Za-z0-9._:-]",
            )));
        }
        tracing::Span::current().record("request_id", request_id);
        let key = format!("{method}/{request_id}");
        let lock = self.inflight.lock().unwrap().entry(key.clone()).or_default().clone();
        let entry = LockEntry { table: &self.inflight, key: key.clone(), lock };
        let _guard = entry.lock.lock().await;
        let fp = hex(&fingerprint);
        let found = store.get_request(&key).await.map_err(store_err)?.filter(|p| now_ms() - p.created < TTL_MS);
        let mut attempt = Attempt { session_id: planned_session, resumed: false };
        let created = match found {
            Some(prev) if prev.fingerprint != fp => {
                return Err(to_status(
                    CoreError::new(
                        ErrorKind::FailedPrecondition,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this request_id was used with other parameters",
                    )
                    .with("request_id", request_id),
                ))
            }
            Some(prev) if prev.state == RequestState::Completed => {
                return R::decode(prev.response.as_slice()).map_err(|e| Status::internal(e.to_string()));
            }
            Some(prev) => {
                if on_interrupted == OnInterrupted::Abort {
                    return Err(outcome_unknown(method, request_id));
                }
                attempt = Attempt { session_id: prev.session_id, resumed: true };
                prev.created
            }
            None => now_ms(),
        };
        let record = |state, response| StoredRequest {
            method: method.into(),
            fingerprint: fp.clone(),
            response,
            created,
            state,
            session_id: attempt.session_id.clone(),
        };
        if !attempt.resumed {
            store.put_request(&key, record(RequestState::InFlight, Vec::new())).await.map_err(store_err)?;
        }
        let done = record(RequestState::Completed, Vec::new());
        match act(attempt).await {
            Ok(resp) => {
                let stored = StoredRequest { response: resp.encode_to_vec(), ..done };
                store.put_request(&key, stored).await.map_err(store_err)?;
                Ok(resp)
            }
            Err(st) => {
                // Failed requests had no effect the caller can rely on: forget them, so a retry acts.
                store.delete_request(&key).await.map_err(store_err)?;
                Err(st)
            }
        }
    }

    /// Keys of requests running now (for tests: failures must not leave any behind).
    pub fn running(&self) -> usize {
        self.inflight.lock().unwrap().len()
    }
}

fn outcome_unknown(method: &str, request_id: &str) -> Status {
    to_status(
        CoreError::new(
            ErrorKind::Aborted,
            "REQUEST_OUTCOME_UNKNOWN",
            format!(
                "an earlier {method} with this request_id began and never finished (the service restarted or \
                 the call was cancelled); whether it took effect is unknown: read the session and decide"
            ),
        )
        .with("request_id", request_id)
        .with("method", method),
    )
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), 16).unwrap();
        (dir, s)
    }

    fn reply(id: &str) -> pb::DeleteSessionResponse {
        pb::DeleteSessionResponse { session: Some(pb::Session { id: id.into(), ..Default::default() }) }
    }

    #[tokio::test]
    async fn failed_requests_leave_no_lock_and_no_record_and_a_retry_acts() {
        let (_d, s) = store();
        let idem = Idempotency::default();
        for i in 0..100 {
            let r: Result<pb::DeleteSessionResponse, Status> = idem
                .run(&s, "DeleteSession", &format!("fresh-{i}"), vec![1], OnInterrupted::ActAgain, |_| async {
                    Err(Status::not_found("no"))
                })
                .await;
            assert_eq!(r.unwrap_err().code(), tonic::Code::NotFound);
            assert_eq!(s.get_request(&format!("DeleteSession/fresh-{i}")).await.unwrap(), None);
        }
        assert_eq!(idem.running(), 0);
        let r = idem
            .run(&s, "DeleteSession", "fresh-0", vec![1], OnInterrupted::ActAgain, |_| async { Ok(reply("s1")) })
            .await
            .unwrap();
        assert_eq!(r.session.unwrap().id, "s1");
        assert_eq!(idem.running(), 0);
    }

    #[tokio::test]
    async fn the_record_is_in_flight_while_acting_then_completed() {
        let (_d, s) = store();
        let idem = Idempotency::default();
        let s2 = s.clone();
        let r = idem
            .run(&s, "CreateSession", "k1", vec![7], OnInterrupted::SameSession("planned".into()), |a| async move {
                let rec = s2.get_request("CreateSession/k1").await.unwrap().unwrap();
                assert_eq!((rec.state, rec.session_id.as_str()), (RequestState::InFlight, "planned"));
                assert_eq!(a, Attempt { session_id: "planned".into(), resumed: false });
                Ok(reply(&a.session_id))
            })
            .await
            .unwrap();
        let rec = s.get_request("CreateSession/k1").await.unwrap().unwrap();
        assert_eq!(rec.state, RequestState::Completed);
        assert_eq!(pb::DeleteSessionResponse::decode(rec.response.as_slice()).unwrap(), r);
        // A replay answers from the record without acting.
        let again: pb::DeleteSessionResponse = idem
            .run(&s, "CreateSession", "k1", vec![7], OnInterrupted::SameSession("other".into()), |_| async {
                panic!("acted twice")
            })
            .await
            .unwrap();
        assert_eq!(again, r);
    }

    #[tokio::test]
    async fn an_interrupted_attempt_is_resumed_with_its_session_or_aborted() {
        let (_d, s) = store();
        let inflight = |sid: &str| StoredRequest {
            method: "m".into(),
            fingerprint: hex(&[7]),
            response: Vec::new(),
            created: now_ms(),
            state: RequestState::InFlight,
            session_id: sid.into(),
        };
        // As left by a process killed while acting.
        s.put_request("CreateSession/k", inflight("chosen-first")).await.unwrap();
        s.put_request("SendMessage/k", inflight("")).await.unwrap();
        let idem = Idempotency::default();
        let acted = AtomicUsize::new(0);
        let r = idem
            .run(&s, "CreateSession", "k", vec![7], OnInterrupted::SameSession("fresh".into()), |a| {
                acted.fetch_add(1, Ordering::SeqCst);
                async move {
                    assert!(a.resumed);
                    Ok(reply(&a.session_id))
                }
            })
            .await
            .unwrap();
        assert_eq!(r.session.unwrap().id, "chosen-first");
        assert_eq!(acted.load(Ordering::SeqCst), 1);
        let err = idem
            .run::<pb::DeleteSessionResponse, _, _>(&s, "SendMessage", "k", vec![7], OnInterrupted::Abort, |_| async {
                panic!("sent twice")
            })
            .await
            .unwrap_err();
        use tonic_types::StatusExt;
        assert_eq!(err.code(), tonic::Code::Aborted);
        assert_eq!(err.get_details_error_info().unwrap().reason, "REQUEST_OUTCOME_UNKNOWN");
        // Another fingerprint is still refused as a reused key.
        let err = idem
            .run::<pb::DeleteSessionResponse, _, _>(&s, "SendMessage", "k", vec![8], OnInterrupted::Abort, |_| async {
                panic!()
            })
            .await
            .unwrap_err();
        assert_eq!(err.get_details_error_info().unwrap().reason, "IDEMPOTENCY_KEY_REUSED");
    }

    #[tokio::test]
    async fn concurrent_duplicates_wait_for_the_first_and_act_once() {
        let (_d, s) = store();
        let idem = Arc::new(Idempotency::default());
        let acted = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (idem, s, acted) = (idem.clone(), s.clone(), acted.clone());
            tasks.push(tokio::spawn(async move {
                idem.run(&s, "DeleteSession", "dup", vec![1], OnInterrupted::ActAgain, |_| async move {
                    acted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    Ok(reply("once"))
                })
                .await
                .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().session.unwrap().id, "once");
        }
        assert_eq!(acted.load(Ordering::SeqCst), 1);
        assert_eq!(idem.running(), 0);
    }
}
