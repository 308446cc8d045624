//! `aegis.v1.SessionService`: thin handlers — decode, call the core, encode.
use super::convert::{self, ts};
use super::idempotency::{Attempt, Idempotency, OnInterrupted};
use super::status::{invalid, quota_exhausted, to_status};
use super::streams;
use crate::cc::transcript::EntryKind;
use crate::cc::transcript_index::PageLimits;
use crate::core::answer::{Answer, AnswerPath, QuestionAnswer};
use crate::core::feed::{self, WaitOutcome};
use crate::core::{CoreError, CreateParams, ErrorKind, ListFilter, Manager, MessageKind};
use crate::model::{now_ms, Policy, State};
use crate::proto::v1 as pb;
use crate::proto::v1::session_service_server::SessionService;
use crate::tmux::Key;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

pub struct Service {
    pub mgr: Arc<Manager>,
    pub idem: Idempotency,
    /// Flips to true on graceful shutdown: streams end.
    pub shutdown: watch::Receiver<bool>,
    pub watch: streams::WatchLimits,
    pub tmux_version: String,
    pub state_dir: String,
    pub caps: Caps,
}

/// Service-wide quotas: live sessions and concurrent watch streams.
pub struct Caps {
    pub max_sessions: usize,
    pub max_watchers: usize,
    watchers: Arc<tokio::sync::Semaphore>,
}

impl Caps {
    pub const DEFAULT_MAX_SESSIONS: usize = 64;
    pub const DEFAULT_MAX_WATCHERS: usize = 1024;

    pub fn new(max_sessions: usize, max_watchers: usize) -> Caps {
        Caps { max_sessions, max_watchers, watchers: Arc::new(tokio::sync::Semaphore::new(max_watchers)) }
    }

    /// Reads the number of open watch streams (for the watchers gauge; the service itself is moved
    /// into the tonic server, so this holds its own handle on the slots).
    pub fn watchers_open(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let (slots, max) = (self.watchers.clone(), self.max_watchers);
        move || max.saturating_sub(slots.available_permits())
    }

    /// A watch stream's slot, held for the stream's life.
    fn watcher(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.watchers.clone().try_acquire_owned().map_err(|_| {
            let n = self.max_watchers;
            quota_exhausted("TOO_MANY_WATCHERS", "watchers", format!("at most {n} concurrent watch streams"), n)
        })
    }
}

impl Default for Caps {
    fn default() -> Self {
        Caps::new(Caps::DEFAULT_MAX_SESSIONS, Caps::DEFAULT_MAX_WATCHERS)
    }
}

type R<T> = Result<Response<T>, Status>;

/// Creates per BatchCreateSessions at most: a fleet of a few hundred in one call (the creates run at
/// once), while one request still cannot ask for an unbounded number of CC processes.
pub const MAX_BATCH: usize = 256;

const DEFAULT_WAIT: Duration = Duration::from_secs(60);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// The wait limit: asked (default 60 s, max 10 min) and always below the caller's own deadline, so the
/// caller gets `satisfied=false` instead of DEADLINE_EXCEEDED.
fn wait_limit<T>(req: &Request<T>, w: &pb::WaitOptions) -> Duration {
    let asked =
        w.timeout.map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32)).unwrap_or(DEFAULT_WAIT);
    let mut limit = asked.min(MAX_WAIT);
    if let Some(deadline) = grpc_timeout(req) {
        limit = limit.min(deadline.saturating_sub(deadline / 10 + Duration::from_millis(200)));
    }
    limit
}

fn grpc_timeout<T>(req: &Request<T>) -> Option<Duration> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn bad_enum(field: &'static str, v: i32) -> Status {
    to_status(
        CoreError::invalid(field, "INVALID_ENUM_VALUE", format!("{field}: {v} is not a known value"))
            .with("field", field)
            .with("value", v),
    )
}

/// A known value of enum `E` (UNSPECIFIED included: it means the default).
fn enum_value<E: TryFrom<i32>>(field: &'static str, v: i32) -> Result<E, Status> {
    E::try_from(v).map_err(|_| bad_enum(field, v))
}

