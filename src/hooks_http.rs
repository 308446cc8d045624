//! The HTTP endpoint CC's hooks post to (loopback only). The URL carries the session id and a
//! per-session secret; the body is handed to the session's actor. Only a PermissionRequest a human
//! decides waits for the actor's answer; every other hook is answered on arrival.
use crate::core::{ErrorKind, HookAnswer, Manager};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    serve::ListenerExt as _,
    Json, Router,
};
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest hook body accepted (413 above). Bodies are read before the secret is checked, so this
/// bounds what any local process can make us buffer. CC's biggest payloads are PostToolUse with a
/// tool's whole output (Bash keeps 30 000 characters by default, Read ~25 000 tokens) and
/// PreToolUse/PermissionRequest of a Write with the file's content; 4 MiB leaves room for those. A
/// payload over the cap only loses that hook's hint (CC carries on; the screen still shows dialogs).
pub const MAX_HOOK_BODY: usize = 4 << 20;

/// The body of `GET /` on the hook port (the doctor's live probe).
pub const PROBE_REPLY: &str = "aegis hooks";

async fn hook(State(mgr): State<Arc<Manager>>, Path((sid, secret)): Path<(String, String)>, body: Bytes) -> Response {
    // Arrival: axum has read the body. The reply time is measured from here to the response.
    let (arrived, at) = (std::time::Instant::now(), crate::model::now_ms());
    let (event, held, resp) = match mgr.deliver_hook(&sid, &secret, &body, at) {
        Ok((event, HookAnswer::Now(v))) => (event, false, answer(v)),
        Ok((event, HookAnswer::Held(rx))) => (event, true, answer(rx.await.unwrap_or(None))),
        Err(e) if e.kind == ErrorKind::NotFound => ("rejected", false, StatusCode::NOT_FOUND.into_response()),
        Err(e) => ("rejected", false, (StatusCode::BAD_REQUEST, e.message).into_response()),
    };
    let secs = arrived.elapsed().as_secs_f64();
    let held_label = if held { "true" } else { "false" };
    metrics::histogram!(crate::telemetry::HOOK_REPLY, "event" => event, "held" => held_label).record(secs);
    // The same figure as a debug line (target `aegis::hook_reply`), read by examples/bench_turns.rs.
    tracing::debug!(target: "aegis::hook_reply", event = %event, held, micros = (secs * 1e6) as u64, "hook answered");
    resp
}

fn answer(v: Option<serde_json::Value>) -> Response {
    match v {
        Some(v) => Json(v).into_response(),
        // An empty 200 means "no decision": CC goes on as if no hook were configured.
        None => StatusCode::OK.into_response(),
    }
}

/// Binds loopback and serves until `shutdown`. Returns the bound address. The port is kept in
/// `port_file` and reused on restart, because the hook URLs of running CC sessions name it.
pub async fn start(
    mgr: Arc<Manager>,
    port_file: &std::path::Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let saved: u16 = std::fs::read_to_string(port_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", saved)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(port = saved, error = %e, "hook port taken; re-adopted sessions lose their hooks (screen still works)");
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?
        }
    };
    let addr = listener.local_addr()?;
    crate::private_fs::write(port_file, addr.port().to_string().as_bytes())?;
    let app = Router::new()
        .route("/hooks/{sid}/{secret}", post(hook))
        // What `aegis doctor` probes: proof that this port is Aegis's hook endpoint and answers.
        .route("/", get(|| async { PROBE_REPLY }))
        .layer(DefaultBodyLimit::max(MAX_HOOK_BODY))
        .with_state(mgr);
    tokio::spawn(async move {
        // TCP_NODELAY: a hook's small answer must not wait for CC's delayed ACK (Nagle, ~40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on a hook connection");
            }
        });
        let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    });
    Ok(addr)
}
