//! Exit codes and error reports of the human commands: one table, one classifier, two renderings (a line
//! of text, or with `--json` one JSON object) on stderr.
use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::json;
use tonic_types::StatusExt as _;

use super::connect::Unreachable;
use super::render::{self, state_name, status_reason, status_text};
use crate::proto::code_name;
use crate::proto::v1::{Session, SessionState};

/// Success.
pub const EXIT_OK: i32 = 0;
/// A call failed (the server's gRPC error, reason on stderr) or a local error.
pub const EXIT_ERROR: i32 = 1;
/// Bad usage: bad flags (clap), or an ambiguous/missing argument the user must give.
pub const EXIT_USAGE: i32 = 2;
/// A wait ended because its timeout passed before the wanted state.
pub const EXIT_TIMEOUT: i32 = 3;
/// The server could not be reached (nothing listens, or the connection broke).
pub const EXIT_UNREACHABLE: i32 = 4;
/// The session ended EXITED (a wait ended there though EXITED was not asked for, or the call needs a live
/// session).
pub const EXIT_SESSION_EXITED: i32 = 5;
/// A wait ended with the session in ERROR (the turn failed with an API error) though ERROR was not asked for.
pub const EXIT_SESSION_ERROR: i32 = 6;
/// stdout was closed early (e.g. `aegis ls | head -1`): the code a shell shows for a tool killed by SIGPIPE.
pub const EXIT_CLOSED_PIPE: i32 = 141;

/// The table shown by `aegis --help` and the man page (kept next to the constants it lists).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    ok
  1    the call failed (the server's error and its reason on stderr) or a local error
  2    usage error (bad flags, an ambiguous id prefix, a missing argument)
  3    a wait timed out before the wanted state
  4    the Aegis server cannot be reached
  5    the session ended EXITED (a wait ended there unasked, or the call needs a live session)
  6    a wait ended with the session in ERROR (the turn failed) unasked
  141  stdout was closed early (e.g. `| head`)
With --json, errors are one JSON object on stderr: code, reason, message, metadata, exit_code.";

/// An error of the CLI itself with everything the report needs. gRPC errors stay `tonic::Status`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub exit: i32,
    /// Canonical gRPC code name (`INVALID_ARGUMENT`, …), as in the proto's JSON mapping.
    pub code: &'static str,
    pub reason: String,
    pub message: String,
    pub metadata: BTreeMap<String, String>,
}

impl CliError {
    /// A usage error found after parsing (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(EXIT_USAGE, "INVALID_ARGUMENT", "USAGE", message)
    }

    pub fn new(exit: i32, code: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self { exit, code, reason: reason.to_string(), message: message.into(), metadata: BTreeMap::new() }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// A wait that timed out (exit 3); the message says what the session is doing.
    pub fn timed_out(s: &Session) -> Self {
        let state = state_name(s.state);
        Self::new(EXIT_TIMEOUT, "DEADLINE_EXCEEDED", "WAIT_TIMED_OUT", format!("session is still {state}"))
            .with("session_id", &s.id)
            .with("state", state)
    }

    /// The session is in EXITED or ERROR, which the caller did not ask for (exit 5 or 6).
    pub fn ended(s: &Session) -> Self {
        let short = render::short_id(&s.id);
        let e = if s.state == SessionState::Error as i32 {
            let detail = if s.error_message.is_empty() { String::new() } else { format!(": {}", s.error_message) };
            Self::new(
                EXIT_SESSION_ERROR,
                "FAILED_PRECONDITION",
                "SESSION_ERROR",
                format!("session {short} ended in ERROR{detail}"),
            )
        } else {
            let why = s.exit.as_ref().map(|x| format!(" ({})", x.reason)).filter(|w| w != " ()").unwrap_or_default();
            Self::new(
                EXIT_SESSION_EXITED,
                "FAILED_PRECONDITION",
                "SESSION_EXITED",
                format!("session {short} has exited{why}"),
            )
        };
        e.with("session_id", &s.id).with("state", state_name(s.state))
    }
}

/// What gets reported for an error: the exit code and the fields of the JSON form.
#[derive(Debug, PartialEq)]
pub struct Report {
    pub exit: i32,
    pub code: String,
    pub reason: String,
    /// The one-line text form (after `aegis: `).
    pub text: String,
    pub message: String,
    pub metadata: BTreeMap<String, String>,
}

