//! Bearer-token check for SessionService (health and reflection stay open). Constant-time compare.
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
        let Some(expected) = &self.expected else {
            return Ok(req);
        };
        let got = req.metadata().get("authorization").map(|v| v.as_bytes()).unwrap_or_default();
        if bool::from(got.ct_eq(expected.as_slice())) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("missing or wrong bearer token"))
        }
    }
}
