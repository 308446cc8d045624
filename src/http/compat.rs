//! The original's field names and status strings: pure mapping from the RPC responses to its JSON.
use crate::api::convert::state_from;
use crate::model::State;
use crate::proto::v1::{self as pb, pending_interaction::Content};
use serde_json::{json, Value};

/// The original's status for every Aegis state. Its seven strings are kept; `exited` is the one
/// addition (a script polling for `idle` must be able to tell a session that will never be idle).
///
/// | Aegis state        | status              | why                                                   |
/// |--------------------|---------------------|-------------------------------------------------------|
/// | IDLE               | `idle`              |                                                       |
/// | WORKING            | `working`           |                                                       |
/// | ASK_QUESTION       | `ask_question`      |                                                       |
/// | PERMISSION_PROMPT  | `permission_prompt` |                                                       |
/// | BASH_APPROVAL      | `bash_approval`     |                                                       |
/// | PLAN_MODE          | `plan_mode`         |                                                       |
/// | UNKNOWN            | `unknown`           |                                                       |
/// | STARTING           | `working`           | CC is busy booting; a prompt cannot go in yet         |
/// | COMPACTING         | `working`           | CC is busy; it returns to idle on its own             |
/// | RATE_LIMITED       | `working`           | CC retries on its own (statusText has its message)    |
/// | ERROR              | `idle`              | the turn failed and CC takes input again (statusText) |
/// | TRUST_PROMPT       | `permission_prompt` | a yes/no dialog answered with /approve or /reject     |
/// | API_KEY_PROMPT     | `permission_prompt` | a yes/no dialog answered with /approve or /reject     |
/// | EXITED             | `exited`            | final                                                 |
///
/// The exact state is always in `state` (e.g. "TRUST_PROMPT") next to `status`.
pub fn status(s: State) -> &'static str {
    match s {
        State::Idle | State::Error => "idle",
        State::Working | State::Starting | State::Compacting | State::RateLimited => "working",
        State::AskQuestion => "ask_question",
        State::PermissionPrompt | State::TrustPrompt | State::ApiKeyPrompt => "permission_prompt",
        State::BashApproval => "bash_approval",
        State::PlanMode => "plan_mode",
        State::Exited => "exited",
        State::Unknown => "unknown",
    }
}

/// The states a `status` filter selects (the inverse of [`status`]); empty for an unknown string.
pub fn states_of(status_name: &str) -> Vec<State> {
    State::ALL.into_iter().filter(|s| status(*s) == status_name).collect()
}

fn state_of(v: i32) -> State {
    state_from(v).unwrap_or(State::Unknown)
}

