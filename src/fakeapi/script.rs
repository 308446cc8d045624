//! Script format (rules), the built-in vocabulary and rule selection.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde::Deserialize;
use serde_json::{json, Value};

use super::request::{RequestView, Turn};

/// A number given literally or as a template string (`"{{1}}"`); an empty expansion means "unset".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NumOrTemplate {
    Num(u64),
    Template(String),
}

/// Whether `times` counts per rule or per rule and distinct matched text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimesScope {
    #[default]
    Rule,
    Text,
}

/// One content block of a scripted answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BlockDef {
    Text {
        text: String,
    },
    ToolUse {
        name: String,
        #[serde(default = "empty_object")]
        input: Value,
        #[serde(default)]
        id: Option<String>,
    },
}

fn empty_object() -> Value {
    json!({})
}

/// One rule of a script, as written in JSON. See docs/fake-api.md.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    #[serde(default)]
    pub name: Option<String>,
    /// Regex searched in the text of the last user turn.
    #[serde(default, rename = "match")]
    pub match_re: Option<String>,
    /// Regex searched in the latest typed prompt (also on tool_result turns).
    #[serde(default)]
    pub prompt: Option<String>,
    /// Only on a tool_result turn answering this tool (`"*"` = any tool).
    #[serde(default)]
    pub after_tool: Option<String>,
    /// `prompt`, `tool_result` or `any` (default: `tool_result` with after_tool, else `any`).
    #[serde(default)]
    pub turn: Option<Turn>,
    /// Rule applies to side requests (no tools offered) instead of main-loop requests.
    #[serde(default)]
    pub side: bool,
    /// Rule fires this many times, then is skipped (falls through to later rules).
    #[serde(default)]
    pub times: Option<NumOrTemplate>,
    #[serde(default)]
    pub times_scope: TimesScope,
    /// Only sets delay options, then matching continues with the next rules.
    #[serde(default)]
    pub modifier: bool,
    #[serde(default)]
    pub delay_ms: Option<NumOrTemplate>,
    #[serde(default)]
    pub chunk_delay_ms: Option<NumOrTemplate>,
    #[serde(default)]
    pub chunk_chars: Option<usize>,
    /// HTTP status; >= 400 returns an error instead of the reply.
    #[serde(default)]
    pub status: Option<NumOrTemplate>,
    /// Error body: an object sent verbatim or a string used as the error message.
    #[serde(default)]
    pub error_body: Option<Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Content blocks of the answer.
    #[serde(default)]
    pub reply: Vec<BlockDef>,
    /// Shorthand for a reply of one text block.
    #[serde(default)]
    pub text: Option<String>,
    /// Overrides the stop_reason (default: `tool_use` if the reply has a tool_use, else `end_turn`).
    #[serde(default)]
    pub stop_reason: Option<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    def: RuleDef,
    label: String,
    match_re: Option<Regex>,
    prompt_re: Option<Regex>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScriptDef {
    Rules(Vec<RuleDef>),
    Full {
        #[serde(default)]
        rules: Vec<RuleDef>,
        #[serde(default = "default_true")]
        builtin: bool,
    },
}

fn default_true() -> bool {
    true
}

/// A compiled set of rules. First matching rule wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ScriptDef")]
pub struct Script {
    rules: Vec<Rule>,
}

impl TryFrom<ScriptDef> for Script {
    type Error = anyhow::Error;
    fn try_from(def: ScriptDef) -> anyhow::Result<Script> {
        let (defs, builtin) = match def {
            ScriptDef::Rules(r) => (r, true),
            ScriptDef::Full { rules, builtin } => (rules, builtin),
        };
        let mut script = Script::compile(defs)?;
        if builtin {
            script.rules.extend(Script::builtin().rules);
        }
        Ok(script)
    }
}

const BUILTIN_JSON: &str = include_str!("builtin.json");

impl Script {
    /// Parses a script: either `{"rules": [...], "builtin": true}` or a bare array of rules.
    /// Unless `"builtin": false`, the built-in vocabulary is appended after the given rules.
    pub fn from_json(s: &str) -> anyhow::Result<Script> {
        let def: ScriptDef = serde_json::from_str(s)?;
        Script::try_from(def)
    }

