//! `aegis mcp` driven by a real MCP client (rmcp over the child's stdio), against a live server.
mod cli_rig;

use cli_rig::Rig;
use rmcp::{
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::{ConfigureCommandExt as _, TokioChildProcess},
    RoleClient, ServiceExt as _,
};
use serde_json::{json, Value};

type Client = RunningService<RoleClient, ()>;

async fn mcp_client(address: &str) -> Client {
    let cmd = tokio::process::Command::new(cli_rig::cli_bin()).configure(|c| {
        c.arg("--address").arg(address).arg("mcp").env_remove("AEGIS_TOKEN");
    });
    let transport = TokioChildProcess::new(cmd).expect("spawn aegis mcp");
    ().serve(transport).await.expect("MCP initialize")
}

/// Calls a tool; returns (is_error, structured JSON).
async fn call(client: &Client, tool: &str, args: Value) -> (bool, Value) {
    let params =
        CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().cloned().unwrap_or_default());
    let r: CallToolResult = client.call_tool(params).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
    let v = r.structured_content.clone().unwrap_or(Value::Null);
    (r.is_error.unwrap_or(false), v)
}

/// Calls a tool that must succeed.
async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let (err, v) = call(client, tool, args).await;
    assert!(!err, "{tool} failed: {v:#}");
    v
}

const TOOLS: [&str; 18] = [
    "answer_question",
    "approve_permission",
    "batch_create_sessions",
    "capture_pane",
    "create_session",
    "escape_session",
    "get_session_summary",
    "get_status",
    "get_transcript",
    "interrupt_session",
    "kill_session",
    "list_sessions",
    "reject_permission",
    "send_bash",
    "send_command",
    "send_message",
    "server_health",
    "wait_for_state",
];

