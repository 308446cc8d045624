//! Answering pending interactions by id. Two paths:
//! - HOOK: the PermissionRequest hook CC is waiting on is answered with a documented decision shape
//!   (`decision.behavior`, AskUserQuestion `updatedInput.answers`). Nothing is typed.
//! - KEYS: the option is chosen *by label* on the parsed dialog (never by a fixed digit: digits changed
//!   meaning between CC versions), only once the dialog has settled (2.1.330 drops keys sent within
//!   ~100 ms of a dialog appearing), the cursor move is verified before Enter, and the effect is
//!   verified (retried when a key was dropped).
//!
//! First writer wins: an id is claimed before anything is sent; a second answer for it gets
//! INTERACTION_NOT_PENDING and types nothing.
use super::error::{CoreError, CoreResult, ErrorKind};
use super::handle::{ScreenSnap, SessionHandle, Signal};
use super::interactions::AUTO_MODE_ID_PREFIX;
use super::manager::Manager;
use crate::cc::hook_payload::{ask_user_question_answers, permission_request_allow, permission_request_deny};
use crate::detect::dialog::{Dialog, MenuOption};
use crate::model::*;
use crate::tmux::Key;
use std::time::Duration;
use tokio::sync::oneshot;

/// 2.1.330 ignores keys sent within ~100 ms of a dialog appearing; wait longer than that.
const SETTLE: Duration = Duration::from_millis(250);
const ATTEMPTS: usize = 3;

