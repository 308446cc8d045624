//! `capture-pane -p` text -> [`ScreenObservation`].
//!
//! Order of evidence (see `claude-code.md` §0/§3 and `claude-code-drift.md` §8):
//! 1. exit proofs (`Pane is dead`, trust refused, resume hint below any live box);
//! 2. the live input box (`────` / `❯\u{a0}…` / `────` / footer): idle, working,
//!    retry, compacting, permission pending, exit pending;
//! 3. otherwise a blocking dialog recognised by its bottom block (rule table);
//! 4. blank or unknown.

use serde::Serialize;

use super::dialog::{self, Dialog};
use super::text::{indent, is_rule, join_wrapped, re, screen_lines, session_name_rule, NBSP};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScreenState {
    Blank,
    Idle,
    Working,
    PermissionPending,
    PermissionPrompt,
    AskQuestion,
    AskQuestionReview,
    PlanApproval,
    ExitPlanConfirm,
    TrustPrompt,
    ApiKeyPrompt,
    BypassConfirm,
    SettingsError,
    FullscreenUpsell,
    AutoModeDialog,
    LocalDialog,
    Compacting,
    ApiRetry,
    ExitPending,
    Exited,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryInfo {
    pub label: String,
    pub retry_in_secs: u32,
    pub attempt: u32,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScreenObservation {
    pub state: ScreenState,
    pub markers: Vec<String>,
    pub input: Option<String>,
    pub placeholder: Option<String>,
    pub shell_mode: bool,
    pub mode: Option<String>,
    pub spinner: Option<String>,
    pub retry: Option<RetryInfo>,
    pub last_error: Option<String>,
    pub dialog: Option<Dialog>,
}

impl ScreenObservation {
    fn new(state: ScreenState) -> Self {
        ScreenObservation {
            state,
            markers: Vec::new(),
            input: None,
            placeholder: None,
            shell_mode: false,
            mode: None,
            spinner: None,
            retry: None,
            last_error: None,
            dialog: None,
        }
    }
}

/// Dim placeholders shown in an empty box; in plain text they look like drafts.
const PLACEHOLDERS: &[&str] =
    &["Resend your message to try again", "Once fixed, resend your message", "Press up to edit queued messages"];

/// Footer permission-mode indicators -> mode name.
const MODES: &[(&str, &str)] = &[
    ("⏵⏵ accept edits on", "acceptEdits"),
    ("⏸ plan mode on", "plan"),
    ("⏵⏵ auto mode on", "auto"),
    ("⏵⏵ don't ask on", "dontAsk"),
    ("⏵⏵ bypass permissions on", "bypassPermissions"),
    ("⏸ manual mode on", "manual"),
];

const EXIT_PENDING: &[&str] = &["Press Ctrl-C again to exit", "Press Ctrl-D again to exit"];

/// Messages CC prints right before exiting with status 1 at startup.
const FATAL_STARTUP: &[&str] =
    &["cannot be used with root/sudo privileges", "Error: Settings file not found:", "Error: Session ID "];

/// Classifies one screen. Never panics; any size, plain or `-e` text.
pub fn classify(screen: &str) -> ScreenObservation {
    let lines = screen_lines(screen);
    let input_box = find_input_box(&lines);
    let mut obs = if let Some(obs) = exit_evidence(&lines, input_box.as_ref()) {
        obs
    } else if let Some(b) = &input_box {
        classify_box(&lines, b)
    } else if let Some(obs) = classify_dialog(without_name_rule(&lines)) {
        obs
    } else if lines.iter().all(|l| l.trim().is_empty()) {
        ScreenObservation::new(ScreenState::Blank)
    } else {
        ScreenObservation::new(ScreenState::Unknown)
    };
    let upto = input_box.as_ref().map_or(lines.len(), |b| b.top);
    obs.last_error = last_error(&lines[..upto]);
    obs
}

/// A blocking dialog on a named session has the session-name rule as its last line (the input box's top
/// border, drawn under the dialog); it is no dialog frame, so the dialog region must not start after it.
fn without_name_rule(lines: &[String]) -> &[String] {
    match lines.split_last() {
        Some((last, rest)) if session_name_rule(last).is_some() => rest,
        _ => lines,
    }
}

// ---------------------------------------------------------------------------
// Exit

fn exit_evidence(lines: &[String], input_box: Option<&InputBox>) -> Option<ScreenObservation> {
    let marker = if let Some(l) = lines.iter().find(|l| l.starts_with("Pane is dead")) {
        format!("pane-dead: {l}")
    } else if lines.iter().any(|l| l.contains("Claude Code didn't start because this folder isn't trusted.")) {
        "trust-refused: Claude Code didn't start because this folder isn't trusted.".to_string()
    } else if let Some(m) = fatal_startup(lines, input_box) {
        m
    } else {
        // The resume hint only proves exit when no live box is drawn below it
        // (classic renderer keeps the last frame above the hint).
        let i = lines.iter().rposition(|l| l.trim() == "Resume this session with:")?;
        let next = lines.get(i + 1)?;
        let below_box = input_box.is_none_or(|b| b.top < i);
        if !(below_box && re!(r"^\s*claude (\S+ )*--resume\b").is_match(next)) {
            return None;
        }
        format!("resume-hint: {}", next.trim())
    };
    let mut obs = ScreenObservation::new(ScreenState::Exited);
    obs.markers.push(marker);
    Some(obs)
}

/// A fatal startup message with nothing live drawn after it.
fn fatal_startup(lines: &[String], input_box: Option<&InputBox>) -> Option<String> {
    let joined = lines.join("");
    let hit = FATAL_STARTUP.iter().find(|m| joined.contains(*m))?;
    input_box.is_none().then(|| format!("fatal-startup: {hit}"))
}

// ---------------------------------------------------------------------------
// The live input box

struct InputBox {
    top: usize,
    input: usize,
    bottom: usize,
}

/// The LAST `❯\u{a0}` / `!\u{a0}` line that sits right under a rule and has a
/// rule below it (after any draft continuation lines).
fn find_input_box(lines: &[String]) -> Option<InputBox> {
    (1..lines.len()).rev().find_map(|i| {
        let l = &lines[i];
        let live = l.starts_with(&format!("❯{NBSP}")) || l.starts_with(&format!("!{NBSP}"));
        if !live || !is_rule(&lines[i - 1]) {
            return None;
        }
        let bottom = (i + 1..lines.len()).find(|&j| is_rule(&lines[j]))?;
        Some(InputBox { top: i - 1, input: i, bottom })
    })
}

fn classify_box(lines: &[String], b: &InputBox) -> ScreenObservation {
    let footer: Vec<&str> = lines[b.bottom + 1..].iter().map(String::as_str).filter(|l| !l.trim().is_empty()).collect();
    let footer_has = |s: &str| footer.iter().any(|l| l.contains(s));
    let status = status_line(lines, b.top);
    let spinner = status.filter(|s| is_spinner(s));
    let retry = status.and_then(parse_retry);
    let pending = lines[b.top.saturating_sub(6)..b.top].iter().find(|l| l.trim().starts_with("Waiting for permission"));
    let esc = footer_has("esc to interrupt");
    let working = esc || spinner.is_some() || retry.is_some();
    let exit_pending = EXIT_PENDING.iter().find(|s| footer_has(s));

    let mut markers = vec!["input-box".to_string()];
    if esc {
        markers.push("footer: esc to interrupt".into());
    }
    if let Some(s) = status.filter(|_| spinner.is_some() || retry.is_some()) {
        markers.push(format!("status: {}", s.trim()));
    }
    let state = if let (true, Some(p)) = (working, pending) {
        markers.push(format!("pending: {}", p.trim()));
        ScreenState::PermissionPending
    } else if retry.is_some() {
        ScreenState::ApiRetry
    } else if working && status.is_some_and(|s| s.contains("Compacting conversation")) {
        ScreenState::Compacting
    } else if working {
        ScreenState::Working
    } else if let Some(s) = exit_pending {
        markers.push(format!("footer: {s}"));
        ScreenState::ExitPending
    } else {
        markers.push("footer: no esc to interrupt".into());
        ScreenState::Idle
    };

    let mut obs = ScreenObservation::new(state);
    obs.markers = markers;
    obs.shell_mode = lines[b.input].starts_with('!');
    let (input, placeholder) = box_input(&lines[b.input..b.bottom]);
    obs.input = input;
    obs.placeholder = placeholder;
    obs.mode = footer_mode(&footer);
    obs.spinner = status
        .filter(|_| working)
        .filter(|s| spinner.is_some() || retry.is_some() || s.contains("Waiting for permission"))
        .map(|s| s.trim().to_string());
    obs.retry = retry;
    obs
}

/// The line that carries CC's activity status right above the box, skipping
/// right-aligned hints (`◐ medium · /effort`, `ctrl+g to edit in Vim`) and
/// other deeply indented lines (wrapped tips),
/// `⎿  Tip:` / `⎿  Queued` lines, queued echoes, the compaction progress bar and the tmux focus notice.
fn status_line(lines: &[String], top: usize) -> Option<&str> {
    let mut i = top;
    while i > 0 && top - i < 10 {
        i -= 1;
        let l = lines[i].as_str();
        let t = l.trim();
        // CC's notice when tmux reports no focus events sits between the spinner and the box (2 spaces in
        // when it fills the width, right-aligned otherwise).
        let notice = t.starts_with("tmux focus-events off");
        let skip = t.is_empty()
            || indent(l) >= 4
            || notice
            || t.starts_with('⎿')
            || l.starts_with("  ❯ ")
            || t.starts_with(['▰', '▱']);
        if !skip {
            return Some(l);
        }
    }
    None
}

fn is_spinner(line: &str) -> bool {
    re!(r"^[·✢✶✻✽*] \S[^…]*…(?: \(.*\))?$").is_match(line)
}

fn parse_retry(line: &str) -> Option<RetryInfo> {
    let c = re!(r"^[·✢✶✻✽*] (.+?) · [Rr]etrying in (\d+)s · attempt (\d+)/(\d+)").captures(line)?;
    Some(RetryInfo {
        label: c[1].to_string(),
        retry_in_secs: c[2].parse().ok()?,
        attempt: c[3].parse().ok()?,
        max_attempts: c[4].parse().ok()?,
    })
}

/// Draft text of the box (continuation lines are indented by 2), or a known
/// dim placeholder.
fn box_input(box_lines: &[String]) -> (Option<String>, Option<String>) {
    let first: String = box_lines[0].chars().skip(2).collect();
    let mut parts = vec![first];
    for l in &box_lines[1..] {
        parts.push(l.strip_prefix("  ").unwrap_or(l).to_string());
    }
    let text = parts.join("\n");
    let text = text.trim_end_matches(['\n', ' ', NBSP]);
    if text.trim().is_empty() {
        (None, None)
    } else if PLACEHOLDERS.contains(&text) {
        (None, Some(text.to_string()))
    } else {
        (Some(text.to_string()), None)
    }
}

fn footer_mode(footer: &[&str]) -> Option<String> {
    let has = |s: &str| footer.iter().any(|l| l.contains(s));
    MODES
        .iter()
        .find(|(ind, _)| has(ind))
        .map(|(_, m)| m.to_string())
        .or_else(|| (has("? for shortcuts") || has("esc to interrupt")).then(|| "default".to_string()))
}

/// The last API error / login failure printed since the last echoed prompt.
fn last_error(lines: &[String]) -> Option<String> {
    let echo = lines.iter().rposition(|l| l.starts_with("❯ ") && !re!(r"^❯ \d+\. ").is_match(l)).map_or(0, |i| i + 1);
    let mut found = None;
    let mut i = echo;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let head = if let Some(rest) = t.strip_prefix("● ").filter(|r| r.starts_with("API Error")) {
            Some(rest)
        } else {
            t.strip_prefix('⎿')
                .map(|r| r.trim_start_matches([' ', NBSP]))
                .filter(|r| r.starts_with("Not logged in") || r.starts_with("Invalid API key"))
        };
        if let Some(head) = head {
            let mut parts = vec![head];
            let mut j = i + 1;
            while j < lines.len() && indent(&lines[j]) >= 2 && !is_block_start(&lines[j]) {
                parts.push(&lines[j]);
                j += 1;
            }
            found = Some(join_wrapped(parts));
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

fn is_block_start(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with(['●', '⎿', '✻', '❯']) || is_rule(l)
}

// ---------------------------------------------------------------------------
// Blocking dialogs

/// A dialog rule: every pattern must match some line of the bottom block
/// (`bottom` patterns: one of the last two non-empty lines).
struct DialogRule {
    state: ScreenState,
    name: &'static str,
    all: &'static [&'static str],
    bottom: &'static [&'static str],
}

const fn rule(
    state: ScreenState,
    name: &'static str,
    all: &'static [&'static str],
    bottom: &'static [&'static str],
) -> DialogRule {
    DialogRule { state, name, all, bottom }
}