    /// The built-in marker vocabulary (see docs/fake-api.md).
    pub fn builtin() -> Script {
        #[derive(Deserialize)]
        struct B {
            rules: Vec<RuleDef>,
        }
        let b: B = serde_json::from_str(BUILTIN_JSON).expect("builtin.json parses");
        Script::compile(b.rules).expect("builtin.json compiles")
    }

    /// A script with no rules: only the engine defaults (`Fake reply: …` / `Tool finished: …`).
    pub fn empty() -> Script {
        Script { rules: Vec::new() }
    }

    /// Compiles rule definitions (without appending the built-ins).
    pub fn compile(defs: Vec<RuleDef>) -> anyhow::Result<Script> {
        let mut rules = Vec::with_capacity(defs.len());
        for (i, def) in defs.into_iter().enumerate() {
            let label = def.name.clone().unwrap_or_else(|| format!("rule#{i}"));
            let re = |s: &Option<String>| -> anyhow::Result<Option<Regex>> {
                s.as_deref().map(Regex::new).transpose().map_err(|e| anyhow::anyhow!("{label}: bad regex: {e}"))
            };
            let match_re = re(&def.match_re)?;
            let prompt_re = re(&def.prompt)?;
            if def.text.is_some() && !def.reply.is_empty() {
                anyhow::bail!("{label}: give either `text` or `reply`, not both");
            }
            rules.push(Rule { def, label, match_re, prompt_re });
        }
        Ok(Script { rules })
    }

    /// Number of rules (built-ins included).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Picks the answer for a request. `counters` holds the `times` bookkeeping.
    pub(crate) fn respond(&self, req: &RequestView, counters: &mut Counters) -> Selected {
        let mut delay_ms = 0u64;
        let mut chunk_delay_ms = 0u64;
        let mut chunk_chars = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let d = &rule.def;
            if d.side != req.side {
                continue;
            }
            let turn = d.turn.unwrap_or(if d.after_tool.is_some() { Turn::ToolResult } else { Turn::Any });
            if turn != Turn::Any && turn != req.turn {
                continue;
            }
            if let Some(t) = &d.after_tool {
                if req.turn != Turn::ToolResult || (t != "*" && !req.result_tools.iter().any(|n| n == t)) {
                    continue;
                }
            }
            let m_caps = match &rule.match_re {
                Some(re) => match re.captures(&req.last_text) {
                    Some(c) => Some(c),
                    None => continue,
                },
                None => None,
            };
            let p_caps = match &rule.prompt_re {
                Some(re) => match re.captures(&req.prompt) {
                    Some(c) => Some(c),
                    None => continue,
                },
                None => None,
            };
            let ctx = match &m_caps {
                Some(c) => Ctx::new(req, Some(c), rule.match_re.as_ref()),
                None => Ctx::new(req, p_caps.as_ref(), rule.prompt_re.as_ref()),
            };
            if let Some(times) = d.times.as_ref().and_then(|t| ctx.num(t)) {
                let scope = match d.times_scope {
                    TimesScope::Rule => String::new(),
                    TimesScope::Text => req.last_text.clone(),
                };
                let c = counters.entry((i, scope)).or_insert(0);
                if *c >= times {
                    continue;
                }
                *c += 1;
            }
            if let Some(v) = d.delay_ms.as_ref().and_then(|t| ctx.num(t)) {
                delay_ms = v;
            }
            if let Some(v) = d.chunk_delay_ms.as_ref().and_then(|t| ctx.num(t)) {
                chunk_delay_ms = v;
            }
            if d.chunk_chars.is_some() {
                chunk_chars = d.chunk_chars;
            }
            if d.modifier {
                continue;
            }
            let status = d.status.as_ref().and_then(|t| ctx.num(t)).map(|s| s.clamp(100, 999) as u16).unwrap_or(200);
            let mut blocks: Vec<OutBlock> = d
                .reply
                .iter()
                .map(|b| match b {
                    BlockDef::Text { text } => OutBlock::Text(ctx.expand(text)),
                    BlockDef::ToolUse { name, input, id } => OutBlock::ToolUse {
                        id: id.clone().unwrap_or_else(|| new_id("toolu_01")),
                        name: ctx.expand(name),
                        input: ctx.expand_value(input),
                    },
                })
                .collect();
            if let Some(t) = &d.text {
                blocks.push(OutBlock::Text(ctx.expand(t)));
            }
            if blocks.is_empty() && status < 400 {
                blocks.push(OutBlock::Text(default_text(req, &ctx)));
            }
            let error_body = if status >= 400 {
                Some(error_body(status, d.error_body.as_ref().map(|v| ctx.expand_value(v))))
            } else {
                None
            };
            return Selected {
                rule: Some(rule.label.clone()),
                status,
                error_body,
                headers: d.headers.iter().map(|(k, v)| (k.clone(), ctx.expand(v))).collect(),
                stop_reason: d.stop_reason.clone(),
                blocks,
                delay_ms,
                chunk_delay_ms,
                chunk_chars: chunk_chars.unwrap_or(DEFAULT_CHUNK_CHARS),
            };
        }
        let ctx = Ctx::new(req, None, None);
        Selected {
            rule: None,
            status: 200,
            error_body: None,
            headers: Vec::new(),
            stop_reason: None,
            blocks: vec![OutBlock::Text(default_text(req, &ctx))],
            delay_ms,
            chunk_delay_ms,
            chunk_chars: chunk_chars.unwrap_or(DEFAULT_CHUNK_CHARS),
        }
    }
}

