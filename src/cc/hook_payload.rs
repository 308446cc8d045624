//! Typed view of Claude Code hook bodies (the JSON a `command` hook gets on
//! stdin and an `http` hook gets as the POST body; both are identical), and
//! the decision bodies CC honours.
//!
//! Field sets are the same in 2.1.197 and 2.1.330. Unknown keys are ignored
//! (the whole body stays available in [`HookPayload::raw`]); unknown events
//! become [`HookEvent::Other`].

use serde_json::{json, Map, Value};

/// The `hook_event_name` and its event-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub enum HookEvent {
    /// `source`: `startup` | `clear` | `compact` | `resume`. Only command hooks
    /// receive it (CC never calls the http hook for SessionStart).
    SessionStart {
        source: Option<String>,
        model: Option<String>,
    },
    UserPromptSubmit {
        prompt: String,
    },
    PreToolUse {
        tool_name: String,
        tool_input: Value,
        tool_use_id: Option<String>,
    },
    /// Carries no `tool_use_id`: correlate with the preceding `PreToolUse`.
    /// `permission_suggestions` is `Null` when absent (AskUserQuestion, ExitPlanMode).
    PermissionRequest {
        tool_name: String,
        tool_input: Value,
        permission_suggestions: Value,
    },
    PostToolUse {
        tool_name: String,
        tool_use_id: Option<String>,
        tool_input: Value,
        tool_response: Value,
    },
    /// `tool_calls[]` is in `raw`.
    PostToolBatch,
    Stop {
        last_assistant_message: Option<String>,
    },
    /// The turn ended with an API error (`Stop` does not fire then).
    StopFailure {
        error: Option<String>,
        last_assistant_message: Option<String>,
    },
    /// `permission_prompt` (~6 s after an unanswered prompt) or `idle_prompt` (~60 s idle).
    Notification {
        notification_type: Option<String>,
        message: Option<String>,
    },
    PreCompact {
        trigger: Option<String>,
    },
    /// `compact_summary` is in `raw`.
    PostCompact,
    /// `agent_id`, `agent_transcript_path` are in `raw`.
    SubagentStop,
    /// `reason`: `clear`, `prompt_input_exit`, …
    SessionEnd {
        reason: Option<String>,
    },
    /// Assistant text shown; `delta` is the text.
    MessageDisplay {
        turn_id: Option<String>,
        message_id: Option<String>,
        index: Option<u64>,
        is_final: bool,
        delta: String,
    },
    /// Not observed in the recordings (not fired for a user rejection); the
    /// fields are best-effort.
    PermissionDenied {
        tool_name: Option<String>,
        tool_input: Value,
        tool_use_id: Option<String>,
        reason: Option<String>,
    },
    Other {
        name: String,
    },
}

impl HookEvent {
    /// The CC event name (`hook_event_name`).
    pub fn name(&self) -> &str {
        match self {
            HookEvent::Other { name } => name,
            known => known.static_name(),
        }
    }

    /// The event name for a known event, "other" for the rest (a bounded set, e.g. for metric labels).
    pub fn static_name(&self) -> &'static str {
        match self {
            HookEvent::SessionStart { .. } => "SessionStart",
            HookEvent::UserPromptSubmit { .. } => "UserPromptSubmit",
            HookEvent::PreToolUse { .. } => "PreToolUse",
            HookEvent::PermissionRequest { .. } => "PermissionRequest",
            HookEvent::PostToolUse { .. } => "PostToolUse",
            HookEvent::PostToolBatch => "PostToolBatch",
            HookEvent::Stop { .. } => "Stop",
            HookEvent::StopFailure { .. } => "StopFailure",
            HookEvent::Notification { .. } => "Notification",
            HookEvent::PreCompact { .. } => "PreCompact",
            HookEvent::PostCompact => "PostCompact",
            HookEvent::SubagentStop => "SubagentStop",
            HookEvent::SessionEnd { .. } => "SessionEnd",
            HookEvent::MessageDisplay { .. } => "MessageDisplay",
            HookEvent::PermissionDenied { .. } => "PermissionDenied",
            HookEvent::Other { .. } => "other",
        }
    }
}