fn states(field: &'static str, v: &[i32]) -> Result<Vec<State>, Status> {
    v.iter().map(|s| convert::state_from(*s).ok_or_else(|| bad_enum(field, *s))).collect()
}

/// OUT_OF_RANGE for a start point after the current head: nothing could ever be sent for it.
fn in_future(reason: &'static str, field: &'static str, asked: i64, head: i64) -> Status {
    to_status(
        CoreError::new(ErrorKind::OutOfRange, reason, format!("{field} {asked} is after the current head {head}"))
            .with("field", field)
            .with("requested", asked)
            .with("current", head),
    )
}

/// Validates a request's wait options before it acts (a bad wait must not fail after the effect).
fn check_wait(w: &Option<pb::WaitOptions>) -> Result<(), Status> {
    w.as_ref().map_or(Ok(()), |w| states("wait.states", &w.states).map(drop))
}

fn wait_result(o: WaitOutcome) -> pb::WaitResult {
    pb::WaitResult { satisfied: o.satisfied, matched_revision: o.matched_revision }
}

/// The request encoded without its idempotency key: the fingerprint of "the same parameters".
fn fingerprint<M: Message + Clone>(m: &M, clear: impl FnOnce(&mut M)) -> Vec<u8> {
    let mut m = m.clone();
    clear(&mut m);
    m.encode_to_vec()
}

impl Service {
    async fn wait(
        &self,
        id: &str,
        after: i64,
        w: &pb::WaitOptions,
        limit: Duration,
        after_delivery: bool,
    ) -> Result<WaitOutcome, Status> {
        let wanted = states("wait.states", &w.states)?;
        feed::wait(&self.mgr, id, after, &wanted, limit, after_delivery).await.map_err(to_status)
    }

    fn session(&self, id: &str) -> Result<pb::Session, Status> {
        Ok(convert::session(&self.mgr.get(id).map_err(to_status)?))
    }

    /// Applies an answer, then optionally waits for a state entered after the call's own revision.
    async fn answer(
        &self,
        session: &str,
        interaction: &str,
        answer: Answer,
        wait: &Option<pb::WaitOptions>,
        limit: Option<Duration>,
    ) -> Result<(pb::Session, pb::AnswerPath, Option<pb::WaitResult>), Status> {
        let before = self.mgr.get(session).map_err(to_status)?;
        let (rec, path) = self.mgr.answer(session, interaction, answer).await.map_err(to_status)?;
        let path = match path {
            AnswerPath::Hook => pb::AnswerPath::Hook,
            AnswerPath::Keys => pb::AnswerPath::Keys,
        };
        let outcome = match (wait, limit) {
            (Some(w), Some(limit)) => Some(self.wait(&rec.id, before.revision, w, limit, false).await?),
            _ => None,
        };
        let session = self.session_at(&rec.id, outcome.map_or(rec.revision, |o| o.seen_revision)).await?;
        Ok((session, path, outcome.map(wait_result)))
    }

    /// A stream's context, with its watcher slot (RESOURCE_EXHAUSTED past --max-watchers).
    fn stream_ctx(&self, heartbeat: Duration) -> Result<streams::StreamCtx, Status> {
        let slot = Some(self.caps.watcher()?);
        Ok(streams::StreamCtx { heartbeat, limits: self.watch, shutdown: self.shutdown.clone(), slot })
    }

    /// The session; when `revision` is beyond its snapshot, once the snapshot caught up (bounded): a
    /// client may hold an event a moment before the snapshot includes it, which is not the future.
    async fn head_at_least(&self, id: &str, revision: i64) -> Result<crate::model::SessionRecord, Status> {
        let rec = self.mgr.get(id).map_err(to_status)?;
        if revision <= rec.revision {
            return Ok(rec);
        }
        self.mgr.get_at_least(&rec.id, revision).await.map_err(to_status)
    }

    async fn session_at(&self, id: &str, revision: i64) -> Result<pb::Session, Status> {
        Ok(convert::session(&self.mgr.get_at_least(id, revision).await.map_err(to_status)?))
    }

