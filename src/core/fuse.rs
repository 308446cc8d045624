//! Fuses CC's signals into one session state. Pure: no I/O, no clock (times are passed in).
//!
//! The screen is the ground truth of what CC shows, but it is captured a few ms after CC draws, and
//! hooks / the status file arrive up to ~500 ms *before* the screen changes (2.1.330 "Waiting for
//! permission…" phase, Stop before the idle frame). So a push hint from a hook or the status file leads:
//! it holds against an older screen, and against a newer screen of a *different family* (ready /
//! working / waiting) for a short grace period — long enough for CC to redraw, short enough that a
//! wrong hint cannot stick. Within a family the screen's finer state wins (Idle vs Error, Working vs
//! RateLimited).
use crate::detect::dialog::{Dialog, PermissionKind};
use crate::detect::{ScreenObservation, ScreenState};
use crate::model::{Evidence, Millis, State};

/// How long a push hint beats a newer screen of another family.
pub const HINT_GRACE_MS: Millis = 1500;

/// How long after an answer through the held hook a dialog frame counts as the answered dialog drawn
/// late. Under load CC redraws seconds after it took the decision (seen: > 1.5 s at load 17 on 2
/// cores, 2.1.332), and the stale frame must not turn back into a pending interaction. Bounded, so a
/// dialog CC really keeps showing surfaces again.
pub const ANSWERED_DIALOG_MS: Millis = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub state: State,
    pub evidence: Evidence,
    /// API error or retry text shown on screen (ERROR / RATE_LIMITED).
    pub error_message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Starting,
    Ready,
    Working,
    Waiting,
    Other,
}

fn family(s: State) -> Family {
    match s {
        State::Starting => Family::Starting,
        State::Idle | State::Error => Family::Ready,
        State::Working | State::Compacting | State::RateLimited => Family::Working,
        State::AskQuestion
        | State::PermissionPrompt
        | State::BashApproval
        | State::PlanMode
        | State::TrustPrompt
        | State::ApiKeyPrompt => Family::Waiting,
        State::Exited | State::Unknown => Family::Other,
    }
}

#[derive(Debug, Clone)]
struct Hint {
    state: State,
    evidence: Evidence,
}

#[derive(Debug, Clone, Default)]
pub struct Fuser {
    screen: Option<(ScreenObservation, Millis)>,
    hint: Option<Hint>,
    /// Terminal: set by process signals only.
    exit: Option<Evidence>,
    /// CC reached its input box or a dialog at least once.
    started: bool,
    /// When an answer went to CC through its held hook, until CC's screen left the waiting family.
    answered_at: Option<Millis>,
}

/// The state a screen shows on its own, with the pending tool kind used to split permission dialogs.
pub fn screen_state(obs: &ScreenObservation, started: bool) -> Option<State> {
    Some(match obs.state {
        ScreenState::Blank => {
            if started {
                return None;
            }
            State::Starting
        }
        ScreenState::Idle | ScreenState::ExitPending => {
            if obs.last_error.is_some() {
                State::Error
            } else {
                State::Idle
            }
        }
        ScreenState::Working => State::Working,
        // The dialog is not drawn yet; keys are not accepted. The hook (held) decides the kind.
        ScreenState::PermissionPending => State::Working,
        ScreenState::PermissionPrompt => match &obs.dialog {
            Some(Dialog::Permission(p)) if p.kind == PermissionKind::Bash => State::BashApproval,
            _ => State::PermissionPrompt,
        },
        ScreenState::AskQuestion | ScreenState::AskQuestionReview => State::AskQuestion,
        ScreenState::PlanApproval | ScreenState::ExitPlanConfirm => State::PlanMode,
        ScreenState::TrustPrompt => State::TrustPrompt,
        ScreenState::Compacting => State::Compacting,
        ScreenState::ApiRetry => State::RateLimited,
        ScreenState::Exited => State::Exited,
        ScreenState::ApiKeyPrompt => State::ApiKeyPrompt,
        // It holds a tool call until answered (Enter = stay in auto mode, Esc = cancel): a permission.
        ScreenState::AutoModeDialog => State::PermissionPrompt,
        // Blocking dialogs Aegis does not answer (bypass confirm, settings error, renderer
        // upsell, /help-like dialogs): visible as UNKNOWN with their markers.
        ScreenState::BypassConfirm
        | ScreenState::SettingsError
        | ScreenState::FullscreenUpsell
        | ScreenState::LocalDialog
        | ScreenState::Unknown => State::Unknown,
    })
}

impl Fuser {
    pub fn started(&self) -> bool {
        self.started
    }

    pub fn screen(&self) -> Option<&ScreenObservation> {
        self.screen.as_ref().map(|(o, _)| o)
    }

