//! Unit tests: request parsing, matching, templating, times, SSE encoding, HTTP surface.

use serde_json::{json, Value};

use super::script::Counters;
use super::*;

fn main_req(messages: Value) -> Value {
    json!({
        "model": "claude-test",
        "stream": true,
        "system": [{"type": "text", "text": "You are CC.\n - Primary working directory: /work/proj\n"}],
        "tools": [{"name": "Bash"}, {"name": "Write"}, {"name": "Read"}, {"name": "Edit"}],
        "messages": messages,
    })
}

fn prompt_req(text: &str) -> Value {
    main_req(json!([{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nstuff\n</system-reminder>\n"},
        {"type": "text", "text": text}
    ]}]))
}

fn tool_result_req(prompt: &str, tool: &str, result: &str) -> Value {
    main_req(json!([
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_x", "name": tool, "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": result}]},
        {"role": "system", "content": "# Environment\n - Primary working directory: /work/proj"}
    ]))
}

fn respond(script: &Script, body: &Value, counters: &mut Counters) -> script::Selected {
    script.respond(&RequestView::parse(body), counters)
}

fn texts(sel: &script::Selected) -> Vec<String> {
    sel.blocks
        .iter()
        .filter_map(|b| match b {
            OutBlock::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn tools(sel: &script::Selected) -> Vec<(String, Value)> {
    sel.blocks
        .iter()
        .filter_map(|b| match b {
            OutBlock::ToolUse { name, input, .. } => Some((name.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn parse_prompt_skips_reminders_and_system_messages() {
    let mut body = prompt_req("hello there\nsecond line");
    body["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "system", "content": [{"type": "text", "text": "# Environment"}]}));
    let v = RequestView::parse(&body);
    assert_eq!(v.turn, Turn::Prompt);
    assert_eq!(v.last_text, "hello there\nsecond line");
    assert_eq!(v.prompt, "hello there\nsecond line");
    assert_eq!(v.cwd, "/work/proj");
    assert!(!v.side);
    assert!(v.stream);
}

#[test]
fn parse_tool_result_turn() {
    let v = RequestView::parse(&tool_result_req("BASH(echo hi)", "Bash", "hi\nthere"));
    assert_eq!(v.turn, Turn::ToolResult);
    assert_eq!(v.last_text, "hi\nthere");
    assert_eq!(v.prompt, "BASH(echo hi)");
    assert_eq!(v.result_tools, vec!["Bash".to_string()]);
}

#[test]
fn parse_plan_file_and_schema() {
    let body = json!({
        "model": "m",
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}},
        "messages": [{"role": "user", "content": "<system-reminder>Plan mode. Write your plan to /h/.claude/plans/quiet-fox.md using Write.</system-reminder>\n<session>\nhi\n</session>\n\nWrite the title"}]
    });
    let v = RequestView::parse(&body);
    assert!(v.side);
    assert_eq!(v.plan_file.as_deref(), Some("/h/.claude/plans/quiet-fox.md"));
    let sel = respond(&Script::builtin(), &body, &mut Counters::new());
    let t: Value = serde_json::from_str(&texts(&sel)[0]).unwrap();
    assert_eq!(t, json!({"title": "Fake title"}));
}

#[test]
fn builtin_plain_text_echoes_first_line() {
    let s = Script::builtin();
    let long = "x".repeat(100);
    let sel = respond(&s, &prompt_req(&format!("{long}\nmore")), &mut Counters::new());
    assert_eq!(texts(&sel), vec![format!("Fake reply: {}", "x".repeat(60))]);
    assert!(tools(&sel).is_empty());
    assert_eq!(sel.rule.as_deref(), Some("fake_reply"));
}

#[test]
fn side_requests_never_get_tools_or_errors() {
    let s = Script::builtin();
    let body = json!({"model": "m", "stream": true, "tools": [], "messages": [
        {"role": "user", "content": "<session>\nBASH(echo hi) ERROR(500)\n</session>\n\nWrite the title"}]});
    let mut c = Counters::new();
    let sel = respond(&s, &body, &mut c);
    assert_eq!(sel.status, 200);
    assert!(tools(&sel).is_empty());
    assert_eq!(texts(&sel), vec!["Fake side reply.".to_string()]);
    assert!(c.is_empty(), "side requests consume no counters");
}

#[test]
fn builtin_bash_then_tool_finished() {
    let s = Script::builtin();
    let mut c = Counters::new();
    let sel = respond(&s, &prompt_req("please BASH(echo a) now"), &mut c);
    let t = tools(&sel);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].0, "Bash");
    assert_eq!(t[0].1["command"], "echo a");
    let sel = respond(&s, &tool_result_req("BASH(echo a)", "Bash", "\na\nb"), &mut c);
    assert_eq!(texts(&sel), vec!["Tool finished: a".to_string()]);
    assert!(tools(&sel).is_empty());
}

#[test]
fn builtin_two_bash() {
    let sel = respond(&Script::builtin(), &prompt_req("TWO_BASH(echo one;echo two)"), &mut Counters::new());
    let t = tools(&sel);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].1["command"], "echo one");
    assert_eq!(t[1].1["command"], "echo two");
}

#[test]
fn builtin_write_makes_path_absolute() {
    let s = Script::builtin();
    let sel = respond(&s, &prompt_req("WRITE(out/a.txt)"), &mut Counters::new());
    let t = tools(&sel);
    assert_eq!(t[0].0, "Write");
    assert_eq!(t[0].1["file_path"], "/work/proj/out/a.txt");
    assert_eq!(t[0].1["content"], "Written by the fake model.\n");
    let sel = respond(&s, &prompt_req("WRITE(/abs/b.txt:hi there)"), &mut Counters::new());
    let t = tools(&sel);
    assert_eq!(t[0].1["file_path"], "/abs/b.txt");
    assert_eq!(t[0].1["content"], "hi there\n");
}

#[test]
fn builtin_edit_reads_first() {
    let s = Script::builtin();
    let mut c = Counters::new();
    let p = "EDIT(f.txt:old text->new text)";
    let sel = respond(&s, &prompt_req(p), &mut c);
    assert_eq!(tools(&sel)[0].0, "Read");
    assert_eq!(tools(&sel)[0].1["file_path"], "/work/proj/f.txt");
    let sel = respond(&s, &tool_result_req(p, "Read", "1\told text"), &mut c);
    let t = tools(&sel);
    assert_eq!(t[0].0, "Edit");
    assert_eq!(t[0].1["old_string"], "old text");
    assert_eq!(t[0].1["new_string"], "new text");
    let sel = respond(&s, &tool_result_req(p, "Edit", "The file has been updated"), &mut c);
    assert_eq!(texts(&sel), vec!["Tool finished: The file has been updated".to_string()]);
}

#[test]
fn builtin_ask_presets_and_json() {
    let s = Script::builtin();
    for (marker, n, multi) in [("ASK_ONE", 1, false), ("ASK_MULTI", 1, true), ("ASK_TWO", 2, false)] {
        let sel = respond(&s, &prompt_req(marker), &mut Counters::new());
        let t = tools(&sel);
        assert_eq!(t[0].0, "AskUserQuestion", "{marker}");
        let q = t[0].1["questions"].as_array().unwrap();
        assert_eq!(q.len(), n, "{marker}");
        assert_eq!(q[0]["multiSelect"], multi);
        assert!(q[0]["options"][0]["label"].is_string());
        assert!(q[0]["header"].is_string());
    }
    let sel = respond(
        &s,
        &prompt_req(
            r#"ASK([{"question":"Q?","header":"H","multiSelect":false,"options":[{"label":"A","description":"a"},{"label":"B","description":"b"}]}])"#,
        ),
        &mut Counters::new(),
    );
    assert_eq!(tools(&sel)[0].1["questions"][0]["question"], "Q?");
}

#[test]
fn builtin_plan_writes_plan_file_then_exits() {
    let s = Script::builtin();
    let mut c = Counters::new();
    let mut body = prompt_req("PLAN");
    body["messages"][0]["content"][0]["text"] =
        json!("<system-reminder>Plan mode is active. create your plan at /h/.claude/plans/x-y.md</system-reminder>");
    let sel = respond(&s, &body, &mut c);
    let t = tools(&sel);
    assert_eq!(t[0].0, "Write");
    assert_eq!(t[0].1["file_path"], "/h/.claude/plans/x-y.md");
    let mut body = tool_result_req("PLAN", "Write", "File created successfully at: /h/.claude/plans/x-y.md");
    let sel = respond(&s, &body, &mut c);
    let t = tools(&sel);
    assert_eq!(t[0].0, "ExitPlanMode");
    assert_eq!(t[0].1["planFilePath"], "/h/.claude/plans/x-y.md");
    body["messages"][1]["content"][0]["name"] = json!("ExitPlanMode");
    let sel = respond(&s, &body, &mut c);
    assert!(texts(&sel)[0].starts_with("Tool finished: "));
    let sel = respond(&s, &prompt_req("EXIT_PLAN"), &mut c);
    assert_eq!(tools(&sel)[0].0, "ExitPlanMode");
    assert!(tools(&sel)[0].1["plan"].as_str().unwrap().starts_with("# Plan"));
}

#[test]
fn builtin_error_times_then_normal() {
    let s = Script::builtin();
    let mut c = Counters::new();
    let body = prompt_req("ERROR(500x2)");
    assert_eq!(respond(&s, &body, &mut c).status, 500);
    assert_eq!(respond(&s, &body, &mut c).status, 500);
    let sel = respond(&s, &body, &mut c);
    assert_eq!(sel.status, 200);
    assert_eq!(texts(&sel), vec!["Fake reply: ERROR(500x2)".to_string()]);
    // Without a count it fails every time.
    for _ in 0..5 {
        let sel = respond(&s, &prompt_req("ERROR(529)"), &mut c);
        assert_eq!(sel.status, 529);
        assert_eq!(sel.error_body.as_ref().unwrap()["error"]["type"], "overloaded_error");
    }
}

#[test]
fn builtin_slow_is_a_modifier() {
    let s = Script::builtin();
    let sel = respond(&s, &prompt_req("SLOW(1500) BASH(echo x)"), &mut Counters::new());
    assert_eq!(sel.delay_ms, 1500);
    assert_eq!(tools(&sel)[0].1["command"], "echo x");
    let sel = respond(&s, &prompt_req("STREAM_SLOW"), &mut Counters::new());
    assert!(sel.chunk_delay_ms > 0);
    assert!(texts(&sel)[0].len() / sel.chunk_chars * sel.chunk_delay_ms as usize >= 3000);
}

#[test]
fn custom_script_first_match_times_and_fallthrough() {
    let s = Script::from_json(
        r#"{"rules": [
            {"name": "fail", "match": "go", "status": 500, "times": 2, "headers": {"retry-after": "1"}},
            {"name": "auth", "match": "login", "status": 401},
            {"name": "ok", "match": "g(?<what>o+)", "text": "matched {{1}} / {{what}} in {{cwd}}", "delay_ms": 5, "chunk_delay_ms": 7},
            {"name": "after", "after_tool": "Bash", "prompt": "run (\\w+)", "text": "ran {{1}}: {{result_line}}"}
        ]}"#,
    )
    .unwrap();
    let mut c = Counters::new();
    let sel = respond(&s, &prompt_req("gooo"), &mut c);
    assert_eq!((sel.status, sel.rule.as_deref()), (500, Some("fail")));
    assert_eq!(sel.headers, vec![("retry-after".to_string(), "1".to_string())]);
    assert_eq!(respond(&s, &prompt_req("go again"), &mut c).status, 500);
    let sel = respond(&s, &prompt_req("gooo"), &mut c);
    assert_eq!(sel.status, 200);
    assert_eq!(texts(&sel), vec!["matched ooo / ooo in /work/proj".to_string()]);
    assert_eq!((sel.delay_ms, sel.chunk_delay_ms), (5, 7));
    assert_eq!(respond(&s, &prompt_req("login"), &mut c).status, 401);
    let sel = respond(&s, &tool_result_req("run tests", "Bash", "all fine"), &mut c);
    assert_eq!(texts(&sel), vec!["ran tests: all fine".to_string()]);
    // Builtins are appended by default.
    let sel = respond(&s, &prompt_req("BASH(ls)"), &mut c);
    assert_eq!(tools(&sel)[0].0, "Bash");
}

#[test]
fn script_without_builtin_and_bare_array() {
    let s = Script::from_json(r#"{"builtin": false, "rules": [{"match": "x", "text": "X"}]}"#).unwrap();
    assert_eq!(s.len(), 1);
    let sel = respond(&s, &prompt_req("BASH(ls)"), &mut Counters::new());
    assert_eq!(texts(&sel), vec!["Fake reply: BASH(ls)".to_string()]);
    let s = Script::from_json(r#"[{"match": "x", "text": "X"}]"#).unwrap();
    assert_eq!(s.len(), 1 + Script::builtin().len());
    assert!(Script::from_json(r#"[{"match": "(", "text": "X"}]"#).is_err());
    assert!(Script::from_json(r#"[{"mtch": "x"}]"#).is_err());
    let s: Script = serde_json::from_str(r#"[{"match": "x", "text": "X"}]"#).unwrap();
    assert!(!s.is_empty());
}

#[test]
fn sse_event_sequence_text_and_tool() {
    let a = Answer::new(
        "msg_1".into(),
        "m".into(),
        vec![
            OutBlock::Text("héllo wörld".into()),
            OutBlock::ToolUse { id: "toolu_1".into(), name: "Bash".into(), input: json!({"command": "echo hi"}) },
        ],
        None,
        10,
    );
    let ev = a.events(4);
    let names: Vec<&str> = ev.iter().map(|e| e.name).collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let text: String = ev.iter().filter_map(|e| e.data.pointer("/delta/text").and_then(Value::as_str)).collect();
    assert_eq!(text, "héllo wörld");
    let json_s: String =
        ev.iter().filter_map(|e| e.data.pointer("/delta/partial_json").and_then(Value::as_str)).collect();
    assert_eq!(serde_json::from_str::<Value>(&json_s).unwrap(), json!({"command": "echo hi"}));
    let delta = ev.iter().find(|e| e.name == "message_delta").unwrap();
    assert_eq!(delta.data["delta"]["stop_reason"], "tool_use");
    assert!(delta.data["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let tool_start = ev.iter().find(|e| e.name == "content_block_start" && e.data["index"] == 1).unwrap();
    assert_eq!(tool_start.data["content_block"]["id"], "toolu_1");
    assert_eq!(tool_start.data["content_block"]["input"], json!({}));
    assert_eq!(ev[0].encode(), format!("event: message_start\ndata: {}\n\n", ev[0].data));
    let m = a.message_json();
    assert_eq!(m["content"][1]["input"]["command"], "echo hi");
    assert_eq!(m["stop_reason"], "tool_use");
}

#[test]
fn ids_look_real_and_are_unique() {
    let a = new_id("toolu_01");
    let b = new_id("toolu_01");
    assert_ne!(a, b);
    assert_eq!(a.len(), "toolu_01".len() + 22);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
}

// ---- HTTP surface, with a tiny raw HTTP/1.1 client ----

async fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out).to_string();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), rest.to_string())
}

#[tokio::test]
async fn http_streaming_json_errors_and_recording() {
    let api = FakeApi::start(Script::builtin()).await.unwrap();
    let base = api.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));

    let (st, head, body) = http(&base, "POST", "/v1/messages?beta=true", &prompt_req("hi").to_string()).await;
    assert_eq!(st, 200);
    assert!(head.to_lowercase().contains("text/event-stream"));
    assert!(body.contains("event: message_start"));
    assert!(body.contains("Fake reply: hi"));
    assert!(body.contains("event: message_stop"));

    let mut req = prompt_req("hello json");
    req["stream"] = json!(false);
    let (st, _, body) = http(&base, "POST", "/v1/messages", &req.to_string()).await;
    assert_eq!(st, 200);
    assert!(body.contains("\"text\":\"Fake reply: hello json\""), "{body}");

    let (st, _, body) = http(&base, "POST", "/v1/messages", &prompt_req("ERROR(429)").to_string()).await;
    assert_eq!(st, 429);
    assert!(body.contains("rate_limit_error"));

    let (st, _, body) = http(&base, "POST", "/v1/messages/count_tokens", &prompt_req("x").to_string()).await;
    assert_eq!(st, 200);
    assert!(body.contains("input_tokens"));

    let (st, _, body) = http(&base, "GET", "/v1/models", "").await;
    assert_eq!(st, 404);
    assert!(body.contains("not_found_error"));

    let (st, _, _) = http(&base, "POST", "/v1/messages", "not json").await;
    assert_eq!(st, 400);

    let r = api.requests();
    assert_eq!(r.len(), 6);
    assert_eq!(r[0].last_user_text, "hi");
    assert!(r[0].main_loop);
    assert_eq!(r[0].tools.len(), 4);
    assert_eq!(r[0].path, "/v1/messages");
    assert_eq!(r[0].reply_text, "Fake reply: hi");
    assert_eq!(r[2].status, 429);
    assert_eq!(r[4].status, 404);
    assert_eq!(api.main_requests().len(), 3);

    api.set_script(Script::from_json(r#"[{"match": "hi", "text": "swapped"}]"#).unwrap());
    let (_, _, body) = http(&base, "POST", "/v1/messages", &prompt_req("hi").to_string()).await;
    assert!(body.contains("swapped"));
    api.shutdown().await;
    assert!(tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.is_err());
}

#[tokio::test]
async fn http_chunk_delay_and_shutdown_ends_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = FakeApi::start(
        Script::from_json(r#"[{"match": "slow", "text": "abcdefghij", "chunk_chars": 1, "chunk_delay_ms": 100}]"#)
            .unwrap(),
    )
    .await
    .unwrap();
    let base = api.base_url();
    let t0 = std::time::Instant::now();
    let (_, _, body) = http(&base, "POST", "/v1/messages", &prompt_req("slow").to_string()).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(850));
    assert_eq!(body.matches("text_delta").count(), 10);

    // A never-ending stream is cut by shutdown.
    api.set_script(
        Script::from_json(r#"[{"match": "slow", "text": "abcdefghij", "chunk_chars": 1, "chunk_delay_ms": 60000}]"#)
            .unwrap(),
    );
    let addr = base.trim_start_matches("http://").to_string();
    let body = prompt_req("slow").to_string();
    let reader = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!("POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).to_string()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let t0 = std::time::Instant::now();
    api.shutdown().await;
    let out = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
        .await
        .expect("connection closed after shutdown")
        .unwrap();
    assert!(out.contains("message_start"));
    assert!(t0.elapsed() < std::time::Duration::from_secs(4));
}

#[test]
fn a_prompt_after_a_refused_tool_is_a_prompt_turn() {
    let v = RequestView::parse(&json!({
        "model": "m", "tools": [{"name": "Write"}],
        "messages": [
            {"role": "user", "content": "WRITE(a.txt:x)"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_w", "name": "Write", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_w", "content": "The user doesn't want to proceed"},
                {"type": "text", "text": "ASK_ONE"}
            ]}
        ]
    }));
    assert_eq!(v.turn, Turn::Prompt);
    assert_eq!(v.last_text, "ASK_ONE");
    assert_eq!(v.prompt, "ASK_ONE");
}