/// Milliseconds since the epoch (the original's timestamps are JavaScript `Date.now()` numbers).
pub fn ms(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// RFC 3339 UTC with milliseconds, as CC's transcript records write their times.
pub fn iso(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

fn labels(o: &[pb::ChoiceOption]) -> Vec<&str> {
    o.iter().map(|o| o.label.as_str()).collect()
}

/// `pendingQuestion`: the first pending question (`toolUseId` is CC's tool_use id, which is also the
/// interaction id); `options` are the first question's labels, `questions` has them all.
pub fn pending_question(s: &pb::Session) -> Value {
    let Some((i, q)) = s.pending_interactions.iter().find_map(|i| match &i.content {
        Some(Content::Question(q)) => Some((i, q)),
        _ => None,
    }) else {
        return Value::Null;
    };
    let text: Vec<&str> = q.questions.iter().map(|q| q.question.as_str()).collect();
    let questions: Vec<Value> = q
        .questions
        .iter()
        .map(|q| {
            let options: Vec<Value> =
                q.options.iter().map(|o| json!({"label": o.label, "description": o.description})).collect();
            json!({"header": q.header, "question": q.question, "options": options, "multiSelect": q.multi_select})
        })
        .collect();
    json!({
        "toolUseId": i.id,
        "interactionId": i.id,
        "content": text.join("\n"),
        "options": q.questions.first().map(|q| labels(&q.options)).unwrap_or_default(),
        "questions": questions,
        "since": ms(&i.since),
    })
}

/// `pendingPermission`: the first pending interaction that is not a question (a tool permission, a
/// Bash command, a plan, the trust or API-key dialog), with what it is about.
pub fn pending_permission(s: &pb::Session) -> Value {
    let Some(i) = s.pending_interactions.iter().find(|i| !matches!(i.content, Some(Content::Question(_)))) else {
        return Value::Null;
    };
    let mut v = json!({
        "interactionId": i.id,
        "kind": kind_name(i.kind),
        "options": labels(&i.options),
        "since": ms(&i.since),
    });
    let extra = match &i.content {
        Some(Content::Permission(p)) => json!({
            "tool": p.tool_name, "command": p.command, "filePath": p.file_path, "url": p.url,
            "description": p.description, "toolInput": p.tool_input_json,
        }),
        Some(Content::Plan(p)) => json!({"tool": "ExitPlanMode", "plan": p.plan, "filePath": p.plan_file_path}),
        Some(Content::Trust(t)) => json!({"directory": t.directory}),
        Some(Content::ApiKey(k)) => json!({"envVar": k.env_var, "keyHint": k.key_hint}),
        _ => json!({}),
    };
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

fn kind_name(k: i32) -> &'static str {
    use pb::InteractionKind as K;
    match K::try_from(k).unwrap_or(K::Unspecified) {
        K::Question => "question",
        K::Permission => "permission",
        K::Bash => "bash",
        K::Plan => "plan",
        K::Trust => "trust",
        K::ApiKey => "api_key",
        K::Unspecified => "unknown",
    }
}

/// One line on what the session is doing, for people (scripts read `status`).
pub fn status_text(s: &pb::Session) -> String {
    let perm = pending_permission(s);
    let field = |k: &str| perm.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    match state_of(s.state) {
        State::Idle => "Claude is idle and waits for a prompt".into(),
        State::Error => format!("The last turn failed ({}); Claude waits for a prompt", s.error_message),
        State::Starting => "Claude Code is starting".into(),
        State::Working => "Claude is working".into(),
        State::Compacting => "Claude is compacting the conversation".into(),
        State::RateLimited => format!("Claude is rate limited and retries ({})", s.error_message),
        State::AskQuestion => {
            let q = pending_question(s);
            format!("Claude asks: {}", q.get("content").and_then(Value::as_str).unwrap_or_default())
        }
        State::PermissionPrompt => {
            let what = [field("command"), field("filePath"), field("url")].into_iter().find(|w| !w.is_empty());
            format!(
                "Claude asks permission to use {}{}",
                field("tool"),
                what.map(|w| format!(": {w}")).unwrap_or_default()
            )
        }
        State::BashApproval => format!("Claude asks to run: {}", field("command")),
        State::PlanMode => "Claude proposes a plan and waits for approval".into(),
        State::TrustPrompt => format!("Claude Code asks whether to trust {}", field("directory")),
        State::ApiKeyPrompt => format!("Claude Code asks whether to use the API key in {}", field("envVar")),
        State::Exited => {
            format!("The session ended: {}", s.exit.as_ref().map(|e| e.reason.as_str()).unwrap_or_default())
        }
        State::Unknown => "Aegis does not recognise CC's screen".into(),
    }
}

/// A session in the original's shape, plus Aegis's exact `state` and the pending interactions.
pub fn session(s: &pb::Session) -> Value {
    let st = state_of(s.state);
    let pending: Vec<Value> = s
        .pending_interactions
        .iter()
        .map(|i| json!({"id": i.id, "kind": kind_name(i.kind), "options": labels(&i.options), "since": ms(&i.since)}))
        .collect();
    json!({
        "id": s.id,
        "name": s.name,
        "workDir": s.work_dir,
        "status": status(st),
        "statusText": status_text(s),
        "state": st.name(),
        "stable": s.stable,
        "revision": s.revision,
        "createdAt": ms(&s.create_time),
        "lastActivity": ms(&s.update_time),
        "stateSince": ms(&s.state_since),
        "permissionMode": s.permission_mode,
        "model": s.model,
        "labels": s.labels,
        "claudeSessionId": s.cc_session_id,
        "transcriptPath": s.transcript_path,
        "lastAssistantMessage": s.last_assistant_message,
        "stalled": s.stall.as_ref().is_some_and(|st| st.stalled),
        "exit": s.exit.as_ref().map(|e| json!({"status": e.exit_status, "signal": e.signal, "reason": e.reason, "at": ms(&e.exit_time)})),
        "pendingQuestion": pending_question(s),
        "pendingPermission": pending_permission(s),
        "pendingInteractions": pending,
    })
}

/// A transcript entry as one of the original's `messages`.
pub fn message(e: &pb::TranscriptEntry) -> Value {
    use pb::EntryKind as K;
    let (role, content_type) = match K::try_from(e.kind).unwrap_or(K::Unspecified) {
        K::UserText => ("user", "text"),
        K::AssistantText => ("assistant", "text"),
        K::Thinking => ("assistant", "thinking"),
        K::ToolUse => ("assistant", "tool_use"),
        // CC records tool results as user records.
        K::ToolResult => ("user", "tool_result"),
        K::System | K::Unspecified => ("system", "text"),
    };
    let text = if e.text.is_empty() && !e.tool_input_json.is_empty() { &e.tool_input_json } else { &e.text };
    let mut v = json!({
        "role": role, "contentType": content_type, "text": text,
        "timestamp": ms(&e.time).map(iso), "index": e.index,
    });
    if !e.tool_name.is_empty() || !e.tool_use_id.is_empty() {
        v["toolName"] = json!(e.tool_name);
        v["toolUseId"] = json!(e.tool_use_id);
        v["isError"] = json!(e.is_error);
    }
    v
}

/// One SSE event's data.
pub fn event(e: &pb::SessionEvent) -> Value {
    let (st, prev) = (state_of(e.state), state_of(e.previous_state));
    let mut v = json!({
        "sessionId": e.session_id,
        "revision": e.revision,
        "sequence": e.sequence,
        "kind": event_kind(e.kind),
        "status": status(st),
        "state": st.name(),
        "previousStatus": status(prev),
        "previousState": prev.name(),
        "stable": e.stable,
        "time": ms(&e.time),
        "detail": e.detail,
    });
    if let Some(i) = &e.interaction {
        v["interaction"] = json!({"id": i.id, "kind": kind_name(i.kind), "options": labels(&i.options)});
    }
    v
}

pub fn event_kind(k: i32) -> &'static str {
    use pb::EventKind as K;
    match K::try_from(k).unwrap_or(K::Unspecified) {
        K::Created => "created",
        K::StateChanged => "state_changed",
        K::InteractionOpened => "interaction_opened",
        K::InteractionResolved => "interaction_resolved",
        K::MessageSent => "message_sent",
        K::StallChanged => "stall_changed",
        K::Deleted => "deleted",
        K::Updated => "updated",
        K::Unspecified => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_maps_to_one_of_the_originals_statuses_or_exited() {
        let original =
            ["idle", "working", "permission_prompt", "bash_approval", "plan_mode", "ask_question", "unknown"];
        for s in State::ALL {
            let st = status(s);
            assert!(original.contains(&st) || (s == State::Exited && st == "exited"), "{s:?} -> {st}");
            assert!(states_of(st).contains(&s));
        }
        assert_eq!(states_of("working"), [State::Starting, State::Working, State::Compacting, State::RateLimited]);
        assert!(states_of("busy").is_empty());
    }

    #[test]
    fn iso_times_match_known_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_795_516_735_815), "2026-11-24T10:38:55.815Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_pending_question_and_permission_are_exposed_with_their_content() {
        let q = pb::PendingInteraction {
            id: "toolu_1".into(),
            kind: pb::InteractionKind::Question as i32,
            since: Some(prost_types::Timestamp { seconds: 2, nanos: 5_000_000 }),
            content: Some(Content::Question(pb::QuestionContent {
                questions: vec![pb::Question {
                    header: "Strategy".into(),
                    question: "Which?".into(),
                    options: vec![pb::ChoiceOption { label: "A".into(), description: "a".into() }],
                    multi_select: false,
                }],
            })),
            options: vec![],
        };
        let p = pb::PendingInteraction {
            id: "perm-1".into(),
            kind: pb::InteractionKind::Bash as i32,
            content: Some(Content::Permission(pb::PermissionContent {
                tool_name: "Bash".into(),
                command: "touch x".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let s = pb::Session {
            state: pb::SessionState::AskQuestion as i32,
            pending_interactions: vec![q, p],
            ..Default::default()
        };
        let v = session(&s);
        assert_eq!(v["status"], "ask_question");
        assert_eq!(v["pendingQuestion"]["toolUseId"], "toolu_1");
        assert_eq!(v["pendingQuestion"]["content"], "Which?");
        assert_eq!(v["pendingQuestion"]["options"], json!(["A"]));
        assert_eq!(v["pendingQuestion"]["since"], 2005);
        assert_eq!(v["pendingPermission"]["command"], "touch x");
        assert_eq!(v["pendingPermission"]["kind"], "bash");
        assert_eq!(v["statusText"], "Claude asks: Which?");
    }
}
