//! The embedded store: SQLite in WAL mode, owned by one thread that performs every write (and the few
//! reads) in order. Events are committed before they are published, and published from that same thread
//! in commit order, so live watchers see exactly the global sequence order the store holds.
use crate::model::{now_ms, Event, SessionRecord};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use tokio::sync::{broadcast, oneshot};

type Reply<T> = oneshot::Sender<anyhow::Result<T>>;

enum Op {
    /// Insert the event (assigning its global sequence) and upsert the session snapshot, atomically.
    Commit {
        event: Box<Event>,
        session: Box<SessionRecord>,
        reply: Reply<Event>,
    },
    /// Upsert the session without an event (metadata only).
    SaveSession {
        session: Box<SessionRecord>,
        reply: Reply<()>,
    },
    LoadSessions {
        reply: Reply<Vec<SessionRecord>>,
    },
    SessionEvents {
        session_id: String,
        from_revision: i64,
        limit: i64,
        reply: Reply<Vec<Event>>,
    },
    GlobalEvents {
        from_sequence: i64,
        limit: i64,
        reply: Reply<Vec<Event>>,
    },
    MinRevision {
        session_id: String,
        reply: Reply<Option<i64>>,
    },
    MinSequence {
        reply: Reply<Option<i64>>,
    },
    LastSequence {
        reply: Reply<i64>,
    },
    GetRequest {
        key: String,
        reply: Reply<Option<StoredRequest>>,
    },
    PutRequest {
        key: String,
        req: StoredRequest,
        reply: Reply<()>,
    },
    DeleteRequest {
        key: String,
        reply: Reply<()>,
    },
    Prune {
        keep_events_per_session: i64,
        request_ttl_ms: i64,
        reply: Reply<()>,
    },
}

/// A remembered mutating request (idempotency). Written `InFlight` before the request acts and
/// `Completed` (with its response) when it succeeds; deleted when it fails.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub method: String,
    pub fingerprint: String,
    pub response: Vec<u8>,
    pub created: i64,
    pub state: RequestState,
    /// The session the request acts on as chosen before acting (CreateSession: the new session's id).
    pub session_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    InFlight,
    Completed,
}

impl RequestState {
    fn as_str(self) -> &'static str {
        match self {
            RequestState::InFlight => "in_flight",
            RequestState::Completed => "completed",
        }
    }
}

/// How the store commits; `Default` is what `aegis serve` uses. The other settings exist for the
/// event-log benchmark (`examples/bench_events.rs`), which measures them against each other.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Most commits per transaction (1 = one transaction per event, the pre-group-commit behaviour).
    pub group_max: usize,
    /// `synchronous=FULL` (fsync the WAL at every transaction) instead of `NORMAL`.
    pub sync_full: bool,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning { group_max: GROUP_MAX, sync_full: false }
    }
}

#[derive(Clone)]
pub struct Store {
    tx: std_mpsc::Sender<Op>,
    events: broadcast::Sender<Event>,
}

// fsync policy: WAL + synchronous=NORMAL. SQLite then syncs the WAL only at checkpoints, not at each
// commit: a committed event survives a crash or kill -9 of the service (the write is in the kernel),
// but an OS crash or power loss may drop the commits since the last checkpoint (the database stays
// consistent; watchers may have seen events that are gone after reboot). FULL would sync at every
// group commit (`Tuning::sync_full`; bench/README.md has both rates).
const SCHEMA: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, created INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  json TEXT NOT NULL,
  UNIQUE(session_id, revision)
);
CREATE TABLE IF NOT EXISTS requests (
  key TEXT PRIMARY KEY, method TEXT NOT NULL, fingerprint TEXT NOT NULL, response BLOB NOT NULL, created INTEGER NOT NULL
);
";

