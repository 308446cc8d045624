//! Connecting the human commands and the MCP server to an Aegis gRPC server.
use std::time::Duration;

use anyhow::Context as _;
use tonic::{
    metadata::MetadataValue,
    service::{interceptor::InterceptedService, Interceptor},
    transport::{Channel, Endpoint},
    Request, Status,
};

use crate::proto::v1::session_service_client::SessionServiceClient;

/// Where the server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// gRPC address, e.g. `http://127.0.0.1:50051` (a bare `host:port` gets `http://`).
    pub address: String,
    /// Bearer token sent as `authorization: Bearer <token>` on every call.
    pub token: Option<String>,
    /// Connect timeout, and the deadline of every unary call that does not wait (waits get their own).
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { address: "http://127.0.0.1:50051".to_string(), token: None, timeout: Duration::from_secs(30) }
    }
}

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct AuthInterceptor {
    header: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

/// The client type every command uses.
pub type Client = SessionServiceClient<InterceptedService<Channel, AuthInterceptor>>;

/// Normalises an address: a bare `host:port` becomes `http://host:port`.
pub fn normalize_address(address: &str) -> String {
    if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

impl ConnectOptions {
    /// Connects (eagerly, so an unreachable server is reported at once).
    pub async fn connect(&self) -> anyhow::Result<Client> {
        connect(self).await
    }
}

/// The server could not be reached at all (the CLI exits with its own code for it).
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Aegis server at {address}: {detail}")]
pub struct Unreachable {
    pub address: String,
    pub detail: String,
}

/// Connects to the server described by `conn`.
pub async fn connect(conn: &ConnectOptions) -> anyhow::Result<Client> {
    let address = normalize_address(&conn.address);
    let endpoint = Endpoint::from_shared(address.clone())
        .with_context(|| format!("invalid server address {address:?}"))?
        .connect_timeout(conn.timeout)
        .tcp_nodelay(true);
    let channel =
        endpoint.connect().await.map_err(|e| Unreachable { detail: source_chain(&e), address: address.clone() })?;
    let header = auth_header(conn)?;
    Ok(SessionServiceClient::with_interceptor(channel, AuthInterceptor { header })
        .max_decoding_message_size(64 * 1024 * 1024))
}

/// A client that connects on first use and reconnects after failures (for the long-lived MCP server).
pub fn connect_lazy(conn: &ConnectOptions) -> anyhow::Result<Client> {
    let address = normalize_address(&conn.address);
    let channel = Endpoint::from_shared(address.clone())
        .with_context(|| format!("invalid server address {address:?}"))?
        .connect_timeout(conn.timeout)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(SessionServiceClient::with_interceptor(channel, AuthInterceptor { header: auth_header(conn)? })
        .max_decoding_message_size(64 * 1024 * 1024))
}

fn auth_header(conn: &ConnectOptions) -> anyhow::Result<Option<MetadataValue<tonic::metadata::Ascii>>> {
    match conn.token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Ok(Some(
            format!("Bearer {t}")
                .parse::<MetadataValue<_>>()
                .context("the token contains characters not allowed in a header")?,
        )),
        None => Ok(None),
    }
}

/// A request with a deadline.
pub fn request<T>(msg: T, timeout: Duration) -> Request<T> {
    let mut req = Request::new(msg);
    req.set_timeout(timeout);
    req
}

/// `e: cause: cause…` on one line.
pub fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}
