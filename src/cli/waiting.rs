//! Waiting for a session: the call deadline, the spinner while waiting, and how a wait ends (the wanted
//! state, a timeout, or a session that ended EXITED/ERROR unasked), printed the same way by every command.
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::connect::Client;
use super::exit::CliError;
use super::out::{errln, out, outln};
use super::render::{self, state_name};
use super::term::Spinner;
use crate::proto::v1::{self as pb, watch_events_response, watch_session_response, EventKind, Session, SessionState};

/// The deadline of a call that waits `wait` server-side.
pub fn wait_deadline(base: Duration, wait: Option<&pb::WaitOptions>) -> Duration {
    let w =
        wait.and_then(|w| w.timeout.as_ref()).map(|d| Duration::from_secs(d.seconds.max(0) as u64)).unwrap_or_default();
    base + w + Duration::from_secs(15)
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No wait, or the wanted state was reached.
    Reached,
    TimedOut,
    /// EXITED or ERROR, not among the wanted states: the session will not get there by itself.
    Ended,
}

/// The outcome of a wait that returned `wait` and `s`; `wanted` are the states asked for (empty: any
/// stable state, which EXITED and ERROR are, but they are not what a caller waits for).
pub fn outcome(wait: Option<&pb::WaitResult>, s: &Session, wanted: &[SessionState]) -> Outcome {
    let Some(w) = wait else { return Outcome::Reached };
    let ended = [SessionState::Exited, SessionState::Error].iter().any(|e| *e as i32 == s.state && !wanted.contains(e));
    if ended {
        Outcome::Ended
    } else if !w.satisfied {
        Outcome::TimedOut
    } else {
        Outcome::Reached
    }
}

/// The exit code of an outcome (an error for the reporter unless the wanted state was reached).
pub fn finish(o: Outcome, s: &Session) -> anyhow::Result<i32> {
    match o {
        Outcome::Reached => Ok(super::exit::EXIT_OK),
        Outcome::TimedOut => Err(CliError::timed_out(s).into()),
        Outcome::Ended => Err(CliError::ended(s).into()),
    }
}

/// A wait result as JSON (null when there was no wait).
pub fn wait_result_json(w: Option<&pb::WaitResult>) -> Value {
    match w {
        Some(w) => json!({"satisfied": w.satisfied, "matched_revision": w.matched_revision}),
        None => Value::Null,
    }
}

/// After a wait: state on stderr; the question/permission or the last assistant message on stdout.
pub fn print_after_wait(s: &Session) -> anyhow::Result<()> {
    errln!("{}: {}{}", render::short_id(&s.id), state_name(s.state), if s.stable { " (stable)" } else { "" });
    if !s.pending_interactions.is_empty() {
        for p in &s.pending_interactions {
            out!("{}", render::interaction_text(p));
        }
    } else if !s.error_message.is_empty() {
        outln!("{}", s.error_message);
    } else if !s.last_assistant_message.is_empty() {
        outln!("{}", s.last_assistant_message);
    }
    Ok(())
}

/// For `new --wait`: stdout carries only the id, so everything else goes to stderr.
pub fn print_after_wait_stderr(s: &Session) {
    errln!("{}: {}{}", render::short_id(&s.id), state_name(s.state), if s.stable { " (stable)" } else { "" });
    for p in &s.pending_interactions {
        errln!("{}", render::interaction_text(p).trim_end());
    }
    if s.pending_interactions.is_empty() && !s.last_assistant_message.is_empty() {
        errln!("{}", s.last_assistant_message);
    }
}

/// Shows live state changes on a spinner while `fut` runs (only when stderr is a TTY). With no session id
/// (a create), the first session created after the call started is followed.
pub async fn with_spinner<F, T>(client: &Client, label: &str, session_id: Option<String>, fut: F) -> T
where
    F: std::future::Future<Output = T>,
{
    let spinner = Spinner::start(label);
    if !spinner.active() {
        return fut.await;
    }
    let tx = spinner.sender();
    let follower = tokio::spawn(follow_states(client.clone(), session_id, tx));
    let out = fut.await;
    follower.abort();
    spinner.stop();
    out
}

async fn follow_states(mut client: Client, session_id: Option<String>, tx: watch::Sender<String>) {
    let show = |state: i32, stable: bool| {
        let _ = tx.send(format!("{}{}", state_name(state), if stable { " (stable)" } else { "" }));
    };
    match session_id {
        Some(id) => {
            let req = pb::WatchSessionRequest { session_id: id, include_snapshot: true, ..Default::default() };
            let Ok(resp) = client.watch_session(req).await else {
                return;
            };
            let mut stream = resp.into_inner();
            while let Some(Ok(item)) = stream.next().await {
                match item.item {
                    Some(watch_session_response::Item::Snapshot(s)) => show(s.state, s.stable),
                    Some(watch_session_response::Item::Event(e)) => show(e.state, e.stable),
                    _ => {}
                }
            }
        }
        None => {
            let Ok(resp) = client.watch_events(pb::WatchEventsRequest::default()).await else {
                return;
            };
            let mut stream = resp.into_inner();
            let mut mine: Option<String> = None;
            while let Some(Ok(item)) = stream.next().await {
                let Some(watch_events_response::Item::Event(e)) = item.item else {
                    continue;
                };
                if mine.is_none() && e.kind == EventKind::Created as i32 {
                    mine = Some(e.session_id.clone());
                }
                if mine.as_deref() == Some(e.session_id.as_str()) {
                    show(e.state, e.stable);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_lands_in_exited_or_error_unasked_has_ended() {
        let done = pb::WaitResult { satisfied: true, matched_revision: 7 };
        let late = pb::WaitResult { satisfied: false, matched_revision: 0 };
        let at = |st: SessionState| Session { state: st as i32, ..Default::default() };
        assert_eq!(outcome(None, &at(SessionState::Exited), &[]), Outcome::Reached);
        assert_eq!(outcome(Some(&done), &at(SessionState::Idle), &[]), Outcome::Reached);
        assert_eq!(outcome(Some(&late), &at(SessionState::Working), &[]), Outcome::TimedOut);
        assert_eq!(outcome(Some(&done), &at(SessionState::Exited), &[]), Outcome::Ended);
        assert_eq!(outcome(Some(&late), &at(SessionState::Exited), &[SessionState::Idle]), Outcome::Ended);
        assert_eq!(outcome(Some(&done), &at(SessionState::Error), &[]), Outcome::Ended);
        // Asked for: reaching it is success.
        assert_eq!(outcome(Some(&done), &at(SessionState::Exited), &[SessionState::Exited]), Outcome::Reached);
        assert_eq!(outcome(Some(&done), &at(SessionState::Error), &[SessionState::Error]), Outcome::Reached);
        let code = |o| finish(o, &at(SessionState::Exited)).unwrap_or_else(|e| super::super::exit::classify(&e).exit);
        assert_eq!(code(Outcome::Reached), 0);
        assert_eq!(code(Outcome::TimedOut), super::super::exit::EXIT_TIMEOUT);
        assert_eq!(code(Outcome::Ended), super::super::exit::EXIT_SESSION_EXITED);
    }
}
