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
    let metadata: HashMap<String, String> =
        e.metadata.iter().map(|(k, v)| (k.clone(), truncate(v, MAX_ECHO_CHARS))).collect();
    // Quoted caller values (`no session {id:?}`) are cut like the metadata, then the whole message.
    let mut message = e.message;
    for v in metadata_values_too_long(&e.metadata) {
        message = message.replace(v, &truncate(v, MAX_ECHO_CHARS));
    }
    let message = truncate(&message, MAX_MESSAGE_CHARS);
    let quota = (e.kind == ErrorKind::ResourceExhausted).then(|| metadata.get("quota").cloned()).flatten();
    let mut details = ErrorDetails::with_error_info(e.reason, DOMAIN, metadata);
    if let Some(subject) = quota {
        // A core quota error carries the same QuotaFailure as `quota_exhausted`.
        details.add_quota_failure_violation(subject, message.clone());
    }
    if let Some(field) = e.field {
        details.add_bad_request_violation(field, message.clone());
    }
    Status::with_error_details(code, message, details)
}

/// The HTTP status of a canonical code (google.rpc.Code's documented mapping), for the HTTP API: its
/// errors are these same Statuses rendered as JSON (see `crate::http::error`).
pub fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

pub fn invalid(field: &'static str, reason: &'static str, msg: impl Into<String>) -> Status {
    to_status(CoreError::invalid(field, reason, msg))
}

/// Longest echo of a caller's value (an id, a name…) in an error's message, metadata and details: a
/// huge value must not turn a NOT_FOUND into a RESOURCE_EXHAUSTED (details travel in a header).
pub const MAX_ECHO_CHARS: usize = 128;
/// Longest message; messages quote caller values, so they are bounded too.
const MAX_MESSAGE_CHARS: usize = 1024;

fn metadata_values_too_long(m: &std::collections::BTreeMap<String, String>) -> impl Iterator<Item = &String> {
    m.values().filter(|v| v.chars().count() > MAX_ECHO_CHARS)
}

/// `s` cut to `max` characters plus "…" when longer.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// RESOURCE_EXHAUSTED with ErrorInfo and a google.rpc.QuotaFailure naming the quota and its limit.
pub fn quota_exhausted(reason: &str, subject: &str, description: String, limit: usize) -> Status {
    let metadata: HashMap<String, String> =
        [("limit".to_string(), limit.to_string()), ("quota".to_string(), subject.to_string())].into();
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, metadata);
    details.add_quota_failure_violation(subject, description.clone());
    Status::with_error_details(Code::ResourceExhausted, description, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_id_is_cut_in_message_metadata_and_details() {
        let id = "x".repeat(100_000);
        let st = to_status(CoreError::session_not_found(&id));
        assert_eq!(st.code(), Code::NotFound);
        assert!(st.message().len() < 400, "{}", st.message().len());
        assert!(st.message().contains(&format!("{}…", "x".repeat(MAX_ECHO_CHARS))));
        let info = st.get_details_error_info().unwrap();
        assert_eq!(info.metadata["session_id"], format!("{}…", "x".repeat(MAX_ECHO_CHARS)));
        assert!(st.details().len() < 1024, "{}", st.details().len());
        assert_eq!(truncate("é", 1), "é");
        assert_eq!(truncate("éé", 1), "é…");
    }

    #[test]
    fn quota_failures_carry_error_info_and_a_violation() {
        let st = quota_exhausted("TOO_MANY_SESSIONS", "sessions", "at most 1".into(), 1);
        assert_eq!(st.code(), Code::ResourceExhausted);
        assert_eq!(st.get_details_error_info().unwrap().metadata["limit"], "1");
        assert_eq!(st.get_details_quota_failure().unwrap().violations[0].subject, "sessions");
    }
}
