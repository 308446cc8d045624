//! The core's error: a canonical category plus a stable reason string. `api::status` maps it to gRPC.
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    OutOfRange,
    Aborted,
    Unavailable,
    DeadlineExceeded,
    Unimplemented,
    ResourceExhausted,
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CoreError {
    pub kind: ErrorKind,
    /// Stable machine-readable reason (google.rpc.ErrorInfo.reason).
    pub reason: &'static str,
    pub message: String,
    /// ErrorInfo metadata (e.g. the session id, the compaction point).
    pub metadata: BTreeMap<String, String>,
    /// The request field at fault, for BadRequest details.
    pub field: Option<&'static str>,
}

impl CoreError {
    pub fn new(kind: ErrorKind, reason: &'static str, message: impl Into<String>) -> Self {
        CoreError { kind, reason, message: message.into(), metadata: BTreeMap::new(), field: None }
    }
    pub fn invalid(field: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorKind::InvalidArgument, reason, message);
        e.field = Some(field);
        e
    }
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.insert(key.to_string(), value.to_string());
        self
    }
    pub fn session_not_found(id: &str) -> Self {
        Self::new(ErrorKind::NotFound, "SESSION_NOT_FOUND", format!("no session with id or name {id:?}"))
            .with("session_id", id)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "INTERNAL", message)
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