/// One hook body.
#[derive(Debug, Clone, PartialEq)]
pub struct HookPayload {
    pub session_id: String,
    pub transcript_path: Option<String>,
    pub cwd: Option<String>,
    pub permission_mode: Option<String>,
    /// Present on everything after the first prompt.
    pub prompt_id: Option<String>,
    pub event: HookEvent,
    /// The whole body as received.
    pub raw: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum HookParseError {
    #[error("hook body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("hook body is not a JSON object")]
    NotAnObject,
    #[error("hook body lacks string field `{0}`")]
    MissingField(&'static str),
}

fn s(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn v(o: &Map<String, Value>, k: &str) -> Value {
    o.get(k).cloned().unwrap_or(Value::Null)
}

/// Parse one hook body. `session_id` and `hook_event_name` are required;
/// every other field is optional (missing strings become empty, missing
/// values `Null`).
pub fn parse_hook(body: &[u8]) -> Result<HookPayload, HookParseError> {
    let raw: Value = serde_json::from_slice(body)?;
    let o = raw.as_object().ok_or(HookParseError::NotAnObject)?;
    let session_id = s(o, "session_id").ok_or(HookParseError::MissingField("session_id"))?;
    let name = s(o, "hook_event_name").ok_or(HookParseError::MissingField("hook_event_name"))?;
    let tool_name = || s(o, "tool_name").unwrap_or_default();
    let event = match name.as_str() {
        "SessionStart" => HookEvent::SessionStart { source: s(o, "source"), model: s(o, "model") },
        "UserPromptSubmit" => HookEvent::UserPromptSubmit { prompt: s(o, "prompt").unwrap_or_default() },
        "PreToolUse" => HookEvent::PreToolUse {
            tool_name: tool_name(),
            tool_input: v(o, "tool_input"),
            tool_use_id: s(o, "tool_use_id"),
        },
        "PermissionRequest" => HookEvent::PermissionRequest {
            tool_name: tool_name(),
            tool_input: v(o, "tool_input"),
            permission_suggestions: v(o, "permission_suggestions"),
        },
        "PostToolUse" => HookEvent::PostToolUse {
            tool_name: tool_name(),
            tool_use_id: s(o, "tool_use_id"),
            tool_input: v(o, "tool_input"),
            tool_response: v(o, "tool_response"),
        },
        "PostToolBatch" => HookEvent::PostToolBatch,
        "Stop" => HookEvent::Stop { last_assistant_message: s(o, "last_assistant_message") },
        "StopFailure" => {
            HookEvent::StopFailure { error: s(o, "error"), last_assistant_message: s(o, "last_assistant_message") }
        }
        "Notification" => {
            HookEvent::Notification { notification_type: s(o, "notification_type"), message: s(o, "message") }
        }
        "PreCompact" => HookEvent::PreCompact { trigger: s(o, "trigger") },
        "PostCompact" => HookEvent::PostCompact,
        "SubagentStop" => HookEvent::SubagentStop,
        "SessionEnd" => HookEvent::SessionEnd { reason: s(o, "reason") },
        "MessageDisplay" => HookEvent::MessageDisplay {
            turn_id: s(o, "turn_id"),
            message_id: s(o, "message_id"),
            index: o.get("index").and_then(Value::as_u64),
            is_final: o.get("final").and_then(Value::as_bool).unwrap_or(false),
            delta: s(o, "delta").unwrap_or_default(),
        },
        "PermissionDenied" => HookEvent::PermissionDenied {
            tool_name: s(o, "tool_name"),
            tool_input: v(o, "tool_input"),
            tool_use_id: s(o, "tool_use_id"),
            reason: s(o, "reason"),
        },
        _ => HookEvent::Other { name: name.clone() },
    };
    Ok(HookPayload {
        session_id,
        transcript_path: s(o, "transcript_path"),
        cwd: s(o, "cwd"),
        permission_mode: s(o, "permission_mode"),
        prompt_id: s(o, "prompt_id"),
        event,
        raw,
    })
}

/// `PermissionRequest` → allow (optionally with a rewritten tool input, e.g.
/// AskUserQuestion answers): the prompt is never shown.
pub fn permission_request_allow(updated_input: Option<Value>) -> Value {
    let mut decision = json!({ "behavior": "allow" });
    if let Some(u) = updated_input {
        decision["updatedInput"] = u;
    }
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": decision,
        }
    })
}

