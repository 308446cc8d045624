//! Server-sent events over WatchSession / WatchEvents (their bounds, quotas and resume rules). Each
//! event's `id` is its revision (per session) or global sequence, so `Last-Event-ID` resumes after it.
use super::compat;
use super::error::ApiError;
use super::Http;
use crate::core::CoreError;
use crate::proto::v1::{self as pb, session_service_server::SessionService as _};
use axum::extract::{Path, Query, State as Ctx};
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use futures::{Stream, StreamExt as _};
use serde::Deserialize;
use std::convert::Infallible;
use tonic::Request;

const HEARTBEAT: prost_types::Duration = prost_types::Duration { seconds: 15, nanos: 0 };

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResumeQuery {
    /// For clients that cannot set headers on their first request (EventSource): same as Last-Event-ID.
    last_event_id: Option<String>,
}

/// The last id the client saw, from `Last-Event-ID` (or `?lastEventId=`); None = start from now.
fn last_seen(headers: &HeaderMap, q: &ResumeQuery) -> Result<Option<i64>, ApiError> {
    let raw = headers.get("last-event-id").and_then(|v| v.to_str().ok()).or(q.last_event_id.as_deref());
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            CoreError::invalid("Last-Event-ID", "INVALID_LAST_EVENT_ID", "Last-Event-ID must be a revision or sequence")
                .into()
        }),
    }
}

fn data(e: Event, v: &serde_json::Value) -> Event {
    e.data(v.to_string())
}

/// A stream's error as its last SSE event (`event: error`, the same JSON as an HTTP error).
fn failed(st: tonic::Status) -> Event {
    data(Event::default().event("error"), &ApiError(st).body())
}

fn heartbeat(h: &pb::Heartbeat) -> Event {
    Event::default().comment(format!("heartbeat {}", h.current))
}

type Events = Sse<std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>>;

/// `GET /v1/sessions/{id}/events`: a `snapshot` event (the session now) then its events; resumed
/// with `Last-Event-ID: <revision>` (no snapshot then).
pub async fn session(
    Ctx(h): Ctx<Http>,
    Path(id): Path<String>,
    Query(q): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Events, ApiError> {
    let last = last_seen(&headers, &q)?;
    let req = pb::WatchSessionRequest {
        session_id: id,
        start_revision: last.map_or(0, |r| r + 1),
        include_snapshot: last.is_none(),
        until_states: vec![],
        heartbeat_interval: Some(HEARTBEAT),
    };
    let items = h.svc.watch_session(Request::new(req)).await?.into_inner();
    let events = items.map(|item| {
        use pb::watch_session_response::Item;
        Ok(match item {
            Ok(pb::WatchSessionResponse { item: Some(Item::Snapshot(s)) }) => {
                data(Event::default().event("snapshot").id(s.revision.to_string()), &compat::session(&s))
            }
            Ok(pb::WatchSessionResponse { item: Some(Item::Event(e)) }) => {
                data(Event::default().event(compat::event_kind(e.kind)).id(e.revision.to_string()), &compat::event(&e))
            }
            Ok(pb::WatchSessionResponse { item: Some(Item::Heartbeat(hb)) }) => heartbeat(&hb),
            Ok(pb::WatchSessionResponse { item: None }) => Event::default().comment(""),
            Err(st) => failed(st),
        })
    });
    Ok(Sse::new(events.boxed()))
}

/// `GET /v1/events`: every session's events in global order; resumed with `Last-Event-ID: <sequence>`.
pub async fn all(Ctx(h): Ctx<Http>, Query(q): Query<ResumeQuery>, headers: HeaderMap) -> Result<Events, ApiError> {
    let last = last_seen(&headers, &q)?;
    let req = pb::WatchEventsRequest {
        start_sequence: last.map_or(0, |s| s + 1),
        heartbeat_interval: Some(HEARTBEAT),
        ..Default::default()
    };
    let items = h.svc.watch_events(Request::new(req)).await?.into_inner();
    let events = items.map(|item| {
        use pb::watch_events_response::Item;
        Ok(match item {
            Ok(pb::WatchEventsResponse { item: Some(Item::Event(e)) }) => {
                data(Event::default().event(compat::event_kind(e.kind)).id(e.sequence.to_string()), &compat::event(&e))
            }
            Ok(pb::WatchEventsResponse { item: Some(Item::Heartbeat(hb)) }) => heartbeat(&hb),
            Ok(pb::WatchEventsResponse { item: None }) => Event::default().comment(""),
            Err(st) => failed(st),
        })
    });
    Ok(Sse::new(events.boxed()))
}
