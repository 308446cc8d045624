//! Parsing of an incoming Messages API request into the few facts the rules look at.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What kind of user turn ends the conversation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// The last user message is a typed prompt (text).
    Prompt,
    /// The last user message carries `tool_result` blocks.
    ToolResult,
    /// Only valid in rules: matches both.
    Any,
}

/// The facts of one `/v1/messages` request that matching and templating use.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub model: String,
    pub stream: bool,
    /// Names of the tools offered (`tools[].name`).
    pub tools: Vec<String>,
    /// A side request (title generation and the like): no tools offered.
    pub side: bool,
    pub turn: Turn,
    /// Text of the trailing user turn: the prompt text (system reminders stripped), or the
    /// `tool_result` contents joined by newlines.
    pub last_text: String,
    /// The text blocks of the trailing user turn exactly as sent (no trimming, no reminder removal),
    /// so tests can compare a delivered prompt byte for byte.
    pub user_blocks: Vec<String>,
    /// The latest typed prompt of the conversation (also for tool_result turns).
    pub prompt: String,
    /// Names of the tools whose results make up the trailing user turn.
    pub result_tools: Vec<String>,
    /// Working directory announced by CC (`Primary working directory: …`), or `/tmp`.
    pub cwd: String,
    /// Plan file announced by CC in plan mode (`…/.claude/plans/<name>.md`).
    pub plan_file: Option<String>,
    /// `output_config.format.schema` when the request asks for structured JSON output.
    pub json_schema: Option<Value>,
}

fn reminder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?s)<system-reminder>.*?</system-reminder>").unwrap())
}

fn cwd_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?m)(?:Primary working directory|Working directory):[ \t]*(/[^\n]*?)[ \t]*$").unwrap()
    })
}

fn plan_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"(/[^\s"'`<>]*?/plans/[^\s"'`<>/]+?\.md)"#).unwrap())
}

/// Removes `<system-reminder>` sections and trims.
pub fn strip_reminders(s: &str) -> String {
    reminder_re().replace_all(s, "").trim().to_string()
}

fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Text of a `tool_result` block's content (string or text blocks).
fn tool_result_text(b: &Value) -> String {
    match b.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => {
            a.iter().filter_map(|c| c.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// Typed text of a user message: text blocks without system reminders and without CC's own
/// `[Request interrupted …]` markers.
fn user_texts(bl: &[Value]) -> Vec<String> {
    bl.iter()
        .filter(|b| block_type(b) == "text")
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .map(strip_reminders)
        .filter(|t| !t.is_empty() && !t.starts_with("[Request interrupted"))
        .collect()
}

fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

impl RequestView {
    pub fn parse(body: &Value) -> RequestView {
        let model = body.get("model").and_then(Value::as_str).unwrap_or("claude-fake").to_string();
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let tools: Vec<String> = body
            .get("tools")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from)).collect())
            .unwrap_or_default();
        let empty = Vec::new();
        let all_messages = body.get("messages").and_then(Value::as_array).unwrap_or(&empty);
        // CC 2.1 puts role:"system" entries into `messages`; they are not turns.
        let msgs: Vec<&Value> = all_messages
            .iter()
            .filter(|m| matches!(m.get("role").and_then(Value::as_str), Some("user" | "assistant")))
            .collect();
        let role = |m: &Value| m.get("role").and_then(Value::as_str).unwrap_or("").to_string();

        // tool_use id -> tool name, from the assistant messages.
        let mut tool_names: HashMap<String, String> = HashMap::new();
        for m in msgs.iter().filter(|m| role(m) == "assistant") {
            for b in blocks(m.get("content").unwrap_or(&Value::Null)) {
                if block_type(&b) == "tool_use" {
                    if let (Some(id), Some(name)) =
                        (b.get("id").and_then(Value::as_str), b.get("name").and_then(Value::as_str))
                    {
                        tool_names.insert(id.to_string(), name.to_string());
                    }
                }
            }
        }

        // The trailing run of user messages forms the last user turn.
        let mut start = msgs.len();
        while start > 0 && role(msgs[start - 1]) == "user" {
            start -= 1;
        }
        let trailing: Vec<Value> =
            msgs[start..].iter().flat_map(|m| blocks(m.get("content").unwrap_or(&Value::Null))).collect();
        let user_blocks: Vec<String> = trailing
            .iter()
            .filter(|b| block_type(b) == "text")
            .filter_map(|b| b.get("text").and_then(Value::as_str).map(String::from))
            .collect();
        let results: Vec<&Value> = trailing.iter().filter(|b| block_type(b) == "tool_result").collect();
        // After a rejected or interrupted tool call, CC sends the refusal and the user's next prompt in
        // one user turn: the typed text after the last tool_result makes it a prompt turn.
        let after_results = trailing.iter().rposition(|b| block_type(b) == "tool_result").map(|i| &trailing[i + 1..]);
        let typed_after = after_results.map(user_texts).filter(|t| !t.is_empty()).map(|t| t.join("\n"));
        let (turn, last_text, result_tools) = if let Some(text) = typed_after.clone() {
            (Turn::Prompt, text, Vec::new())
        } else if results.is_empty() {
            (Turn::Prompt, user_texts(&trailing).join("\n"), Vec::new())
        } else {
            let text = results.iter().map(|b| tool_result_text(b)).collect::<Vec<_>>().join("\n");
            let names = results
                .iter()
                .filter_map(|b| b.get("tool_use_id").and_then(Value::as_str))
                .filter_map(|id| tool_names.get(id).cloned())
                .collect();
            (Turn::ToolResult, text, names)
        };

        // The latest typed prompt: last user message without tool results that has real text.
        let prompt = msgs
            .iter()
            .rev()
            .filter(|m| role(m) == "user")
            .map(|m| blocks(m.get("content").unwrap_or(&Value::Null)))
            .filter(|bl| !bl.iter().any(|b| block_type(b) == "tool_result"))
            .map(|bl| user_texts(&bl).join("\n"))
            .find(|t| !t.is_empty());
        let prompt = typed_after.or(prompt).unwrap_or_default();

        let mut all = String::new();
        if let Some(s) = body.get("system") {
            collect_strings(s, &mut all);
        }
        collect_strings(&Value::Array(all_messages.clone()), &mut all);
        let cwd = cwd_re().captures(&all).map(|c| c[1].to_string()).unwrap_or_else(|| "/tmp".to_string());
        let plan_file = plan_re().captures_iter(&all).last().map(|c| c[1].to_string());
        let json_schema = body
            .pointer("/output_config/format")
            .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
            .map(|f| f.get("schema").cloned().unwrap_or(Value::Null));

        RequestView {
            model,
            stream,
            side: tools.is_empty(),
            tools,
            turn,
            last_text,
            user_blocks,
            prompt,
            result_tools,
            cwd,
            plan_file,
            json_schema,
        }
    }
}