/// Schema migrations after `SCHEMA`, applied in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    // 1: idempotency records are written before acting (in flight → completed), with the session
    // chosen up front. Rows of older versions were written on completion.
    "ALTER TABLE requests ADD COLUMN state TEXT NOT NULL DEFAULT 'completed';
     ALTER TABLE requests ADD COLUMN session_id TEXT NOT NULL DEFAULT '';",
];

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(m)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating) the database and starts the store thread. `capacity` bounds the live event
    /// channel: a watcher that falls further behind is cut (WATCH_LAGGED) and resumes from the store.
    /// The database and its -wal/-shm files are 0600: SQLite gives its side files the mode of the
    /// database file, so the file is created 0600 before SQLite opens it; existing ones are chmodded.
    pub fn open(path: &Path, capacity: usize) -> anyhow::Result<Store> {
        Store::open_tuned(path, capacity, Tuning::default())
    }

    pub fn open_tuned(path: &Path, capacity: usize, tuning: Tuning) -> anyhow::Result<Store> {
        drop(crate::private_fs::open(path)?);
        let mut conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        if tuning.sync_full {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        migrate(&mut conn)?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            crate::private_fs::restrict(Path::new(&side))?;
        }
        let (tx, rx) = std_mpsc::channel();
        let (events, _) = broadcast::channel(capacity);
        let publisher = events.clone();
        std::thread::Builder::new()
            .name("aegis-store".into())
            .spawn(move || run(conn, rx, publisher, tuning.group_max.max(1)))?;
        Ok(Store { tx, events })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Op) -> anyhow::Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| anyhow::anyhow!("store closed"))?;
        rx.await.map_err(|_| anyhow::anyhow!("store closed"))?
    }

    pub async fn commit(&self, event: Event, session: SessionRecord) -> anyhow::Result<Event> {
        self.call(|reply| Op::Commit { event: Box::new(event), session: Box::new(session), reply }).await
    }
    pub async fn save_session(&self, session: SessionRecord) -> anyhow::Result<()> {
        self.call(|reply| Op::SaveSession { session: Box::new(session), reply }).await
    }
    pub async fn load_sessions(&self) -> anyhow::Result<Vec<SessionRecord>> {
        self.call(|reply| Op::LoadSessions { reply }).await
    }
    pub async fn session_events(&self, session_id: &str, from_revision: i64, limit: i64) -> anyhow::Result<Vec<Event>> {
        let session_id = session_id.to_string();
        self.call(|reply| Op::SessionEvents { session_id, from_revision, limit, reply }).await
    }
    pub async fn global_events(&self, from_sequence: i64, limit: i64) -> anyhow::Result<Vec<Event>> {
        self.call(|reply| Op::GlobalEvents { from_sequence, limit, reply }).await
    }
    pub async fn min_revision(&self, session_id: &str) -> anyhow::Result<Option<i64>> {
        let session_id = session_id.to_string();
        self.call(|reply| Op::MinRevision { session_id, reply }).await
    }
    pub async fn min_sequence(&self) -> anyhow::Result<Option<i64>> {
        self.call(|reply| Op::MinSequence { reply }).await
    }
    pub async fn last_sequence(&self) -> anyhow::Result<i64> {
        self.call(|reply| Op::LastSequence { reply }).await
    }
    pub async fn get_request(&self, key: &str) -> anyhow::Result<Option<StoredRequest>> {
        let key = key.to_string();
        self.call(|reply| Op::GetRequest { key, reply }).await
    }
    pub async fn put_request(&self, key: &str, req: StoredRequest) -> anyhow::Result<()> {
        let key = key.to_string();
        self.call(|reply| Op::PutRequest { key, req, reply }).await
    }
    pub async fn delete_request(&self, key: &str) -> anyhow::Result<()> {
        let key = key.to_string();
        self.call(|reply| Op::DeleteRequest { key, reply }).await
    }
    /// Drops events beyond `keep_events_per_session` and expired requests, and from then on enforces
    /// that retention on every commit (the oldest event of the session goes in the same transaction).
    pub async fn prune(&self, keep_events_per_session: i64, request_ttl_ms: i64) -> anyhow::Result<()> {
        self.call(|reply| Op::Prune { keep_events_per_session, request_ttl_ms, reply }).await
    }
}

/// Most commits in one group (one transaction, one WAL sync point): bounds the latency a commit adds
/// to the ones queued behind it and the memory of a batch.
const GROUP_MAX: usize = 512;

