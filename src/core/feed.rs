//! Ordered event feeds for watchers and waits: history from the store, then live events, with no gap
//! and no duplicate. The live channel is subscribed *before* history is read; duplicates are dropped by
//! revision (per session) or sequence (global).
use super::error::{CoreError, CoreResult, ErrorKind};
use super::manager::Manager;
use crate::model::{Event, EventKind, State};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::broadcast;

const PAGE: i64 = 500;

pub enum Scope {
    Session(String),
    Global,
}

pub struct Feed<'a> {
    mgr: &'a Manager,
    scope: Scope,
    rx: broadcast::Receiver<Event>,
    backlog: VecDeque<Event>,
    /// Next revision (session scope) or sequence (global scope) to deliver.
    next: i64,
    history_done: bool,
}

fn lagged() -> CoreError {
    CoreError::new(ErrorKind::Aborted, "WATCH_LAGGED", "the watcher fell too far behind; resume from the last revision")
}

impl<'a> Feed<'a> {
    /// `from` is inclusive. Fails with OUT_OF_RANGE + REVISION_COMPACTED when `from` is older than retention.
    pub async fn new(mgr: &'a Manager, scope: Scope, from: i64) -> CoreResult<Feed<'a>> {
        let rx = mgr.subscribe();
        let from = from.max(1);
        let oldest = match &scope {
            Scope::Session(id) => mgr.store().min_revision(id).await,
            Scope::Global => mgr.store().min_sequence().await,
        }
        .map_err(|e| CoreError::internal(e.to_string()))?;
        if let Some(oldest) = oldest {
            if from < oldest {
                return Err(CoreError::new(
                    ErrorKind::OutOfRange,
                    "REVISION_COMPACTED",
                    format!("events before {oldest} were compacted; re-read the session and watch from there"),
                )
                .with("oldest_available", oldest)
                .with("requested", from));
            }
        }
        Ok(Feed { mgr, scope, rx, backlog: VecDeque::new(), next: from, history_done: false })
    }

    pub fn position(&self) -> i64 {
        self.next
    }

    fn key(&self, e: &Event) -> i64 {
        match self.scope {
            Scope::Session(_) => e.revision,
            Scope::Global => e.sequence,
        }
    }

    fn mine(&self, e: &Event) -> bool {
        match &self.scope {
            Scope::Session(id) => &e.session_id == id,
            Scope::Global => true,
        }
    }

    async fn refill(&mut self) -> CoreResult<()> {
        let page = match &self.scope {
            Scope::Session(id) => self.mgr.store().session_events(id, self.next, PAGE).await,
            Scope::Global => self.mgr.store().global_events(self.next, PAGE).await,
        }
        .map_err(|e| CoreError::internal(e.to_string()))?;
        self.history_done = (page.len() as i64) < PAGE;
        self.backlog.extend(page);
        Ok(())
    }

    /// The next event in order.
    pub async fn next(&mut self) -> CoreResult<Event> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                if self.key(&e) >= self.next {
                    self.next = self.key(&e) + 1;
                    return Ok(e);
                }
                continue;
            }
            if !self.history_done {
                self.refill().await?;
                continue;
            }
            let e = match self.rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => return Err(lagged()),
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(CoreError::new(ErrorKind::Unavailable, "SHUTTING_DOWN", "the server is stopping"))
                }
            };
            if !self.mine(&e) || self.key(&e) < self.next {
                continue;
            }
            if self.key(&e) > self.next && matches!(self.scope, Scope::Session(_)) {
                // A gap can only mean we missed something between history and live: read it back.
                self.history_done = false;
                continue;
            }
            self.next = self.key(&e) + 1;
            return Ok(e);
        }
    }
}

/// Whether an event *enters* a state a waiter wants (empty = any stable state).
pub fn enters_wanted(e: &Event, states: &[State]) -> bool {
    matches!(e.kind, EventKind::StateChanged | EventKind::Deleted)
        && if states.is_empty() { e.state.stable() } else { states.contains(&e.state) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOutcome {
    pub satisfied: bool,
    pub matched_revision: i64,
    /// The last revision the wait saw (the response's session includes at least this).
    pub seen_revision: i64,
}

/// Blocks until the session enters a wanted state at a revision after `after`, it exits, or `limit` passes.
/// With `after_delivery`, states count only after a MessageSent event (a create with a prompt), except
/// waiting dialogs (trust, questions) which block the prompt and so end the wait at once.
pub async fn wait(
    mgr: &Manager,
    session_id: &str,
    after: i64,
    states: &[State],
    limit: Duration,
    after_delivery: bool,
) -> CoreResult<WaitOutcome> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut delivered = !after_delivery;
    let mut from = after + 1;
    let mut seen = after;
    loop {
        let mut feed = Feed::new(mgr, Scope::Session(session_id.to_string()), from).await?;
        let result = tokio::time::timeout_at(deadline, async {
            loop {
                let e = feed.next().await?;
                seen = e.revision;
                if e.kind == EventKind::MessageSent {
                    delivered = true;
                }
                let blocking =
                    matches!(e.state, State::TrustPrompt | State::ApiKeyPrompt | State::AskQuestion | State::Exited);
                if (delivered || blocking) && enters_wanted(&e, states) {
                    return CoreResult::Ok(WaitOutcome {
                        satisfied: true,
                        matched_revision: e.revision,
                        seen_revision: e.revision,
                    });
                }
                if e.state == State::Exited && matches!(e.kind, EventKind::StateChanged | EventKind::Deleted) {
                    // A session that dies ends the wait at once.
                    return Ok(WaitOutcome { satisfied: false, matched_revision: 0, seen_revision: e.revision });
                }
            }
        })
        .await;
        match result {
            Err(_) => return Ok(WaitOutcome { satisfied: false, matched_revision: 0, seen_revision: seen }),
            Ok(Ok(o)) => return Ok(o),
            // Lagged: resume from where the feed was.
            Ok(Err(e)) if e.reason == "WATCH_LAGGED" => from = feed.position(),
            Ok(Err(e)) => return Err(e),
        }
    }
}