/// First match wins; more specific dialogs come first (the API-key dialog also
/// says "Do you want to …", the auto-mode fallback prompt also mentions
/// "Auto mode can't check actions", every dialog ends in "Esc to cancel").
const DIALOG_RULES: &[DialogRule] = &[
    rule(ScreenState::PlanApproval, "plan-approval", &[r"Claude has written up a plan"], &[]),
    rule(ScreenState::ExitPlanConfirm, "exit-plan", &[r"^\s*Exit plan mode\?$"], &[]),
    rule(ScreenState::AskQuestionReview, "ask-review", &[r"^\s*Ready to submit your answers\?"], &[]),
    rule(
        ScreenState::AskQuestionReview,
        "ask-review",
        &[r"^Review your answers", r"^(?:❯ )?\s*\d+\. Submit answers"],
        &[],
    ),
    rule(ScreenState::AskQuestion, "ask-question", &[], &[r"^Enter to select · "]),
    rule(
        ScreenState::AutoModeDialog,
        "auto-mode-dialog",
        &[r"^\s*Auto mode can't check actions in this session$", r"Enter to stay in auto mode"],
        &[],
    ),
    rule(ScreenState::ApiKeyPrompt, "api-key", &[r"Detected a custom API key"], &[]),
    rule(
        ScreenState::PermissionPrompt,
        "permission",
        &[r"^ *Do you want to ", r"^ *(?:❯ +)?(?:\d+\. )?(?:Yes|No)\b"],
        &[],
    ),
    rule(ScreenState::TrustPrompt, "trust", &[r"Yes, I trust this folder"], &[]),
    rule(ScreenState::TrustPrompt, "trust", &[r"^ *Accessing workspace:$"], &[]),
    rule(ScreenState::BypassConfirm, "bypass", &[r"running in Bypass Permissions mode"], &[]),
    rule(ScreenState::SettingsError, "settings-error", &[r"^ *Settings Error$"], &[]),
    rule(ScreenState::FullscreenUpsell, "fullscreen-upsell", &[r"Try the new fullscreen renderer\?"], &[]),
    rule(ScreenState::LocalDialog, "local-dialog", &[], &[r"Esc to (?:cancel|close)$"]),
];