fn run(mut conn: Connection, rx: std_mpsc::Receiver<Op>, publisher: broadcast::Sender<Event>, group_max: usize) {
    // Events kept per session, enforced on every commit once set by `prune` (0 = keep all).
    let mut keep = 0;
    // An op taken off the queue while gathering a commit group that is not a commit: it runs next.
    let mut next: Option<Op> = None;
    loop {
        let op = match next.take() {
            Some(op) => op,
            None => match rx.recv() {
                Ok(op) => op,
                Err(_) => break,
            },
        };
        match op {
            Op::Commit { event, session, reply } => {
                // Group commit: every commit already queued joins this one's transaction (no waiting
                // for more: a lone commit goes at once). Order is kept: gathering stops at the first
                // other op, which runs after the group.
                let mut group = vec![(event, session, reply)];
                while group.len() < group_max {
                    match rx.try_recv() {
                        Ok(Op::Commit { event, session, reply }) => group.push((event, session, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let results = commit_group(&mut conn, &group, keep);
                for ((_, _, reply), result) in group.into_iter().zip(results) {
                    if let Ok(ev) = &result {
                        metrics::counter!(crate::telemetry::EVENTS_COMMITTED).increment(1);
                        // No receivers is fine; publishing happens after the commit, in commit order.
                        let _ = publisher.send(ev.clone());
                    }
                    let _ = reply.send(result);
                }
            }
            Op::SaveSession { session, reply } => {
                let _ = reply.send(upsert_session(&conn, &session));
            }
            Op::LoadSessions { reply } => {
                let _ = reply.send(load_sessions(&conn));
            }
            Op::SessionEvents { session_id, from_revision, limit, reply } => {
                let _ = reply.send(query_events(
                    &conn,
                    "SELECT seq, json FROM events WHERE session_id = ?1 AND revision >= ?2 ORDER BY revision LIMIT ?3",
                    params![session_id, from_revision, limit],
                ));
            }
            Op::GlobalEvents { from_sequence, limit, reply } => {
                let _ = reply.send(query_events(
                    &conn,
                    "SELECT seq, json FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
                    params![from_sequence, limit],
                ));
            }
            Op::MinRevision { session_id, reply } => {
                let r = conn
                    .query_row("SELECT MIN(revision) FROM events WHERE session_id = ?1", [session_id], |r| {
                        r.get::<_, Option<i64>>(0)
                    })
                    .map_err(Into::into);
                let _ = reply.send(r);
            }
            Op::MinSequence { reply } => {
                let r = conn
                    .query_row("SELECT MIN(seq) FROM events", [], |r| r.get::<_, Option<i64>>(0))
                    .map_err(Into::into);
                let _ = reply.send(r);
            }
            Op::LastSequence { reply } => {
                // sqlite_sequence keeps the high-water mark even after pruning.
                let r = conn
                    .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'events'", [], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|v| v.unwrap_or(0))
                    .map_err(Into::into);
                let _ = reply.send(r);
            }
            Op::GetRequest { key, reply } => {
                let r = conn
                    .query_row(
                        "SELECT method, fingerprint, response, created, state, session_id FROM requests WHERE key = ?1",
                        [key],
                        |r| {
                            Ok(StoredRequest {
                                method: r.get(0)?,
                                fingerprint: r.get(1)?,
                                response: r.get(2)?,
                                created: r.get(3)?,
                                state: if r.get::<_, String>(4)? == "in_flight" {
                                    RequestState::InFlight
                                } else {
                                    RequestState::Completed
                                },
                                session_id: r.get(5)?,
                            })
                        },
                    )
                    .optional()
                    .map_err(Into::into);
                let _ = reply.send(r);
            }
            Op::PutRequest { key, req, reply } => {
                let r = conn
                    .execute(
                        "INSERT OR REPLACE INTO requests (key, method, fingerprint, response, created, state, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![key, req.method, req.fingerprint, req.response, req.created, req.state.as_str(), req.session_id],
                    )
                    .map(|_| ())
                    .map_err(Into::into);
                let _ = reply.send(r);
            }
            Op::DeleteRequest { key, reply } => {
                let r = conn.execute("DELETE FROM requests WHERE key = ?1", [key]).map(|_| ()).map_err(Into::into);
                let _ = reply.send(r);
            }
            Op::Prune { keep_events_per_session, request_ttl_ms, reply } => {
                keep = keep_events_per_session.max(0);
                let r = prune(&conn, keep_events_per_session, request_ttl_ms);
                let _ = reply.send(r);
            }
        }
    }
}

type Pending = (Box<Event>, Box<SessionRecord>, Reply<Event>);

/// Commits a group of events in one transaction, each in its own savepoint so that one failing event
/// (say a duplicate revision) fails alone. Every result is final only once the transaction commits:
/// if the commit itself fails, every event of the group fails (none was published).
///
/// Durability: WAL with `synchronous=NORMAL` (see `SCHEMA`). A committed group survives a crash of the
/// process (the WAL is in the OS page cache); on power loss or an OS crash the last groups committed
/// since the last WAL checkpoint sync may be lost, never corrupted (the database stays consistent).
fn commit_group(conn: &mut Connection, group: &[Pending], keep: i64) -> Vec<anyhow::Result<Event>> {
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => return group.iter().map(|_| Err(anyhow::anyhow!("store: {e}"))).collect(),
    };
    let mut out = Vec::with_capacity(group.len());
    for (event, session, _) in group {
        let one = tx.savepoint().map_err(anyhow::Error::from).and_then(|sp| {
            let ev = commit_one(&sp, (**event).clone(), session, keep)?;
            sp.commit()?;
            Ok(ev)
        });
        out.push(one);
    }
    if let Err(e) = tx.commit() {
        let msg = e.to_string();
        return out.into_iter().map(|_| Err(anyhow::anyhow!("store commit failed: {msg}"))).collect();
    }
    out
}

fn commit_one(tx: &Connection, mut event: Event, session: &SessionRecord, keep: i64) -> anyhow::Result<Event> {
    tx.prepare_cached("INSERT INTO events (session_id, revision, json) VALUES (?1, ?2, '')")?
        .execute(params![event.session_id, event.revision])?;
    event.sequence = tx.last_insert_rowid();
    tx.prepare_cached("UPDATE events SET json = ?1 WHERE seq = ?2")?
        .execute(params![serde_json::to_string(&event)?, event.sequence])?;
    upsert_session(tx, session)?;
    if keep > 0 {
        // The (session_id, revision) index makes this a range probe that deletes at most the few events
        // that just fell out of retention, so a resume point older than retention fails at once.
        tx.prepare_cached("DELETE FROM events WHERE session_id = ?1 AND revision <= ?2")?
            .execute(params![event.session_id, event.revision - keep])?;
    }
    Ok(event)
}

fn upsert_session(conn: &Connection, s: &SessionRecord) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (id, created, json) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET json = excluded.json",
    )?
    .execute(params![s.id, s.created, serde_json::to_string(s)?])?;
    Ok(())
}

fn load_sessions(conn: &Connection) -> anyhow::Result<Vec<SessionRecord>> {
    let mut stmt = conn.prepare("SELECT json FROM sessions ORDER BY created")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

fn query_events(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> anyhow::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, json) = row?;
        let mut ev: Event = serde_json::from_str(&json)?;
        ev.sequence = seq;
        out.push(ev);
    }
    Ok(out)
}

