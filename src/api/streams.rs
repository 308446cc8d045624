//! Server streams. Every stream is bounded: heartbeats keep idle streams alive and show the current
//! position, a lifetime limit ends streams with OK (clients resume), a consumer that stops reading is
//! cut with ABORTED + WATCH_LAGGED, and graceful shutdown ends them.
use super::convert;
use super::status::{invalid, to_status};
use crate::core::feed::{enters_wanted, Feed, Scope};
use crate::core::{CoreError, ErrorKind, Manager};
use crate::model::{now_ms, Event, SessionRecord, State};
use crate::proto::v1 as pb;
use futures::StreamExt as _;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
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

/// The producing side of a stream: bounded items, plus the final error on its own channel so it is
/// delivered (after the buffered items) even when the buffer is full — exactly the lagged case.
struct Sink<T> {
    tx: mpsc::Sender<Result<T, Status>>,
    err: Option<oneshot::Sender<Status>>,
    limits: WatchLimits,
}

impl<T: Send + 'static> Sink<T> {
    fn new(limits: WatchLimits) -> (Sink<T>, Stream<T>) {
        let (tx, rx) = mpsc::channel(limits.buffer.max(1));
        let (err_tx, err_rx) = oneshot::channel::<Status>();
        let tail = futures::stream::once(err_rx).filter_map(|r| async move { r.ok().map(Err) });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx).chain(tail);
        (Sink { tx, err: Some(err_tx), limits }, Box::pin(stream))
    }

    /// Sends one item; false means the stream is over (client gone, or too slow and told so).
    async fn send(&mut self, item: T) -> bool {
        match self.tx.send_timeout(Ok(item), self.limits.send_timeout).await {
            Ok(()) => true,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                self.fail(lagged());
                false
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
        }
    }

    fn fail(&mut self, st: Status) {
        if let Some(tx) = self.err.take() {
            let _ = tx.send(st);
        }
    }
}

/// What every stream needs besides its query: heartbeat interval, bounds, and the shutdown signal.
pub struct StreamCtx {
    pub heartbeat: Duration,
    pub limits: WatchLimits,
    pub shutdown: watch::Receiver<bool>,
    /// The stream's watcher slot (--max-watchers), released when the stream's task ends.
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// How a stream presents feed events: which to send (and how), which end it, and heartbeats.
trait Present: Send + 'static {
    type Item: Send + 'static;
    /// The item for an event, or None to skip it.
    fn event(&self, e: &Event) -> Option<Self::Item>;
    /// Whether the stream ends (OK) after this event.
    fn done(&self, _e: &Event) -> bool {
        false
    }
    fn heartbeat(&self, hb: pb::Heartbeat) -> Self::Item;
}

