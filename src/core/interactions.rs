//! Pending interactions: what CC waits for an answer to, with stable ids and full structured content.
//! Content comes from the hook payload when one arrived (exact, complete even when the dialog's top
//! scrolled off); the options come from the drawn dialog (exact labels, in screen order).
use crate::detect::dialog::{AutoModeDialog, Dialog, MenuOption};
use crate::detect::ScreenObservation;
use crate::model::*;
use serde_json::Value;

/// A tool call CC asked permission for (PermissionRequest hook).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTool {
    /// CC's tool_use_id (from the matching PreToolUse) or a generated id.
    pub id: String,
    pub tool_name: String,
    pub input: Value,
    pub since: Millis,
}

pub fn state_for_tool(tool_name: &str) -> State {
    match tool_name {
        "AskUserQuestion" => State::AskQuestion,
        "Bash" => State::BashApproval,
        "ExitPlanMode" => State::PlanMode,
        _ => State::PermissionPrompt,
    }
}

/// Whether the session policy approves a PermissionRequest for `tool_name` through the hook: the tool
/// is listed, and it is not a question or a plan (those always go to a human).
pub fn policy_approves(policy: &Policy, tool_name: &str) -> bool {
    policy.approve_tools.iter().any(|t| t == tool_name)
        && !matches!(kind_for_tool(tool_name), InteractionKind::Question | InteractionKind::Plan)
}

pub fn kind_for_tool(tool_name: &str) -> InteractionKind {
    kind_for_state(state_for_tool(tool_name)).unwrap_or(InteractionKind::Permission)
}

fn kind_for_state(state: State) -> Option<InteractionKind> {
    Some(match state {
        State::AskQuestion => InteractionKind::Question,
        State::BashApproval => InteractionKind::Bash,
        State::PermissionPrompt => InteractionKind::Permission,
        State::PlanMode => InteractionKind::Plan,
        State::TrustPrompt => InteractionKind::Trust,
        State::ApiKeyPrompt => InteractionKind::ApiKey,
        _ => return None,
    })
}

/// The pending list for a verdict. Keeps `since` of interactions that were already pending.
pub fn pending_for(
    state: State,
    waiting: Option<&PendingTool>,
    screen: Option<&ScreenObservation>,
    rec: &SessionRecord,
) -> Vec<Interaction> {
    let Some(kind) = kind_for_state(state) else {
        return Vec::new();
    };
    let dialog = screen.and_then(|s| s.dialog.as_ref());
    let options = dialog.map(dialog_options).unwrap_or_default();
    let mut it = match (kind, waiting, dialog) {
        (InteractionKind::Trust, _, _) => {
            let dir = match dialog {
                Some(Dialog::Trust(t)) => t.directory.clone().unwrap_or_else(|| rec.work_dir.clone()),
                _ => rec.work_dir.clone(),
            };
            Interaction {
                id: format!("trust-{}", &rec.id[..8.min(rec.id.len())]),
                kind,
                since: now_ms(),
                content: InteractionContent::Trust { directory: dir },
                options,
                tool_input_json: String::new(),
            }
        }
        (InteractionKind::ApiKey, _, _) => Interaction {
            id: format!("apikey-{}", &rec.id[..8.min(rec.id.len())]),
            kind,
            since: now_ms(),
            content: dialog
                .map(api_key_content)
                .unwrap_or(InteractionContent::ApiKey { env_var: "ANTHROPIC_API_KEY".into(), key_hint: String::new() }),
            options,
            tool_input_json: String::new(),
        },
        // Not the tool's own permission prompt (that may follow it, with the tool's id): an id of its own.
        (_, _, Some(Dialog::AutoMode(d))) => {
            let id = rec
                .pending
                .iter()
                .find(|p| p.id.starts_with(AUTO_MODE_ID_PREFIX))
                .map(|p| p.id.clone())
                .unwrap_or_else(|| format!("{AUTO_MODE_ID_PREFIX}{}", uuid::Uuid::new_v4().simple()));
            Interaction {
                id,
                kind,
                since: now_ms(),
                content: auto_mode_content(d, waiting),
                options,
                tool_input_json: waiting.map(|w| w.input.to_string()).unwrap_or_default(),
            }
        }
        (_, Some(w), _) if state_for_tool(&w.tool_name) == state => Interaction {
            id: w.id.clone(),
            kind,
            since: w.since,
            content: content_from_tool(&w.tool_name, &w.input),
            options,
            tool_input_json: w.input.to_string(),
        },
        // No hook (e.g. a hook-less start): describe what the screen shows; the id is stable per prompt.
        _ => {
            let content = dialog.map(content_from_dialog).unwrap_or(InteractionContent::Permission {
                tool_name: String::new(),
                tool_input_json: String::new(),
                command: String::new(),
                file_path: String::new(),
                content: String::new(),
                url: String::new(),
                description: String::new(),
            });
            let id = rec
                .pending
                .iter()
                .find(|p| p.kind == kind)
                .map(|p| p.id.clone())
                .unwrap_or_else(|| format!("screen-{}", uuid::Uuid::new_v4().simple()));
            Interaction { id, kind, since: now_ms(), content, options, tool_input_json: String::new() }
        }
    };
    if let Some(old) = rec.pending.iter().find(|p| p.id == it.id) {
        it.since = old.since;
        if it.options.is_empty() {
            it.options = old.options.clone();
        }
    }
    vec![it]
}

