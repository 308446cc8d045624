//! The per-session actor: the single consumer of a session's signals. It fuses them into a state
//! (see `fuse`), tracks pending interactions, confirms deliveries, and emits every change as an event.
//! It never polls tmux: it captures the pane only when tmux reported output.
use super::exit_screen;
use super::fuse::Fuser;
use super::handle::{Delivery, HookReply, ScreenSnap, SessionHandle, Signal};
use super::interactions::{self, PendingTool};
use super::manager::Manager;
use crate::cc::hook_payload::{HookEvent, HookPayload};
use crate::cc::status_file::{CcStatus, StatusFile};
use crate::cc::transcript::{EntryKind, TranscriptTail, TurnSignal};
use crate::detect::{classify, ScreenObservation};
use crate::model::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub(crate) struct Actor {
    mgr: Arc<Manager>,
    h: Arc<SessionHandle>,
    fuser: Fuser,
    tail: Option<TranscriptTail>,
    deliveries: Vec<Delivery>,
    /// PreToolUse payloads in arrival order (id, tool, input), to give PermissionRequest (which has no
    /// id) CC's tool_use_id. The newest match is taken and consumed: a denied call never gets a
    /// PostToolUse, and the model may repeat the same call.
    tools: Vec<(String, String, Value)>,
    /// The tool call CC is asking permission for (from PermissionRequest), until answered or moved on.
    waiting: Option<PendingTool>,
    last_progress: Millis,
    progress_key: String,
    exit_info: Option<ExitInfo>,
    /// A turn started and its end is not in the transcript yet.
    turn_open: bool,
    /// Aegis interrupted the turn: the interrupted prompt's own transcript record, read late (a busy
    /// machine delays the file notification), must not reopen it (CC writes no end for a turn
    /// interrupted before its first token, so the ready state would be held for nothing). Cleared by
    /// the next prompt (its hook or delivery).
    interrupted: bool,
    /// While a turn's end is not in the transcript, the move to a ready state waits (bounded) so a
    /// client that reads the transcript at IDLE finds the answer there.
    hold_until: Option<tokio::time::Instant>,
    /// IDLE went out on the Stop hook (at this instant) before the transcript recorded the turn's
    /// end: until it does (bounded), transcript reads wait for it (`SessionHandle::transcript_due`).
    due_since: Option<tokio::time::Instant>,
    /// The Stop hook's `last_assistant_message` while due: its assistant record ends the wait early.
    due_text: String,
    /// The text of the newest assistant text entry the tail has read.
    last_text: String,
    /// The Stop hook's final text, saved with the state change it causes (one commit, so a client
    /// woken by IDLE reads it), else on its own.
    stop_message: Option<String>,
    /// The PermissionRequest hook request CC is waiting on, held open until the interaction is answered
    /// through it (CC shows its dialog meanwhile, so keys work too) or resolved otherwise.
    held: Option<(String, oneshot::Sender<Option<Value>>)>,
    /// Re-evaluate when the current hint's grace ends.
    grace_timer: Option<tokio::time::Instant>,
    /// The last turn's API error text from the hook/transcript (the screen may not show it).
    error_text: String,
    /// Automatic answers under the session policy (trust, API key): not tried / under way / failed.
    auto_trust: AutoTrust,
    auto_api_key: AutoTrust,
    /// A session created with a prompt shows no stable ready state before that prompt's turn ran: until
    /// CC took the prompt, a ready screen is still STARTING. Bounded: if CC stays ready without taking
    /// it, the ready state is reported at this deadline.
    first_prompt_deadline: Option<tokio::time::Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AutoTrust {
    NotTried,
    Running,
    Failed,
}

/// Longest wait for the transcript to record a turn's end (it lags the screen by 50–170 ms).
const TRANSCRIPT_HOLD: Duration = Duration::from_millis(1500);
/// Longest a ready CC may sit without taking the first prompt before its ready state is reported.
const FIRST_PROMPT_LIMIT: Duration = Duration::from_secs(20);

impl Actor {
    pub(crate) fn new(mgr: Arc<Manager>, h: Arc<SessionHandle>) -> Actor {
        let rec = h.get();
        let tail = (!rec.transcript_path.is_empty()).then(|| {
            let mut t = TranscriptTail::new(PathBuf::from(&rec.transcript_path));
            // On re-adoption, skip what was already there: only new records are signals.
            let _ = t.read_new();
            t
        });
        Actor {
            mgr,
            h,
            fuser: Fuser::default(),
            tail,
            deliveries: Vec::new(),
            tools: Vec::new(),
            waiting: None,
            last_progress: now_ms(),
            progress_key: String::new(),
            exit_info: None,
            turn_open: false,
            interrupted: false,
            hold_until: None,
            due_since: None,
            due_text: String::new(),
            last_text: String::new(),
            stop_message: None,
            held: None,
            grace_timer: None,
            error_text: String::new(),
            auto_trust: AutoTrust::NotTried,
            auto_api_key: AutoTrust::NotTried,
            first_prompt_deadline: None,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Signal>) {
        // A first look at the pane, in case it drew before the control client attached.
        self.on_pane_output().await;
        loop {
            tokio::select! {
                sig = rx.recv() => match sig {
                    None | Some(Signal::Stop) => break,
                    Some(s) => {
                        self.on_signal(s).await;
                        // Progress may have ended a stall.
                        self.check_stall().await;
                    }
                },
                // Wakes only while working, at the moment the stall threshold would pass.
                _ = sleep_until_opt(self.stall_deadline()) => self.check_stall().await,
                _ = sleep_until_opt(self.grace_timer) => {
                    self.grace_timer = None;
                    self.reevaluate().await;
                }
                _ = sleep_until_opt(self.due_since.map(|t| t + TRANSCRIPT_HOLD)) => self.clear_due("timeout"),
                _ = sleep_until_opt(self.hold_until) => {
                    self.turn_open = false;
                    self.hold_until = None;
                    self.reevaluate().await;
                }
                _ = sleep_until_opt(self.first_prompt_deadline) => {
                    tracing::warn!(session = %self.h.id, "CC is ready but did not take its first prompt");
                    self.deliveries.retain(|d| d.screen_ok);
                    self.first_prompt_deadline = None;
                    self.reevaluate().await;
                }
            }
            if self.fuser.exited() {
                break;
            }
        }
        // Pending deliveries are dropped: their callers see the session end.
        self.deliveries.clear();
        self.clear_due("session ended");
    }

    async fn on_signal(&mut self, sig: Signal) {
        match sig {
            Signal::PaneOutput => self.on_pane_output().await,
            // Whichever of these comes first ends the session (the actor stops then); the follow-up
            // fills in what the first one did not know.
            Signal::ProcessExited { status, signal } => self.exit("pidfd", status, signal, None).await,
            Signal::PaneDied { status, signal } => self.exit("tmux pane died", status, signal, None).await,
            Signal::Gone { reason } => self.exit("tmux", None, None, Some(reason)).await,
            Signal::Hook { payload, at, reply } => self.on_hook(*payload, at, reply).await,
            Signal::AnswerHook { id, decision, reply } => {
                let held = self.held.take_if(|(held_id, _)| *held_id == id);
                let answered = match held {
                    Some((_, tx)) => tx.send(Some(decision)).is_ok(),
                    None => false,
                };
                if answered {
                    // CC takes the decision at once; its dialog may linger a moment on screen, so the
                    // interaction is over now (the hint holds against the stale frame).
                    self.waiting = None;
                    self.fuser.hint(State::Working, Evidence::api("answered through the held hook"));
                    self.fuser.answered_through_hook(now_ms());
                    self.reevaluate().await;
                }
                let _ = reply.send(answered);
            }
            Signal::ReleaseHook { id } => {
                if let Some((_, tx)) = self.held.take_if(|(held_id, _)| *held_id == id) {
                    let _ = tx.send(None);
                }
            }
            Signal::Status { file, at } => self.on_status(file, at).await,
            Signal::TranscriptChanged => self.on_transcript().await,
            Signal::ExpectDelivery(d) => {
                self.interrupted = false;
                self.deliveries.push(d);
            }
            Signal::Interrupting => {
                // Catch up first: the records already on disk belong to the turn being interrupted.
                self.read_transcript().await;
                self.interrupted = true;
                self.clear_due("interrupt");
                self.turn_open = false;
                self.hold_until = None;
                self.fuser.clear_hint();
            }
            Signal::AutoAnswerFailed { kind } => {
                *self.auto_slot(kind) = AutoTrust::Failed;
                self.reevaluate().await;
            }
            Signal::Stop => {}
        }
    }

    async fn on_pane_output(&mut self) {
        let pane = self.h.get().tmux_pane;
        if pane.is_empty() {
            return;
        }
        let Ok(text) = self.mgr.capture_for_detection(&pane).await else {
            return;
        };
        let at = now_ms();
        let obs = classify(&text);
        self.note_screen_progress(&text, &obs, at);
        self.fuser.observe_screen(obs.clone(), at);
        self.h.screen.send_replace(Some(ScreenSnap { obs: obs.clone(), at }));
        self.confirm_by_screen(&obs, at).await;
        self.reevaluate().await;
    }

    fn note_screen_progress(&mut self, text: &str, obs: &ScreenObservation, at: Millis) {
        // The spinner line animates (glyph, seconds) even when nothing progresses; leave it out.
        let key: String = text
            .lines()
            .filter(|l| obs.spinner.as_deref().is_none_or(|s| !l.contains(s)))
            .collect::<Vec<_>>()
            .join("\n");
        if key != self.progress_key {
            self.progress_key = key;
            self.last_progress = at;
        }
    }

    async fn on_hook(&mut self, p: HookPayload, at: Millis, reply: HookReply) {
        let (mut reply, policy_allowed) = match reply {
            HookReply::Held(tx) => (Some(tx), false),
            HookReply::Sent { policy_allowed } => (None, policy_allowed),
        };
        self.last_progress = at;
        self.track_conversation(&p).await;
        let ev = Evidence::hook(p.event.name(), at);
        match &p.event {
            HookEvent::UserPromptSubmit { prompt } => {
                self.clear_due("next prompt");
                self.last_text.clear();
                self.turn_open = true;
                self.interrupted = false;
                self.error_text.clear();
                self.fuser.hint(State::Working, ev.clone());
                self.confirm_deliveries(|d| d.prompt_text.is_some(), ev, Some(prompt.clone())).await;
            }
            HookEvent::PreToolUse { tool_name, tool_input, tool_use_id } => {
                if let Some(id) = tool_use_id {
                    self.tools.push((id.clone(), tool_name.clone(), tool_input.clone()));
                    if self.tools.len() > 64 {
                        self.tools.remove(0);
                    }
                }
                self.fuser.hint(State::Working, ev);
            }
            HookEvent::PermissionRequest { tool_name, tool_input, .. } => {
                let id = match self.tools.iter().rposition(|(_, n, i)| n == tool_name && i == tool_input) {
                    Some(pos) => self.tools.remove(pos).0,
                    None => format!("perm-{}", uuid::Uuid::new_v4().simple()),
                };
                let tool =
                    PendingTool { id: id.clone(), tool_name: tool_name.clone(), input: tool_input.clone(), since: at };
                if policy_allowed {
                    // Answered `allow` on arrival (Manager::deliver_hook); recorded here.
                    self.record_policy_approval(&tool, at).await;
                    self.fuser.hint(State::Working, ev);
                    self.reevaluate().await;
                    return;
                }
                self.fuser.hint(interactions::state_for_tool(tool_name), ev);
                self.waiting = Some(tool);
                if let Some(tx) = reply.take() {
                    // A previous held hook that was never resolved gets no decision.
                    if let Some((_, old)) = self.held.replace((id, tx)) {
                        let _ = old.send(None);
                    }
                }
            }
            HookEvent::PostToolUse { tool_use_id, .. } => {
                if let Some(id) = tool_use_id {
                    self.tools.retain(|(t, _, _)| t != id);
                    if self.waiting.as_ref().is_some_and(|w| &w.id == id) {
                        self.waiting = None;
                    }
                }
                self.fuser.hint(State::Working, ev);
            }
            HookEvent::Stop { last_assistant_message } => {
                self.waiting = None;
                self.fuser.hint(State::Idle, ev);
                let msg = last_assistant_message.clone().unwrap_or_default();
                // Stop is CC's own turn end (an API error sends StopFailure instead), 0–170 ms before
                // it draws the idle box: IDLE goes out now, not held for the transcript. Transcript
                // reads wait for the turn's last records instead (read-your-writes).
                if self.turn_open && self.hint_error_free() {
                    // Catch up first: the final records may be on disk already (no wait then).
                    self.read_transcript().await;
                    let ended = !self.turn_open;
                    if self.tail.is_some() && !ended && !self.tail_has_final_text(&msg) {
                        self.set_due(msg.clone());
                    } else {
                        tracing::debug!(session = %self.h.id, ended, "the transcript had the final text at the Stop hook");
                    }
                    // A late prompt record of this turn must not reopen it.
                    self.turn_open = false;
                }
                self.stop_message = (!msg.is_empty()).then_some(msg);
                self.reevaluate().await;
                if let Some(msg) = self.stop_message.take() {
                    let _ = self.mgr.update_meta(&self.h, |r| r.last_assistant_message = msg).await;
                }
                return;
            }
            HookEvent::StopFailure { last_assistant_message, error } => {
                self.error_text = last_assistant_message.clone().or_else(|| error.clone()).unwrap_or_default();
                self.waiting = None;
                self.fuser.hint(State::Error, ev);
            }
            HookEvent::PreCompact { .. } => self.fuser.hint(State::Compacting, ev),
            _ => {}
        }
        if let Some(tx) = reply {
            let _ = tx.send(None);
        }
        self.reevaluate().await;
    }

    /// Records the policy's approval of `tool` (sent through the hook on arrival) as an
    /// INTERACTION_RESOLVED event, so it is visible and audited.
    async fn record_policy_approval(&mut self, tool: &PendingTool, at: Millis) {
        let it = Interaction {
            id: tool.id.clone(),
            kind: interactions::kind_for_tool(&tool.tool_name),
            since: at,
            content: interactions::content_from_tool(&tool.tool_name, &tool.input),
            options: Vec::new(),
            tool_input_json: tool.input.to_string(),
        };
        let mut ev = Evidence::hook("PermissionRequest", at);
        ev.detail = "approved by the session policy".into();
        let detail = format!("{} approved by the session policy", tool.tool_name);
        let _ = self.mgr.emit(&self.h, EventKind::InteractionResolved, ev, detail, Some(it), |_| {}).await;
    }

    /// No API error of this turn is known (from StopFailure or the transcript).
    fn hint_error_free(&self) -> bool {
        self.error_text.is_empty() && self.fuser.hint_state() != Some(State::Error)
    }

    /// Whether the tail already read this turn's final text `msg`.
    fn tail_has_final_text(&self, msg: &str) -> bool {
        !msg.is_empty() && self.last_text.trim() == msg.trim()
    }

    /// Marks an announced turn end (IDLE on Stop) as still due in the transcript, ended early by the
    /// assistant record with `final_text`.
    fn set_due(&mut self, final_text: String) {
        self.due_text = final_text;
        self.due_since = Some(tokio::time::Instant::now());
        self.h.transcript_due.send_replace(true);
    }

    /// The announced turn end is in the transcript (or will not come: `why`).
    fn clear_due(&mut self, why: &str) {
        let Some(since) = self.due_since.take() else { return };
        self.due_text.clear();
        self.h.transcript_due.send_replace(false);
        // How far CC's transcript lags its Stop hook (read-your-writes cost), per version.
        tracing::debug!(session = %self.h.id, waited_ms = since.elapsed().as_millis() as u64, why, "transcript caught up with the Stop hook");
    }

    /// The hook payload names CC's current conversation and transcript (they change after /clear).
    async fn track_conversation(&mut self, p: &HookPayload) {
        let rec = self.h.get();
        let path = p.transcript_path.clone().unwrap_or_default();
        if (p.session_id.is_empty() || p.session_id == rec.cc_session_id)
            && (path.is_empty() || path == rec.transcript_path)
        {
            return;
        }
        let (sid, path) = (p.session_id.clone(), if path.is_empty() { rec.transcript_path.clone() } else { path });
        let slug = crate::cc::transcript::project_slug(std::path::Path::new(&rec.work_dir));
        let projects = self.mgr.config().claude_config_dir.join("projects").join(slug);
        if !transcript_in(&projects, std::path::Path::new(&path)) {
            // Anyone holding the hook URL could otherwise point GetTranscript at any readable file.
            tracing::warn!(session = %self.h.id, %path, "hook names a transcript outside the session's CC projects folder; ignored");
            return;
        }
        if path != rec.transcript_path {
            self.tail = Some(TranscriptTail::new(PathBuf::from(&path)));
            self.mgr.watch_transcript(&self.h.id, &path);
        }
        let detail = format!("conversation {sid}");
        let _ = self
            .mgr
            .emit(&self.h, EventKind::Updated, Evidence::hook(p.event.name(), now_ms()), detail, None, |r| {
                r.cc_session_id = sid;
                r.transcript_path = path;
            })
            .await;
    }

    async fn on_status(&mut self, file: StatusFile, at: Millis) {
        let ev = Evidence::status_file(format!("{:?}", file.status), at);
        match file.status {
            CcStatus::Busy => {
                // CC turned busy after our Enter: it took the prompt. Confirming here keeps MESSAGE_SENT
                // ahead of the turn's own state changes whichever signal arrives first.
                // Not the first prompt (given on CC's command line): CC is busy at start-up before it
                // took that one.
                self.confirm_deliveries(|d| d.prompt_text.is_some() && d.screen_ok, ev.clone(), None).await;
                self.fuser.hint(State::Working, ev)
            }
            CcStatus::Idle => {
                // "idle" is the ready family; an API error of this turn (StopFailure, the transcript)
                // is finer and stays until the next prompt.
                if self.waiting.is_none() && self.fuser.hint_state() != Some(State::Error) {
                    self.fuser.hint(State::Idle, ev)
                }
            }
            // Waiting says *that* CC waits, not for what: hooks and the screen name the kind.
            _ => return,
        }
        self.reevaluate().await;
    }

    async fn on_transcript(&mut self) {
        if self.read_transcript().await {
            self.reevaluate().await;
        }
    }

    /// Reads the transcript's new records and takes their signals in; whether there were any.
    async fn read_transcript(&mut self) -> bool {
        let Some(tail) = self.tail.as_mut() else {
            return false;
        };
        let Ok(records) = tail.read_new() else { return false };
        if records.is_empty() {
            return false;
        }
        let at = now_ms();
        self.last_progress = at;
        for rec in records {
            for e in &rec.entries {
                if e.kind == EntryKind::AssistantText {
                    self.last_text.clone_from(&e.text);
                    if !self.due_text.is_empty() && e.text.trim() == self.due_text.trim() {
                        self.clear_due("final assistant text");
                    }
                }
            }
            for sig in rec.signals {
                match sig {
                    TurnSignal::TurnEnded { .. } | TurnSignal::Interrupted => {
                        self.turn_open = false;
                        self.clear_due("turn end");
                    }
                    TurnSignal::PromptSubmitted { text, .. } => {
                        self.turn_open = !self.interrupted;
                        let ev = Evidence::transcript("user", at);
                        self.confirm_deliveries(|d| d.prompt_text.is_some(), ev, Some(text)).await;
                    }
                    // 2.1.330 writes no turn_duration after an API error: the error record ends the turn.
                    TurnSignal::ApiError { message, .. } => {
                        self.turn_open = false;
                        self.clear_due("api error");
                        if self.error_text.is_empty() {
                            self.error_text = message;
                        }
                        self.fuser.hint(State::Error, Evidence::transcript("assistant/api_error", at))
                    }
                    _ => {}
                }
            }
        }
        true
    }

    async fn confirm_by_screen(&mut self, obs: &ScreenObservation, at: Millis) {
        use crate::detect::ScreenState as S;
        // An emptied (or placeholder-only) live input box after the submitting key means CC took the
        // text; so does any dialog or exit replacing the box (a slash command that opens one, /exit).
        let taken = match obs.state {
            S::Idle | S::Working | S::ExitPending | S::Compacting | S::ApiRetry => obs.input.is_none(),
            S::Blank | S::Unknown => false,
            _ => true,
        };
        if !taken {
            return;
        }
        let ev = Evidence::screen(vec!["input box emptied".into()], at);
        self.confirm_deliveries(|d| d.screen_ok && d.since <= at, ev, None).await;
    }

    async fn confirm_deliveries(&mut self, pred: impl Fn(&Delivery) -> bool, ev: Evidence, text: Option<String>) {
        let Some(pos) = self.deliveries.iter().position(|d| d.since <= ev.at && pred(d)) else {
            return;
        };
        let d = self.deliveries.remove(pos);
        let detail = text.or(d.prompt_text.clone()).unwrap_or_default();
        let detail: String = detail.chars().take(200).collect();
        if let Ok(event) = self.mgr.emit(&self.h, EventKind::MessageSent, ev, detail, None, |_| {}).await {
            let _ = d.reply.send(event);
        }
    }

    /// After the exit event: the status (if neither the pidfd nor tmux knew it yet) from tmux's pane
    /// status, and the final screen once the pane is dead (tmux reaped CC and had drawn all it wrote). A bounded follow-up (at most 9 tmux calls over ~15 s, backing off) ending in at most one
    /// UPDATED event (none when nothing new was learnt). A pane that does not turn dead within the
    /// bound keeps the first capture.
    fn follow_up_exit(&self, mut status: Option<i32>, mut signal: Option<i32>, mut screen_final: bool, first: String) {
        let (mgr, h) = (self.mgr.clone(), self.h.clone());
        let derived_reason = self.exit_info.as_ref().is_some_and(|e| e.reason.starts_with("process "));
        tokio::spawn(async move {
            let (mut changed, mut screen) = (false, None);
            for delay_ms in [50, 200, 500, 750, 1000, 1500, 2500, 4000, 5000] {
                if (status.is_some() || signal.is_some()) && screen_final {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                let pane = h.get().tmux_pane;
                let Some((text, dead, st, sig)) = mgr.final_capture(&pane).await else { break };
                if status.is_none() && signal.is_none() && (st.is_some() || sig.is_some()) {
                    (status, signal, changed) = (st, sig, true);
                }
                if dead && !screen_final {
                    screen_final = true;
                    if text != first {
                        (screen, changed) = (Some(text), true);
                    }
                }
            }
            if !changed {
                return;
            }
            let detail = match (status, signal) {
                (_, Some(sig)) => format!("process killed by {}", crate::process::signal_name(sig)),
                (Some(code), None) => format!("process exited with status {code}"),
                (None, None) => "final screen".to_string(),
            };
            let _ = mgr
                .emit(&h, EventKind::Updated, Evidence::process(detail.clone()), detail, None, |r| {
                    if let Some(e) = r.exit.as_mut() {
                        e.status = status;
                        e.signal = signal;
                        if let Some(s) = screen {
                            e.screen = s;
                        }
                        if derived_reason {
                            e.reason = exit_screen::exit_reason(status, signal, &e.screen);
                        }
                    }
                })
                .await;
        });
    }

    /// Ends the session: one EXITED state change carrying how CC ended and its last screen. `reason`
    /// overrides the one derived from the status and the screen (the window vanished).
    async fn exit(&mut self, source: &str, status: Option<i32>, signal: Option<i32>, reason: Option<String>) {
        let pane = self.h.get().tmux_pane;
        // Bounded: the exit must not wait on a stuck tmux.
        let captured = tokio::time::timeout(Duration::from_millis(300), self.mgr.final_capture(&pane)).await;
        let pane_gone = matches!(captured, Ok(None));
        let (screen, dead, status, signal) = match captured {
            Ok(Some((text, dead, st, sig))) if status.is_none() && signal.is_none() => (text, dead, st, sig),
            Ok(Some((text, dead, _, _))) => (text, dead, status, signal),
            _ => (String::new(), false, status, signal),
        };
        // The pane cannot be read: if tmux itself (or the window) is gone, that is the reason.
        let gone = if pane_gone && reason.is_none() { self.mgr.pane_gone_reason(&pane).await } else { None };
        let reason = reason.or_else(|| gone.map(|g| format!("{g} ({})", exit_screen::exit_reason(status, signal, ""))));
        let derived = reason.is_none();
        let reason = reason.unwrap_or_else(|| exit_screen::exit_reason(status, signal, &screen));
        let how = reason.split(": ").next().unwrap_or_default();
        self.fuser.exit(Evidence::process(format!("{source}: {how}")));
        self.exit_info = Some(ExitInfo { status, signal, reason, at: now_ms(), screen: screen.clone() });
        self.waiting = None;
        self.reevaluate().await;
        // The screen alone may have shown EXITED already (then no state change carried the exit).
        if self.h.get().exit.is_none() {
            let exit = self.exit_info.clone();
            let detail = exit.as_ref().map(|e| e.reason.clone()).unwrap_or_default();
            let ev = Evidence::process(format!("{source}: exit details"));
            let _ = self.mgr.emit(&self.h, EventKind::Updated, ev, detail, None, |r| r.exit = exit).await;
        }
        if derived && !(dead && (status.is_some() || signal.is_some())) {
            self.follow_up_exit(status, signal, dead, screen);
        }
    }

    fn auto_slot(&mut self, kind: InteractionKind) -> &mut AutoTrust {
        match kind {
            InteractionKind::ApiKey => &mut self.auto_api_key,
            _ => &mut self.auto_trust,
        }
    }

    /// Which start-up dialog the session policy answers on this state, if any: the trust dialog when
    /// `trust_work_dir`, the API-key dialog when `accept_own_api_key` and it shows the session's own key.
    fn policy_accepts(&mut self, state: State, rec: &SessionRecord) -> Option<InteractionKind> {
        let kind = match state {
            State::TrustPrompt if rec.policy.trust_work_dir => InteractionKind::Trust,
            State::ApiKeyPrompt if rec.policy.accept_own_api_key => {
                let own = self.h.own_api_key.lock().unwrap().clone().unwrap_or_default();
                let shown = self.fuser.screen().and_then(|o| o.dialog.as_ref()).map(interactions::api_key_content);
                match shown {
                    Some(InteractionContent::ApiKey { key_hint, .. })
                        if !own.is_empty() && interactions::key_hint_matches(&key_hint, &own) =>
                    {
                        InteractionKind::ApiKey
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        (*self.auto_slot(kind) != AutoTrust::Failed).then_some(kind)
    }

    /// The call the auto-mode dialog holds: it comes with no PermissionRequest, so it is the newest
    /// PreToolUse (when the drawn tool row, if any, names the same tool).
    fn auto_mode_call(&self, screen: Option<&ScreenObservation>) -> Option<PendingTool> {
        let Some(crate::detect::dialog::Dialog::AutoMode(d)) = screen.and_then(|s| s.dialog.as_ref()) else {
            return None;
        };
        let (id, tool_name, input) = self.tools.last()?;
        if d.tool.as_ref().is_some_and(|t| t != tool_name) {
            return None;
        }
        Some(PendingTool { id: id.clone(), tool_name: tool_name.clone(), input: input.clone(), since: now_ms() })
    }

    fn stall_deadline(&self) -> Option<tokio::time::Instant> {
        let rec = self.h.get();
        if rec.state != State::Working || rec.stall.stalled {
            return None;
        }
        let due = self.last_progress + self.mgr.stall_threshold_ms() + 1;
        let wait = (due - now_ms()).max(0) as u64;
        Some(tokio::time::Instant::now() + Duration::from_millis(wait))
    }

    async fn check_stall(&mut self) {
        let rec = self.h.get();
        let threshold = self.mgr.stall_threshold_ms();
        let stalled = rec.state == State::Working && now_ms() - self.last_progress > threshold;
        if stalled == rec.stall.stalled {
            return;
        }
        let stall = Stall { stalled, last_progress: self.last_progress, threshold_ms: threshold };
        let ev = Evidence {
            detail: if stalled { "no progress while working".into() } else { "progress resumed".into() },
            ..Evidence::api("")
        };
        let detail = ev.detail.clone();
        let _ = self
            .mgr
            .emit_with(&self.h, EventKind::StallChanged, ev, detail, None, Some(stall.clone()), |r| r.stall = stall)
            .await;
    }

    /// Turns the fused verdict into events: the state change (with the new pending list), then one
    /// event per interaction opened or resolved.
    async fn reevaluate(&mut self) {
        let now = now_ms();
        let mut v = self.fuser.verdict(now);
        if v.state == State::Exited && self.exit_info.is_none() {
            // The screen showed CC's exit before its process did: end it now, with the process's
            // details (one EXITED event that carries them).
            return Box::pin(self.exit("screen", None, None, None)).await;
        }
        if v.state == State::Error && v.error_message.is_empty() {
            v.error_message = self.error_text.clone();
        }
        if let Some(end) = self.fuser.next_deadline(now) {
            let at = tokio::time::Instant::now() + Duration::from_millis((end - now) as u64 + 5);
            self.grace_timer = Some(at);
        }
        let rec = self.h.get();
        if let Some(kind) = self.policy_accepts(v.state, &rec) {
            // The policy accepts the dialog: the session is still starting, nothing waits on a caller.
            if *self.auto_slot(kind) == AutoTrust::NotTried {
                *self.auto_slot(kind) = AutoTrust::Running;
                let (mgr, h) = (self.mgr.clone(), self.h.clone());
                let what = match kind {
                    InteractionKind::ApiKey => "API-key dialog: the session's own key",
                    _ => "workspace-trust dialog",
                };
                tokio::spawn(async move {
                    match mgr.auto_accept(&h, kind).await {
                        // Audited: the automatic answer is an event of its own.
                        Ok(()) => {
                            let detail = format!("{what} accepted by the session policy");
                            let ev = Evidence::api(detail.clone());
                            let _ = mgr.emit(&h, EventKind::Updated, ev, detail, None, |_| {}).await;
                        }
                        Err(_) => h.signal(Signal::AutoAnswerFailed { kind }),
                    }
                });
            }
            v.state = State::Starting;
            v.evidence.detail = "a start-up dialog is being accepted by the session policy".into();
        }
        let ready = matches!(v.state, State::Idle | State::Error);
        if ready && self.deliveries.iter().any(|d| !d.screen_ok) {
            // Created with a prompt that CC has not taken yet: not ready for the caller.
            if self.first_prompt_deadline.is_none() {
                self.first_prompt_deadline = Some(tokio::time::Instant::now() + FIRST_PROMPT_LIMIT);
            }
            v.state = State::Starting;
            v.error_message.clear();
            v.evidence.detail = "CC is ready; its first prompt is not submitted yet".into();
        } else if !ready {
            self.first_prompt_deadline = None;
        }
        let busy = matches!(rec.state, State::Working | State::Compacting | State::RateLimited);
        if ready && busy && self.turn_open && self.tail.is_some() {
            if self.hold_until.is_none() {
                self.hold_until = Some(tokio::time::Instant::now() + TRANSCRIPT_HOLD);
            }
            return;
        }
        self.hold_until = None;
        let screen = self.fuser.screen().cloned();
        let call = self.waiting.clone().or_else(|| self.auto_mode_call(screen.as_ref()));
        let pending = interactions::pending_for(v.state, call.as_ref(), screen.as_ref(), &rec);
        if v.state != rec.state || v.error_message != rec.error_message {
            let stall_reset = v.state != State::Working && rec.stall.stalled;
            let (state, msg, pend, evidence) = (v.state, v.error_message.clone(), pending.clone(), v.evidence.clone());
            let exit = if state == State::Exited { self.exit_info.clone() } else { None };
            // STATE_CHANGED only when the state changes; a new error/retry text alone is UPDATED.
            let (kind, detail) = if v.state != rec.state {
                (EventKind::StateChanged, format!("{} -> {}", rec.state.name(), v.state.name()))
            } else {
                (EventKind::Updated, format!("{}: {}", v.state.name(), v.error_message))
            };
            let changed = v.state != rec.state;
            let last_message = self.stop_message.take();
            let r = self
                .mgr
                .emit(&self.h, kind, v.evidence.clone(), detail, None, move |r| {
                    if changed {
                        r.state_since = now_ms();
                    }
                    r.state = state;
                    r.evidence = evidence;
                    r.error_message = msg;
                    r.pending = pend;
                    if exit.is_some() {
                        r.exit = exit;
                    }
                    if stall_reset {
                        r.stall.stalled = false;
                    }
                    if let Some(m) = last_message {
                        r.last_assistant_message = m;
                    }
                })
                .await;
            if r.is_err() {
                return;
            }
            if v.state == State::Working {
                self.last_progress = now_ms();
            }
        }
        // A held hook whose interaction is gone (answered on screen, interrupted) gets no decision.
        if self.held.as_ref().is_some_and(|(id, _)| !pending.iter().any(|p| &p.id == id)) {
            if let Some((_, tx)) = self.held.take() {
                let _ = tx.send(None);
            }
        }
        // The first interaction event carries the new list when the state did not change.
        let mut carry = (v.state == rec.state && pending != rec.pending).then(|| pending.clone());
        for (kind, it) in interactions::diff(&rec.pending, &pending) {
            let detail = it.id.clone();
            let pend = carry.take();
            let _ = self
                .mgr
                .emit(&self.h, kind, v.evidence.clone(), detail, Some(it), move |r| {
                    if let Some(p) = pend {
                        r.pending = p;
                    }
                })
                .await;
        }
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Whether `path` is a transcript inside `projects` (the session's `<config>/projects/<slug>/`):
/// absolute, a `.jsonl` file, no `..`, and, when it exists, still inside once symlinks are resolved.
fn transcript_in(projects: &std::path::Path, path: &std::path::Path) -> bool {
    use std::path::Component;
    let lexical = path.is_absolute()
        && path.extension().is_some_and(|e| e == "jsonl")
        && !path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        && path.starts_with(projects)
        && path != projects;
    let resolved = match (std::fs::canonicalize(path), std::fs::canonicalize(projects)) {
        (Ok(p), Ok(dir)) => p.starts_with(dir),
        _ => true,
    };
    lexical && resolved
}

#[cfg(test)]
mod transcript_path_tests {
    use super::transcript_in;
    use std::path::Path;

    #[test]
    fn only_transcripts_in_the_sessions_projects_folder_are_followed() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("cfg/projects/-work-a");
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("6f1c.jsonl");
        assert!(transcript_in(&dir, &ok));
        assert!(transcript_in(&dir, &dir.join("6f1c/subagents/agent-1.jsonl")));
        for bad in [
            "/etc/passwd".into(),
            t.path().join("cfg/projects/-work-b/x.jsonl"),
            dir.join("../-work-b/x.jsonl"),
            dir.join("notes.txt"),
            dir.clone(),
            "relative/x.jsonl".into(),
        ] {
            assert!(!transcript_in(&dir, &bad), "{bad:?}");
        }
        let outside = t.path().join("secret.jsonl");
        std::fs::write(&outside, "{}").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link.jsonl")).unwrap();
        assert!(!transcript_in(&dir, &dir.join("link.jsonl")));
        assert!(!transcript_in(Path::new("/"), Path::new("/")));
    }
}
