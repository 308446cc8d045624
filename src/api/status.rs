//! The one place that maps core errors to `tonic::Status`: canonical code + google.rpc.ErrorInfo
//! (domain "aegis.dev", stable reason, metadata) + BadRequest for field errors.
use crate::core::{CoreError, ErrorKind};
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub const DOMAIN: &str = "aegis.dev";

pub fn to_status(e: CoreError) -> Status {
    let code = match e.kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::OutOfRange => Code::OutOfRange,
        ErrorKind::Aborted => Code::Aborted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorKind::Unimplemented => Code::Unimplemented,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Internal => Code::Internal,
    };
    let metadata: HashMap<String, String> = e.metadata.clone().into_iter().collect();
    let mut details = ErrorDetails::with_error_info(e.reason, DOMAIN, metadata);
    if let Some(field) = e.field {
        details.add_bad_request_violation(field, e.message.clone());
    }
    Status::with_error_details(code, e.message, details)
}

pub fn invalid(field: &'static str, reason: &'static str, msg: impl Into<String>) -> Status {
    to_status(CoreError::invalid(field, reason, msg))
}
