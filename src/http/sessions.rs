//! The original's session routes. Each one is a call of the gRPC service's own RPC implementation
//! (same validation, idempotency, quotas and errors), its response rendered by `compat`.
use super::compat;
use super::error::{bad_json, ApiError};
use super::Http;
use crate::core::{CoreError, ErrorKind};
use crate::model::{EventKind, State};
use crate::proto::v1::{self as pb, pending_interaction::Content, session_service_server::SessionService as _};
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Ctx};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use tonic::Request;

type Reply = Result<Json<Value>, ApiError>;

/// The default and the longest wait of a create (`timeoutMs`).
const DEFAULT_WAIT_MS: u64 = 30_000;
const MAX_WAIT_MS: u64 = 600_000;

/// A JSON body; an empty one is the route's defaults (`/approve` is usually called without one).
fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(bad_json)
}

fn wait(states: &[State], timeout_ms: u64) -> Option<pb::WaitOptions> {
    let ms = timeout_ms.min(MAX_WAIT_MS);
    Some(pb::WaitOptions {
        states: states.iter().map(|s| crate::api::convert::state(*s) as i32).collect(),
        timeout: Some(prost_types::Duration { seconds: (ms / 1000) as i64, nanos: (ms % 1000 * 1_000_000) as i32 }),
    })
}

fn wait_json(w: &Option<pb::WaitResult>) -> Value {
    w.as_ref().map_or(Value::Null, |w| json!({"satisfied": w.satisfied, "matchedRevision": w.matched_revision}))
}

/// `session` with `extra`'s fields added at the top level (the original returns the session flat).
fn flat(session: &pb::Session, extra: Value) -> Json<Value> {
    let mut v = compat::session(session);
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    Json(v)
}

impl Http {
    pub(super) async fn get(&self, id: &str) -> Result<pb::Session, ApiError> {
        let r = self.svc.get_session(Request::new(pb::GetSessionRequest { session_id: id.into() })).await?;
        Ok(r.into_inner().session.unwrap_or_default())
    }

    /// Whether the session's first prompt reached CC (its MessageSent event is in the history).
    async fn prompt_delivered(&self, id: &str) -> Result<bool, ApiError> {
        let events =
            self.svc.mgr.store().session_events(id, 1, 100).await.map_err(|e| CoreError::internal(e.to_string()))?;
        Ok(events.iter().any(|e| e.kind == EventKind::MessageSent))
    }

