//! `aegis mcp`: an MCP server over stdio whose tools are thin calls to the Aegis gRPC API.
//!
//! Every tool returns JSON (as structured content and as text). gRPC errors become tool errors
//! (`isError: true`) carrying `{"error": {"code", "reason", "message", "hint"}}` so an agent can react to the
//! stable ErrorInfo reason (SESSION_NOT_FOUND, INTERACTION_NOT_PENDING, …).
use std::collections::HashMap;
use std::time::Duration;

use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig},
    schemars::{self, JsonSchema},
    tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt as _,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cli::{
    connect::{connect_lazy, request, Client, ConnectOptions},
    render,
};
use crate::proto::v1::{self as pb, pending_interaction::Content, InteractionKind, MessageKind, Session, SessionState};

const INSTRUCTIONS: &str = "\
Aegis runs interactive Claude Code (CC) sessions in tmux and lets you steer them.
Typical flow: create_session (work_dir + prompt, waits until CC is stable) -> read `state` and
`pending_interactions` (get_status) -> if CC asks something, answer it by interaction id with answer_question /
approve_permission / reject_permission -> send_message for the next turn -> get_transcript or
get_session_summary to read results -> kill_session when done.
States: STARTING, WORKING, COMPACTING, RATE_LIMITED and UNKNOWN are not stable (CC is busy; wait_for_state).
IDLE (ready for a prompt), ERROR (last turn failed; CC is idle again), ASK_QUESTION, PERMISSION_PROMPT,
BASH_APPROVAL, PLAN_MODE, TRUST_PROMPT (CC waits for you; see pending_interactions) and EXITED (final) are stable.
Always use the `stable` flag rather than a list of states. Interaction ids come from get_status
(pending_interactions[].id). Waits are turn-scoped: a wait only counts states entered after the action it follows,
so a stale IDLE never satisfies it. Nothing is auto-approved: a session blocks on a question or permission until
you answer it. Every mutating tool accepts an optional request_id (idempotency key): a retry with the same id
returns the first result without acting twice.";

/// Default wait of the tools that wait, in seconds.
const DEFAULT_WAIT_SECS: u64 = 120;

/// The MCP server: one lazily connected gRPC client.
#[derive(Clone)]
pub struct AegisMcp {
    client: Client,
    timeout: Duration,
    tool_router: ToolRouter<Self>,
}

/// Serves the MCP tools on stdin/stdout until the client disconnects.
pub async fn serve_stdio(conn: ConnectOptions) -> anyhow::Result<()> {
    let server = AegisMcp::new(&conn)?;
    let service =
        server.serve(rmcp::transport::stdio()).await.map_err(|e| anyhow::anyhow!("MCP initialisation failed: {e}"))?;
    service.waiting().await?;
    Ok(())
}

// ---------- parameters ----------

/// Wait options shared by the tools that act on a session.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct WaitParams {
    /// Block until CC is stable again because of this action (turn-scoped: states reached before the action
    /// never count). Default true. When false the tool returns as soon as the action was delivered.
    pub wait: Option<bool>,
    /// Longest wait in seconds (default 120, max 600). On timeout the result has wait.satisfied=false and the
    /// current state; call wait_for_state to keep waiting.
    pub wait_timeout_seconds: Option<u64>,
    /// States that end the wait (e.g. ["IDLE"]); default: any stable state.
    pub wait_states: Option<Vec<String>>,
}

/// Parameters of create_session (also one entry of batch_create_sessions).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CreateSessionParams {
    /// Existing absolute directory to run CC in.
    pub work_dir: String,
    /// First prompt, delivered as the first turn (multi-line allowed). Omit to start CC idle.
    pub prompt: Option<String>,
    /// Optional unique name (1-64 chars of [A-Za-z0-9._-]); usable instead of the id.
    pub name: Option<String>,
    /// CC permission mode: default, acceptEdits, plan, auto, dontAsk, bypassPermissions. Omit for CC's default.
    pub permission_mode: Option<String>,
    /// CC model alias or name. Omit for CC's default.
    pub model: Option<String>,
    /// Labels to find the session later with list_sessions (keys of [a-z0-9._/-]).
    pub labels: Option<HashMap<String, String>>,
    /// Extra environment variables for CC.
    pub env: Option<HashMap<String, String>>,
    /// Extra CC command-line arguments, passed verbatim.
    pub extra_args: Option<Vec<String>>,
    /// Idempotency key (1-128 chars of [A-Za-z0-9._:-]). Strongly recommended: retrying with the same id
    /// returns the already created session instead of starting a second CC.
    pub request_id: Option<String>,
    /// Pane columns (40-500, default 120).
    pub cols: Option<u32>,
    /// Pane rows (10-200, default 40).
    pub rows: Option<u32>,
    /// Explicit auto-answer: accept CC's workspace-trust dialog for work_dir (default false).
    pub trust_work_dir: Option<bool>,
    /// Explicit auto-answer: tool names whose permission requests are approved once automatically,
    /// e.g. ["Read", "Edit"]. Questions and plans are never auto-answered. Default: none.
    pub approve_tools: Option<Vec<String>>,
    /// Explicit auto-answer: accept CC's "use this API key?" dialog when it shows the session's own key.
    pub accept_own_api_key: Option<bool>,
    #[serde(flatten)]
    #[schemars(flatten)]
    pub wait: WaitParams,
}