    async fn create_one(
        &self,
        req: &Request<()>,
        r: pb::CreateSessionRequest,
    ) -> Result<pb::CreateSessionResponse, Status> {
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let limit = r.wait.as_ref().map(|w| wait_limit(req, w));
        check_wait(&r.wait)?;
        let planned = uuid::Uuid::new_v4().to_string();
        let (store, rid) = (self.mgr.store(), r.request_id.clone());
        self.idem
            .run(store, "CreateSession", &rid, fp, OnInterrupted::SameSession(planned), |a| self.create_as(r, a, limit))
            .await
    }

    /// Creates the session `a.session_id`, or, when an interrupted attempt already created it, answers
    /// from its current record (waiting like the original would have).
    async fn create_as(
        &self,
        r: pb::CreateSessionRequest,
        a: Attempt,
        limit: Option<Duration>,
    ) -> Result<pb::CreateSessionResponse, Status> {
        let existing = if a.resumed { self.mgr.get(&a.session_id).ok() } else { None };
        let (id, after, after_delivery) = match existing {
            // After the Created event (revision 1); see below for the prompt's delivery.
            Some(rec) => (rec.id, 1, false),
            None => {
                if a.resumed {
                    self.kill_orphan_window(&a.session_id).await;
                }
                let (rec, delivery) = self.create_capped(&r, a.session_id).await?;
                (rec.id, rec.revision, delivery.is_some())
            }
        };
        let outcome = match (&r.wait, limit) {
            (Some(w), Some(limit)) => {
                if a.resumed && !r.prompt.is_empty() {
                    Some(self.resumed_wait(&id, w, limit).await?)
                } else {
                    Some(self.wait(&id, after, w, limit, after_delivery).await?)
                }
            }
            _ => None,
        };
        let session = self.session_at(&id, outcome.map_or(0, |o| o.seen_revision)).await?;
        Ok(pb::CreateSessionResponse { session: Some(session), wait_result: outcome.map(wait_result) })
    }

    /// A process killed between opening the window and committing the Created event leaves a CC that
    /// no record knows: close it before creating the session again, so there is never a second CC.
    /// (Windows are named `aegis-<first 8 chars of the id>` by `Manager::create`.)
    async fn kill_orphan_window(&self, id: &str) {
        let name = format!("aegis-{}", id.get(..8).unwrap_or(id));
        let panes = self.mgr.tmux().list_panes(&self.mgr.config().tmux_session).await.unwrap_or_default();
        for p in panes.iter().filter(|p| p.window_name == name) {
            let _ = self.mgr.tmux().kill_window(&p.window_id).await;
        }
    }

    /// The wait of a resumed create with a prompt, whose delivery the original process awaited:
    /// - the prompt's MessageSent is in the history: states after it count, as in the original;
    /// - else the confirmation died with that process (none will come). If the prompt is in the
    ///   transcript, it was delivered: the current state answers when wanted, else states from now on;
    ///   if not, CC has yet to submit it: states count after its turn starts (WORKING, or a dialog).
    async fn resumed_wait(&self, id: &str, w: &pb::WaitOptions, limit: Duration) -> Result<WaitOutcome, Status> {
        let history =
            self.mgr.store().session_events(id, 1, 1000).await.map_err(|e| Status::internal(e.to_string()))?;
        if let Some(sent) = history.iter().find(|e| e.kind == crate::model::EventKind::MessageSent) {
            return self.wait(id, sent.revision - 1, w, limit, true).await;
        }
        let rec = self.mgr.get(id).map_err(to_status)?;
        let one = PageLimits { max_entries: 1, ..PageLimits::default() };
        let (page, _) = self.mgr.transcript(id, 0, vec![EntryKind::UserText], one).await.map_err(to_status)?;
        if !page.entries.is_empty() {
            let wanted = states("wait.states", &w.states)?;
            let now_wanted = if wanted.is_empty() { rec.state.stable() } else { wanted.contains(&rec.state) };
            if now_wanted {
                return Ok(WaitOutcome {
                    satisfied: true,
                    matched_revision: rec.revision,
                    seen_revision: rec.revision,
                });
            }
            return self.wait(id, rec.revision, w, limit, false).await;
        }
        let started = tokio::time::Instant::now();
        let mut first = vec![pb::SessionState::Working as i32];
        first.extend(w.states.iter().filter(|s| {
            convert::state_from(**s).is_some_and(|st| matches!(st, State::TrustPrompt | State::AskQuestion))
        }));
        let o = self.wait(id, rec.revision, &pb::WaitOptions { states: first, timeout: None }, limit, false).await?;
        let after = if o.satisfied { o.matched_revision - 1 } else { o.seen_revision };
        self.wait(id, after, w, limit.saturating_sub(started.elapsed()), false).await
    }

