//! The one tower layer on the tonic server that observes every RPC: a `rpc` span per call (service,
//! method, and the session id / request id the handlers' core calls record into it), the call count by
//! gRPC code and the latency (`aegis_rpc_total`, `aegis_rpc_seconds`), and one warn line per failed
//! call with its method, code and `ErrorInfo` reason — never the status message, which may quote input.
//!
//! Hand-written rather than tower-http's `TraceLayer`: the code of a streamed or successful call is in
//! the trailers, so the body is wrapped to see them, and a call the client abandons (body dropped
//! before its trailers) is counted once, as CANCELLED.
use crate::proto::code_name;
use crate::telemetry::{RPCS, RPC_LATENCY};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic_types::StatusExt as _;
use tracing::Instrument as _;

#[derive(Debug, Clone, Copy, Default)]
pub struct RpcLayer;

impl<S> tower::Layer<S> for RpcLayer {
    type Service = Rpc<S>;
    fn layer(&self, inner: S) -> Rpc<S> {
        Rpc { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Rpc<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<Request<B>> for Rpc<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<RpcBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // "/aegis.v1.SessionService/CreateSession" → ("aegis.v1.SessionService", "CreateSession").
        let path = req.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or(("", path));
        let (service, method) = (service.to_string(), method.to_string());
        let span = tracing::info_span!(
            "rpc",
            service = %service,
            method = %method,
            session_id = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let mut obs = Observation { service, method, start: Instant::now(), span: span.clone(), done: false };
        Box::pin(
            async move {
                let res = fut.await;
                match res {
                    Ok(resp) => {
                        let (parts, body) = resp.into_parts();
                        // A trailers-only response (every error, and the interceptor's) has the code here.
                        if parts.headers.contains_key("grpc-status") {
                            obs.finish(&parts.headers);
                        }
                        Ok(Response::from_parts(parts, RpcBody { inner: body, obs }))
                    }
                    Err(e) => {
                        obs.finish_code("UNKNOWN", "");
                        Err(e)
                    }
                }
            }
            .instrument(span),
        )
    }
}

struct Observation {
    service: String,
    method: String,
    start: Instant,
    span: tracing::Span,
    done: bool,
}

impl Observation {
    fn finish(&mut self, headers: &HeaderMap) {
        let code = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map(tonic::Code::from_i32)
            .unwrap_or(tonic::Code::Unknown);
        let reason = if code == tonic::Code::Ok {
            String::new()
        } else {
            tonic::Status::from_header_map(headers)
                .and_then(|s| s.get_error_details().error_info().map(|i| i.reason.clone()))
                .unwrap_or_default()
        };
        self.finish_code(code_name(code), &reason);
    }

    fn finish_code(&mut self, code: &'static str, reason: &str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let (service, method) = (self.service.clone(), self.method.clone());
        metrics::counter!(RPCS, "service" => service.clone(), "method" => method.clone(), "code" => code).increment(1);
        metrics::histogram!(RPC_LATENCY, "service" => service, "method" => method)
            .record(self.start.elapsed().as_secs_f64());
        if code != "OK" {
            let _entered = self.span.enter();
            tracing::warn!(method = %self.method, code, reason, "call failed");
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        // The body went away before its trailers: the client hung up (or the stream was cut).
        self.finish_code("CANCELLED", "");
    }
}

/// The response body, watched for the trailers that carry the call's code.
pub struct RpcBody<B> {
    inner: B,
    obs: Observation,
}

impl<B: Body + Unpin> Body for RpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.obs.finish(trailers);
                }
            }
            Poll::Ready(Some(Err(_))) => this.obs.finish_code("INTERNAL", ""),
            // The end without trailers: nothing said the call failed.
            Poll::Ready(None) if !this.obs.done => this.obs.finish_code("OK", ""),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