    /// The one pending interaction a bare `/approve`, `/reject` or `/answer` means (or the one named).
    fn target(&self, s: &pb::Session, named: &str, questions: bool) -> Result<String, ApiError> {
        if !named.is_empty() {
            return Ok(named.to_string());
        }
        let fits = |i: &&pb::PendingInteraction| matches!(i.content, Some(Content::Question(_))) == questions;
        let ids: Vec<&str> = s.pending_interactions.iter().filter(fits).map(|i| i.id.as_str()).collect();
        match ids.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(CoreError::new(
                ErrorKind::FailedPrecondition,
                "INTERACTION_NOT_PENDING",
                format!("nothing {} is pending", if questions { "to answer" } else { "to approve or reject" }),
            )
            .with("session_id", &s.id)
            .into()),
            many => Err(CoreError::invalid(
                "interactionId",
                "INTERACTION_AMBIGUOUS",
                "several interactions are pending; name one with interactionId",
            )
            .with("interaction_ids", many.join(","))
            .into()),
        }
    }

    /// Answers a pending question with a caller's text: an option whose label it is, else free text.
    async fn answer_with_text(&self, s: &pb::Session, interaction: &str, text: &str, key: String) -> Reply {
        let questions = s.pending_interactions.iter().find(|i| i.id == interaction).and_then(|i| match &i.content {
            Some(Content::Question(q)) => Some(q.questions.clone()),
            _ => None,
        });
        let answers = questions
            .unwrap_or_default()
            .iter()
            .map(|q| {
                let label = q.options.iter().find(|o| o.label.eq_ignore_ascii_case(text.trim()));
                pb::QuestionAnswer {
                    question: q.question.clone(),
                    selected_labels: label.map(|o| vec![o.label.clone()]).unwrap_or_default(),
                    free_text: if label.is_some() { String::new() } else { text.to_string() },
                }
            })
            .collect();
        let req = pb::AnswerQuestionRequest {
            session_id: s.id.clone(),
            interaction_id: interaction.into(),
            answers,
            request_id: key,
            wait: None,
        };
        let r = self.svc.answer_question(Request::new(req)).await?.into_inner();
        Ok(flat(&r.session.unwrap_or_default(), json!({"ok": true, "answered": interaction})))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateBody {
    work_dir: String,
    name: String,
    prompt: String,
    permission_mode: String,
    model: String,
    env: HashMap<String, String>,
    labels: HashMap<String, String>,
    /// Block until CC is idle, waits on a question or permission, or has worked for `timeoutMs`.
    wait_for_stable: bool,
    timeout_ms: Option<u64>,
    idempotency_key: String,
}

impl CreateBody {
    /// Always waits (bounded) until CC is past its boot, so the next `/send` finds it ready, as the
    /// original's create did; `waitForStable` waits for a settled state (empty = any stable) instead.
    fn request(self) -> pb::CreateSessionRequest {
        let ready: Vec<State> =
            State::ALL.into_iter().filter(|s| !matches!(s, State::Starting | State::Unknown)).collect();
        let states = if self.wait_for_stable { &[][..] } else { &ready[..] };
        pb::CreateSessionRequest {
            work_dir: self.work_dir,
            name: self.name,
            prompt: self.prompt,
            permission_mode: self.permission_mode,
            model: self.model,
            env: self.env,
            labels: self.labels,
            request_id: self.idempotency_key,
            wait: wait(states, self.timeout_ms.unwrap_or(DEFAULT_WAIT_MS)),
            ..Default::default()
        }
    }
}

/// `POST /v1/sessions`.
pub async fn create(Ctx(h): Ctx<Http>, body: Bytes) -> Reply {
    let req = parse::<CreateBody>(&body)?.request();
    let prompted = !req.prompt.is_empty();
    let r = h.svc.create_session(Request::new(req)).await?.into_inner();
    // A replayed key answers from the recorded response: show the session as it is now.
    let s = h.get(&r.session.unwrap_or_default().id).await?;
    let delivered = prompted && h.prompt_delivered(&s.id).await?;
    // CC takes the first prompt on its command line: one attempt, never retyped.
    let attempts = u32::from(prompted);
    let extra = json!({"promptDelivery": {"delivered": delivered, "attempts": attempts}, "waitResult": wait_json(&r.wait_result)});
    Ok(flat(&s, extra))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListQuery {
    status: String,
    work_dir: String,
}

/// `GET /v1/sessions?status=&workDir=`.
pub async fn list(Ctx(h): Ctx<Http>, Query(q): Query<ListQuery>) -> Reply {
    let states = compat::states_of(&q.status);
    if !q.status.is_empty() && states.is_empty() {
        return Err(CoreError::invalid("status", "INVALID_STATUS", format!("unknown status {:?}", q.status)).into());
    }
    let mut req = pb::ListSessionsRequest {
        states: states.iter().map(|s| crate::api::convert::state(*s) as i32).collect(),
        work_dir: q.work_dir,
        page_size: 500,
        ..Default::default()
    };
    let mut sessions = Vec::new();
    loop {
        let r = h.svc.list_sessions(Request::new(req.clone())).await?.into_inner();
        sessions.extend(r.sessions.iter().map(compat::session));
        if r.next_page_token.is_empty() {
            break;
        }
        req.page_token = r.next_page_token;
    }
    Ok(Json(json!({"sessions": sessions})))
}

/// `GET /v1/sessions/{id}`.
pub async fn get(Ctx(h): Ctx<Http>, Path(id): Path<String>) -> Reply {
    Ok(Json(compat::session(&h.get(&id).await?)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadQuery {
    offset: i64,
}

/// `GET /v1/sessions/{id}/read`: the session, its status and the transcript's messages from `offset`.
pub async fn read(Ctx(h): Ctx<Http>, Path(id): Path<String>, Query(q): Query<ReadQuery>) -> Reply {
    let s = h.get(&id).await?;
    let (mut messages, mut next) = (Vec::new(), q.offset);
    if !s.transcript_path.is_empty() {
        let req = pb::GetTranscriptRequest { session_id: s.id.clone(), cursor: q.offset, limit: 1000, kinds: vec![] };
        let t = h.svc.get_transcript(Request::new(req)).await?.into_inner();
        messages = t.entries.iter().map(compat::message).collect();
        next = t.next_cursor;
    }
    Ok(flat(&s, json!({"messages": messages, "nextOffset": next})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SendBody {
    text: String,
    idempotency_key: String,
}

/// `POST /v1/sessions/{id}/send`: a prompt, or the answer when CC waits on a question.
pub async fn send(Ctx(h): Ctx<Http>, Path(id): Path<String>, body: Bytes) -> Reply {
    let b: SendBody = parse(&body)?;
    let s = h.get(&id).await?;
    if s.state == pb::SessionState::AskQuestion as i32 {
        let target = h.target(&s, "", true)?;
        return h.answer_with_text(&s, &target, &b.text, b.idempotency_key).await;
    }
    let req =
        pb::SendMessageRequest { session_id: s.id, text: b.text, request_id: b.idempotency_key, ..Default::default() };
    let r = h.svc.send_message(Request::new(req)).await?.into_inner();
    // Returned only once CC confirmed it took the text (hook or emptied box): delivered, first try.
    Ok(flat(&r.session.unwrap_or_default(), json!({"ok": true, "delivered": true, "attempts": 1})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnswerBody {
    interaction_id: String,
    answer: String,
    /// Reject: what CC is told instead. Approve: `"session"` approves for the rest of the session.
    feedback: String,
    scope: String,
    idempotency_key: String,
}

/// `POST /v1/sessions/{id}/answer` with `{answer}` or `{interactionId, answer}`.
pub async fn answer(Ctx(h): Ctx<Http>, Path(id): Path<String>, body: Bytes) -> Reply {
    let b: AnswerBody = parse(&body)?;
    let s = h.get(&id).await?;
    let target = h.target(&s, &b.interaction_id, true)?;
    h.answer_with_text(&s, &target, &b.answer, b.idempotency_key).await
}

/// `POST /v1/sessions/{id}/approve`: the one pending permission (or `interactionId`).
pub async fn approve(Ctx(h): Ctx<Http>, Path(id): Path<String>, body: Bytes) -> Reply {
    let b: AnswerBody = parse(&body)?;
    let s = h.get(&id).await?;
    let scope = if b.scope == "session" { pb::ApprovalScope::Session } else { pb::ApprovalScope::Once };
    let req = pb::ApprovePermissionRequest {
        session_id: s.id.clone(),
        interaction_id: h.target(&s, &b.interaction_id, false)?,
        scope: scope as i32,
        request_id: b.idempotency_key,
        ..Default::default()
    };
    let r = h.svc.approve_permission(Request::new(req.clone())).await?.into_inner();
    Ok(flat(&r.session.unwrap_or_default(), json!({"ok": true, "answered": req.interaction_id})))
}

/// `POST /v1/sessions/{id}/reject`.
pub async fn reject(Ctx(h): Ctx<Http>, Path(id): Path<String>, body: Bytes) -> Reply {
    let b: AnswerBody = parse(&body)?;
    let s = h.get(&id).await?;
    let req = pb::RejectPermissionRequest {
        session_id: s.id.clone(),
        interaction_id: h.target(&s, &b.interaction_id, false)?,
        feedback: b.feedback,
        request_id: b.idempotency_key,
        wait: None,
    };
    let r = h.svc.reject_permission(Request::new(req.clone())).await?.into_inner();
    Ok(flat(&r.session.unwrap_or_default(), json!({"ok": true, "answered": req.interaction_id})))
}

/// `POST /v1/sessions/{id}/escape`.
pub async fn escape(Ctx(h): Ctx<Http>, Path(id): Path<String>) -> Reply {
    let r = h.svc.escape(Request::new(pb::EscapeRequest { session_id: id, request_id: String::new() })).await?;
    let r = r.into_inner();
    Ok(flat(&r.session.unwrap_or_default(), json!({"ok": true, "observed": r.observed})))
}

/// `POST /v1/sessions/{id}/interrupt` (Ctrl-C).
pub async fn interrupt(Ctx(h): Ctx<Http>, Path(id): Path<String>) -> Reply {
    let r = h.svc.interrupt(Request::new(pb::InterruptRequest { session_id: id, request_id: String::new() })).await?;
    let r = r.into_inner();
    Ok(flat(&r.session.unwrap_or_default(), json!({"ok": true, "observed": r.observed})))
}

/// `GET /v1/sessions/{id}/pane`: CC's screen as plain text.
pub async fn pane(Ctx(h): Ctx<Http>, Path(id): Path<String>) -> Reply {
    let req = pb::CaptureScreenRequest { session_id: id, ..Default::default() };
    let r = h.svc.capture_screen(Request::new(req)).await?.into_inner();
    Ok(Json(json!({"pane": r.text, "cols": r.cols, "rows": r.rows})))
}

/// `DELETE /v1/sessions/{id}`.
pub async fn delete(Ctx(h): Ctx<Http>, Path(id): Path<String>) -> Reply {
    let r = h.svc.delete_session(Request::new(pb::DeleteSessionRequest { session_id: id, request_id: String::new() }));
    let s = r.await?.into_inner().session.unwrap_or_default();
    Ok(flat(&s, json!({"ok": true})))
}

/// `GET /v1/health` (open, like gRPC health).
pub async fn health(Ctx(h): Ctx<Http>) -> Reply {
    let i = h.svc.get_server_info(Request::new(pb::GetServerInfoRequest {})).await?.into_inner();
    Ok(Json(json!({
        "status": "ok",
        "version": i.version,
        "claudeCodeVersion": i.cc_version,
        "uptimeMs": i.uptime.map(|d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000),
        "sessions": {"total": i.sessions_total, "active": i.sessions_live},
    })))
}