/// Parameters of batch_create_sessions.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BatchCreateParams {
    /// Up to 50 sessions to create; each entry has the fields of create_session (including its own
    /// request_id and wait options).
    pub sessions: Vec<CreateSessionParams>,
}

/// Parameters of list_sessions.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListSessionsParams {
    /// Only sessions in these states, e.g. ["ASK_QUESTION", "PERMISSION_PROMPT", "BASH_APPROVAL"].
    pub states: Option<Vec<String>>,
    /// Only sessions whose work_dir equals this absolute path.
    pub work_dir: Option<String>,
    /// Only sessions carrying all these labels.
    pub labels: Option<HashMap<String, String>>,
    /// Include exited sessions (default false).
    pub include_exited: Option<bool>,
    /// Page size 1-500 (default 100).
    pub page_size: Option<i32>,
    /// next_page_token of a previous call.
    pub page_token: Option<String>,
}

/// A session id or name.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionParams {
    /// Session id (UUID) or name.
    pub session_id: String,
}

/// A session id plus an idempotency key.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionActionParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Optional idempotency key.
    pub request_id: Option<String>,
}

/// Parameters of get_transcript.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TranscriptParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Return entries with index >= cursor; 0 = from the start. Pass next_cursor of the previous call to
    /// continue. Reading never consumes anything.
    pub cursor: Option<i64>,
    /// Maximum entries, 1-1000 (default 200).
    pub limit: Option<i32>,
    /// Only these kinds: USER_TEXT, ASSISTANT_TEXT, THINKING, TOOL_USE, TOOL_RESULT, SYSTEM.
    pub kinds: Option<Vec<String>>,
}

/// Parameters of send_message / send_command / send_bash.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// The text. send_message: a prompt (multi-line = one turn). send_command: a slash command such as
    /// "/compact" (leading "/" optional). send_bash: a shell line run by CC's "!" mode (leading "!" optional).
    pub text: String,
    /// Optional idempotency key.
    pub request_id: Option<String>,
    #[serde(flatten)]
    #[schemars(flatten)]
    pub wait: WaitParams,
}

/// Parameters of capture_pane.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CaptureParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Keep ANSI colour escapes (default false).
    pub ansi: Option<bool>,
    /// Lines of scrollback above the visible screen (0-10000, default 0).
    pub scrollback_lines: Option<i32>,
}

/// Parameters of approve_permission.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApproveParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Id of the pending PERMISSION, BASH, PLAN or TRUST interaction (from get_status pending_interactions).
    pub interaction_id: String,
    /// true = "Yes, and don't ask again" for this session, when CC offers it. Default false (this call only).
    pub always_allow: Option<bool>,
    /// For a PLAN: "manual" (default; approve edits one by one) or "auto" (continue in auto mode).
    pub plan_mode: Option<String>,
    /// Optional idempotency key.
    pub request_id: Option<String>,
    #[serde(flatten)]
    #[schemars(flatten)]
    pub wait: WaitParams,
}

/// Parameters of reject_permission.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RejectParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Id of the pending PERMISSION, BASH, PLAN or TRUST interaction (from get_status pending_interactions).
    pub interaction_id: String,
    /// Optional feedback told to Claude ("do this instead").
    pub feedback: Option<String>,
    /// Optional idempotency key.
    pub request_id: Option<String>,
    #[serde(flatten)]
    #[schemars(flatten)]
    pub wait: WaitParams,
}

/// The answer to one question.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AnswerParam {
    /// The question text exactly as in get_status (questions[].question), or its header.
    pub question: String,
    /// Chosen option labels exactly as listed in the question's options (several only for multi_select).
    pub selected_labels: Option<Vec<String>>,
    /// Free text instead of choosing an option.
    pub free_text: Option<String>,
}

/// Parameters of answer_question.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AnswerQuestionParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Id of the pending QUESTION interaction (from get_status pending_interactions).
    pub interaction_id: String,
    /// One answer per question of the interaction.
    pub answers: Vec<AnswerParam>,
    /// Optional idempotency key.
    pub request_id: Option<String>,
    #[serde(flatten)]
    #[schemars(flatten)]
    pub wait: WaitParams,
}