/// `PermissionRequest` → deny with a message (screen: `Denied by PermissionRequest hook`).
pub fn permission_request_deny(message: &str) -> Value {
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": { "behavior": "deny", "message": message },
        }
    })
}

/// `PreToolUse` decision: `allow` (no prompt), `deny` (tool_result carries the
/// reason), or `ask` (forces a prompt). `reason` goes to
/// `permissionDecisionReason`, `updated_input` to `updatedInput`.
pub fn pre_tool_use_decision(decision: &str, reason: Option<&str>, updated_input: Option<Value>) -> Value {
    let mut out = json!({
        "hookEventName": "PreToolUse",
        "permissionDecision": decision,
    });
    if let Some(r) = reason {
        out["permissionDecisionReason"] = Value::String(r.to_owned());
    }
    if let Some(u) = updated_input {
        out["updatedInput"] = u;
    }
    json!({ "hookSpecificOutput": out })
}

/// `updatedInput` that answers an AskUserQuestion without showing its UI:
/// the original `tool_input` (with its `questions`) plus
/// `"answers": {question text: answer}` (multi-select: comma-joined labels,
/// e.g. `"Metrics, Audit log"`). Existing answers are kept unless overridden.
/// A non-object `tool_input` is replaced by `{"answers": …}`.
pub fn ask_user_question_answers(tool_input: &Value, answers: &[(String, String)]) -> Value {
    let mut out = match tool_input {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut map = match out.remove("answers") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (q, a) in answers {
        map.insert(q.clone(), Value::String(a.clone()));
    }
    out.insert("answers".to_owned(), Value::Object(map));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cc/hooks");

    /// Each line of a `*.hooks.jsonl` (command hook stdin) or `*.http.jsonl`
    /// (http POST body) recording is one hook body, plus the recorder's own
    /// `_t`/`_via`/`_env`/`_path`/`_headers` keys.
    fn load(version: &str, name: &str) -> Vec<HookPayload> {
        let path = format!("{FIXTURES}/{version}/{name}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse_hook(l.as_bytes()).unwrap_or_else(|e| panic!("{path}: {e}")))
            .collect()
    }

    fn find<'a>(hooks: &'a [HookPayload], name: &str) -> Vec<&'a HookPayload> {
        hooks.iter().filter(|h| h.event.name() == name).collect()
    }

    #[test]
    fn every_recorded_hook_parses() {
        let mut n = 0;
        for dir in [
            format!("{FIXTURES}/2.1.197"),
            format!("{FIXTURES}/2.1.330"),
            "/work/shared/claude-code-2.1.197/hooks".into(),
            "/work/shared/claude-code-2.1.330/hooks".into(),
        ] {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if !p.to_string_lossy().ends_with(".jsonl") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for l in text.lines().filter(|l| !l.trim().is_empty()) {
                    let h = parse_hook(l.as_bytes()).unwrap_or_else(|e| panic!("{p:?}: {e}"));
                    assert!(!h.session_id.is_empty());
                    assert!(h.transcript_path.as_deref().unwrap().ends_with(".jsonl"));
                    assert!(h.cwd.is_some());
                    assert!(!matches!(h.event, HookEvent::Other { .. }), "{p:?}: unexpected event {:?}", h.event);
                    assert_eq!(h.event.name(), h.raw["hook_event_name"]);
                    n += 1;
                }
            }
        }
        assert!(n >= 100, "{n}");
    }

    #[test]
    fn bad_bodies() {
        assert!(matches!(parse_hook(b"nope"), Err(HookParseError::Json(_))));
        assert!(matches!(parse_hook(b"[]"), Err(HookParseError::NotAnObject)));
        assert!(matches!(
            parse_hook(br#"{"hook_event_name":"Stop"}"#),
            Err(HookParseError::MissingField("session_id"))
        ));
        assert!(matches!(parse_hook(br#"{"session_id":"s"}"#), Err(HookParseError::MissingField("hook_event_name"))));
        let h = parse_hook(br#"{"session_id":"s","hook_event_name":"FileChanged","x":1}"#).unwrap();
        assert_eq!(h.event, HookEvent::Other { name: "FileChanged".into() });
        // Missing optional fields do not fail.
        let h = parse_hook(br#"{"session_id":"s","hook_event_name":"PreToolUse"}"#).unwrap();
        assert_eq!(
            h.event,
            HookEvent::PreToolUse { tool_name: String::new(), tool_input: Value::Null, tool_use_id: None }
        );
    }

    #[test]
    fn observation_run_both_versions() {
        for v in ["2.1.197", "2.1.330"] {
            for file in ["hooks-120x40.hooks.jsonl", "hooks-120x40.http.jsonl"] {
                let hooks = load(v, file);
                // PreToolUse Bash carries tool_use_id; PostToolUse links to it.
                let pre = find(&hooks, "PreToolUse");
                let HookEvent::PreToolUse { tool_name, tool_input, tool_use_id } = &pre[0].event else {
                    unreachable!()
                };
                assert_eq!(tool_name, "Bash", "{v} {file}");
                assert_eq!(tool_input["command"], "echo hello-from-bash > out.txt");
                let id = tool_use_id.clone().unwrap();
                assert!(id.starts_with("toolu_"));
                assert!(find(&hooks, "PostToolUse").iter().any(|h| matches!(
                    &h.event,
                    HookEvent::PostToolUse { tool_use_id: Some(x), tool_response, .. }
                        if *x == id && tool_response.get("stdout").is_some()
                )));
                // PermissionRequest for Bash: suggestions, no tool_use_id.
                let perm = find(&hooks, "PermissionRequest");
                let HookEvent::PermissionRequest { tool_name, tool_input, permission_suggestions } = &perm[0].event
                else {
                    unreachable!()
                };
                assert_eq!(tool_name, "Bash");
                assert_eq!(tool_input["command"], "echo hello-from-bash > out.txt");
                assert_eq!(permission_suggestions[0]["type"], "addDirectories");
                assert!(perm[0].raw.get("tool_use_id").is_none());
                assert_eq!(perm[0].permission_mode.as_deref(), Some("default"));
                // AskUserQuestion prompt carries the questions.
                assert!(perm.iter().any(|h| matches!(
                    &h.event,
                    HookEvent::PermissionRequest { tool_name, tool_input, .. }
                        if tool_name == "AskUserQuestion"
                            && tool_input["questions"][0]["question"] == "Which recovery strategy?"
                )));
                // Stop with the last message; StopFailure for the API 400.
                let stop = find(&hooks, "Stop");
                assert_eq!(
                    stop[0].event,
                    HookEvent::Stop { last_assistant_message: Some("Hello from the fake model.".into()) }
                );
                let fail = find(&hooks, "StopFailure");
                assert_eq!(
                    fail[0].event,
                    HookEvent::StopFailure {
                        error: Some("unknown".into()),
                        last_assistant_message: Some("API Error: 400 Fake invalid request".into())
                    }
                );
                assert!(find(&hooks, "UserPromptSubmit")
                    .iter()
                    .any(|h| h.event == HookEvent::UserPromptSubmit { prompt: "hello hooks".into() }));
                assert!(find(&hooks, "MessageDisplay").iter().any(|h| matches!(
                    &h.event,
                    HookEvent::MessageDisplay { delta, is_final: true, .. }
                        if delta == "Hello from the fake model."
                )));
                if file.ends_with(".hooks.jsonl") {
                    // SessionStart only reaches command hooks.
                    let ss = find(&hooks, "SessionStart");
                    assert!(matches!(&ss[0].event,
                        HookEvent::SessionStart { source: Some(s), model: Some(_) } if s == "startup"));
                    assert!(ss.iter().any(|h| matches!(&h.event,
                        HookEvent::SessionStart { source: Some(s), .. } if s == "compact")));
                    assert!(find(&hooks, "PreCompact")
                        .iter()
                        .any(|h| h.event == HookEvent::PreCompact { trigger: Some("manual".into()) }));
                    assert!(find(&hooks, "SessionEnd").iter().any(|h| matches!(
                        &h.event, HookEvent::SessionEnd { reason: Some(r) } if r == "clear")));
                    assert!(!find(&hooks, "SubagentStop").is_empty());
                    assert!(!find(&hooks, "PostCompact").is_empty());
                    assert!(find(&hooks, "Notification").iter().any(|h| matches!(
                        &h.event,
                        HookEvent::Notification { notification_type: Some(t), .. } if t == "idle_prompt"
                    )));
                } else {
                    assert!(find(&hooks, "SessionStart").is_empty());
                }
            }
        }
    }

    #[test]
    fn exit_plan_mode_and_ask_permission_requests() {
        for v in ["2.1.197", "2.1.330"] {
            let hooks = load(v, "hookctl-plan.hooks.jsonl");
            let plan = find(&hooks, "PermissionRequest")
                .into_iter()
                .find(|h| matches!(&h.event, HookEvent::PermissionRequest { tool_name, .. } if tool_name == "ExitPlanMode"))
                .unwrap();
            let HookEvent::PermissionRequest { tool_input, permission_suggestions, .. } = &plan.event else {
                unreachable!()
            };
            assert!(tool_input["plan"].as_str().unwrap().starts_with("# Plan: demo"));
            assert!(tool_input["planFilePath"].as_str().unwrap().contains("/.claude/plans/"));
            assert!(permission_suggestions.is_null());
            assert_eq!(plan.permission_mode.as_deref(), Some("plan"));

            let hooks = load(v, "hookctl-ask-perm-answers.hooks.jsonl");
            let ask = find(&hooks, "PermissionRequest");
            let HookEvent::PermissionRequest { tool_name, tool_input, .. } = &ask[0].event else { unreachable!() };
            assert_eq!(tool_name, "AskUserQuestion");
            let q = &tool_input["questions"][0];
            assert_eq!(q["question"], "Which recovery strategy?");
            assert_eq!(q["options"][1]["label"], "Auto-restart");
            assert_eq!(q["multiSelect"], false);
        }
    }

    /// Decision bodies equal what the recorded hooks returned (their stdout is
    /// logged in the transcripts' `hook_success` attachments).
    #[test]
    fn decisions_match_recorded_outputs() {
        let recorded_allow: Value = serde_json::from_str(
            r#"{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "permissionDecisionReason": "approved by PreToolUse hook"}}"#,
        )
        .unwrap();
        assert_eq!(pre_tool_use_decision("allow", Some("approved by PreToolUse hook"), None), recorded_allow);
        let recorded_ask: Value = serde_json::from_str(
            r#"{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask", "permissionDecisionReason": "hook says ask"}}"#,
        )
        .unwrap();
        assert_eq!(pre_tool_use_decision("ask", Some("hook says ask"), None), recorded_ask);
        let recorded_answers: Value = serde_json::from_str(
            r#"{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "updatedInput": {"questions": [{"question": "Which recovery strategy?", "header": "Strategy", "multiSelect": false, "options": [{"label": "Clean up", "description": "Remove dead sessions"}, {"label": "Auto-restart", "description": "Restart them"}]}], "answers": {"Which recovery strategy?": "Auto-restart"}}}}"#,
        )
        .unwrap();
        // The tool_input as the PermissionRequest/PreToolUse hook received it.
        let hooks = load("2.1.330", "hookctl-ask-perm-answers.hooks.jsonl");
        let HookEvent::PermissionRequest { tool_input, .. } = &find(&hooks, "PermissionRequest")[0].event else {
            unreachable!()
        };
        let updated = ask_user_question_answers(
            tool_input,
            &[("Which recovery strategy?".to_string(), "Auto-restart".to_string())],
        );
        assert_eq!(pre_tool_use_decision("allow", None, Some(updated.clone())), recorded_answers);
        assert_eq!(
            permission_request_allow(Some(updated.clone())),
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                "decision": {"behavior": "allow", "updatedInput": updated}}})
        );
        assert_eq!(
            permission_request_allow(None),
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                "decision": {"behavior": "allow"}}})
        );
        assert_eq!(
            permission_request_deny("no"),
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                "decision": {"behavior": "deny", "message": "no"}}})
        );
        assert_eq!(
            pre_tool_use_decision("deny", None, None),
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny"}})
        );
    }

    #[test]
    fn ask_answers_merge() {
        let input = json!({"questions": [{"question": "A?"}, {"question": "B?"}], "answers": {"A?": "old"}});
        let out = ask_user_question_answers(
            &input,
            &[("B?".into(), "Metrics, Audit log".into()), ("A?".into(), "new".into())],
        );
        assert_eq!(out["questions"], input["questions"]);
        assert_eq!(out["answers"], json!({"A?": "new", "B?": "Metrics, Audit log"}));
        assert_eq!(ask_user_question_answers(&Value::Null, &[]), json!({"answers": {}}));
    }
}
