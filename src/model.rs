//! The session model shared by the core, the store and the API. Serializable (they are stored as JSON in the store) and free of gRPC.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; the core's one clock unit.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    Starting,
    Idle,
    Working,
    AskQuestion,
    PermissionPrompt,
    BashApproval,
    PlanMode,
    TrustPrompt,
    Compacting,
    RateLimited,
    Error,
    Exited,
    Unknown,
    ApiKeyPrompt,
}

impl State {
    /// Every state (the sessions-by-state gauge sets each, zeros included).
    pub const ALL: [State; 14] = [
        State::Starting,
        State::Idle,
        State::Working,
        State::AskQuestion,
        State::PermissionPrompt,
        State::BashApproval,
        State::PlanMode,
        State::TrustPrompt,
        State::Compacting,
        State::RateLimited,
        State::Error,
        State::Exited,
        State::Unknown,
        State::ApiKeyPrompt,
    ];

    /// Settled: CC waits for input (or has exited). Clients use this flag, never their own list.
    pub fn stable(self) -> bool {
        matches!(
            self,
            State::Idle
                | State::AskQuestion
                | State::PermissionPrompt
                | State::BashApproval
                | State::PlanMode
                | State::TrustPrompt
                | State::ApiKeyPrompt
                | State::Error
                | State::Exited
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "STARTING",
            State::Idle => "IDLE",
            State::Working => "WORKING",
            State::AskQuestion => "ASK_QUESTION",
            State::PermissionPrompt => "PERMISSION_PROMPT",
            State::BashApproval => "BASH_APPROVAL",
            State::PlanMode => "PLAN_MODE",
            State::TrustPrompt => "TRUST_PROMPT",
            State::Compacting => "COMPACTING",
            State::RateLimited => "RATE_LIMITED",
            State::Error => "ERROR",
            State::Exited => "EXITED",
            State::Unknown => "UNKNOWN",
            State::ApiKeyPrompt => "API_KEY_PROMPT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Source {
    #[default]
    Api,
    Hook,
    Screen,
    Transcript,
    StatusFile,
    Process,
}

/// What showed a state change, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Evidence {
    pub source: Source,
    pub at: Millis,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hook_event: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screen_markers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transcript_record: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Evidence {
    pub fn api(detail: impl Into<String>) -> Self {
        Evidence { source: Source::Api, at: now_ms(), detail: detail.into(), ..Default::default() }
    }
    pub fn process(detail: impl Into<String>) -> Self {
        Evidence { source: Source::Process, at: now_ms(), detail: detail.into(), ..Default::default() }
    }
    pub fn hook(event: &str, at: Millis) -> Self {
        Evidence { source: Source::Hook, at, hook_event: event.to_string(), ..Default::default() }
    }
    pub fn screen(markers: Vec<String>, at: Millis) -> Self {
        Evidence { source: Source::Screen, at, screen_markers: markers, ..Default::default() }
    }
    pub fn transcript(record: &str, at: Millis) -> Self {
        Evidence { source: Source::Transcript, at, transcript_record: record.to_string(), ..Default::default() }
    }
    pub fn status_file(detail: impl Into<String>, at: Millis) -> Self {
        Evidence { source: Source::StatusFile, at, detail: detail.into(), ..Default::default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InteractionKind {
    Question,
    Permission,
    Bash,
    Plan,
    Trust,
    ApiKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChoiceOption {
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub header: String,
    pub question: String,
    pub options: Vec<ChoiceOption>,
    pub multi_select: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InteractionContent {
    Question {
        questions: Vec<Question>,
    },
    Permission {
        tool_name: String,
        tool_input_json: String,
        command: String,
        file_path: String,
        content: String,
        url: String,
        description: String,
    },
    Plan {
        plan: String,
        plan_file_path: String,
    },
    Trust {
        directory: String,
    },
    ApiKey {
        env_var: String,
        key_hint: String,
    },
}

/// Something CC waits for an answer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: String,
    pub kind: InteractionKind,
    pub since: Millis,
    pub content: InteractionContent,
    #[serde(default)]
    pub options: Vec<ChoiceOption>,
    /// CC's tool input as JSON, verbatim (an answer through the hook echoes it back with the answers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tool_input_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub status: Option<i32>,
    /// The signal that ended the process, when it was killed.
    #[serde(default)]
    pub signal: Option<i32>,
    pub reason: String,
    pub at: Millis,
    /// CC's last screen (plain text), captured when the process ended or the session was deleted;
    /// CaptureScreen of an exited session returns it.
    #[serde(default)]
    pub screen: String,
}

/// Explicit auto-answers for one session (nothing is auto-answered without it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Policy {
    #[serde(default)]
    pub trust_work_dir: bool,
    #[serde(default)]
    pub approve_tools: Vec<String>,
    #[serde(default)]
    pub accept_own_api_key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stall {
    pub stalled: bool,
    pub last_progress: Millis,
    pub threshold_ms: i64,
}

/// Everything the service knows about one session; persisted as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub name: String,
    pub work_dir: String,
    pub state: State,
    pub revision: i64,
    pub created: Millis,
    pub updated: Millis,
    pub state_since: Millis,
    pub evidence: Evidence,
    #[serde(default)]
    pub pending: Vec<Interaction>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub permission_mode: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub cc_session_id: String,
    #[serde(default)]
    pub transcript_path: String,
    #[serde(default)]
    pub tmux_pane: String,
    #[serde(default)]
    pub tmux_window: String,
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub exit: Option<ExitInfo>,
    #[serde(default)]
    pub stall: Stall,
    #[serde(default)]
    pub cc_version: String,
    #[serde(default)]
    pub last_assistant_message: String,
    #[serde(default)]
    pub error_message: String,
    /// Per-session secret the hook URLs carry; never exposed over the API.
    #[serde(default)]
    pub hook_secret: String,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub cols: u16,
    #[serde(default)]
    pub rows: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Created,
    StateChanged,
    InteractionOpened,
    InteractionResolved,
    MessageSent,
    StallChanged,
    Deleted,
    Updated,
}

/// One persisted change of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub session_id: String,
    pub revision: i64,
    /// Global sequence, assigned by the store on commit.
    #[serde(default)]
    pub sequence: i64,
    pub at: Millis,
    pub kind: EventKind,
    pub state: State,
    pub previous_state: State,
    pub evidence: Evidence,
    #[serde(default)]
    pub interaction: Option<Interaction>,
    #[serde(default)]
    pub stall: Option<Stall>,
    #[serde(default)]
    pub detail: String,
}
