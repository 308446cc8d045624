//! Scripted fake Anthropic Messages API.
//!
//! The real Claude Code CLI talks to it through `ANTHROPIC_BASE_URL`. Answers are chosen by a
//! [`Script`]: a list of rules matched against the last user turn of each request (see
//! `docs/fake-api.md` for the format and the built-in vocabulary of [`Script::builtin`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use aegis::fakeapi::{FakeApi, Script};
//! let api = FakeApi::start(Script::builtin()).await?;
//! println!("ANTHROPIC_BASE_URL={}", api.base_url());
//! api.shutdown().await;
//! # Ok(()) }
//! ```

mod request;
mod script;
mod sse;

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use request::{strip_reminders, RequestView, Turn};
pub use script::{
    error_body, first_line, new_id, schema_sample, BlockDef, NumOrTemplate, OutBlock, RuleDef, Script, TimesScope,
    DEFAULT_CHUNK_CHARS,
};
pub use sse::{split_chars, Answer, SseEvent};

/// One request seen by the fake API, for test assertions.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// 0-based arrival order.
    pub seq: u64,
    pub method: String,
    /// Path without the query (`/v1/messages`, `/v1/messages/count_tokens`, …).
    pub path: String,
    pub model: Option<String>,
    pub stream: bool,
    /// A main-loop request (tools offered) as opposed to a side request (title generation, …).
    pub main_loop: bool,
    /// Names of the tools offered.
    pub tools: Vec<String>,
    /// `prompt` or `tool_result` (None for non-message paths).
    pub turn: Option<Turn>,
    /// Text of the last user turn (prompt text without system reminders, or tool results).
    pub last_user_text: String,
    /// The text blocks of the last user turn exactly as sent (see `RequestView::user_blocks`).
    pub user_blocks: Vec<String>,
    /// Latest typed prompt of the conversation.
    pub prompt: String,
    /// Tools whose results make up the last user turn.
    pub result_tools: Vec<String>,
    /// Name of the rule that answered (None = engine default / not a message request).
    pub rule: Option<String>,
    /// Names of the tool_use blocks answered.
    pub reply_tools: Vec<String>,
    /// Text of the answer (text blocks joined), empty for errors.
    pub reply_text: String,
    /// HTTP status returned.
    pub status: u16,
}

struct Inner {
    script: RwLock<Arc<Script>>,
    counters: Mutex<script::Counters>,
    requests: Mutex<Vec<RecordedRequest>>,
    seq: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

impl Inner {
    fn record(&self, mut r: RecordedRequest) {
        r.seq = self.seq.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(path = %r.path, status = r.status, rule = ?r.rule, main = r.main_loop, text = %first_line(&r.last_user_text, 80), "fake-api request");
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// Sleeps `ms`; false if the server is shutting down.
    async fn sleep(&self, ms: u64) -> bool {
        if ms == 0 {
            return !*self.shutdown.borrow();
        }
        let mut rx = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => !*self.shutdown.borrow(),
            _ = rx.wait_for(|v| *v) => false,
        }
    }
}

/// Handle of a running fake API server.
pub struct FakeApi {
    addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeApi {
    /// Binds `127.0.0.1:0` and serves `script` in a tokio task.
    pub async fn start(script: Script) -> std::io::Result<FakeApi> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        FakeApi::start_on(listener, script).await
    }

    /// Serves `script` on an already bound listener.
    pub async fn start_on(listener: tokio::net::TcpListener, script: Script) -> std::io::Result<FakeApi> {
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            script: RwLock::new(Arc::new(script)),
            counters: Mutex::new(Default::default()),
            requests: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            shutdown: shutdown_rx.clone(),
        });
        let app = Router::new()
            .route("/v1/messages", post(messages).fallback(fallback))
            .route("/v1/messages/count_tokens", post(count_tokens).fallback(fallback))
            .route("/", axum::routing::any(root))
            .fallback(fallback)
            .with_state(inner.clone());
        let mut rx = shutdown_rx;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("fake-api server stopped: {e}");
            }
        });
        Ok(FakeApi { addr, inner, shutdown_tx, task: Some(task) })
    }

    /// `http://127.0.0.1:PORT`, the value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Only the main-loop `/v1/messages` requests.
    pub fn main_requests(&self) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.main_loop && r.path == "/v1/messages").collect()
    }

    /// Replaces the rules; `times` counters start again from zero.
    pub fn set_script(&self, script: Script) {
        *self.inner.script.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(script);
        self.inner.counters.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Stops serving: open streams end at once, connections are closed.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(3), &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// Serves until Ctrl-C (for `aegis fake-api`), logging each request on stderr.
    pub async fn run_until_ctrl_c(addr: SocketAddr, script: Script) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let api = FakeApi::start_on(listener, script).await?;
        eprintln!("fake Anthropic API listening on {}", api.base_url());
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let reqs = api.requests();
            for r in &reqs[seen..] {
                eprintln!(
                    "{} {} {} main={} rule={} text={:?}",
                    r.status,
                    r.method,
                    r.path,
                    r.main_loop,
                    r.rule.as_deref().unwrap_or("-"),
                    first_line(&r.last_user_text, 60)
                );
            }
            seen = reqs.len();
        }
        api.shutdown().await;
        Ok(())
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn json_response(status: u16, body: &Value, headers: &[(String, String)]) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&new_id("req_01")) {
        h.insert("request-id", v);
    }
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            h.insert(k, v);
        }
    }
    resp
}