/// First line of the bottom block: after the last unindented rule (`────` or
/// the fullscreen `▔▔▔` frame); 0 when it scrolled off.
fn dialog_region_start(lines: &[String]) -> usize {
    lines.iter().rposition(|l| is_rule(l)).map_or(0, |i| i + 1)
}

/// `DIALOG_RULES` compiled once: (all-of regexes, bottom regexes) per rule.
fn compiled_rules() -> &'static [(Vec<regex::Regex>, Vec<regex::Regex>)] {
    static RULES: std::sync::OnceLock<Vec<(Vec<regex::Regex>, Vec<regex::Regex>)>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let compile = |ps: &[&str]| -> Vec<regex::Regex> {
            ps.iter().map(|p| regex::Regex::new(p).expect("dialog rule regex")).collect()
        };
        DIALOG_RULES.iter().map(|r| (compile(r.all), compile(r.bottom))).collect()
    })
}

fn classify_dialog(lines: &[String]) -> Option<ScreenObservation> {
    let start = dialog_region_start(lines);
    let region = &lines[start..];
    let body: Vec<&str> = region.iter().map(String::as_str).collect();
    let tail: Vec<&str> = body.iter().rev().filter(|l| !l.trim().is_empty()).take(2).copied().collect();
    for (r, (all, bottom)) in DIALOG_RULES.iter().zip(compiled_rules()) {
        let mut markers = vec![r.name.to_string()];
        let ok = all.iter().all(|re| find_marker(re, &body, &mut markers))
            && bottom.iter().all(|re| find_marker(re, &tail, &mut markers));
        if ok {
            let mut obs = ScreenObservation::new(r.state);
            obs.markers = markers;
            obs.dialog = parse_dialog(r.state, lines, start);
            return Some(obs);
        }
    }
    None
}

/// Records the first line matching `re` as evidence.
fn find_marker(re: &regex::Regex, lines: &[&str], markers: &mut Vec<String>) -> bool {
    let hit = lines.iter().find(|l| re.is_match(l));
    if let Some(l) = hit {
        markers.push(l.trim().to_string());
    }
    hit.is_some()
}

fn parse_dialog(state: ScreenState, lines: &[String], start: usize) -> Option<Dialog> {
    match state {
        ScreenState::PermissionPrompt => dialog::parse_permission(lines, start),
        ScreenState::AskQuestion => dialog::parse_question(lines),
        ScreenState::AskQuestionReview => dialog::parse_review(lines),
        ScreenState::PlanApproval => dialog::parse_plan(lines),
        ScreenState::ExitPlanConfirm => dialog::parse_exit_plan(lines),
        ScreenState::TrustPrompt => dialog::parse_trust(lines, start),
        ScreenState::ApiKeyPrompt => dialog::parse_api_key(lines, start),
        ScreenState::AutoModeDialog => dialog::parse_auto_mode(lines, start),
        ScreenState::LocalDialog => dialog::parse_generic(lines, start, false),
        _ => dialog::parse_generic(lines, start, true),
    }
}