/// Default characters per text delta.
pub const DEFAULT_CHUNK_CHARS: usize = 24;

pub(crate) type Counters = HashMap<(usize, String), u64>;

/// The engine's answer when no rule produced content.
fn default_text(req: &RequestView, ctx: &Ctx) -> String {
    if req.side {
        match &req.json_schema {
            Some(schema) => schema_sample(schema).to_string(),
            None => "Fake side reply.".to_string(),
        }
    } else if req.turn == Turn::ToolResult {
        format!("Tool finished: {}", ctx.expand("{{result_line}}"))
    } else {
        format!("Fake reply: {}", ctx.expand("{{prompt_line}}"))
    }
}

/// A value that satisfies a (simple) JSON schema, e.g. `{"title": "Fake title"}`.
pub fn schema_sample(schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut o = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    let sample = match v.get("type").and_then(Value::as_str) {
                        Some("string") | None => Value::String(format!("Fake {k}")),
                        _ => schema_sample(v),
                    };
                    o.insert(k.clone(), sample);
                }
            }
            Value::Object(o)
        }
        Some("array") => json!([]),
        Some("boolean") => json!(false),
        Some("integer") | Some("number") => json!(0),
        Some("null") => Value::Null,
        _ => Value::String("Fake".into()),
    }
}

/// Anthropic's error body for a status (`{"type":"error","error":{"type":…,"message":…}}`).
pub fn error_body(status: u16, custom: Option<Value>) -> Value {
    let (ty, msg) = match status {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "Permission denied"),
        404 => ("not_found_error", "Not found"),
        413 => ("request_too_large", "Request exceeds the maximum allowed size"),
        429 => ("rate_limit_error", "Rate limited"),
        500 => ("api_error", "Internal server error"),
        503 => ("api_error", "Service unavailable"),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Fake API error"),
    };
    match custom {
        Some(Value::Object(o)) => Value::Object(o),
        Some(Value::String(m)) => json!({"type":"error","error":{"type":ty,"message":m}}),
        _ => json!({"type":"error","error":{"type":ty,"message":msg}}),
    }
}

/// What the server sends for one request.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    pub rule: Option<String>,
    pub status: u16,
    pub error_body: Option<Value>,
    pub headers: Vec<(String, String)>,
    pub stop_reason: Option<String>,
    pub blocks: Vec<OutBlock>,
    pub delay_ms: u64,
    pub chunk_delay_ms: u64,
    pub chunk_chars: usize,
}

