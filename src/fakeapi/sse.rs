//! Encoding of an answer as Anthropic SSE events or as a non-streaming message.

use serde_json::{json, Value};

use super::script::OutBlock;

/// One server-sent event: `event: <name>\ndata: <json>\n\n`.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: &'static str,
    pub data: Value,
}

impl SseEvent {
    pub fn encode(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name, self.data)
    }

    /// A `content_block_delta` (the events the chunk delay is applied between).
    pub fn is_delta(&self) -> bool {
        self.name == "content_block_delta"
    }
}

/// A full answer: message id, model, content and usage.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    pub model: String,
    pub blocks: Vec<OutBlock>,
    pub stop_reason: String,
    pub input_tokens: u64,
}

impl Answer {
    pub fn new(id: String, model: String, blocks: Vec<OutBlock>, stop: Option<String>, input_tokens: u64) -> Answer {
        let has_tool = blocks.iter().any(|b| matches!(b, OutBlock::ToolUse { .. }));
        let stop_reason = stop.unwrap_or_else(|| if has_tool { "tool_use" } else { "end_turn" }.into());
        Answer { id, model, blocks, stop_reason, input_tokens }
    }

    /// Rough output token count (4 characters per token).
    pub fn output_tokens(&self) -> u64 {
        let chars: usize = self
            .blocks
            .iter()
            .map(|b| match b {
                OutBlock::Text(t) => t.chars().count(),
                OutBlock::ToolUse { name, input, .. } => name.len() + input.to_string().len(),
            })
            .sum();
        (chars as u64).div_ceil(4).max(1)
    }

    fn usage(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        })
    }

    fn block_json(b: &OutBlock) -> Value {
        match b {
            OutBlock::Text(t) => json!({"type": "text", "text": t}),
            OutBlock::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
        }
    }

    /// The non-streaming response body.
    pub fn message_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks.iter().map(Answer::block_json).collect::<Vec<_>>(),
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
            "usage": self.usage(self.output_tokens()),
        })
    }

    /// The SSE events of a streaming response. Text is split into deltas of `chunk_chars`
    /// characters, tool input JSON into `input_json_delta`s of the same size.
    pub fn events(&self, chunk_chars: usize) -> Vec<SseEvent> {
        let chunk_chars = chunk_chars.max(1);
        let mut ev = vec![SseEvent {
            name: "message_start",
            data: json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": self.usage(1),
                }
            }),
        }];
        for (index, b) in self.blocks.iter().enumerate() {
            let (start, deltas) = match b {
                OutBlock::Text(t) => (
                    json!({"type": "text", "text": ""}),
                    split_chars(t, chunk_chars)
                        .into_iter()
                        .map(|c| json!({"type": "text_delta", "text": c}))
                        .collect::<Vec<_>>(),
                ),
                OutBlock::ToolUse { id, name, input } => (
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    split_chars(&input.to_string(), chunk_chars)
                        .into_iter()
                        .map(|c| json!({"type": "input_json_delta", "partial_json": c}))
                        .collect::<Vec<_>>(),
                ),
            };
            ev.push(SseEvent {
                name: "content_block_start",
                data: json!({"type": "content_block_start", "index": index, "content_block": start}),
            });
            if index == 0 {
                ev.push(SseEvent { name: "ping", data: json!({"type": "ping"}) });
            }
            for d in deltas {
                ev.push(SseEvent {
                    name: "content_block_delta",
                    data: json!({"type": "content_block_delta", "index": index, "delta": d}),
                });
            }
            ev.push(SseEvent {
                name: "content_block_stop",
                data: json!({"type": "content_block_stop", "index": index}),
            });
        }
        ev.push(SseEvent {
            name: "message_delta",
            data: json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens()},
            }),
        });
        ev.push(SseEvent { name: "message_stop", data: json!({"type": "message_stop"}) });
        ev
    }
}

/// Splits into pieces of at most `n` characters (never inside a UTF-8 character).
pub fn split_chars(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}