#[tokio::test]
async fn lists_tools_and_reports_an_unreachable_server_as_a_tool_error() {
    let client = mcp_client("http://127.0.0.1:1").await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "aegis");
    assert!(info.instructions.as_deref().unwrap_or("").contains("interaction"), "instructions explain the flow");
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, TOOLS);
    let create = tools.iter().find(|t| t.name == "create_session").unwrap();
    let props = create.input_schema.get("properties").and_then(|p| p.as_object()).unwrap();
    for field in ["work_dir", "prompt", "request_id", "wait", "wait_timeout_seconds"] {
        assert!(props.contains_key(field), "create_session lacks {field}: {props:?}");
    }
    let (err, v) = call(&client, "server_health", json!({})).await;
    assert!(err, "server_health must fail without a server: {v}");
    assert_eq!(v["error"]["code"], "Unavailable", "{v}");
    // Bad arguments are tool errors too, not protocol failures.
    let (err, v) = call(&client, "list_sessions", json!({"states": ["NOPE"]})).await;
    assert!(err && v["error"]["message"].as_str().unwrap().contains("unknown state"), "{v}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_flow_over_mcp() {
    let rig = Rig::start();
    let client = mcp_client(&rig.address).await;
    let work = rig.work_dir();

    let h = ok(&client, "server_health", json!({})).await;
    assert_eq!(h["healthy"], true, "{h}");
    assert!(h["cc_version"].as_str().unwrap().contains(cli_rig::CC_VERSION), "{h}");

    let args = json!({"work_dir": work, "prompt": "hello mcp", "request_id": "mcp-prompt-1", "permission_mode": "default", "labels": {"suite": "mcp"}});
    let c = ok(&client, "create_session", args.clone()).await;
    assert_eq!(c["wait"]["satisfied"], true, "{c}");
    assert_eq!(c["session"]["state"], "IDLE", "{c}\n{}", rig.server_log());
    let id = c["session"]["id"].as_str().unwrap().to_string();
    // Same request_id, same parameters: the same session, not a second CC.
    let again = ok(&client, "create_session", args).await;
    assert_eq!(again["session"]["id"], id.as_str());

    let l = ok(&client, "list_sessions", json!({"labels": {"suite": "mcp"}})).await;
    assert_eq!(l["sessions"].as_array().unwrap().len(), 1, "{l}");

    let s = ok(&client, "send_message", json!({"session_id": id, "text": "second turn"})).await;
    assert_eq!(s["wait"]["satisfied"], true, "{s}");
    assert_eq!(s["session"]["state"], "IDLE");
    assert!(s["session"]["last_assistant_message"].as_str().unwrap_or("").contains("Fake reply: second turn"), "{s}");

    let t = ok(&client, "get_transcript", json!({"session_id": id, "kinds": ["ASSISTANT_TEXT"]})).await;
    let texts: Vec<&str> = t["entries"].as_array().unwrap().iter().filter_map(|e| e["text"].as_str()).collect();
    assert!(texts.iter().any(|x| x.contains("Fake reply: hello mcp")), "{t}");
    // Non-destructive and resumable: from next_cursor nothing new; from 0 everything again.
    let next = t["next_cursor"].as_i64().unwrap();
    let t2 = ok(&client, "get_transcript", json!({"session_id": id, "cursor": next})).await;
    assert_eq!(t2["entries"].as_array().unwrap().len(), 0, "{t2}");
    let t3 = ok(&client, "get_transcript", json!({"session_id": id, "kinds": ["ASSISTANT_TEXT"]})).await;
    assert_eq!(t3["entries"], t["entries"]);

    let sum = ok(&client, "get_session_summary", json!({"session_id": id})).await;
    assert_eq!(sum["state"], "IDLE");
    assert!(sum["recent_messages"].as_array().unwrap().len() >= 2, "{sum}");

    let p = ok(&client, "capture_pane", json!({"session_id": id})).await;
    assert!(!p["text"].as_str().unwrap().trim().is_empty());

    // A wait with nothing happening times out without an error.
    let w = ok(&client, "wait_for_state", json!({"session_id": id, "timeout_seconds": 2})).await;
    assert_eq!(w["wait"]["satisfied"], false, "{w}");

    let (err, e) = call(&client, "get_status", json!({"session_id": "no-such-session"})).await;
    assert!(err, "{e}");
    assert_eq!(e["error"]["reason"], "SESSION_NOT_FOUND", "{e}");

    let k = ok(&client, "kill_session", json!({"session_id": id})).await;
    assert_eq!(k["session"]["state"], "EXITED", "{k}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_flow_over_mcp() {
    let rig = Rig::start();
    let client = mcp_client(&rig.address).await;
    let work = rig.work_dir();

    let c = ok(
        &client,
        "create_session",
        json!({"work_dir": work, "prompt": "ASK_ONE", "permission_mode": "default", "request_id": "mcp-question-1"}),
    )
    .await;
    assert_eq!(c["session"]["state"], "ASK_QUESTION", "{c}\n{}", rig.server_log());
    let id = c["session"]["id"].as_str().unwrap().to_string();

    let st = ok(&client, "get_status", json!({"session_id": id})).await;
    assert_eq!(st["stable"], true);
    let p = &st["pending_interactions"][0];
    assert_eq!(p["kind"], "QUESTION", "{st}");
    let q = &p["questions"][0];
    assert_eq!(q["question"], "Which recovery strategy?", "{st}");
    let labels: Vec<&str> = q["options"].as_array().unwrap().iter().filter_map(|o| o["label"].as_str()).collect();
    assert!(labels.contains(&"Auto-restart"), "{st}");
    assert!(st["next_step"].as_str().unwrap().contains("answer_question"), "{st}");
    let interaction = p["id"].as_str().unwrap().to_string();

    let a = ok(
        &client,
        "answer_question",
        json!({"session_id": id, "interaction_id": interaction, "answers": [{"question": "Which recovery strategy?", "selected_labels": ["Auto-restart"]}]}),
    )
    .await;
    assert_eq!(a["wait"]["satisfied"], true, "{a}");
    assert_eq!(a["session"]["state"], "IDLE", "{a}");
    assert_eq!(a["session"]["pending_interactions"].as_array().unwrap().len(), 0);

    // Answering again: the interaction is no longer pending.
    let (err, e) = call(
        &client,
        "answer_question",
        json!({"session_id": id, "interaction_id": interaction, "answers": [{"question": "Which recovery strategy?", "selected_labels": ["Clean up"]}]}),
    )
    .await;
    assert!(err, "{e}");
    assert_eq!(e["error"]["reason"], "INTERACTION_NOT_PENDING", "{e}");

    let w = ok(
        &client,
        "wait_for_state",
        json!({"session_id": id, "states": ["IDLE"], "timeout_seconds": 2, "after_revision": 1}),
    )
    .await;
    assert_eq!(w["wait"]["satisfied"], true, "{w}");

    let k = ok(&client, "kill_session", json!({"session_id": id})).await;
    assert_eq!(k["session"]["state"], "EXITED");
    client.cancel().await.unwrap();
}
