//! What answer, approve and reject share: picking the pending interaction, and printing the response.
use serde_json::json;

use super::super::out::errln;
use super::super::render::{self, state_name};
use super::super::waiting::{self, Outcome};
use super::super::CliError;
use crate::proto::v1::{self as pb, InteractionKind, PendingInteraction, Session, SessionState};

/// The kinds approve and reject act on.
pub const APPROVABLE: [InteractionKind; 5] = [
    InteractionKind::Permission,
    InteractionKind::Bash,
    InteractionKind::Plan,
    InteractionKind::Trust,
    InteractionKind::ApiKey,
];

/// Picks the interaction: the one given, or the only pending one of these kinds.
pub fn pick_interaction(
    s: &Session,
    given: Option<String>,
    kinds: &[InteractionKind],
    what: &str,
) -> anyhow::Result<PendingInteraction> {
    if let Some(id) = given {
        return Ok(s
            .pending_interactions
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .unwrap_or(PendingInteraction { id, ..Default::default() }));
    }
    let matching: Vec<&PendingInteraction> =
        s.pending_interactions.iter().filter(|p| kinds.iter().any(|k| *k as i32 == p.kind)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(anyhow::anyhow!("no {what} is pending in session {} (state {})", s.id, state_name(s.state))),
        many => Err(CliError::usage(format!(
            "{} {what}s are pending; give one of: {}",
            many.len(),
            many.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .into()),
    }
}

/// A response of answer/approve/reject, as the command reports it.
pub struct Response<'a> {
    /// "answered", "approved", "rejected".
    pub what: &'a str,
    pub interaction_id: &'a str,
    pub path: i32,
    pub session: Option<&'a Session>,
    pub wait: Option<&'a pb::WaitResult>,
    pub wanted: &'a [SessionState],
    pub json: bool,
}

/// Prints the response (text or JSON) and returns the exit code of its wait.
pub fn finish(r: Response) -> anyhow::Result<i32> {
    let path = pb::AnswerPath::try_from(r.path).unwrap_or(pb::AnswerPath::Unspecified);
    let o = match r.session {
        Some(s) => waiting::outcome(r.wait, s, r.wanted),
        None => Outcome::Reached,
    };
    if r.json {
        super::print_json(&json!({
            "session": r.session.map(render::session_json),
            "interaction_id": r.interaction_id,
            "path": path.as_str_name().trim_start_matches("ANSWER_PATH_"),
            "wait_result": waiting::wait_result_json(r.wait),
        }))?;
    } else {
        let via = match path {
            pb::AnswerPath::Hook => " via hook",
            pb::AnswerPath::Keys => " via keys",
            pb::AnswerPath::Unspecified => "",
        };
        errln!("{} {}{via}", r.what, r.interaction_id);
        match r.session {
            Some(s) if r.wait.is_some() && o != Outcome::TimedOut => waiting::print_after_wait(s)?,
            Some(s) if r.wait.is_none() => errln!("{}: {}", render::short_id(&s.id), state_name(s.state)),
            _ => {}
        }
    }
    match r.session {
        Some(s) => waiting::finish(o, s),
        None => Ok(super::super::EXIT_OK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_defaulting() {
        let pi = |id: &str, kind: InteractionKind| PendingInteraction {
            id: id.into(),
            kind: kind as i32,
            ..Default::default()
        };
        let mut s = Session { pending_interactions: vec![pi("q1", InteractionKind::Question)], ..Default::default() };
        assert_eq!(pick_interaction(&s, None, &[InteractionKind::Question], "question").unwrap().id, "q1");
        assert!(pick_interaction(&s, None, &APPROVABLE, "permission").is_err());
        s.pending_interactions.push(pi("b1", InteractionKind::Bash));
        s.pending_interactions.push(pi("b2", InteractionKind::Bash));
        let e = pick_interaction(&s, None, &APPROVABLE, "permission").unwrap_err();
        assert!(e.downcast_ref::<CliError>().is_some_and(|u| u.exit == 2 && u.message.contains("b1, b2")), "{e}");
        assert_eq!(pick_interaction(&s, Some("b2".into()), &APPROVABLE, "permission").unwrap().id, "b2");
    }
}