/// Ids of the "Auto mode can't check actions" dialog's interactions.
pub const AUTO_MODE_ID_PREFIX: &str = "automode-";

/// The auto-mode dialog as a permission: the call it holds (from the hook when known, else as drawn)
/// and, as description and content, what the dialog says.
fn auto_mode_content(d: &AutoModeDialog, tool: Option<&PendingTool>) -> InteractionContent {
    let mut text = d.body.join("\n");
    if let Some(f) = &d.footer {
        text = format!("{text}\n{f}");
    }
    let description = d.title.clone().unwrap_or_default();
    match tool.map(|t| content_from_tool(&t.tool_name, &t.input)) {
        Some(InteractionContent::Permission { tool_name, tool_input_json, command, file_path, url, .. }) => {
            InteractionContent::Permission {
                tool_name,
                tool_input_json,
                command,
                file_path,
                content: text,
                url,
                description,
            }
        }
        _ => InteractionContent::Permission {
            tool_name: d.tool.clone().unwrap_or_default(),
            tool_input_json: String::new(),
            command: d.command.clone().unwrap_or_default(),
            file_path: String::new(),
            content: text,
            url: String::new(),
            description,
        },
    }
}

fn menu(options: &[MenuOption]) -> Vec<ChoiceOption> {
    options
        .iter()
        .map(|o| ChoiceOption { label: o.label.clone(), description: o.description.clone().unwrap_or_default() })
        .collect()
}

fn dialog_options(d: &Dialog) -> Vec<ChoiceOption> {
    menu(d.options())
}

/// The variable and the abbreviated key (`sk-ant-...abc`) the API-key dialog shows.
pub fn api_key_content(d: &Dialog) -> InteractionContent {
    let (env_var, key_hint) = match d {
        Dialog::ApiKey(k) => (k.env_var.clone(), k.key_shown.clone()),
        _ => (None, None),
    };
    InteractionContent::ApiKey {
        env_var: env_var.unwrap_or_else(|| "ANTHROPIC_API_KEY".into()),
        key_hint: key_hint.unwrap_or_default(),
    }
}