/// A content block of an answer, templates expanded.
#[derive(Debug, Clone, PartialEq)]
pub enum OutBlock {
    Text(String),
    ToolUse { id: String, name: String, input: Value },
}

/// A fresh id such as `toolu_01…` / `msg_01…` (22 base62 characters, unique per process).
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut x = nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (std::process::id() as u64) << 32;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from(prefix);
    for _ in 0..22 {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        s.push(ALPHABET[(v >> 58) as usize % ALPHABET.len()] as char);
    }
    s
}

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{([^{}]*)\}\}").unwrap())
}

/// First non-empty line, trimmed, cut to `max` characters.
pub fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    line.chars().take(max).collect()
}

/// Template context: captures plus request facts.
struct Ctx<'a> {
    req: &'a RequestView,
    vars: HashMap<String, String>,
}

impl<'a> Ctx<'a> {
    /// `caps` are the captures of `re`: numbered groups become `{{N}}`, named groups `{{name}}`.
    fn new(req: &'a RequestView, caps: Option<&Captures>, re: Option<&Regex>) -> Ctx<'a> {
        let mut vars = HashMap::new();
        if let Some(c) = caps {
            for (i, m) in c.iter().enumerate() {
                vars.insert(i.to_string(), m.map(|m| m.as_str().to_string()).unwrap_or_default());
            }
            if let Some(re) = re {
                for name in re.capture_names().flatten() {
                    let v = c.name(name).map(|m| m.as_str().to_string()).unwrap_or_default();
                    vars.insert(name.to_string(), v);
                }
            }
        }
        Ctx { req, vars }
    }

    fn abs(&self, p: &str) -> String {
        let p = p.trim();
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{}", self.req.cwd.trim_end_matches('/'), p.trim_start_matches("./"))
        }
    }

    fn lookup(&self, key: &str) -> Option<String> {
        let (key, default) = match key.split_once('|') {
            Some((k, d)) => (k.trim(), Some(d)),
            None => (key.trim(), None),
        };
        let v = if let Some(n) = key.strip_prefix("abs:") {
            self.vars.get(n.trim()).map(|p| self.abs(p))
        } else {
            match key {
                "cwd" => Some(self.req.cwd.clone()),
                "model" => Some(self.req.model.clone()),
                "prompt" => Some(self.req.prompt.clone()),
                "prompt_line" => Some(first_line(&self.req.prompt, 60)),
                "text" => Some(self.req.last_text.clone()),
                "result" => Some(self.req.last_text.clone()),
                "result_line" => Some(first_line(&self.req.last_text, 60)),
                "tool" => Some(self.req.result_tools.first().cloned().unwrap_or_default()),
                "plan_file" => Some(self.req.plan_file.clone().unwrap_or_else(|| self.abs("PLAN.md"))),
                k => self.vars.get(k).cloned(),
            }
        };
        match (v, default) {
            (Some(v), Some(d)) if v.is_empty() => Some(d.to_string()),
            (None, Some(d)) => Some(d.to_string()),
            (v, _) => v,
        }
    }

    fn expand(&self, s: &str) -> String {
        placeholder_re()
            .replace_all(s, |c: &Captures| self.lookup(&c[1]).unwrap_or_else(|| c[0].to_string()))
            .into_owned()
    }

    fn expand_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                let t = s.trim();
                if let Some(k) = t.strip_prefix("{{json:").and_then(|r| r.strip_suffix("}}")) {
                    let raw = self.lookup(k).unwrap_or_default();
                    return serde_json::from_str(&raw).unwrap_or(Value::String(raw));
                }
                Value::String(self.expand(s))
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.expand_value(x)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), self.expand_value(x))).collect()),
            other => other.clone(),
        }
    }

    fn num(&self, t: &NumOrTemplate) -> Option<u64> {
        match t {
            NumOrTemplate::Num(n) => Some(*n),
            NumOrTemplate::Template(s) => self.expand(s).trim().parse().ok(),
        }
    }
}