fn prune(conn: &Connection, keep: i64, request_ttl_ms: i64) -> anyhow::Result<()> {
    conn.execute(
        "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e JOIN (SELECT session_id, MAX(revision) AS top FROM events GROUP BY session_id) m ON e.session_id = m.session_id WHERE e.revision <= m.top - ?1)",
        [keep],
    )?;
    conn.execute("DELETE FROM requests WHERE created < ?1", [now_ms() - request_ttl_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, Evidence, State};

    fn record(id: &str, revision: i64) -> SessionRecord {
        let json = serde_json::json!({
            "id": id, "name": "", "work_dir": "/tmp", "state": "Idle", "revision": revision,
            "created": 1, "updated": 1, "state_since": 1, "evidence": {"source": "Api", "at": 1}
        });
        serde_json::from_value(json).unwrap()
    }

    fn event(id: &str, revision: i64) -> Event {
        Event {
            session_id: id.into(),
            revision,
            sequence: 0,
            at: revision,
            kind: EventKind::StateChanged,
            state: State::Idle,
            previous_state: State::Working,
            evidence: Evidence::api("test"),
            interaction: None,
            stall: None,
            detail: String::new(),
        }
    }

    #[tokio::test]
    async fn retention_is_enforced_by_every_commit_not_only_by_prune() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 16).unwrap();
        store.prune(10, 1000).await.unwrap();
        for rev in 1..=25 {
            store.commit(event("a", rev), record("a", rev)).await.unwrap();
            store.commit(event("b", rev), record("b", rev)).await.unwrap();
        }
        assert_eq!(store.min_revision("a").await.unwrap(), Some(16));
        assert_eq!(store.min_revision("b").await.unwrap(), Some(16));
        assert_eq!(store.session_events("a", 1, 100).await.unwrap().len(), 10);
    }

    #[tokio::test]
    async fn concurrent_commits_are_grouped_yet_fail_alone_and_publish_in_sequence_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 4096).unwrap();
        let mut live = store.subscribe();
        store.commit(event("a", 1), record("a", 1)).await.unwrap();
        // 300 commits queued at once (they share transactions), one of them a duplicate revision.
        let futs: Vec<_> = (0..300)
            .map(|i| {
                let s = store.clone();
                let (id, rev) = if i == 150 { ("a".to_string(), 1) } else { (format!("s{}", i % 7), 1 + i / 7) };
                async move { s.commit(event(&id, rev), record(&id, rev)).await }
            })
            .collect();
        let results = futures::future::join_all(futs).await;
        assert!(results[150].is_err(), "the duplicate revision must fail");
        let ok: Vec<_> =
            results.iter().enumerate().filter(|(i, _)| *i != 150).map(|(_, r)| r.as_ref().unwrap()).collect();
        assert_eq!(ok.len(), 299);
        // Every successful commit is readable and was published, in sequence order, exactly once.
        let mut published = vec![live.recv().await.unwrap().sequence];
        for _ in 0..299 {
            published.push(live.recv().await.unwrap().sequence);
        }
        assert!(published.windows(2).all(|w| w[0] < w[1]), "{published:?}");
        assert!(live.try_recv().is_err(), "the failed commit must not be published");
        let all = store.global_events(1, 1000).await.unwrap();
        assert_eq!(all.len(), 300);
        assert_eq!(all.iter().map(|e| e.sequence).collect::<Vec<_>>(), published);
    }

    #[tokio::test]
    async fn requests_go_in_flight_then_completed_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 16).unwrap();
        let mut req = StoredRequest {
            method: "CreateSession".into(),
            fingerprint: "ab".into(),
            response: Vec::new(),
            created: now_ms(),
            state: RequestState::InFlight,
            session_id: "s-1".into(),
        };
        store.put_request("k", req.clone()).await.unwrap();
        assert_eq!(store.get_request("k").await.unwrap(), Some(req.clone()));
        req.state = RequestState::Completed;
        req.response = vec![1, 2, 3];
        store.put_request("k", req.clone()).await.unwrap();
        assert_eq!(store.get_request("k").await.unwrap(), Some(req));
        store.delete_request("k").await.unwrap();
        assert_eq!(store.get_request("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_database_of_the_previous_schema_is_migrated_and_its_requests_are_completed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO requests (key, method, fingerprint, response, created) VALUES ('old', 'm', 'f', x'01', ?1)",
                [now_ms()],
            )
            .unwrap();
        }
        let store = Store::open(&path, 16).unwrap();
        let old = store.get_request("old").await.unwrap().unwrap();
        assert_eq!((old.state, old.session_id.as_str(), old.response), (RequestState::Completed, "", vec![1]));
        drop(store);
        // Opening again applies nothing twice.
        let store = Store::open(&path, 16).unwrap();
        assert!(store.get_request("old").await.unwrap().is_some());
    }
}