/// Parameters of wait_for_state.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitForStateParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// Wanted states; default: any stable state.
    pub states: Option<Vec<String>>,
    /// Longest wait in seconds (default 120, max 600). A timeout is not an error: satisfied=false.
    pub timeout_seconds: Option<u64>,
    /// Only states entered after this revision count. Default 0 = the session's revision now, i.e. wait for a
    /// change. Pass the `revision` you last saw to also accept a change that already happened since.
    pub after_revision: Option<i64>,
}

/// Parameters of get_session_summary.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SummaryParams {
    /// Session id (UUID) or name.
    pub session_id: String,
    /// How many recent user/assistant messages to include (default 6).
    pub messages: Option<usize>,
}

// ---------- helpers ----------

fn ok(v: Value) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::structured(v))
}

fn invalid(msg: String) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::structured_error(
        json!({"error": {"code": "INVALID_ARGUMENT", "reason": "BAD_TOOL_ARGUMENT", "message": msg}}),
    ))
}

fn grpc_error(s: &tonic::Status) -> CallToolResult {
    let reason = render::status_reason(s).unwrap_or_default();
    let hint = match reason.as_str() {
        "SESSION_NOT_FOUND" => "list_sessions shows the sessions that exist",
        "INTERACTION_NOT_PENDING" => {
            "the interaction was already answered or CC moved on; call get_status for the current pending_interactions"
        }
        "IDEMPOTENCY_KEY_REUSED" => "this request_id was used with other parameters; use a new request_id",
        "WORK_DIR_NOT_FOUND" => "work_dir must be an existing absolute directory on the server's machine",
        _ => match s.code() {
            tonic::Code::Unavailable => "the Aegis server is not reachable; is `aegis serve` running? (server_health)",
            tonic::Code::DeadlineExceeded => "the call took too long; check get_status and retry or wait_for_state",
            tonic::Code::FailedPrecondition => "the session is not in a state that allows this; call get_status",
            _ => "",
        },
    };
    let mut e = json!({"code": format!("{:?}", s.code()), "message": s.message()});
    if !reason.is_empty() {
        e["reason"] = json!(reason);
    }
    if !hint.is_empty() {
        e["hint"] = json!(hint);
    }
    CallToolResult::structured_error(json!({ "error": e }))
}

fn parse_states(names: Option<&Vec<String>>) -> Result<Vec<i32>, String> {
    names
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|n| {
            render::parse_state(n).map(|s| s as i32).ok_or_else(|| {
                format!("unknown state {n:?}; valid: IDLE, WORKING, STARTING, ASK_QUESTION, PERMISSION_PROMPT, BASH_APPROVAL, PLAN_MODE, TRUST_PROMPT, COMPACTING, RATE_LIMITED, ERROR, EXITED, UNKNOWN")
            })
        })
        .collect()
}

fn wait_options(w: &WaitParams) -> Result<Option<pb::WaitOptions>, String> {
    if !w.wait.unwrap_or(true) {
        return Ok(None);
    }
    Ok(Some(pb::WaitOptions {
        states: parse_states(w.wait_states.as_ref())?,
        timeout: Some(prost_types::Duration {
            seconds: w.wait_timeout_seconds.unwrap_or(DEFAULT_WAIT_SECS).min(600) as i64,
            nanos: 0,
        }),
    }))
}

fn deadline(base: Duration, w: Option<&pb::WaitOptions>) -> Duration {
    let secs = w.and_then(|w| w.timeout.as_ref()).map(|d| d.seconds.max(0) as u64).unwrap_or(0);
    base + Duration::from_secs(secs + 15)
}

fn wait_json(w: Option<&pb::WaitResult>) -> Value {
    match w {
        Some(w) => json!({"satisfied": w.satisfied, "matched_revision": w.matched_revision}),
        None => Value::Null,
    }
}

/// What an agent should do next, from the session alone.
pub fn next_step(s: &Session) -> String {
    if let Some(p) = s.pending_interactions.first() {
        let id = &p.id;
        return match InteractionKind::try_from(p.kind).unwrap_or(InteractionKind::Unspecified) {
            InteractionKind::Question => format!("CC asks a question: call answer_question with interaction_id={id:?} and one answer per question (option labels or free_text)"),
            InteractionKind::Trust => format!("CC asks whether to trust the work dir: approve_permission (trust) or reject_permission (CC exits) with interaction_id={id:?}"),
            InteractionKind::ApiKey => format!("CC asks whether to use the API key in its environment: approve_permission (use it) or reject_permission with interaction_id={id:?}"),
            InteractionKind::Plan => format!("CC shows a plan: approve_permission (plan_mode manual|auto) or reject_permission with feedback, interaction_id={id:?}"),
            _ => format!("CC asks permission: approve_permission or reject_permission with interaction_id={id:?}"),
        };
    }
    match SessionState::try_from(s.state).unwrap_or(SessionState::Unknown) {
        SessionState::Idle => "CC is idle: send_message for the next turn, or get_transcript to read results".into(),
        SessionState::Error => format!(
            "the last turn ended with an API error ({}); CC is idle again and can take send_message",
            s.error_message
        ),
        SessionState::Exited => "the session has exited; its transcript stays readable with get_transcript".into(),
        SessionState::Unknown => {
            "CC shows something Aegis does not recognise: capture_pane to look; escape_session may close it".into()
        }
        _ if !s.stable => "CC is busy: wait_for_state to block until it is stable".into(),
        _ => "call get_status".into(),
    }
}