    pub fn observe_screen(&mut self, obs: ScreenObservation, at: Millis) {
        if !matches!(obs.state, ScreenState::Blank | ScreenState::Unknown) {
            self.started = true;
        }
        // Once CC shows it moved on (working, its input box, exit), a later dialog is a new one. The
        // pending phase ("Waiting for permission…") comes before a dialog and does not count.
        let moved_on = matches!(
            obs.state,
            ScreenState::Working | ScreenState::Idle | ScreenState::ExitPending | ScreenState::Exited
        );
        if moved_on && self.answered_at.is_some_and(|t| at > t) {
            self.answered_at = None;
        }
        self.screen = Some((obs, at));
    }

    /// A push hint (hook, status file, transcript) that CC is in `state`.
    pub fn hint(&mut self, state: State, evidence: Evidence) {
        if family(state) != Family::Starting {
            self.started = true;
        }
        if family(state) == Family::Waiting {
            // A new PermissionRequest: whatever dialog shows now is not the answered one.
            self.answered_at = None;
        }
        self.hint = Some(Hint { state, evidence });
    }

    /// Aegis answered the pending dialog through CC's held hook at `at`: CC has the decision, so a
    /// dialog frame until CC's screen moves on is the answered one, drawn late (see
    /// [`ANSWERED_DIALOG_MS`]).
    pub fn answered_through_hook(&mut self, at: Millis) {
        self.answered_at = Some(at);
    }

    fn answered_recently(&self, now: Millis) -> bool {
        self.answered_at.is_some_and(|t| now - t < ANSWERED_DIALOG_MS)
    }

    /// The state of the current push hint, if any.
    pub fn hint_state(&self) -> Option<State> {
        self.hint.as_ref().map(|h| h.state)
    }

    /// Drops the push hint, so the next screen decides at once (after Aegis itself sent an interrupt,
    /// an older "working" hint must not hold the idle box back for its grace period).
    pub fn clear_hint(&mut self) {
        self.hint = None;
    }

    pub fn exit(&mut self, evidence: Evidence) {
        if self.exit.is_none() {
            self.exit = Some(evidence);
        }
    }

    pub fn exited(&self) -> bool {
        self.exit.is_some()
    }

    /// When the current hint's grace ends (the actor re-evaluates then, so a held-back screen wins).
    pub fn grace_end(&self) -> Option<Millis> {
        self.hint.as_ref().map(|h| h.evidence.at + HINT_GRACE_MS)
    }

    /// The next moment after `now` at which the verdict can change with no new signal: a hint's grace
    /// or the answered-dialog window ending.
    pub fn next_deadline(&self, now: Millis) -> Option<Millis> {
        let answered = self.answered_at.map(|t| t + ANSWERED_DIALOG_MS);
        [self.grace_end(), answered].into_iter().flatten().filter(|e| *e > now).min()
    }

    pub fn verdict(&self, now: Millis) -> Verdict {
        if let Some(ev) = &self.exit {
            return Verdict { state: State::Exited, evidence: ev.clone(), error_message: String::new() };
        }
        let screen = self.screen.as_ref().and_then(|(obs, at)| {
            screen_state(obs, self.started).map(|s| {
                let ev = Evidence::screen(obs.markers.clone(), *at);
                let msg = match s {
                    State::Error => obs.last_error.clone().unwrap_or_default(),
                    // Without the countdown: the message changes per attempt, not per second.
                    State::RateLimited => match &obs.retry {
                        Some(r) => format!("{} · attempt {}/{}", r.label, r.attempt, r.max_attempts),
                        None => obs.spinner.clone().unwrap_or_default(),
                    },
                    _ => String::new(),
                };
                (s, ev, msg, *at)
            })
        });
        // The dialog Aegis just answered through the hook, still drawn: CC has moved on already.
        let screen = screen.filter(|(s, ..)| !(family(*s) == Family::Waiting && self.answered_recently(now)));
        match (screen, &self.hint) {
            (None, None) => {
                Verdict { state: State::Starting, evidence: Evidence::default(), error_message: String::new() }
            }
            (None, Some(h)) => Verdict { state: h.state, evidence: h.evidence.clone(), error_message: String::new() },
            (Some((s, ev, msg, _)), None) => Verdict { state: s, evidence: ev, error_message: msg },
            (Some((s, ev, msg, at)), Some(h)) => {
                let hint_newer = h.evidence.at >= at;
                let contradicts = family(s) != family(h.state);
                let in_grace = now - h.evidence.at < HINT_GRACE_MS;
                // A waiting hint (PermissionRequest) stays authoritative on the kind while the screen
                // shows the pending phase or any dialog of the waiting family.
                if family(h.state) == Family::Waiting && (family(s) == Family::Waiting || pending_phase(&self.screen)) {
                    if family(s) == Family::Waiting && !hint_newer {
                        return Verdict { state: s, evidence: ev, error_message: msg };
                    }
                    return Verdict { state: h.state, evidence: h.evidence.clone(), error_message: String::new() };
                }
                if hint_newer || (contradicts && in_grace) {
                    if !contradicts {
                        // Same family: the screen is finer (Error vs Idle), the hint is fresher.
                        return Verdict { state: s, evidence: h.evidence.clone(), error_message: msg };
                    }
                    Verdict { state: h.state, evidence: h.evidence.clone(), error_message: String::new() }
                } else {
                    Verdict { state: s, evidence: ev, error_message: msg }
                }
            }
        }
    }
}