/// True when the error is stdout having been closed (nothing to report).
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Classifies an error once: exit code, code, reason, message, metadata.
pub fn classify(e: &anyhow::Error) -> Report {
    if let Some(c) = e.downcast_ref::<CliError>() {
        let text = if c.exit == EXIT_TIMEOUT { format!("wait timed out: {}", c.message) } else { c.message.clone() };
        let text = if c.exit == EXIT_USAGE { text } else { format!("error: {text}") };
        return Report {
            exit: c.exit,
            code: c.code.into(),
            reason: c.reason.clone(),
            text,
            message: c.message.clone(),
            metadata: c.metadata.clone(),
        };
    }
    if let Some(u) = e.downcast_ref::<Unreachable>() {
        return Report {
            exit: EXIT_UNREACHABLE,
            code: "UNAVAILABLE".into(),
            reason: "SERVER_UNREACHABLE".into(),
            text: format!("error: {u}"),
            message: u.to_string(),
            metadata: BTreeMap::from([("address".to_string(), u.address.clone())]),
        };
    }
    if let Some(s) = e.downcast_ref::<tonic::Status>() {
        let ctx = e.chain().next().map(|c| c.to_string()).unwrap_or_default();
        let st = status_text(s);
        let text = if ctx == s.to_string() { format!("error: {st}") } else { format!("error: {ctx}: {st}") };
        let reason = status_reason(s).unwrap_or_default();
        let metadata: BTreeMap<String, String> =
            s.get_details_error_info().map(|i| i.metadata.into_iter().collect()).unwrap_or_default();
        let exit = match (s.code(), reason.as_str()) {
            (_, "SESSION_EXITED") => EXIT_SESSION_EXITED,
            // No reason: the transport failed (server gone mid-call), not the server's answer.
            (tonic::Code::Unavailable, "") => EXIT_UNREACHABLE,
            _ => EXIT_ERROR,
        };
        return Report { exit, code: code_name(s.code()).into(), reason, text, message: s.message().into(), metadata };
    }
    Report {
        exit: EXIT_ERROR,
        code: "UNKNOWN".into(),
        reason: String::new(),
        text: format!("error: {e:#}"),
        message: format!("{e:#}"),
        metadata: BTreeMap::new(),
    }
}

/// Prints an error on stderr (text, or one JSON object with `json`) and returns its exit code.
pub fn report(e: &anyhow::Error, json: bool) -> i32 {
    if is_closed_pipe(e) {
        return EXIT_CLOSED_PIPE;
    }
    let r = classify(e);
    let mut stderr = std::io::stderr().lock();
    let _ = if json { writeln!(stderr, "{}", report_json(&r)) } else { writeln!(stderr, "aegis: {}", r.text) };
    r.exit
}

/// The JSON form of a report.
pub fn report_json(r: &Report) -> serde_json::Value {
    json!({"code": r.code, "reason": r.reason, "message": r.message, "metadata": r.metadata, "exit_code": r.exit})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::ExitInfo;

    #[test]
    fn each_kind_of_failure_has_its_own_exit_code() {
        let usage = classify(&CliError::usage("give one of: a, b").into());
        assert_eq!((usage.exit, usage.text.as_str()), (EXIT_USAGE, "give one of: a, b"));
        let s = Session { id: "0123456789ab".into(), state: SessionState::Working as i32, ..Default::default() };
        let t = classify(&CliError::timed_out(&s).into());
        assert_eq!((t.exit, t.reason.as_str()), (EXIT_TIMEOUT, "WAIT_TIMED_OUT"));
        assert_eq!(t.text, "error: wait timed out: session is still WORKING");
        let exited = Session {
            state: SessionState::Exited as i32,
            exit: Some(ExitInfo { reason: "process exited".into(), ..Default::default() }),
            ..s.clone()
        };
        let x = classify(&CliError::ended(&exited).into());
        assert_eq!((x.exit, x.reason.as_str()), (EXIT_SESSION_EXITED, "SESSION_EXITED"));
        assert_eq!(x.text, "error: session 01234567 has exited (process exited)");
        assert_eq!(x.metadata["state"], "EXITED");
        let errored = Session { state: SessionState::Error as i32, error_message: "API 500".into(), ..s };
        let r = classify(&CliError::ended(&errored).into());
        assert_eq!((r.exit, r.text.as_str()), (EXIT_SESSION_ERROR, "error: session 01234567 ended in ERROR: API 500"));
        let u = classify(&Unreachable { address: "http://127.0.0.1:1".into(), detail: "refused".into() }.into());
        assert_eq!(
            (u.exit, u.code.as_str(), u.metadata["address"].as_str()),
            (EXIT_UNREACHABLE, "UNAVAILABLE", "http://127.0.0.1:1")
        );
        let g = classify(&tonic::Status::not_found("no such session").into());
        assert_eq!((g.exit, g.code.as_str(), g.message.as_str()), (EXIT_ERROR, "NOT_FOUND", "no such session"));
        let gone = classify(&tonic::Status::unavailable("transport error").into());
        assert_eq!(gone.exit, EXIT_UNREACHABLE);
        let codes =
            [EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_SESSION_EXITED, EXIT_SESSION_ERROR];
        for c in codes {
            assert!(EXIT_CODES_HELP.contains(&format!("\n  {c} ")), "exit code {c} is not in the help table");
        }
    }

    #[test]
    fn a_closed_stdout_is_recognised_through_context() {
        let e = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_closed_pipe(&e));
        assert_eq!(report(&e, false), EXIT_CLOSED_PIPE);
        assert!(!is_closed_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn the_json_report_has_the_documented_fields() {
        let r = classify(&CliError::usage("bad").with("candidates", "a b").into());
        let v = report_json(&r);
        assert_eq!(v["code"], "INVALID_ARGUMENT");
        assert_eq!(v["reason"], "USAGE");
        assert_eq!(v["message"], "bad");
        assert_eq!(v["metadata"]["candidates"], "a b");
        assert_eq!(v["exit_code"], 2);
    }
}