fn session_value(s: &Session) -> Value {
    let mut v = render::session_json(s);
    v["next_step"] = json!(next_step(s));
    v
}

fn with_session(mut v: Value, s: Option<&Session>) -> Value {
    if let Some(s) = s {
        v["session"] = session_value(s);
    }
    v
}

fn create_request(p: CreateSessionParams) -> Result<pb::CreateSessionRequest, String> {
    Ok(pb::CreateSessionRequest {
        wait: wait_options(&p.wait)?,
        work_dir: p.work_dir,
        name: p.name.unwrap_or_default(),
        prompt: p.prompt.unwrap_or_default(),
        permission_mode: p.permission_mode.unwrap_or_default(),
        model: p.model.unwrap_or_default(),
        env: p.env.unwrap_or_default(),
        extra_args: p.extra_args.unwrap_or_default(),
        labels: p.labels.unwrap_or_default(),
        request_id: p.request_id.unwrap_or_default(),
        cols: p.cols.unwrap_or(0),
        rows: p.rows.unwrap_or(0),
        policy: Some(pb::InteractionPolicy {
            trust_work_dir: p.trust_work_dir.unwrap_or(false),
            approve_tools: p.approve_tools.unwrap_or_default(),
            accept_own_api_key: p.accept_own_api_key.unwrap_or(false),
        }),
    })
}

fn brief(s: &Session) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "state": render::state_name(s.state),
        "stable": s.stable,
        "work_dir": s.work_dir,
        "pending": s.pending_interactions.iter().map(|p| json!({"id": p.id, "kind": render::interaction_kind_name(p.kind)})).collect::<Vec<_>>(),
        "labels": s.labels,
        "create_time": render::rfc3339(s.create_time.as_ref()),
        "revision": s.revision,
    })
}

macro_rules! try_arg {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(msg) => return invalid(msg),
        }
    };
}

macro_rules! try_rpc {
    ($e:expr) => {
        match $e.await {
            Ok(r) => r.into_inner(),
            Err(s) => return Ok(grpc_error(&s)),
        }
    };
}

// ---------- tools ----------

#[tool_router]
impl AegisMcp {
    /// A server talking to the Aegis gRPC server described by `conn` (connected on first use).
    pub fn new(conn: &ConnectOptions) -> anyhow::Result<Self> {
        Ok(Self { client: connect_lazy(conn)?, timeout: conn.timeout, tool_router: Self::tool_router() })
    }

    fn c(&self) -> Client {
        self.client.clone()
    }