fn blank_record(method: &Method, path: &str, status: u16) -> RecordedRequest {
    RecordedRequest {
        seq: 0,
        method: method.to_string(),
        path: path.to_string(),
        model: None,
        stream: false,
        main_loop: false,
        tools: Vec::new(),
        turn: None,
        last_user_text: String::new(),
        user_blocks: Vec::new(),
        prompt: String::new(),
        result_tools: Vec::new(),
        rule: None,
        reply_tools: Vec::new(),
        reply_text: String::new(),
        status,
    }
}

async fn fallback(State(inner): State<Arc<Inner>>, method: Method, uri: OriginalUri) -> Response {
    inner.record(blank_record(&method, uri.0.path(), 404));
    json_response(
        404,
        &json!({"type":"error","error":{"type":"not_found_error","message":format!("Not found: {} {}", method, uri.0.path())}}),
        &[],
    )
}

/// `HEAD /` is a connectivity probe of CC 2.1.197: answer 200.
async fn root(State(inner): State<Arc<Inner>>, method: Method) -> Response {
    inner.record(blank_record(&method, "/", 200));
    json_response(200, &json!({}), &[])
}

/// The JSON object body, or the 400 error message.
fn parse_body(bytes: &Bytes) -> Result<Value, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("body must be a JSON object".to_string()),
        Err(e) => Err(format!("invalid JSON body: {e}")),
    }
}

fn bad_request(msg: String) -> Response {
    json_response(400, &error_body(400, Some(Value::String(msg))), &[])
}

/// About 4 bytes of JSON per token.
fn estimate_tokens(bytes: &Bytes) -> u64 {
    (bytes.len() as u64 / 4).max(1)
}

async fn count_tokens(State(inner): State<Arc<Inner>>, method: Method, uri: OriginalUri, bytes: Bytes) -> Response {
    let path = uri.0.path().to_string();
    let body = match parse_body(&bytes) {
        Ok(b) => b,
        Err(msg) => {
            inner.record(blank_record(&method, &path, 400));
            return bad_request(msg);
        }
    };
    let view = RequestView::parse(&body);
    let mut rec = blank_record(&method, &path, 200);
    rec.model = Some(view.model);
    rec.tools = view.tools;
    rec.last_user_text = view.last_text;
    inner.record(rec);
    json_response(200, &json!({"input_tokens": estimate_tokens(&bytes)}), &[])
}

async fn messages(State(inner): State<Arc<Inner>>, method: Method, uri: OriginalUri, bytes: Bytes) -> Response {
    let path = uri.0.path().to_string();
    let body = match parse_body(&bytes) {
        Ok(b) => b,
        Err(msg) => {
            inner.record(blank_record(&method, &path, 400));
            return bad_request(msg);
        }
    };
    let view = RequestView::parse(&body);
    let script = inner.script.read().unwrap_or_else(|e| e.into_inner()).clone();
    let sel = {
        let mut counters = inner.counters.lock().unwrap_or_else(|e| e.into_inner());
        script.respond(&view, &mut counters)
    };
    let reply_text = if sel.status >= 400 {
        String::new()
    } else {
        sel.blocks
            .iter()
            .filter_map(|b| match b {
                OutBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    inner.record(RecordedRequest {
        seq: 0,
        method: method.to_string(),
        path,
        model: Some(view.model.clone()),
        stream: view.stream,
        main_loop: !view.side,
        tools: view.tools.clone(),
        turn: Some(view.turn),
        last_user_text: view.last_text.clone(),
        user_blocks: view.user_blocks.clone(),
        prompt: view.prompt.clone(),
        result_tools: view.result_tools.clone(),
        rule: sel.rule.clone(),
        reply_tools: sel
            .blocks
            .iter()
            .filter_map(|b| match b {
                OutBlock::ToolUse { name, .. } if sel.status < 400 => Some(name.clone()),
                _ => None,
            })
            .collect(),
        reply_text,
        status: sel.status,
    });

    if !inner.sleep(sel.delay_ms).await {
        return json_response(503, &error_body(503, None), &[]);
    }
    if sel.status >= 400 {
        let body = sel.error_body.clone().unwrap_or_else(|| error_body(sel.status, None));
        return json_response(sel.status, &body, &sel.headers);
    }
    let answer = Answer::new(
        new_id("msg_01"),
        view.model.clone(),
        sel.blocks.clone(),
        sel.stop_reason.clone(),
        estimate_tokens(&bytes),
    );
    if !view.stream {
        return json_response(sel.status, &answer.message_json(), &sel.headers);
    }

    let events = answer.events(sel.chunk_chars);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let chunk_delay = sel.chunk_delay_ms;
    let inner2 = inner.clone();
    tokio::spawn(async move {
        let mut first_delta = true;
        for ev in events {
            if ev.is_delta() {
                if !first_delta && !inner2.sleep(chunk_delay).await {
                    return;
                }
                first_delta = false;
            }
            if tx.send(Ok(Bytes::from(ev.encode()))).await.is_err() {
                return; // client went away
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&new_id("req_01")) {
        h.insert("request-id", v);
    }
    for (k, v) in &sel.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            h.insert(k, v);
        }
    }
    resp.into_response()
}