/// How a key answer is verified.
#[derive(Debug, Clone, Copy)]
enum Done {
    /// The interaction left the pending list.
    Resolved,
    /// The dialog of this screen state left the screen (a policy's automatic answer; no interaction
    /// was ever pending).
    Gone(crate::detect::ScreenState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerPath {
    Hook,
    Keys,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuestionAnswer {
    /// Question text or header.
    pub question: String,
    pub labels: Vec<String>,
    pub free_text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Question(Vec<QuestionAnswer>),
    Approve { for_session: bool, plan_auto: bool },
    Reject { feedback: String },
}

fn not_pending(id: &str) -> CoreError {
    CoreError::new(
        ErrorKind::FailedPrecondition,
        "INTERACTION_NOT_PENDING",
        format!("interaction {id:?} is not pending"),
    )
    .with("interaction_id", id)
}

fn menu_of(d: &Dialog) -> &[MenuOption] {
    d.options()
}

/// Which option (by label) carries out `answer` for an interaction of `kind` with these options.
fn target_label(kind: InteractionKind, answer: &Answer, options: &[ChoiceOption]) -> CoreResult<String> {
    let find =
        |pred: &dyn Fn(&str) -> bool| options.iter().map(|o| o.label.as_str()).find(|l| pred(l)).map(str::to_string);
    let label = match (kind, answer) {
        (InteractionKind::Trust, Answer::Approve { .. }) => find(&|l| l.starts_with("Yes, I trust")),
        (InteractionKind::Trust, Answer::Reject { .. }) => find(&|l| l.starts_with("No")),
        (InteractionKind::Plan, Answer::Approve { plan_auto: true, .. }) => find(&|l| l.contains("auto mode")),
        (InteractionKind::Plan, Answer::Approve { .. }) => find(&|l| l.contains("manually approve"))
            .or_else(|| find(&|l| l.starts_with("Yes") && !l.contains("auto mode"))),
        (InteractionKind::Plan, Answer::Reject { feedback }) if !feedback.is_empty() => {
            find(&|l| l.starts_with("Tell Claude")).or_else(|| find(&|l| l.starts_with("No")))
        }
        (InteractionKind::Plan, Answer::Reject { .. }) => {
            find(&|l| l.starts_with("No") || l.starts_with("Tell Claude"))
        }
        (_, Answer::Approve { for_session: true, .. }) => {
            // "Yes, and don’t ask again…", "Yes, allow all edits…", "Yes, and always allow…",
            // "Yes, and switch to accept edits…" — never "switch to auto mode".
            let l = find(&|l| l.starts_with("Yes, ") && !l.contains("auto mode"));
            if l.is_none() {
                return Err(CoreError::new(
                    ErrorKind::FailedPrecondition,
                    "SCOPE_NOT_OFFERED",
                    "CC does not offer an \"always allow\" option for this interaction",
                ));
            }
            l
        }
        (_, Answer::Approve { .. }) => {
            find(&|l| l == "Yes").or_else(|| find(&|l| l.starts_with("Yes") && !l.contains("auto mode")))
        }
        (_, Answer::Reject { .. }) => find(&|l| l.starts_with("No")),
        (_, Answer::Question(_)) => None,
    };
    label.ok_or_else(|| {
        CoreError::new(
            ErrorKind::FailedPrecondition,
            "OPTION_NOT_SHOWN",
            "the dialog does not show the option this answer needs",
        )
    })
}

/// The key that carries out `answer` on the auto-mode dialog: Enter stays in auto mode (the held call
/// goes on to its permission prompt or runs), Esc cancels the call and ends the turn.
fn auto_mode_key(answer: &Answer) -> CoreResult<Key> {
    match answer {
        Answer::Approve { for_session: false, .. } => Ok(Key::Enter),
        Answer::Reject { feedback } if feedback.is_empty() => Ok(Key::Escape),
        Answer::Approve { .. } => Err(CoreError::new(
            ErrorKind::FailedPrecondition,
            "SCOPE_NOT_OFFERED",
            "the auto-mode dialog offers no \"always allow\"; approve once, then answer the call's own prompt",
        )),
        _ => Err(CoreError::new(
            ErrorKind::FailedPrecondition,
            "FEEDBACK_NOT_OFFERED",
            "the auto-mode dialog takes no feedback; reject without it",
        )),
    }
}

impl Manager {
    /// Answers a pending interaction. Returns the session afterwards and the path used.
    pub async fn answer(
        &self,
        session: &str,
        interaction_id: &str,
        answer: Answer,
    ) -> CoreResult<(SessionRecord, AnswerPath)> {
        let h = self.resolve(session)?;
        let rec = h.get();
        let it =
            rec.pending.iter().find(|p| p.id == interaction_id).cloned().ok_or_else(|| not_pending(interaction_id))?;
        let kind_ok = match answer {
            Answer::Question(_) => it.kind == InteractionKind::Question,
            _ => it.kind != InteractionKind::Question,
        };
        if !kind_ok {
            return Err(CoreError::new(
                ErrorKind::FailedPrecondition,
                "INTERACTION_KIND_MISMATCH",
                format!("interaction {interaction_id:?} is a {:?}; use the matching RPC", it.kind),
            ));
        }
        let hook_decision = match (&answer, &it.content) {
            (Answer::Question(answers), InteractionContent::Question { questions }) => {
                let pairs = question_pairs(questions, answers)?;
                let input = self.held_input(&it);
                Some(permission_request_allow(Some(ask_user_question_answers(&input, &pairs))))
            }
            (Answer::Approve { for_session: false, .. }, InteractionContent::Permission { .. }) => {
                Some(permission_request_allow(None))
            }
            (Answer::Reject { feedback }, InteractionContent::Permission { .. } | InteractionContent::Plan { .. }) => {
                let msg = if feedback.is_empty() { "The user rejected this action." } else { feedback.as_str() };
                Some(permission_request_deny(msg))
            }
            _ => None,
        };
        let auto_key = it.id.starts_with(AUTO_MODE_ID_PREFIX).then(|| auto_mode_key(&answer)).transpose()?;
        if !self.claim(&rec.id, interaction_id) {
            return Err(not_pending(interaction_id));
        }
        let result = match auto_key {
            Some(key) => self.answer_auto_mode(&h, &it, key).await.map(|()| AnswerPath::Keys),
            None => self.apply(&h, &it, &answer, hook_decision).await,
        };
        if result.is_err() {
            self.unclaim(&rec.id, interaction_id);
        }
        let path = result?;
        Ok((h.get(), path))
    }

    async fn apply(
        &self,
        h: &SessionHandle,
        it: &Interaction,
        answer: &Answer,
        hook: Option<serde_json::Value>,
    ) -> CoreResult<AnswerPath> {
        if let Some(decision) = hook {
            let (tx, rx) = oneshot::channel();
            h.signal(Signal::AnswerHook { id: it.id.clone(), decision, reply: tx });
            if rx.await.unwrap_or(false) {
                self.wait_resolved(h, &it.id, Duration::from_secs(5)).await;
                return Ok(AnswerPath::Hook);
            }
        }
        let label = match answer {
            Answer::Question(a) => single_question_label(it, a)?,
            _ => target_label(it.kind, answer, &self.live_options(h, it).await)?,
        };
        let feedback = match answer {
            Answer::Reject { feedback } if !feedback.is_empty() => Some(feedback.clone()),
            _ => None,
        };
        self.choose_by_keys(h, it, &label, feedback.as_deref(), Done::Resolved).await?;
        h.signal(Signal::ReleaseHook { id: it.id.clone() });
        Ok(AnswerPath::Keys)
    }

    /// The auto-mode dialog has no menu and no hook: one key, sent once it has been visible for SETTLE,
    /// verified by the dialog leaving the screen. Re-sent only while it is still drawn (a second Enter
    /// could otherwise land on the permission prompt that follows it, where Enter means No).
    async fn answer_auto_mode(&self, h: &SessionHandle, it: &Interaction, key: Key) -> CoreResult<()> {
        use crate::detect::ScreenState;
        let pane = h.get().tmux_pane;
        let mut sent = false;
        for _ in 0..ATTEMPTS {
            if !self.settled_state(h, ScreenState::AutoModeDialog, Duration::from_secs(3)).await {
                break;
            }
            if key == Key::Escape {
                // Aegis interrupts the turn itself: an older "working" hint must not hold the idle box back.
                h.signal(Signal::Interrupting);
            }
            self.tmux()
                .send_keys(&pane, &[key])
                .await
                .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", e.to_string()))?;
            sent = true;
            if self.wait_dialog_gone(h, ScreenState::AutoModeDialog, Duration::from_secs(3)).await {
                self.wait_resolved(h, &it.id, Duration::from_secs(3)).await;
                return Ok(());
            }
        }
        if sent && !self.dialog_shown(h, ScreenState::AutoModeDialog) {
            return Ok(());
        }
        Err(CoreError::new(
            ErrorKind::Unavailable,
            "ANSWER_NOT_APPLIED",
            "CC did not take the answer (dialog unchanged after retries)",
        ))
    }

    fn dialog_shown(&self, h: &SessionHandle, state: crate::detect::ScreenState) -> bool {
        h.screen.borrow().as_ref().is_some_and(|s| s.obs.state == state)
    }

    /// Whether the screen shows `state` and still does SETTLE later (keys sent earlier are dropped).
    async fn settled_state(&self, h: &SessionHandle, state: crate::detect::ScreenState, limit: Duration) -> bool {
        let mut rx = h.screen.subscribe();
        let shows = |s: &Option<ScreenSnap>| s.as_ref().is_some_and(|s| s.obs.state == state);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if shows(&rx.borrow_and_update()) {
                tokio::time::sleep(SETTLE).await;
                if shows(&rx.borrow_and_update()) {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return false;
            }
        }
    }

    /// The options as drawn now (waits briefly for the dialog: 2.1.330's hook precedes it by ~0.5 s).
    async fn live_options(&self, h: &SessionHandle, it: &Interaction) -> Vec<ChoiceOption> {
        match self.settled_dialog(h, Duration::from_secs(3)).await {
            Some(snap) => snap
                .obs
                .dialog
                .as_ref()
                .map(|d| {
                    menu_of(d)
                        .iter()
                        .map(|o| ChoiceOption { label: o.label.clone(), description: String::new() })
                        .collect()
                })
                .unwrap_or_default(),
            None => it.options.clone(),
        }
    }

    /// A screen showing a dialog with options that has been visible for at least SETTLE.
    async fn settled_dialog(&self, h: &SessionHandle, limit: Duration) -> Option<ScreenSnap> {
        let mut rx = h.screen.subscribe();
        let has_menu = |s: &Option<ScreenSnap>| {
            s.as_ref().is_some_and(|s| s.obs.dialog.as_ref().is_some_and(|d| !menu_of(d).is_empty()))
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let shown = has_menu(&rx.borrow_and_update());
            if shown {
                tokio::time::sleep(SETTLE).await;
                let cur = rx.borrow_and_update().clone();
                if has_menu(&cur) {
                    return cur;
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return None;
            }
        }
    }

    /// Accepts the workspace-trust or API-key dialog for the session policy (keys chosen by label,
    /// verified by the dialog leaving the screen).
    pub(crate) async fn auto_accept(&self, h: &SessionHandle, kind: InteractionKind) -> CoreResult<()> {
        use crate::detect::ScreenState;
        let (content, dialog) = match kind {
            InteractionKind::ApiKey => (
                InteractionContent::ApiKey { env_var: String::new(), key_hint: String::new() },
                ScreenState::ApiKeyPrompt,
            ),
            _ => (InteractionContent::Trust { directory: h.get().work_dir }, ScreenState::TrustPrompt),
        };
        let it = Interaction {
            id: format!("policy-{kind:?}"),
            kind,
            since: now_ms(),
            content,
            options: Vec::new(),
            tool_input_json: String::new(),
        };
        let approve = Answer::Approve { for_session: false, plan_auto: false };
        let label = target_label(it.kind, &approve, &self.live_options(h, &it).await)?;
        self.choose_by_keys(h, &it, &label, None, Done::Gone(dialog)).await
    }

    async fn choose_by_keys(
        &self,
        h: &SessionHandle,
        it: &Interaction,
        label: &str,
        feedback: Option<&str>,
        done: Done,
    ) -> CoreResult<()> {
        let pane = h.get().tmux_pane;
        let send = |keys: Vec<Key>| {
            let pane = pane.clone();
            async move {
                self.tmux()
                    .send_keys(&pane, &keys)
                    .await
                    .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", e.to_string()))
            }
        };
        for _ in 0..ATTEMPTS {
            let Some(snap) = self.settled_dialog(h, Duration::from_secs(3)).await else { break };
            let menu = snap.obs.dialog.as_ref().map(menu_of).unwrap_or_default();
            let Some(target) = menu.iter().position(|o| o.label == label) else {
                return Err(CoreError::new(
                    ErrorKind::FailedPrecondition,
                    "OPTION_NOT_SHOWN",
                    format!("{label:?} is not on screen"),
                ));
            };
            let cur = menu.iter().position(|o| o.selected).unwrap_or(0);
            let key = if target > cur { Key::Down } else { Key::Up };
            send(vec![key; target.abs_diff(cur)]).await?;
            // Enter only once the cursor is verifiably on the target.
            if !self.wait_selected(h, label, Duration::from_secs(2)).await {
                continue;
            }
            if let Some(text) = feedback {
                if it.kind != InteractionKind::Plan {
                    send(vec![Key::Tab]).await?;
                    tokio::time::sleep(SETTLE).await;
                }
                self.tmux()
                    .send_text(&pane, text)
                    .await
                    .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", e.to_string()))?;
                tokio::time::sleep(SETTLE).await;
            }
            send(vec![Key::Enter]).await?;
            let applied = match done {
                Done::Resolved => self.wait_resolved(h, &it.id, Duration::from_secs(3)).await,
                Done::Gone(state) => self.wait_dialog_gone(h, state, Duration::from_secs(3)).await,
            };
            if applied {
                return Ok(());
            }
        }
        Err(CoreError::new(
            ErrorKind::Unavailable,
            "ANSWER_NOT_APPLIED",
            "CC did not take the answer (dialog unchanged after retries)",
        ))
    }

    async fn wait_selected(&self, h: &SessionHandle, label: &str, limit: Duration) -> bool {
        let mut rx = h.screen.subscribe();
        let ok = |s: &Option<ScreenSnap>| {
            s.as_ref()
                .and_then(|s| s.obs.dialog.as_ref())
                .is_some_and(|d| menu_of(d).iter().any(|o| o.selected && o.label == label))
        };
        if ok(&rx.borrow_and_update()) {
            return true;
        }
        tokio::time::timeout(limit, async {
            while rx.changed().await.is_ok() {
                if ok(&rx.borrow_and_update()) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }

    async fn wait_dialog_gone(&self, h: &SessionHandle, state: crate::detect::ScreenState, limit: Duration) -> bool {
        let mut rx = h.screen.subscribe();
        let gone = |s: &Option<ScreenSnap>| s.as_ref().is_some_and(|s| s.obs.state != state);
        tokio::time::timeout(limit, rx.wait_for(gone)).await.is_ok_and(|r| r.is_ok())
    }

    /// Waits until the interaction is no longer pending.
    async fn wait_resolved(&self, h: &SessionHandle, id: &str, limit: Duration) -> bool {
        let mut rx = h.snapshot.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|r| !r.pending.iter().any(|p| p.id == id)))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn held_input(&self, it: &Interaction) -> serde_json::Value {
        if let Ok(v) = serde_json::from_str(&it.tool_input_json) {
            return v;
        }
        // Without CC's verbatim input, rebuild it from the structured content.
        match &it.content {
            InteractionContent::Question { questions } => serde_json::json!({
                "questions": questions.iter().map(|q| serde_json::json!({
                    "question": q.question,
                    "header": q.header,
                    "multiSelect": q.multi_select,
                    "options": q.options.iter().map(|o| serde_json::json!({"label": o.label, "description": o.description})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()
            }),
            _ => serde_json::Value::Null,
        }
    }
}

/// Validates answers against the questions and returns (question text, answer text) pairs. Multi-select
/// labels are comma-joined, as CC itself records them.
fn question_pairs(questions: &[Question], answers: &[QuestionAnswer]) -> CoreResult<Vec<(String, String)>> {
    let bad = |reason: &'static str, msg: String| CoreError::invalid("answers", reason, msg);
    let mut out = Vec::new();
    for q in questions {
        let a = answers
            .iter()
            .find(|a| a.question == q.question || (!q.header.is_empty() && a.question == q.header))
            .or_else(|| (questions.len() == 1 && answers.len() == 1).then(|| &answers[0]))
            .ok_or_else(|| bad("MISSING_ANSWER", format!("no answer for question {:?}", q.question)))?;
        let text = if !a.free_text.is_empty() {
            if !a.labels.is_empty() {
                return Err(bad("AMBIGUOUS_ANSWER", "give either labels or free text".into()));
            }
            a.free_text.clone()
        } else {
            if a.labels.is_empty() {
                return Err(bad("MISSING_ANSWER", format!("no option chosen for {:?}", q.question)));
            }
            if a.labels.len() > 1 && !q.multi_select {
                return Err(bad("NOT_MULTI_SELECT", format!("{:?} takes one option", q.question)));
            }
            for l in &a.labels {
                if !q.options.iter().any(|o| &o.label == l) {
                    return Err(
                        bad("UNKNOWN_OPTION", format!("{l:?} is not an option of {:?}", q.question)).with("label", l)
                    );
                }
            }
            a.labels.join(", ")
        };
        out.push((q.question.clone(), text));
    }
    Ok(out)
}

/// Without a held hook only a single-select single question can be answered by keys (one option).
fn single_question_label(it: &Interaction, answers: &[QuestionAnswer]) -> CoreResult<String> {
    let single = match &it.content {
        InteractionContent::Question { questions } => questions.len() == 1 && !questions[0].multi_select,
        _ => false,
    };
    match answers {
        [a] if single && a.labels.len() == 1 && a.free_text.is_empty() => Ok(a.labels[0].clone()),
        _ => Err(CoreError::new(
            ErrorKind::FailedPrecondition,
            "ANSWER_NEEDS_HOOK",
            "this answer needs CC's permission hook, which is not held (e.g. after a server restart); answer a single option or on screen",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(labels: &[&str]) -> Vec<ChoiceOption> {
        labels.iter().map(|l| ChoiceOption { label: l.to_string(), description: String::new() }).collect()
    }

    #[test]
    fn labels_are_chosen_by_meaning_not_position() {
        let bash330 = opts(&[
            "Yes",
            "Yes, and don’t ask again for: python3 *",
            "Yes, and switch to auto mode · auto mode handles these prompts for you",
            "No",
        ]);
        let approve = Answer::Approve { for_session: false, plan_auto: false };
        let always = Answer::Approve { for_session: true, plan_auto: false };
        let reject = Answer::Reject { feedback: String::new() };
        assert_eq!(target_label(InteractionKind::Bash, &approve, &bash330).unwrap(), "Yes");
        assert_eq!(
            target_label(InteractionKind::Bash, &always, &bash330).unwrap(),
            "Yes, and don’t ask again for: python3 *"
        );
        assert_eq!(target_label(InteractionKind::Bash, &reject, &bash330).unwrap(), "No");
        let unnumbered = opts(&["No", "Yes"]);
        assert_eq!(target_label(InteractionKind::Bash, &approve, &unnumbered).unwrap(), "Yes");
        assert_eq!(target_label(InteractionKind::Bash, &always, &unnumbered).unwrap_err().reason, "SCOPE_NOT_OFFERED");
        let plan = opts(&["Yes, and use auto mode", "Yes, manually approve edits", "Tell Claude what to change"]);
        assert_eq!(target_label(InteractionKind::Plan, &approve, &plan).unwrap(), "Yes, manually approve edits");
        let auto = Answer::Approve { for_session: false, plan_auto: true };
        assert_eq!(target_label(InteractionKind::Plan, &auto, &plan).unwrap(), "Yes, and use auto mode");
        let trust = opts(&["No, exit", "Yes, I trust this folder"]);
        assert_eq!(target_label(InteractionKind::Trust, &approve, &trust).unwrap(), "Yes, I trust this folder");
        assert_eq!(target_label(InteractionKind::Trust, &reject, &trust).unwrap(), "No, exit");
    }

    #[test]
    fn the_auto_mode_dialog_is_answered_by_enter_or_esc() {
        let approve = Answer::Approve { for_session: false, plan_auto: false };
        assert_eq!(auto_mode_key(&approve).unwrap(), Key::Enter);
        assert_eq!(auto_mode_key(&Answer::Reject { feedback: String::new() }).unwrap(), Key::Escape);
        let always = Answer::Approve { for_session: true, plan_auto: false };
        assert_eq!(auto_mode_key(&always).unwrap_err().reason, "SCOPE_NOT_OFFERED");
        let feedback = Answer::Reject { feedback: "no".into() };
        assert_eq!(auto_mode_key(&feedback).unwrap_err().reason, "FEEDBACK_NOT_OFFERED");
    }

    #[test]
    fn question_answers_are_validated() {
        let qs = vec![
            Question {
                header: "Strategy".into(),
                question: "Which strategy?".into(),
                options: opts(&["A", "B"]),
                multi_select: false,
            },
            Question {
                header: "Features".into(),
                question: "Which features?".into(),
                options: opts(&["X", "Y", "Z"]),
                multi_select: true,
            },
        ];
        let a = |q: &str, l: &[&str]| QuestionAnswer {
            question: q.into(),
            labels: l.iter().map(|s| s.to_string()).collect(),
            free_text: String::new(),
        };
        let pairs = question_pairs(&qs, &[a("Strategy", &["B"]), a("Which features?", &["X", "Z"])]).unwrap();
        assert_eq!(pairs, vec![("Which strategy?".into(), "B".into()), ("Which features?".into(), "X, Z".into())]);
        assert_eq!(question_pairs(&qs, &[a("Strategy", &["B"])]).unwrap_err().reason, "MISSING_ANSWER");
        assert_eq!(
            question_pairs(&qs, &[a("Strategy", &["A", "B"]), a("Features", &["X"])]).unwrap_err().reason,
            "NOT_MULTI_SELECT"
        );
        assert_eq!(
            question_pairs(&qs, &[a("Strategy", &["C"]), a("Features", &["X"])]).unwrap_err().reason,
            "UNKNOWN_OPTION"
        );
        let free = QuestionAnswer { question: "Strategy".into(), labels: vec![], free_text: "my own".into() };
        assert_eq!(question_pairs(&qs, &[free, a("Features", &["Y"])]).unwrap()[0].1, "my own");
    }
}