    #[tool(
        description = "Start Claude Code in an existing absolute work_dir, optionally with a first prompt. By default waits (up to wait_timeout_seconds, default 120) until CC is stable: IDLE when the turn is done, or a stable state where CC waits for you (ASK_QUESTION, PERMISSION_PROMPT, BASH_APPROVAL, PLAN_MODE, TRUST_PROMPT; see session.pending_interactions) or EXITED. Pass a request_id so a retry never starts a second CC. Returns the session (id, state, stable, pending_interactions, next_step) and wait.satisfied."
    )]
    async fn create_session(
        &self,
        Parameters(p): Parameters<CreateSessionParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let req = try_arg!(create_request(p));
        let d = deadline(self.timeout, req.wait.as_ref());
        let r = try_rpc!(self.c().create_session(request(req, d)));
        ok(with_session(json!({"wait": wait_json(r.wait_result.as_ref())}), r.session.as_ref()))
    }

    #[tool(
        description = "Create several sessions in one call (up to 50). Each entry takes the create_session fields (work_dir, prompt, request_id, wait…). Results come back in request order, each either {session, wait} or {error: {code, reason, message}}; one failure does not affect the others."
    )]
    async fn batch_create_sessions(
        &self,
        Parameters(p): Parameters<BatchCreateParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut requests = Vec::new();
        for s in p.sessions {
            requests.push(try_arg!(create_request(s)));
        }
        let longest =
            requests.iter().filter_map(|r| r.wait.clone()).max_by_key(|w| w.timeout.as_ref().map(|d| d.seconds));
        let d = deadline(self.timeout, longest.as_ref()) + Duration::from_secs(requests.len() as u64 * 5);
        let r = try_rpc!(self.c().batch_create_sessions(request(pb::BatchCreateSessionsRequest { requests }, d)));
        let results: Vec<Value> = r
            .results
            .iter()
            .map(|res| match &res.result {
                Some(pb::batch_create_result::Result::Response(resp)) => {
                    with_session(json!({"wait": wait_json(resp.wait_result.as_ref())}), resp.session.as_ref())
                }
                Some(pb::batch_create_result::Result::Error(e)) => {
                    json!({"error": {"code": format!("{:?}", tonic::Code::from(e.code)), "reason": e.reason, "message": e.message}})
                }
                None => json!({"error": {"message": "empty result"}}),
            })
            .collect();
        ok(json!({ "results": results }))
    }

    #[tool(
        description = "List sessions (newest first), optionally filtered by states (e.g. [\"ASK_QUESTION\",\"PERMISSION_PROMPT\",\"BASH_APPROVAL\"] to find sessions waiting for you), work_dir or labels. Exited sessions only with include_exited. Returns a brief entry per session (id, name, state, stable, pending interaction ids and kinds) and next_page_token when there are more.",
        annotations(read_only_hint = true)
    )]
    async fn list_sessions(&self, Parameters(p): Parameters<ListSessionsParams>) -> Result<CallToolResult, ErrorData> {
        let req = pb::ListSessionsRequest {
            states: try_arg!(parse_states(p.states.as_ref())),
            work_dir: p.work_dir.unwrap_or_default(),
            labels: p.labels.unwrap_or_default(),
            page_size: p.page_size.unwrap_or(0),
            page_token: p.page_token.unwrap_or_default(),
            include_exited: p.include_exited.unwrap_or(false),
        };
        let r = try_rpc!(self.c().list_sessions(request(req, self.timeout)));
        ok(json!({
            "sessions": r.sessions.iter().map(brief).collect::<Vec<_>>(),
            "next_page_token": r.next_page_token,
        }))
    }

    #[tool(
        description = "The full current status of one session: state, stable, revision, evidence (what showed the state), and every pending interaction inline with everything needed to answer it: for a QUESTION all questions with their options and multi_select; for PERMISSION/BASH the tool, command, file or URL and the options CC offers; for PLAN the plan text; for TRUST the directory. pending_interactions[].id is the interaction_id for answer_question / approve_permission / reject_permission. next_step says what to do.",
        annotations(read_only_hint = true)
    )]
    async fn get_status(&self, Parameters(p): Parameters<SessionParams>) -> Result<CallToolResult, ErrorData> {
        let r =
            try_rpc!(self.c().get_session(request(pb::GetSessionRequest { session_id: p.session_id }, self.timeout)));
        match r.session {
            Some(s) => ok(session_value(&s)),
            None => ok(json!({"error": "server returned no session"})),
        }
    }

    #[tool(
        description = "Read a session's transcript as typed entries (USER_TEXT, ASSISTANT_TEXT, THINKING, TOOL_USE, TOOL_RESULT, SYSTEM) from `cursor` on. Non-destructive: reading consumes nothing, any number of readers. Pass next_cursor back to read only what is new since the last call.",
        annotations(read_only_hint = true)
    )]
    async fn get_transcript(&self, Parameters(p): Parameters<TranscriptParams>) -> Result<CallToolResult, ErrorData> {
        let kinds = try_arg!(p
            .kinds
            .unwrap_or_default()
            .iter()
            .map(|k| render::parse_entry_kind(k).map(|k| k as i32).ok_or_else(|| format!("unknown entry kind {k:?}")))
            .collect::<Result<Vec<_>, _>>());
        let req = pb::GetTranscriptRequest {
            session_id: p.session_id,
            cursor: p.cursor.unwrap_or(0),
            limit: p.limit.unwrap_or(0),
            kinds,
        };
        let r = try_rpc!(self.c().get_transcript(request(req, self.timeout)));
        ok(json!({
            "entries": r.entries.iter().map(render::entry_json).collect::<Vec<_>>(),
            "next_cursor": r.next_cursor,
            "transcript_path": r.transcript_path,
        }))
    }

    #[tool(
        description = "Send a prompt to CC as one turn (multi-line text is still one turn). Delivery is confirmed from what CC shows. By default waits until CC is stable again after THIS message (turn-scoped): IDLE with session.last_assistant_message when the turn is done, or a question/permission to answer. Only send when the session is stable (normally IDLE)."
    )]
    async fn send_message(&self, Parameters(p): Parameters<SendParams>) -> Result<CallToolResult, ErrorData> {
        self.send(p, MessageKind::Prompt).await
    }

    #[tool(
        description = "Run a CC slash command such as \"/compact\", \"/clear\" or \"/model sonnet\" (single line; the leading \"/\" may be omitted). Waits like send_message."
    )]
    async fn send_command(&self, Parameters(p): Parameters<SendParams>) -> Result<CallToolResult, ErrorData> {
        self.send(p, MessageKind::SlashCommand).await
    }

    #[tool(
        description = "Run a shell line through CC's \"!\" bash mode (single line; the leading \"!\" may be omitted); its output lands in the conversation. Waits like send_message."
    )]
    async fn send_bash(&self, Parameters(p): Parameters<SendParams>) -> Result<CallToolResult, ErrorData> {
        self.send(p, MessageKind::Bash).await
    }

    #[tool(
        description = "The current text of the session's tmux pane (what a human would see). Useful when the state is UNKNOWN or to double-check a dialog. Optionally with ANSI escapes and scrollback.",
        annotations(read_only_hint = true)
    )]
    async fn capture_pane(&self, Parameters(p): Parameters<CaptureParams>) -> Result<CallToolResult, ErrorData> {
        let req = pb::CaptureScreenRequest {
            session_id: p.session_id,
            ansi: p.ansi.unwrap_or(false),
            scrollback_lines: p.scrollback_lines.unwrap_or(0),
        };
        let r = try_rpc!(self.c().capture_screen(request(req, self.timeout)));
        ok(
            json!({"text": r.text, "cols": r.cols, "rows": r.rows, "capture_time": render::rfc3339(r.capture_time.as_ref())}),
        )
    }

    #[tool(
        description = "Approve a pending PERMISSION (tool such as Write/Edit/WebFetch/MCP), BASH (command), PLAN or TRUST (workspace trust) interaction by its interaction_id from get_status. always_allow=true picks CC's \"don't ask again for this session\" when offered. By default waits until CC is stable again after the approval. Fails with INTERACTION_NOT_PENDING when it was already answered."
    )]
    async fn approve_permission(&self, Parameters(p): Parameters<ApproveParams>) -> Result<CallToolResult, ErrorData> {
        let wait = try_arg!(wait_options(&p.wait));
        let plan_mode = match p.plan_mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("manual") => pb::PlanApprovalMode::Manual,
            Some("auto") => pb::PlanApprovalMode::Auto,
            Some(o) => return invalid(format!("plan_mode must be \"manual\" or \"auto\", not {o:?}")),
        };
        let req = pb::ApprovePermissionRequest {
            session_id: p.session_id,
            interaction_id: p.interaction_id,
            scope: if p.always_allow.unwrap_or(false) { pb::ApprovalScope::Session } else { pb::ApprovalScope::Once }
                as i32,
            plan_mode: plan_mode as i32,
            request_id: p.request_id.unwrap_or_default(),
            wait: wait.clone(),
        };
        let r = try_rpc!(self.c().approve_permission(request(req, deadline(self.timeout, wait.as_ref()))));
        ok(with_session(
            json!({"path": answer_path(r.path), "wait": wait_json(r.wait_result.as_ref())}),
            r.session.as_ref(),
        ))
    }

    #[tool(
        description = "Reject a pending PERMISSION, BASH, PLAN or TRUST interaction by its interaction_id from get_status, optionally telling Claude what to do instead (feedback). Rejecting TRUST makes CC exit. By default waits until CC is stable again."
    )]
    async fn reject_permission(&self, Parameters(p): Parameters<RejectParams>) -> Result<CallToolResult, ErrorData> {
        let wait = try_arg!(wait_options(&p.wait));
        let req = pb::RejectPermissionRequest {
            session_id: p.session_id,
            interaction_id: p.interaction_id,
            feedback: p.feedback.unwrap_or_default(),
            request_id: p.request_id.unwrap_or_default(),
            wait: wait.clone(),
        };
        let r = try_rpc!(self.c().reject_permission(request(req, deadline(self.timeout, wait.as_ref()))));
        ok(with_session(
            json!({"path": answer_path(r.path), "wait": wait_json(r.wait_result.as_ref())}),
            r.session.as_ref(),
        ))
    }

    #[tool(
        description = "Answer a pending QUESTION (AskUserQuestion) by its interaction_id from get_status. Give one answer per question: `question` is the question text (or header) from get_status, `selected_labels` the chosen option labels exactly as listed (several only when multi_select), or `free_text` instead. By default waits until CC is stable again after the answer."
    )]
    async fn answer_question(
        &self,
        Parameters(p): Parameters<AnswerQuestionParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let wait = try_arg!(wait_options(&p.wait));
        if p.answers.is_empty() {
            return invalid("answers must hold one answer per question".into());
        }
        let req = pb::AnswerQuestionRequest {
            session_id: p.session_id,
            interaction_id: p.interaction_id,
            answers: p
                .answers
                .into_iter()
                .map(|a| pb::QuestionAnswer {
                    question: a.question,
                    selected_labels: a.selected_labels.unwrap_or_default(),
                    free_text: a.free_text.unwrap_or_default(),
                })
                .collect(),
            request_id: p.request_id.unwrap_or_default(),
            wait: wait.clone(),
        };
        let r = try_rpc!(self.c().answer_question(request(req, deadline(self.timeout, wait.as_ref()))));
        ok(with_session(
            json!({"path": answer_path(r.path), "wait": wait_json(r.wait_result.as_ref())}),
            r.session.as_ref(),
        ))
    }

    #[tool(
        description = "Press Esc in the session: interrupts a running turn or closes a dialog (a pending question/permission is then dismissed, not answered). Returns the session after the resulting state change and whether a change was observed."
    )]
    async fn escape_session(
        &self,
        Parameters(p): Parameters<SessionActionParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let req = pb::EscapeRequest { session_id: p.session_id, request_id: p.request_id.unwrap_or_default() };
        let r = try_rpc!(self.c().escape(request(req, self.timeout)));
        ok(with_session(json!({"observed": r.observed}), r.session.as_ref()))
    }

    #[tool(
        description = "Press Ctrl-C in the session: stops the running turn (or clears a typed draft). Returns the session after the resulting state change and whether a change was observed."
    )]
    async fn interrupt_session(
        &self,
        Parameters(p): Parameters<SessionActionParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let req = pb::InterruptRequest { session_id: p.session_id, request_id: p.request_id.unwrap_or_default() };
        let r = try_rpc!(self.c().interrupt(request(req, self.timeout)));
        ok(with_session(json!({"observed": r.observed}), r.session.as_ref()))
    }

    #[tool(
        description = "Stop a session: CC is ended and its tmux window removed (state EXITED). The record and final transcript stay readable with get_status / get_transcript.",
        annotations(destructive_hint = true)
    )]
    async fn kill_session(&self, Parameters(p): Parameters<SessionActionParams>) -> Result<CallToolResult, ErrorData> {
        let req = pb::DeleteSessionRequest { session_id: p.session_id, request_id: p.request_id.unwrap_or_default() };
        let r = try_rpc!(self.c().delete_session(request(req, self.timeout)));
        ok(with_session(json!({"killed": true}), r.session.as_ref()))
    }

    #[tool(
        description = "Block until the session enters one of `states` (default: any stable state) after `after_revision` (default: now, i.e. a new state), or until timeout_seconds (default 120, max 600). A timeout is not an error: satisfied=false with the current session. To wait for the current turn without missing a change that already happened, pass the revision from your last get_status.",
        annotations(read_only_hint = true)
    )]
    async fn wait_for_state(&self, Parameters(p): Parameters<WaitForStateParams>) -> Result<CallToolResult, ErrorData> {
        let wait = pb::WaitOptions {
            states: try_arg!(parse_states(p.states.as_ref())),
            timeout: Some(prost_types::Duration {
                seconds: p.timeout_seconds.unwrap_or(DEFAULT_WAIT_SECS).min(600) as i64,
                nanos: 0,
            }),
        };
        let d = deadline(self.timeout, Some(&wait));
        let req = pb::WaitSessionRequest {
            session_id: p.session_id,
            after_revision: p.after_revision.unwrap_or(0),
            wait: Some(wait),
        };
        let r = try_rpc!(self.c().wait_session(request(req, d)));
        ok(with_session(json!({"wait": wait_json(r.wait_result.as_ref())}), r.session.as_ref()))
    }

    #[tool(
        description = "Whether the Aegis server is reachable and healthy: its version, the Claude Code version and binary it found, the tmux version and socket, uptime, and session counts (total, live, by state).",
        annotations(read_only_hint = true)
    )]
    async fn server_health(&self) -> Result<CallToolResult, ErrorData> {
        let r = try_rpc!(self.c().get_server_info(request(pb::GetServerInfoRequest {}, self.timeout)));
        ok(json!({
            "healthy": !r.cc_version.is_empty() && !r.tmux_version.is_empty(),
            "version": r.version,
            "cc_version": r.cc_version,
            "cc_binary": r.cc_binary,
            "tmux_version": r.tmux_version,
            "tmux_socket": r.tmux_socket,
            "state_dir": r.state_dir,
            "start_time": render::rfc3339(r.start_time.as_ref()),
            "uptime_seconds": r.uptime.as_ref().map(|d| d.seconds).unwrap_or(0),
            "sessions_total": r.sessions_total,
            "sessions_live": r.sessions_live,
            "sessions_by_state": r.sessions_by_state,
        }))
    }

    #[tool(
        description = "A short digest of one session for deciding what to do: state, stable, what CC waits for (each pending interaction summarised with its id), the last assistant message, error/exit/stall info, and the last few user/assistant messages of the transcript. Use get_status for full interaction details.",
        annotations(read_only_hint = true)
    )]
    async fn get_session_summary(&self, Parameters(p): Parameters<SummaryParams>) -> Result<CallToolResult, ErrorData> {
        let r =
            try_rpc!(self.c().get_session(request(pb::GetSessionRequest { session_id: p.session_id }, self.timeout)));
        let Some(s) = r.session else {
            return ok(json!({"error": "server returned no session"}));
        };
        let n = p.messages.unwrap_or(6);
        let kinds = [pb::EntryKind::UserText, pb::EntryKind::AssistantText];
        let mut client = self.c();
        let recent = match crate::cli::last_entries(&mut client, self.timeout, &s.id, &kinds, n).await {
            Ok(entries) => entries
                .iter()
                .map(|e| json!({"kind": render::entry_kind_name(e.kind), "text": render::truncate(&e.text, 2000), "time": render::rfc3339(e.time.as_ref())}))
                .collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        };
        let waiting_for: Vec<Value> = s
            .pending_interactions
            .iter()
            .map(|p| json!({"interaction_id": p.id, "kind": render::interaction_kind_name(p.kind), "summary": interaction_summary(p)}))
            .collect();
        let mut v = json!({
            "id": s.id,
            "name": s.name,
            "work_dir": s.work_dir,
            "state": render::state_name(s.state),
            "stable": s.stable,
            "state_since": render::rfc3339(s.state_since.as_ref()),
            "waiting_for": waiting_for,
            "last_assistant_message": s.last_assistant_message,
            "recent_messages": recent,
            "next_step": next_step(&s),
        });
        if !s.error_message.is_empty() {
            v["error_message"] = json!(s.error_message);
        }
        if let Some(x) = &s.exit {
            v["exit"] = json!({"reason": x.reason, "exit_status": x.exit_status});
        }
        if s.stall.as_ref().is_some_and(|st| st.stalled) {
            v["stalled"] = json!(true);
        }
        ok(v)
    }
}