    async fn create_capped(
        &self,
        r: &pb::CreateSessionRequest,
        id: String,
    ) -> Result<(crate::model::SessionRecord, Option<tokio::sync::oneshot::Receiver<crate::model::Event>>), Status>
    {
        let params = CreateParams {
            work_dir: r.work_dir.clone(),
            name: r.name.clone(),
            prompt: r.prompt.clone(),
            permission_mode: r.permission_mode.clone(),
            model: r.model.clone(),
            env: r.env.clone().into_iter().collect(),
            extra_args: r.extra_args.clone(),
            labels: r.labels.clone().into_iter().collect(),
            cols: r.cols,
            rows: r.rows,
            policy: r
                .policy
                .clone()
                .map(|p| Policy {
                    trust_work_dir: p.trust_work_dir,
                    approve_tools: p.approve_tools,
                    accept_own_api_key: p.accept_own_api_key,
                })
                .unwrap_or_default(),
            id: Some(id),
            max_live: Some(self.caps.max_sessions),
        };
        self.mgr.create(params).await.map_err(to_status)
    }
}

#[tonic::async_trait]
impl SessionService for Service {
    async fn create_session(&self, req: Request<pb::CreateSessionRequest>) -> R<pb::CreateSessionResponse> {
        let (meta, ext, r) = req.into_parts();
        let shadow = Request::from_parts(meta, ext, ());
        Ok(Response::new(self.create_one(&shadow, r).await?))
    }

    async fn batch_create_sessions(
        &self,
        req: Request<pb::BatchCreateSessionsRequest>,
    ) -> R<pb::BatchCreateSessionsResponse> {
        let (meta, ext, r) = req.into_parts();
        if r.requests.len() > MAX_BATCH {
            let msg = format!("at most {MAX_BATCH} creates per batch");
            return Err(invalid("requests", "BATCH_TOO_LARGE", msg));
        }
        let shadow = Request::from_parts(meta, ext, ());
        // The creates run at once (their CCs start in parallel; each waits on its own); results keep
        // the request order. The session cap is checked per create, atomically (Manager::create).
        let creates = r.requests.into_iter().map(|one| self.create_one(&shadow, one));
        let results = futures::future::join_all(creates)
            .await
            .into_iter()
            .map(|res| {
                use pb::batch_create_result::Result as Res;
                let res = match res {
                    Ok(resp) => Res::Response(resp),
                    Err(st) => Res::Error(pb::BatchError {
                        code: st.code() as i32,
                        message: st.message().to_string(),
                        reason: reason_of(&st),
                    }),
                };
                pb::BatchCreateResult { result: Some(res) }
            })
            .collect();
        Ok(Response::new(pb::BatchCreateSessionsResponse { results }))
    }

    async fn get_session(&self, req: Request<pb::GetSessionRequest>) -> R<pb::GetSessionResponse> {
        Ok(Response::new(pb::GetSessionResponse { session: Some(self.session(&req.get_ref().session_id)?) }))
    }

