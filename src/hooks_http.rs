//! The HTTP endpoint CC's hooks post to (loopback only). The URL carries the session id and a
//! per-session secret; the body is handed to the session's actor, whose answer is the response body.
use crate::core::{ErrorKind, Manager};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
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
    match mgr.deliver_hook(&sid, &secret, &body).await {
        Ok(Some(v)) => Json(v).into_response(),
        // An empty 200 means "no decision": CC goes on as if no hook were configured.
        Ok(None) => StatusCode::OK.into_response(),
        Err(e) if e.kind == ErrorKind::NotFound => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.message).into_response(),
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
        let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    });
    Ok(addr)
}