impl AegisMcp {
    async fn send(&self, p: SendParams, kind: MessageKind) -> Result<CallToolResult, ErrorData> {
        let wait = try_arg!(wait_options(&p.wait));
        if p.text.is_empty() {
            return invalid("text must not be empty".into());
        }
        let req = pb::SendMessageRequest {
            session_id: p.session_id,
            text: p.text,
            kind: kind as i32,
            request_id: p.request_id.unwrap_or_default(),
            wait: wait.clone(),
        };
        let r = try_rpc!(self.c().send_message(request(req, deadline(self.timeout, wait.as_ref()))));
        ok(with_session(
            json!({
                "delivered_revision": r.delivered_revision,
                "wait": wait_json(r.wait_result.as_ref()),
            }),
            r.session.as_ref(),
        ))
    }
}

fn answer_path(path: i32) -> &'static str {
    match pb::AnswerPath::try_from(path).unwrap_or(pb::AnswerPath::Unspecified) {
        pb::AnswerPath::Hook => "HOOK",
        pb::AnswerPath::Keys => "KEYS",
        pb::AnswerPath::Unspecified => "UNSPECIFIED",
    }
}

fn interaction_summary(p: &pb::PendingInteraction) -> String {
    match &p.content {
        Some(Content::Question(q)) => q
            .questions
            .iter()
            .map(|q| {
                let opts: Vec<&str> = q.options.iter().map(|o| o.label.as_str()).collect();
                format!("{} [{}]", q.question, opts.join(" | "))
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(Content::Permission(pc)) if !pc.command.is_empty() => {
            format!("{}: {}", pc.tool_name, pc.command)
        }
        Some(Content::Permission(pc)) if !pc.file_path.is_empty() => {
            format!("{}: {}", pc.tool_name, pc.file_path)
        }
        Some(Content::Permission(pc)) if !pc.url.is_empty() => {
            format!("{}: {}", pc.tool_name, pc.url)
        }
        Some(Content::Permission(pc)) => pc.tool_name.clone(),
        Some(Content::Plan(plan)) => render::truncate(&plan.plan, 300),
        Some(Content::Trust(t)) => format!("trust {}", t.directory),
        Some(Content::ApiKey(k)) => format!("use API key {} {}", k.env_var, k.key_hint),
        None => String::new(),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AegisMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("aegis", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_defaults_to_on() {
        let w = wait_options(&WaitParams::default()).unwrap().unwrap();
        assert_eq!(w.timeout.unwrap().seconds, DEFAULT_WAIT_SECS as i64);
        assert!(wait_options(&WaitParams { wait: Some(false), ..Default::default() }).unwrap().is_none());
        assert!(wait_options(&WaitParams { wait_states: Some(vec!["bogus".into()]), ..Default::default() }).is_err());
    }

    #[test]
    fn every_tool_is_listed_with_a_description() {
        let tools = AegisMcp::tool_router().list_all();
        let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        let want = [
            "answer_question",
            "approve_permission",
            "batch_create_sessions",
            "capture_pane",
            "create_session",
            "escape_session",
            "get_session_summary",
            "get_status",
            "get_transcript",
            "interrupt_session",
            "kill_session",
            "list_sessions",
            "reject_permission",
            "send_bash",
            "send_command",
            "send_message",
            "server_health",
            "wait_for_state",
        ];
        assert_eq!(names, want);
        for t in &tools {
            assert!(t.description.as_ref().is_some_and(|d| d.len() > 80), "{} needs a real description", t.name);
        }
    }
}