    async fn list_sessions(&self, req: Request<pb::ListSessionsRequest>) -> R<pb::ListSessionsResponse> {
        let r = req.into_inner();
        let limit = match r.page_size {
            0 => 100,
            n @ 1..=500 => n as usize,
            _ => return Err(invalid("page_size", "INVALID_PAGE_SIZE", "page_size must be 1-500")),
        };
        let offset = if r.page_token.is_empty() {
            0
        } else {
            r.page_token
                .strip_prefix("o")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid("page_token", "INVALID_PAGE_TOKEN", "malformed page_token"))?
        };
        let filter = ListFilter {
            states: states("states", &r.states)?,
            work_dir: r.work_dir,
            labels: r.labels.into_iter().collect(),
            include_exited: r.include_exited,
            offset,
            limit,
        };
        let (page, next) = self.mgr.list(&filter);
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: page.iter().map(convert::session).collect(),
            next_page_token: next.map(|n| format!("o{n}")).unwrap_or_default(),
        }))
    }

    async fn delete_session(&self, req: Request<pb::DeleteSessionRequest>) -> R<pb::DeleteSessionResponse> {
        let r = req.into_inner();
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let resp = self
            .idem
            .run(self.mgr.store(), "DeleteSession", &r.request_id, fp, OnInterrupted::ActAgain, |_| async {
                let rec = self.mgr.delete(&r.session_id).await.map_err(to_status)?;
                Ok(pb::DeleteSessionResponse { session: Some(convert::session(&rec)) })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn send_message(&self, req: Request<pb::SendMessageRequest>) -> R<pb::SendMessageResponse> {
        let limit = req.get_ref().wait.as_ref().map(|w| wait_limit(&req, w));
        let r = req.into_inner();
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let kind = match enum_value("kind", r.kind)? {
            pb::MessageKind::SlashCommand => MessageKind::Slash,
            pb::MessageKind::Bash => MessageKind::Bash,
            pb::MessageKind::Prompt | pb::MessageKind::Unspecified => MessageKind::Prompt,
        };
        check_wait(&r.wait)?;
        let resp = self
            .idem
            .run(self.mgr.store(), "SendMessage", &r.request_id, fp, OnInterrupted::Abort, |_| async {
                let ev = self.mgr.send(&r.session_id, &r.text, kind).await.map_err(to_status)?;
                let outcome = match (&r.wait, limit) {
                    (Some(w), Some(limit)) => Some(self.wait(&ev.session_id, ev.revision, w, limit, false).await?),
                    _ => None,
                };
                let wait_result = outcome.map(wait_result);
                Ok(pb::SendMessageResponse {
                    session: Some(
                        self.session_at(&ev.session_id, outcome.map_or(ev.revision, |o| o.seen_revision)).await?,
                    ),
                    delivered_revision: ev.revision,
                    delivery_evidence: Some(convert::evidence(&ev.evidence)),
                    wait_result,
                })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn interrupt(&self, req: Request<pb::InterruptRequest>) -> R<pb::InterruptResponse> {
        let r = req.into_inner();
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let resp = self
            .idem
            .run(self.mgr.store(), "Interrupt", &r.request_id, fp, OnInterrupted::Abort, |_| async {
                let (rec, observed) = self.mgr.key(&r.session_id, Key::CtrlC).await.map_err(to_status)?;
                Ok(pb::InterruptResponse { session: Some(convert::session(&rec)), observed })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn escape(&self, req: Request<pb::EscapeRequest>) -> R<pb::EscapeResponse> {
        let r = req.into_inner();
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let resp = self
            .idem
            .run(self.mgr.store(), "Escape", &r.request_id, fp, OnInterrupted::Abort, |_| async {
                let (rec, observed) = self.mgr.key(&r.session_id, Key::Escape).await.map_err(to_status)?;
                Ok(pb::EscapeResponse { session: Some(convert::session(&rec)), observed })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn answer_question(&self, req: Request<pb::AnswerQuestionRequest>) -> R<pb::AnswerQuestionResponse> {
        let limit = req.get_ref().wait.as_ref().map(|w| wait_limit(&req, w));
        let r = req.into_inner();
        check_wait(&r.wait)?;
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let answers = r
            .answers
            .iter()
            .map(|a| QuestionAnswer {
                question: a.question.clone(),
                labels: a.selected_labels.clone(),
                free_text: a.free_text.clone(),
            })
            .collect();
        let resp = self
            .idem
            .run(self.mgr.store(), "AnswerQuestion", &r.request_id, fp, OnInterrupted::ActAgain, |_| async {
                let (session, path, wait_result) =
                    self.answer(&r.session_id, &r.interaction_id, Answer::Question(answers), &r.wait, limit).await?;
                Ok(pb::AnswerQuestionResponse { session: Some(session), path: path as i32, wait_result })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn approve_permission(&self, req: Request<pb::ApprovePermissionRequest>) -> R<pb::ApprovePermissionResponse> {
        let limit = req.get_ref().wait.as_ref().map(|w| wait_limit(&req, w));
        let r = req.into_inner();
        check_wait(&r.wait)?;
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let scope: pb::ApprovalScope = enum_value("scope", r.scope)?;
        let plan_mode: pb::PlanApprovalMode = enum_value("plan_mode", r.plan_mode)?;
        let answer = Answer::Approve {
            for_session: scope == pb::ApprovalScope::Session,
            plan_auto: plan_mode == pb::PlanApprovalMode::Auto,
        };
        let resp = self
            .idem
            .run(self.mgr.store(), "ApprovePermission", &r.request_id, fp, OnInterrupted::ActAgain, |_| async {
                let (session, path, wait_result) =
                    self.answer(&r.session_id, &r.interaction_id, answer, &r.wait, limit).await?;
                Ok(pb::ApprovePermissionResponse { session: Some(session), path: path as i32, wait_result })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn reject_permission(&self, req: Request<pb::RejectPermissionRequest>) -> R<pb::RejectPermissionResponse> {
        let limit = req.get_ref().wait.as_ref().map(|w| wait_limit(&req, w));
        let r = req.into_inner();
        check_wait(&r.wait)?;
        let fp = fingerprint(&r, |m| m.request_id.clear());
        let answer = Answer::Reject { feedback: r.feedback.clone() };
        let resp = self
            .idem
            .run(self.mgr.store(), "RejectPermission", &r.request_id, fp, OnInterrupted::ActAgain, |_| async {
                let (session, path, wait_result) =
                    self.answer(&r.session_id, &r.interaction_id, answer, &r.wait, limit).await?;
                Ok(pb::RejectPermissionResponse { session: Some(session), path: path as i32, wait_result })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn wait_session(&self, req: Request<pb::WaitSessionRequest>) -> R<pb::WaitSessionResponse> {
        let w = req.get_ref().wait.clone().unwrap_or_default();
        states("wait.states", &w.states)?;
        let limit = wait_limit(&req, &w);
        let r = req.into_inner();
        let rec = self.head_at_least(&r.session_id, r.after_revision).await?;
        if r.after_revision > rec.revision {
            return Err(in_future("REVISION_IN_FUTURE", "after_revision", r.after_revision, rec.revision));
        }
        let after = if r.after_revision > 0 { r.after_revision } else { rec.revision };
        let outcome = self.wait(&rec.id, after, &w, limit, false).await?;
        let session = self.session_at(&rec.id, outcome.seen_revision).await?;
        Ok(Response::new(pb::WaitSessionResponse { session: Some(session), wait_result: Some(wait_result(outcome)) }))
    }

    type WatchSessionStream = streams::Stream<pb::WatchSessionResponse>;
    async fn watch_session(&self, req: Request<pb::WatchSessionRequest>) -> R<Self::WatchSessionStream> {
        let r = req.into_inner();
        let until = states("until_states", &r.until_states)?;
        let rec = self.head_at_least(&r.session_id, r.start_revision - 1).await?;
        let hb = streams::heartbeat(r.heartbeat_interval)?;
        // The next revision is the furthest a watcher can start from.
        if r.start_revision > rec.revision + 1 {
            return Err(in_future("REVISION_IN_FUTURE", "start_revision", r.start_revision, rec.revision));
        }
        let ctx = self.stream_ctx(hb)?;
        Ok(Response::new(streams::watch_session(
            self.mgr.clone(),
            rec,
            r.start_revision,
            r.include_snapshot,
            until,
            ctx,
        )))
    }

    type WatchEventsStream = streams::Stream<pb::WatchEventsResponse>;
    async fn watch_events(&self, req: Request<pb::WatchEventsRequest>) -> R<Self::WatchEventsStream> {
        let r = req.into_inner();
        let hb = streams::heartbeat(r.heartbeat_interval)?;
        for k in &r.interaction_kinds {
            if enum_value::<pb::InteractionKind>("interaction_kinds", *k)? == pb::InteractionKind::Unspecified {
                return Err(bad_enum("interaction_kinds", *k));
            }
        }
        let states = states("states", &r.states)?;
        let filter = streams::EventFilter { sessions: r.session_ids, states, kinds: r.interaction_kinds };
        let last = self.mgr.store().last_sequence().await.map_err(|e| Status::internal(e.to_string()))?;
        if r.start_sequence > last + 1 {
            return Err(in_future("SEQUENCE_IN_FUTURE", "start_sequence", r.start_sequence, last));
        }
        let start = if r.start_sequence > 0 { r.start_sequence } else { last + 1 };
        Ok(Response::new(streams::watch_events(self.mgr.clone(), start, filter, self.stream_ctx(hb)?)))
    }

    async fn get_transcript(&self, req: Request<pb::GetTranscriptRequest>) -> R<pb::GetTranscriptResponse> {
        let r = req.into_inner();
        let max_entries = match r.limit {
            0 => 200,
            n @ 1..=1000 => n as usize,
            _ => return Err(invalid("limit", "INVALID_LIMIT", "limit must be 1-1000")),
        };
        if r.cursor < 0 {
            return Err(invalid("cursor", "INVALID_CURSOR", "cursor must be >= 0"));
        }
        let kinds = r.kinds.iter().map(|k| entry_kind(*k)).collect::<Result<Vec<_>, _>>()?;
        let limits = PageLimits { max_entries, ..PageLimits::default() };
        let (page, path) =
            self.mgr.transcript(&r.session_id, r.cursor as u64, kinds, limits).await.map_err(to_status)?;
        Ok(Response::new(pb::GetTranscriptResponse {
            entries: page.entries.iter().map(|(i, e)| convert::entry(e, *i as i64)).collect(),
            next_cursor: page.next_cursor as i64,
            transcript_path: path,
        }))
    }

    async fn capture_screen(&self, req: Request<pb::CaptureScreenRequest>) -> R<pb::CaptureScreenResponse> {
        let r = req.into_inner();
        if !(0..=10_000).contains(&r.scrollback_lines) {
            return Err(invalid("scrollback_lines", "INVALID_SCROLLBACK", "scrollback_lines must be 0-10000"));
        }
        let (text, cols, rows) =
            self.mgr.capture(&r.session_id, r.ansi, r.scrollback_lines as u32).await.map_err(to_status)?;
        Ok(Response::new(pb::CaptureScreenResponse {
            text,
            cols: cols as i32,
            rows: rows as i32,
            capture_time: ts(now_ms()),
        }))
    }

    async fn get_server_info(&self, _req: Request<pb::GetServerInfoRequest>) -> R<pb::GetServerInfoResponse> {
        let (total, live, by_state) = self.mgr.counts();
        Ok(Response::new(pb::GetServerInfoResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            cc_version: self.mgr.cc_version().to_string(),
            cc_binary: self.mgr.config().claude_bin.to_string_lossy().into_owned(),
            tmux_version: self.tmux_version.clone(),
            tmux_socket: self.mgr.tmux().socket().to_string(),
            start_time: ts(self.mgr.started()),
            uptime: convert::dur_ms(now_ms() - self.mgr.started()),
            sessions_total: total,
            sessions_live: live,
            state_dir: self.state_dir.clone(),
            sessions_by_state: by_state.into_iter().collect(),
            cc_version_tested: crate::cc::versions::is_tested(self.mgr.cc_version()),
            tested_cc_versions: crate::cc::versions::tested().iter().map(|t| t.version.to_string()).collect(),
        }))
    }
}

fn entry_kind(k: i32) -> Result<EntryKind, Status> {
    use pb::EntryKind as K;
    Ok(match enum_value::<K>("kinds", k)? {
        K::UserText => EntryKind::UserText,
        K::AssistantText => EntryKind::AssistantText,
        K::Thinking => EntryKind::Thinking,
        K::ToolUse => EntryKind::ToolUse,
        K::ToolResult => EntryKind::ToolResult,
        K::System => EntryKind::System,
        K::Unspecified => return Err(bad_enum("kinds", k)),
    })
}

/// The ErrorInfo reason of a Status we produced (for batch results).
fn reason_of(st: &Status) -> String {
    use tonic_types::StatusExt;
    st.get_details_error_info().map(|i| i.reason).unwrap_or_default()
}