fn pending_phase(screen: &Option<(ScreenObservation, Millis)>) -> bool {
    matches!(screen, Some((o, _)) if o.state == ScreenState::PermissionPending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::classify;

    fn fixture(name: &str) -> ScreenObservation {
        let path = format!("{}/tests/fixtures/screens/{name}", env!("CARGO_MANIFEST_DIR"));
        classify(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    #[test]
    fn screen_alone_decides_and_starting_before_anything() {
        let mut f = Fuser::default();
        assert_eq!(f.verdict(0).state, State::Starting);
        f.observe_screen(fixture("cc-2.1.197/idle-fresh-80x24.txt"), 10);
        let v = f.verdict(10);
        assert_eq!(v.state, State::Idle);
        assert_eq!(v.evidence.source, crate::model::Source::Screen);
        assert!(!v.evidence.screen_markers.is_empty());
    }

    #[test]
    fn hook_leads_an_older_screen_and_holds_against_a_stale_redraw() {
        let mut f = Fuser::default();
        f.observe_screen(fixture("cc-2.1.197/idle-fresh-80x24.txt"), 100);
        f.hint(State::Working, Evidence::hook("UserPromptSubmit", 200));
        assert_eq!(f.verdict(200).state, State::Working);
        // A capture taken just after the hook still shows the old idle frame: the hint holds.
        f.observe_screen(fixture("cc-2.1.197/idle-fresh-80x24.txt"), 250);
        assert_eq!(f.verdict(250).state, State::Working);
        // Once the grace has passed the screen wins, even without a newer capture.
        assert_eq!(f.grace_end(), Some(200 + HINT_GRACE_MS));
        assert_eq!(f.verdict(200 + HINT_GRACE_MS).state, State::Idle);
    }

    #[test]
    fn screen_refines_within_a_family() {
        let mut f = Fuser::default();
        f.hint(State::Idle, Evidence::hook("Stop", 100));
        f.observe_screen(fixture("cc-2.1.197/error-500-final-120x40.txt"), 150);
        let v = f.verdict(150);
        // error-500-final shows the retry line on the last attempt: working family vs ready hint.
        assert!(matches!(v.state, State::Idle | State::RateLimited), "{v:?}");
    }

    #[test]
    fn an_answered_dialog_drawn_late_is_not_pending_again() {
        let dialog = fixture("cc-2.1.197/perm-bash-80x24.txt");
        assert_eq!(screen_state(&dialog, true), Some(State::BashApproval));
        let answered = |at| Evidence { at, ..Evidence::api("answered through the held hook") };
        let mut f = Fuser::default();
        f.observe_screen(dialog.clone(), 100);
        f.hint(State::BashApproval, Evidence::hook("PermissionRequest", 90));
        assert_eq!(f.verdict(100).state, State::BashApproval);
        f.hint(State::Working, answered(200));
        f.answered_through_hook(200);
        // CC under load still draws the dialog well after the hint's grace.
        f.observe_screen(dialog.clone(), 2500);
        assert_eq!(f.verdict(3000).state, State::Working);
        assert_eq!(f.next_deadline(3000), Some(200 + ANSWERED_DIALOG_MS));
        // A dialog CC keeps showing that long surfaces again.
        assert_eq!(f.verdict(200 + ANSWERED_DIALOG_MS).state, State::BashApproval);

        // Once the screen moved on, the next dialog is a new one even without a hook.
        let mut f = Fuser::default();
        f.hint(State::Working, answered(200));
        f.answered_through_hook(200);
        f.observe_screen(fixture("cc-2.1.197/idle-fresh-80x24.txt"), 300);
        f.observe_screen(dialog.clone(), 5000);
        assert_eq!(f.verdict(5000).state, State::BashApproval);

        // A new PermissionRequest ends the window at once.
        let mut f = Fuser::default();
        f.answered_through_hook(200);
        f.hint(State::BashApproval, Evidence::hook("PermissionRequest", 400));
        f.observe_screen(dialog, 500);
        assert_eq!(f.verdict(500).state, State::BashApproval);
    }

    #[test]
    fn exit_is_terminal() {
        let mut f = Fuser::default();
        f.observe_screen(fixture("cc-2.1.197/idle-fresh-80x24.txt"), 100);
        f.exit(Evidence::process("process exited"));
        f.hint(State::Working, Evidence::hook("UserPromptSubmit", 200));
        assert_eq!(f.verdict(300).state, State::Exited);
    }
}
