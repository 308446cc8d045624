//! One live session's in-memory handle: the committed record, the signal inbox of its actor, and the
//! latest screen observation (for delivery checks).
use crate::cc::hook_payload::HookPayload;
use crate::cc::status_file::StatusFile;
use crate::detect::ScreenObservation;
use crate::model::{Millis, SessionRecord};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

/// Everything that can change what we know about a session. Drivers push these; the actor consumes them.
#[derive(Debug)]
pub enum Signal {
    /// tmux saw output on the pane: capture and classify.
    PaneOutput,
    /// The pane's process exited (tmux's notice).
    PaneDied { status: Option<i32>, signal: Option<i32> },
    /// CC's process exited (its pidfd fired; usually before tmux's notice).
    ProcessExited { status: Option<i32>, signal: Option<i32> },
    /// The tmux window vanished, or the whole tmux server died.
    Gone { reason: String },
    /// A CC hook request that arrived at `at`. Only a PermissionRequest is held for the actor to answer;
    /// every other hook was answered on arrival (CC never waits on the actor).
    Hook { payload: Box<HookPayload>, at: Millis, reply: HookReply },
    /// CC's status file changed.
    Status { file: StatusFile, at: Millis },
    /// The transcript file changed.
    TranscriptChanged,
    /// The API typed something and waits for CC to take it (see `Delivery`).
    ExpectDelivery(Delivery),
    /// Answer the held PermissionRequest hook of interaction `id` with `decision`. Replies whether a
    /// held hook for that id existed (first writer wins: it is consumed).
    AnswerHook { id: String, decision: Value, reply: oneshot::Sender<bool> },
    /// Let the held hook of `id` go without a decision (the answer went in by keys).
    ReleaseHook { id: String },
    /// Aegis is about to send Ctrl-C / Esc: the turn ends by the user's hand, so CC writes no turn end
    /// to wait for, and an older "working" hint must not hold the idle box back.
    Interrupting,
    /// The policy's automatic answer (trust, API key) could not be applied: surface the dialog.
    AutoAnswerFailed { kind: crate::model::InteractionKind },
    /// Stop the actor (delete / shutdown).
    Stop,
}

/// How a hook was or will be answered.
#[derive(Debug)]
pub enum HookReply {
    /// Answered on arrival: an empty 200, or for a PermissionRequest the policy's `allow`
    /// (`policy_allowed`; the actor records that decision as an event).
    Sent { policy_allowed: bool },
    /// A PermissionRequest CC waits on: the actor sends the HTTP body (None = empty 200).
    Held(oneshot::Sender<Option<Value>>),
}

/// A pending confirmation that CC took typed input.
#[derive(Debug)]
pub struct Delivery {
    /// Time just before the submitting key was sent; only later evidence counts.
    pub since: Millis,
    /// A prompt is confirmed by the UserPromptSubmit hook; every kind also by an emptied input box.
    pub prompt_text: Option<String>,
    /// Whether an emptied input box counts (not for the first prompt given on the command line, where
    /// the box is empty from the start).
    pub screen_ok: bool,
    pub reply: oneshot::Sender<crate::model::Event>,
}

#[derive(Debug, Clone)]
pub struct ScreenSnap {
    pub obs: ScreenObservation,
    pub at: Millis,
}

pub struct SessionHandle {
    pub id: String,
    /// Held while an event is committed, so events of one session are applied in order.
    pub(crate) record: Mutex<SessionRecord>,
    /// The latest committed record, readable without locking.
    pub(crate) snapshot: watch::Sender<SessionRecord>,
    pub(crate) signals: mpsc::UnboundedSender<Signal>,
    pub(crate) screen: watch::Sender<Option<ScreenSnap>>,
    /// The API key this session's CC was started with (its env, else the service's), kept in memory only
    /// for the `accept_own_api_key` policy.
    pub(crate) own_api_key: std::sync::Mutex<Option<String>>,
    /// True while an announced turn end (IDLE on the Stop hook) is not in the transcript yet: a
    /// transcript read waits (bounded) for it, so a client reading at IDLE finds the final answer.
    pub(crate) transcript_due: watch::Sender<bool>,
}

impl SessionHandle {
    pub fn new(record: SessionRecord) -> (SessionHandle, mpsc::UnboundedReceiver<Signal>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = SessionHandle {
            id: record.id.clone(),
            snapshot: watch::channel(record.clone()).0,
            record: Mutex::new(record),
            signals: tx,
            screen: watch::channel(None).0,
            own_api_key: std::sync::Mutex::new(None),
            transcript_due: watch::channel(false).0,
        };
        (handle, rx)
    }

    pub fn get(&self) -> SessionRecord {
        self.snapshot.borrow().clone()
    }

    pub fn signal(&self, s: Signal) {
        // A stopped actor drops signals: the session is over.
        let _ = self.signals.send(s);
    }
}