/// Whether the abbreviated key CC shows (`sk-ant-...<last characters>`) is `key`.
pub fn key_hint_matches(hint: &str, key: &str) -> bool {
    let Some((head, tail)) = hint.split_once("...") else { return false };
    // Too little shown to tell keys apart: never accept on it.
    tail.len() >= 8.min(key.len()) && !tail.is_empty() && key.starts_with(head) && key.ends_with(tail)
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

pub fn content_from_tool(tool: &str, input: &Value) -> InteractionContent {
    match tool {
        "AskUserQuestion" => {
            let questions = input
                .get("questions")
                .and_then(Value::as_array)
                .map(|qs| {
                    qs.iter()
                        .map(|q| Question {
                            header: str_of(q, "header"),
                            question: str_of(q, "question"),
                            multi_select: q.get("multiSelect").and_then(Value::as_bool).unwrap_or(false),
                            options: q
                                .get("options")
                                .and_then(Value::as_array)
                                .map(|os| {
                                    os.iter()
                                        .map(|o| ChoiceOption {
                                            label: str_of(o, "label"),
                                            description: str_of(o, "description"),
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            InteractionContent::Question { questions }
        }
        "ExitPlanMode" => {
            InteractionContent::Plan { plan: str_of(input, "plan"), plan_file_path: str_of(input, "planFilePath") }
        }
        _ => {
            let content = match tool {
                "Edit" => format!("- {}\n+ {}", str_of(input, "old_string"), str_of(input, "new_string")),
                _ => str_of(input, "content"),
            };
            InteractionContent::Permission {
                tool_name: tool.to_string(),
                tool_input_json: input.to_string(),
                command: str_of(input, "command"),
                file_path: str_of(input, "file_path"),
                content,
                url: str_of(input, "url"),
                description: str_of(input, "description"),
            }
        }
    }
}

fn content_from_dialog(d: &Dialog) -> InteractionContent {
    match d {
        Dialog::Question(q) => InteractionContent::Question {
            questions: vec![Question {
                header: q.tabs.first().map(|t| t.header.clone()).unwrap_or_default(),
                question: q.question.clone(),
                options: menu(&q.options),
                multi_select: q.multi_select,
            }],
        },
        Dialog::Plan(p) => InteractionContent::Plan {
            plan: p.plan_text.clone(),
            plan_file_path: p.plan_file.clone().unwrap_or_default(),
        },
        Dialog::Permission(p) => InteractionContent::Permission {
            tool_name: format!("{:?}", p.kind),
            tool_input_json: String::new(),
            command: p.command.clone().unwrap_or_default(),
            file_path: p.file_path.clone().unwrap_or_default(),
            content: p.body.join("\n"),
            url: p.url.clone().unwrap_or_default(),
            description: p.description.clone().unwrap_or_default(),
        },
        _ => InteractionContent::Plan { plan: String::new(), plan_file_path: String::new() },
    }
}

/// Events for the difference between two pending lists: resolved first, then opened, then updated.
pub fn diff(old: &[Interaction], new: &[Interaction]) -> Vec<(EventKind, Interaction)> {
    let mut out = Vec::new();
    for o in old.iter().filter(|o| !new.iter().any(|n| n.id == o.id)) {
        out.push((EventKind::InteractionResolved, o.clone()));
    }
    for n in new {
        match old.iter().find(|o| o.id == n.id) {
            None => out.push((EventKind::InteractionOpened, n.clone())),
            Some(o) if o != n => out.push((EventKind::Updated, n.clone())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_hint_matches_only_its_key() {
        assert!(key_hint_matches("sk-ant-...sk-ant-test", "sk-ant-test"));
        assert!(key_hint_matches("sk-ant-...000000000000", "sk-ant-test-key-000000000000"));
        assert!(!key_hint_matches("sk-ant-...000000000001", "sk-ant-test-key-000000000000"));
        assert!(!key_hint_matches("sk-ant-...", "sk-ant-test-key-000000000000"));
        assert!(!key_hint_matches("sk-ant-...0000", "sk-ant-test-key-000000000000"));
        assert!(!key_hint_matches("sk-ant-test", "sk-ant-test"));
    }

    fn record(pending: Vec<Interaction>) -> SessionRecord {
        let mut rec: SessionRecord = serde_json::from_value(serde_json::json!({
            "id": "0b5c7a52-2f0e-4a55-9d59-1a2b3c4d5e6f", "name": "", "work_dir": "/w", "state": "Starting",
            "revision": 1, "created": 0, "updated": 0, "state_since": 0, "evidence": {"source": "Api", "at": 0},
            "pending": [], "labels": {}, "permission_mode": "", "model": "", "cc_session_id": "",
            "transcript_path": "", "tmux_pane": "", "tmux_window": "", "pid": 0, "exit": null,
            "stall": {"stalled": false, "last_progress": 0, "threshold_ms": 0}, "cc_version": "",
            "last_assistant_message": "", "error_message": "", "hook_secret": "", "policy": {},
            "cols": 80, "rows": 24
        }))
        .unwrap();
        rec.pending = pending;
        rec
    }

    fn screen(dir: &str, name: &str) -> ScreenObservation {
        let path = format!("{}/tests/fixtures/screens/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::detect::classify(&std::fs::read_to_string(path).unwrap())
    }

    #[test]
    fn the_auto_mode_dialog_is_a_permission_for_the_call_it_holds() {
        for (dir, size, drawn) in [
            ("cc-2.1.330-fullscreen", "120x40", true),
            ("cc-2.1.330-fullscreen", "80x24", true),
            ("cc-2.1.330-classic", "120x40", true),
            // The tool row scrolled off: only the hook can name the call.
            ("cc-2.1.330-classic", "80x24", false),
        ] {
            let obs = screen(dir, &format!("automode-bash-rm-{size}.txt"));
            let state = crate::core::fuse::screen_state(&obs, true).unwrap();
            assert_eq!(state, State::PermissionPrompt, "{dir} {size}: never UNKNOWN");
            let p = pending_for(state, None, Some(&obs), &record(vec![]));
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].kind, InteractionKind::Permission);
            assert!(p[0].id.starts_with(AUTO_MODE_ID_PREFIX), "{}", p[0].id);
            let InteractionContent::Permission { tool_name, command, description, content, .. } = &p[0].content else {
                panic!("{:?}", p[0].content)
            };
            assert_eq!(description, "Auto mode can't check actions in this session");
            assert!(content.contains("Enter to stay in auto mode"), "{content}");
            let call = (tool_name.as_str(), command.as_str());
            let want = if drawn { ("Bash", "rm -f /srv/example/nonexistent-file") } else { ("", "") };
            assert_eq!(call, want, "{dir} {size}");
            // The id stays while the dialog does.
            let again = pending_for(state, None, Some(&obs), &record(p.clone()));
            assert_eq!(again[0].id, p[0].id);
        }
        // The fullscreen tool row's `●` blinks: a frame without it still names the call.
        let path = format!(
            "{}/tests/fixtures/screens/cc-2.1.330-fullscreen/automode-bash-rm-80x24.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap().replace("● Removing a file", "  Removing a file");
        let p = pending_for(State::PermissionPrompt, None, Some(&crate::detect::classify(&text)), &record(vec![]));
        let InteractionContent::Permission { tool_name, command, .. } = &p[0].content else { panic!() };
        assert_eq!((tool_name.as_str(), command.as_str()), ("Bash", "rm -f /srv/example/nonexistent-file"));
        // With the hook's PreToolUse the call is exact, and the id is still the dialog's own: the
        // call's own permission prompt that may follow carries the tool_use_id.
        let obs = screen("cc-2.1.330-classic", "automode-bash-rm-80x24.txt");
        let call = PendingTool {
            id: "toolu_01".into(),
            tool_name: "Bash".into(),
            input: serde_json::json!({"command": "rm -rf build", "description": "Remove build"}),
            since: 0,
        };
        let p = pending_for(State::PermissionPrompt, Some(&call), Some(&obs), &record(vec![]));
        assert!(p[0].id.starts_with(AUTO_MODE_ID_PREFIX), "{}", p[0].id);
        let InteractionContent::Permission { tool_name, command, description, .. } = &p[0].content else { panic!() };
        assert_eq!((tool_name.as_str(), command.as_str()), ("Bash", "rm -rf build"));
        assert_eq!(description, "Auto mode can't check actions in this session");
        assert!(p[0].tool_input_json.contains("rm -rf build"));
        // Its fallback prompt (unnumbered No / Yes) is the Bash call's own interaction, a new one.
        let fallback = screen("cc-2.1.330-fullscreen", "automode-bash-rm-unnumbered-prompt-80x24.txt");
        let state = crate::core::fuse::screen_state(&fallback, true).unwrap();
        assert_eq!(state, State::BashApproval);
        let q = pending_for(state, None, Some(&fallback), &record(p.clone()));
        assert_eq!(q[0].kind, InteractionKind::Bash);
        assert_ne!(q[0].id, p[0].id);
        let labels: Vec<_> = q[0].options.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(labels, ["No", "Yes"]);
    }

    #[test]
    fn the_api_key_dialog_is_a_pending_interaction_with_its_options() {
        let path = format!(
            "{}/tests/fixtures/screens/cc-2.1.330-fullscreen/startup-apikey-80x24.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let obs = crate::detect::classify(&std::fs::read_to_string(path).unwrap());
        let state = crate::core::fuse::screen_state(&obs, true).unwrap();
        assert_eq!(state, State::ApiKeyPrompt);
        let rec = record(vec![]);
        let p = pending_for(state, None, Some(&obs), &rec);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind, InteractionKind::ApiKey);
        assert_eq!(p[0].id, "apikey-0b5c7a52");
        assert_eq!(
            p[0].content,
            InteractionContent::ApiKey {
                env_var: "ANTHROPIC_API_KEY".into(),
                key_hint: "sk-ant-...sk-ant-test".into()
            }
        );
        let labels: Vec<_> = p[0].options.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(labels, ["Yes", "No (recommended)"]);
    }
}
