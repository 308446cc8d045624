//! `aegis serve --http ADDR`: the original TypeScript tool's HTTP API (curl + jq scripts run
//! unchanged). Every route calls the gRPC service's own RPC implementation in-process, so behaviour,
//! validation, idempotency and errors are the gRPC ones; only the JSON shape differs (`compat`).
pub mod compat;
pub mod error;
pub mod sessions;
pub mod stream;

use crate::api::auth::BearerAuth;
use crate::api::service::Service;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest request body: a prompt of a few MiB, like the gRPC limit.
const MAX_BODY: usize = 4 << 20;

#[derive(Clone)]
pub struct Http {
    pub svc: Arc<Service>,
    auth: BearerAuth,
}

/// Every route but `/v1/health` needs `Authorization: Bearer <token>` when a token is set.
async fn authorized(State(h): State<Http>, req: Request, next: Next) -> Response {
    let header = req.headers().get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes());
    if h.auth.allows(header) {
        next.run(req).await
    } else {
        error::ApiError(tonic::Status::unauthenticated("missing or wrong bearer token")).into_response()
    }
}

pub fn router(svc: Arc<Service>, auth: BearerAuth) -> Router {
    use sessions as s;
    let h = Http { svc, auth };
    let guarded = Router::new()
        .route("/v1/sessions", post(s::create).get(s::list))
        .route("/v1/sessions/{id}", get(s::get).delete(s::delete))
        .route("/v1/sessions/{id}/read", get(s::read))
        .route("/v1/sessions/{id}/send", post(s::send))
        .route("/v1/sessions/{id}/answer", post(s::answer))
        .route("/v1/sessions/{id}/approve", post(s::approve))
        .route("/v1/sessions/{id}/reject", post(s::reject))
        .route("/v1/sessions/{id}/escape", post(s::escape))
        .route("/v1/sessions/{id}/interrupt", post(s::interrupt))
        .route("/v1/sessions/{id}/pane", get(s::pane))
        .route("/v1/sessions/{id}/events", get(stream::session))
        .route("/v1/events", get(stream::all))
        .route_layer(axum::middleware::from_fn_with_state(h.clone(), authorized));
    Router::new()
        .route("/v1/health", get(s::health))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(h)
}

/// Binds `addr` and serves until `shutdown`; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    svc: Arc<Service>,
    auth: BearerAuth,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    use anyhow::Context as _;
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot bind HTTP address {addr}"))?;
    let bound = listener.local_addr()?;
    let app = router(svc, auth);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!("HTTP API stopped: {e}");
        }
    });
    Ok(bound)
}
