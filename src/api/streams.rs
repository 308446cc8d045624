//! Server streams. Every stream is bounded: heartbeats keep idle streams alive and show the current
//! position, a lifetime limit ends streams with OK (clients resume), a consumer that stops reading is
//! cut with ABORTED + WATCH_LAGGED, and graceful shutdown ends them.
use super::convert;
use super::status::{invalid, to_status};
use crate::core::feed::{enters_wanted, Feed, Scope};
use crate::core::model::{now_ms, Event, SessionRecord, State};
use crate::core::{CoreError, ErrorKind, Manager};
use crate::proto::v1 as pb;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tonic::Status;

pub type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// Bounds of every watch stream.
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    /// A watch ends with OK after this long; clients resume from their last revision.
    pub lifetime: Duration,
    /// A consumer that does not take an item for this long is cut with WATCH_LAGGED.
    pub send_timeout: Duration,
    /// Items queued per stream beyond what the transport holds.
    pub buffer: usize,
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits { lifetime: Duration::from_secs(30 * 60), send_timeout: Duration::from_secs(10), buffer: 256 }
    }
}

pub fn heartbeat(d: Option<prost_types::Duration>) -> Result<Duration, Status> {
    let d = d.map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32)).unwrap_or(Duration::from_secs(15));
    if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&d) {
        return Err(invalid("heartbeat_interval", "INVALID_HEARTBEAT", "heartbeat_interval must be 1-60 s"));
    }
    Ok(d)
}

fn lagged() -> Status {
    to_status(CoreError::new(
        ErrorKind::Aborted,
        "WATCH_LAGGED",
        "the watcher did not keep up; resume from the last revision",
    ))
}

/// Sends one item; false means the stream is over (client gone or too slow, in which case it is told).
async fn send<T>(tx: &mpsc::Sender<Result<T, Status>>, item: T, limits: WatchLimits) -> bool {
    match tx.send_timeout(Ok(item), limits.send_timeout).await {
        Ok(()) => true,
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
            let _ = tx.try_send(Err(lagged()));
            false
        }
        Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
    }
}

pub fn watch_session(
    mgr: Arc<Manager>,
    rec: SessionRecord,
    start_revision: i64,
    include_snapshot: bool,
    until: Vec<State>,
    hb: Duration,
    limits: WatchLimits,
    mut shutdown: watch::Receiver<bool>,
) -> Stream<pb::WatchSessionResponse> {
    use pb::watch_session_response::Item;
    let (tx, rx) = mpsc::channel(limits.buffer.max(1));
    tokio::spawn(async move {
        let start = if start_revision > 0 { start_revision } else { rec.revision + 1 };
        let mut feed = match Feed::new(&mgr, Scope::Session(rec.id.clone()), start).await {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(to_status(e))).await;
                return;
            }
        };
        if include_snapshot {
            if !send(&tx, pb::WatchSessionResponse { item: Some(Item::Snapshot(convert::session(&rec))) }, limits).await
            {
                return;
            }
            if until.contains(&rec.state) {
                return;
            }
        }
        let end = tokio::time::Instant::now() + limits.lifetime;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + hb, hb);
        loop {
            tokio::select! {
                e = feed.next() => match e {
                    Ok(e) => {
                        let done = !until.is_empty() && enters_wanted(&e, &until);
                        if !send(&tx, pb::WatchSessionResponse { item: Some(Item::Event(convert::event(&e))) }, limits).await || done {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    let hb = pb::Heartbeat { current: feed.position() - 1, time: convert::ts(now_ms()) };
                    if !send(&tx, pb::WatchSessionResponse { item: Some(Item::Heartbeat(hb)) }, limits).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(end) => return,
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

pub struct EventFilter {
    pub sessions: Vec<String>,
    pub states: Vec<State>,
    pub kinds: Vec<i32>,
}

impl EventFilter {
    fn matches(&self, e: &Event) -> bool {
        (self.sessions.is_empty() || self.sessions.contains(&e.session_id))
            && (self.states.is_empty() || self.states.contains(&e.state))
            && (self.kinds.is_empty()
                || e.interaction
                    .as_ref()
                    .is_some_and(|i| self.kinds.contains(&(convert::interaction_kind(i.kind) as i32))))
    }
}

pub fn watch_events(
    mgr: Arc<Manager>,
    start: i64,
    filter: EventFilter,
    hb: Duration,
    limits: WatchLimits,
    mut shutdown: watch::Receiver<bool>,
) -> Stream<pb::WatchEventsResponse> {
    use pb::watch_events_response::Item;
    let (tx, rx) = mpsc::channel(limits.buffer.max(1));
    tokio::spawn(async move {
        let mut feed = match Feed::new(&mgr, Scope::Global, start).await {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(to_status(e))).await;
                return;
            }
        };
        let end = tokio::time::Instant::now() + limits.lifetime;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + hb, hb);
        loop {
            tokio::select! {
                e = feed.next() => match e {
                    Ok(e) => {
                        if filter.matches(&e) && !send(&tx, pb::WatchEventsResponse { item: Some(Item::Event(convert::event(&e))) }, limits).await {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    let hb = pb::Heartbeat { current: feed.position() - 1, time: convert::ts(now_ms()) };
                    if !send(&tx, pb::WatchEventsResponse { item: Some(Item::Heartbeat(hb)) }, limits).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(end) => return,
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
