//! Bearer-token check for SessionService and the HTTP API (health and reflection stay open).
//! Constant-time compare.
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

#[derive(Clone)]
pub struct BearerAuth {
    /// "Bearer <token>", or None when no token is configured (loopback only).
    expected: Option<Vec<u8>>,
}

impl BearerAuth {
    pub fn new(token: Option<String>) -> Self {
        BearerAuth { expected: token.map(|t| format!("Bearer {t}").into_bytes()) }
    }

    pub fn check(&self, req: Request<()>) -> Result<Request<()>, Status> {
        if self.allows(req.metadata().get("authorization").map(|v| v.as_bytes())) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("missing or wrong bearer token"))
        }
    }

    /// Whether an `authorization` header value passes (the gRPC interceptor and the HTTP API both ask).
    pub fn allows(&self, header: Option<&[u8]>) -> bool {
        match &self.expected {
            None => true,
            Some(expected) => bool::from(header.unwrap_or_default().ct_eq(expected.as_slice())),
        }
    }
}