/// Feeds `feed` into `out` until the client leaves, the lifetime or shutdown ends it, or an error.
async fn pump<P: Present>(
    mut feed: Feed<'_>,
    mut out: Sink<P::Item>,
    p: P,
    heartbeat: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let end = tokio::time::Instant::now() + out.limits.lifetime;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    loop {
        tokio::select! {
            e = feed.next() => match e {
                Ok(e) => {
                    if let Some(item) = p.event(&e) {
                        if !out.send(item).await {
                            return;
                        }
                    }
                    if p.done(&e) {
                        return;
                    }
                }
                Err(e) => return out.fail(to_status(e)),
            },
            _ = tick.tick() => {
                let hb = pb::Heartbeat { current: feed.position() - 1, time: convert::ts(now_ms()) };
                if !out.send(p.heartbeat(hb)).await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(end) => return,
            _ = shutdown.changed() => return,
            _ = out.tx.closed() => return,
        }
    }
}

struct SessionItems {
    until: Vec<State>,
}

impl Present for SessionItems {
    type Item = pb::WatchSessionResponse;
    fn event(&self, e: &Event) -> Option<Self::Item> {
        Some(pb::WatchSessionResponse { item: Some(pb::watch_session_response::Item::Event(convert::event(e))) })
    }
    fn done(&self, e: &Event) -> bool {
        !self.until.is_empty() && enters_wanted(e, &self.until)
    }
    fn heartbeat(&self, hb: pb::Heartbeat) -> Self::Item {
        pb::WatchSessionResponse { item: Some(pb::watch_session_response::Item::Heartbeat(hb)) }
    }
}

pub fn watch_session(
    mgr: Arc<Manager>,
    rec: SessionRecord,
    start_revision: i64,
    include_snapshot: bool,
    until: Vec<State>,
    ctx: StreamCtx,
) -> Stream<pb::WatchSessionResponse> {
    let (mut out, stream) = Sink::new(ctx.limits);
    tokio::spawn(async move {
        let _slot = ctx.slot;
        let start = if start_revision > 0 { start_revision } else { rec.revision + 1 };
        let feed = match Feed::new(&mgr, Scope::Session(rec.id.clone()), start).await {
            Ok(f) => f,
            Err(e) => return out.fail(to_status(e)),
        };
        if include_snapshot {
            let snap = pb::WatchSessionResponse {
                item: Some(pb::watch_session_response::Item::Snapshot(convert::session(&rec))),
            };
            if !out.send(snap).await || until.contains(&rec.state) {
                return;
            }
        }
        pump(feed, out, SessionItems { until }, ctx.heartbeat, ctx.shutdown).await
    });
    stream
}

pub struct EventFilter {
    pub sessions: Vec<String>,
    pub states: Vec<State>,
    pub kinds: Vec<i32>,
}

impl Present for EventFilter {
    type Item = pb::WatchEventsResponse;
    fn event(&self, e: &Event) -> Option<Self::Item> {
        let wanted = (self.sessions.is_empty() || self.sessions.contains(&e.session_id))
            && (self.states.is_empty() || self.states.contains(&e.state))
            && (self.kinds.is_empty()
                || e.interaction
                    .as_ref()
                    .is_some_and(|i| self.kinds.contains(&(convert::interaction_kind(i.kind) as i32))));
        wanted
            .then(|| pb::WatchEventsResponse { item: Some(pb::watch_events_response::Item::Event(convert::event(e))) })
    }
    fn heartbeat(&self, hb: pb::Heartbeat) -> Self::Item {
        pb::WatchEventsResponse { item: Some(pb::watch_events_response::Item::Heartbeat(hb)) }
    }
}

pub fn watch_events(
    mgr: Arc<Manager>,
    start: i64,
    filter: EventFilter,
    ctx: StreamCtx,
) -> Stream<pb::WatchEventsResponse> {
    let (mut out, stream) = Sink::new(ctx.limits);
    tokio::spawn(async move {
        let _slot = ctx.slot;
        match Feed::new(&mgr, Scope::Global, start).await {
            Ok(feed) => pump(feed, out, filter, ctx.heartbeat, ctx.shutdown).await,
            Err(e) => out.fail(to_status(e)),
        }
    });
    stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Manager, ManagerConfig};
    use crate::model::{EventKind, Evidence, SessionRecord};
    use crate::store::Store;

    fn record(id: &str, revision: i64) -> SessionRecord {
        let json = serde_json::json!({
            "id": id, "name": "", "work_dir": "/tmp", "state": "Idle", "revision": revision,
            "created": 1, "updated": 1, "state_since": 1, "evidence": {"source": "Api", "at": 1}
        });
        serde_json::from_value(json).unwrap()
    }

    async fn manager_with_events(n: i64) -> (tempfile::TempDir, Arc<Manager>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 64).unwrap();
        for rev in 1..=n {
            let ev = Event {
                session_id: "s1".into(),
                revision: rev,
                sequence: 0,
                at: rev,
                kind: EventKind::StateChanged,
                state: State::Idle,
                previous_state: State::Working,
                evidence: Evidence::api("test"),
                interaction: None,
                stall: None,
                detail: String::new(),
            };
            store.commit(ev, record("s1", rev)).await.unwrap();
        }
        let cfg = ManagerConfig {
            tmux_session: "t".into(),
            claude_bin: "claude".into(),
            claude_config_dir: dir.path().into(),
            state_dir: dir.path().into(),
            set_config_dir_env: false,
            session_env: Vec::new(),
            trust_work_dirs: false,
            stall_threshold: Duration::from_secs(300),
            keep_events_per_session: 100,
            hooks: true,
        };
        let mgr = Manager::new(cfg, store, crate::tmux::Tmux::new("tmux", "unused"), String::new());
        (dir, mgr)
    }

    #[tokio::test]
    async fn a_consumer_that_stops_reading_is_cut_with_watch_lagged() {
        let (_dir, mgr) = manager_with_events(20).await;
        let limits =
            WatchLimits { lifetime: Duration::from_secs(60), send_timeout: Duration::from_millis(100), buffer: 2 };
        let (_stop, rx) = watch::channel(false);
        let mut s = watch_session(
            mgr,
            record("s1", 20),
            1,
            false,
            vec![],
            StreamCtx { heartbeat: Duration::from_secs(30), limits, shutdown: rx, slot: None },
        );
        // Not reading for longer than the send timeout.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut items = 0;
        let err = loop {
            match s.next().await {
                Some(Ok(_)) => items += 1,
                Some(Err(e)) => break e,
                None => panic!("ended without WATCH_LAGGED after {items} items"),
            }
        };
        assert!(items <= 2, "only the buffered items precede the error: {items}");
        assert_eq!(err.code(), tonic::Code::Aborted);
        use tonic_types::StatusExt;
        assert_eq!(err.get_details_error_info().unwrap().reason, "WATCH_LAGGED");
    }

    #[tokio::test]
    async fn a_resume_point_before_retention_is_out_of_range() {
        let (_dir, mgr) = manager_with_events(20).await;
        mgr.store().prune(5, 1000).await.unwrap();
        let (_stop, rx) = watch::channel(false);
        let mut s = watch_session(
            mgr,
            record("s1", 20),
            1,
            false,
            vec![],
            StreamCtx { heartbeat: Duration::from_secs(1), limits: WatchLimits::default(), shutdown: rx, slot: None },
        );
        let err = s.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::OutOfRange);
        use tonic_types::StatusExt;
        let info = err.get_details_error_info().unwrap();
        assert_eq!((info.reason.as_str(), info.metadata["oldest_available"].as_str()), ("REVISION_COMPACTED", "16"));
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn a_reading_consumer_gets_every_event_in_order_then_heartbeats() {
        let (_dir, mgr) = manager_with_events(20).await;
        let (_stop, rx) = watch::channel(false);
        let limits = WatchLimits { buffer: 2, ..Default::default() };
        let mut s = watch_session(
            mgr,
            record("s1", 20),
            5,
            true,
            vec![],
            StreamCtx { heartbeat: Duration::from_secs(1), limits, shutdown: rx, slot: None },
        );
        let mut revs = Vec::new();
        let mut snapshot = false;
        loop {
            match s.next().await.unwrap().unwrap().item.unwrap() {
                pb::watch_session_response::Item::Snapshot(_) => snapshot = true,
                pb::watch_session_response::Item::Event(e) => revs.push(e.revision),
                pb::watch_session_response::Item::Heartbeat(h) => {
                    assert_eq!(h.current, 20);
                    break;
                }
            }
        }
        assert!(snapshot);
        assert_eq!(revs, (5..=20).collect::<Vec<_>>());
    }
}
