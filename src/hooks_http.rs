//! The HTTP endpoint CC's hooks post to (loopback only). The URL carries the session id and a
//! per-session secret; the body is handed to the session's actor, whose answer is the response body.
use crate::core::{ErrorKind, Manager};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use std::net::SocketAddr;
use std::sync::Arc;

async fn hook(
    State(mgr): State<Arc<Manager>>,
    Path((sid, secret)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match mgr.deliver_hook(&sid, &secret, &body).await {
        Ok(Some(v)) => Json(v).into_response(),
        // An empty 200 means "no decision": CC goes on as if no hook were configured.
        Ok(None) => StatusCode::OK.into_response(),
        Err(e) if e.kind == ErrorKind::NotFound => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.message).into_response(),
    }
}

/// Binds 127.0.0.1:0 and serves until `shutdown`. Returns the bound address.
pub async fn start(
    mgr: Arc<Manager>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/hooks/{sid}/{secret}", post(hook))
        .with_state(mgr);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    Ok(addr)
}
