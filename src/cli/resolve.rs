//! What the user typed as a session: an id, a name (both resolved by the server), or a unique prefix of
//! an id (at least [`MIN_PREFIX`] characters, e.g. the 8-character short id the CLI prints). Every command
//! that takes a session goes through [`session`] once and then uses the full id.
use std::time::Duration;

use super::connect::{request, Client};
use super::exit::CliError;
use super::render::{self, state_name};
use crate::proto::v1::{self as pb, Session};

/// Shortest id prefix accepted (shorter ones match too much to be a deliberate choice).
pub const MIN_PREFIX: usize = 4;

/// The session `arg` names: exact id or name first (the server's rule), else a unique id prefix.
pub async fn session(client: &mut Client, t: Duration, arg: &str) -> anyhow::Result<Session> {
    let err = match get(client, t, arg).await {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let not_found = err
        .downcast_ref::<tonic::Status>()
        .is_some_and(|s| render::status_reason(s).as_deref() == Some("SESSION_NOT_FOUND"));
    if !not_found || !could_be_prefix(arg) {
        return Err(err);
    }
    let all =
        list_all(client, t, pb::ListSessionsRequest { include_exited: true, page_size: 500, ..Default::default() })
            .await?;
    match match_prefix(arg, &all)? {
        Some(id) => get(client, t, &id).await,
        None => Err(err),
    }
}

/// Whether `arg` can be an id prefix: long enough, and only characters of a UUID.
fn could_be_prefix(arg: &str) -> bool {
    arg.len() >= MIN_PREFIX && arg.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The one session whose id starts with `prefix` (None when none does; a usage error naming the
/// candidates when several do).
pub fn match_prefix(prefix: &str, sessions: &[Session]) -> Result<Option<String>, CliError> {
    let prefix = prefix.to_ascii_lowercase();
    let hits: Vec<&Session> = sessions.iter().filter(|s| s.id.starts_with(&prefix)).collect();
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.id.clone())),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|s| {
                    let name = if s.name.is_empty() { String::new() } else { format!(" {:?}", s.name) };
                    format!("{}{name} ({})", s.id, state_name(s.state))
                })
                .collect();
            Err(CliError::new(
                super::exit::EXIT_USAGE,
                "INVALID_ARGUMENT",
                "AMBIGUOUS_SESSION_ID",
                format!("{prefix:?} matches {} sessions; give more of the id: {}", many.len(), list.join(", ")),
            )
            .with("prefix", prefix.as_str())
            .with("candidates", many.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(",")))
        }
    }
}

async fn get(client: &mut Client, t: Duration, id: &str) -> anyhow::Result<Session> {
    use anyhow::Context as _;
    client
        .get_session(request(pb::GetSessionRequest { session_id: id.to_string() }, t))
        .await?
        .into_inner()
        .session
        .context("server returned no session")
}

/// Lists all pages.
pub async fn list_all(
    client: &mut Client,
    t: Duration,
    mut req: pb::ListSessionsRequest,
) -> anyhow::Result<Vec<Session>> {
    let mut out = Vec::new();
    loop {
        let resp = client.list_sessions(request(req.clone(), t)).await?.into_inner();
        out.extend(resp.sessions);
        if resp.next_page_token.is_empty() || resp.next_page_token == req.page_token {
            break;
        }
        req.page_token = resp.next_page_token;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, name: &str) -> Session {
        Session { id: id.into(), name: name.into(), ..Default::default() }
    }

    #[test]
    fn unique_prefixes_resolve_and_ambiguous_ones_list_the_candidates() {
        let all = [
            s("92a1ac34-7705-472d-b6e5-2f0ea66f8411", "impl-#123"),
            s("92a1ff00-0000-4000-8000-000000000000", "review PR 456"),
            s("0badcafe-0000-4000-8000-000000000000", ""),
        ];
        assert_eq!(match_prefix("92a1ac34", &all).unwrap().as_deref(), Some(all[0].id.as_str()));
        assert_eq!(match_prefix("0BADCAFE", &all).unwrap().as_deref(), Some(all[2].id.as_str()));
        assert_eq!(match_prefix("ffff", &all).unwrap(), None);
        let e = match_prefix("92a1", &all).unwrap_err();
        assert_eq!((e.exit, e.reason.as_str()), (super::super::exit::EXIT_USAGE, "AMBIGUOUS_SESSION_ID"));
        assert!(e.message.contains(&all[0].id) && e.message.contains("\"review PR 456\""), "{}", e.message);
        assert_eq!(e.metadata["candidates"], format!("{},{}", all[0].id, all[1].id));
    }

    #[test]
    fn only_uuid_like_text_of_four_or_more_characters_is_a_prefix() {
        assert!(could_be_prefix("92a1ac34") && could_be_prefix("92a1-ac"));
        assert!(!could_be_prefix("92a") && !could_be_prefix("impl-#123") && !could_be_prefix("tâche-é"));
    }
}
