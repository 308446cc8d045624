//! The session manager: the core's entry point. It owns the live session handles, applies every change
//! as a persisted event (committed before it is published), and turns API commands into driver calls.
use super::actor::Actor;
use super::error::{CoreError, CoreResult, ErrorKind};
use super::handle::{Delivery, HookReply, SessionHandle, Signal};
use super::params::{CreateParams, ListFilter, MessageKind};
use super::validate;
use crate::cc::hook_payload::{parse_hook, HookEvent};
use crate::cc::launch::{self, LaunchSpec};
use crate::cc::transcript::EntryKind;
use crate::cc::transcript_index::{Page, PageLimits, TranscriptPages};
use crate::model::*;
use crate::store::Store;
use crate::tmux::{CaptureOptions, ControlClient, Key, Tmux, TmuxEvent, WindowSpec};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{broadcast, oneshot};

/// Longest a transcript read waits for a turn end that IDLE already announced. CC writes it
/// 0–170 ms after its Stop hook; the bound keeps a read from hanging on a record that never comes.
const TRANSCRIPT_DUE_WAIT: Duration = Duration::from_millis(500);

/// How a hook request is answered: now, or (a PermissionRequest a human decides) when the actor says.
#[derive(Debug)]
pub enum HookAnswer {
    Now(Option<Value>),
    Held(oneshot::Receiver<Option<Value>>),
}

#[derive(Debug, Clone)]
pub struct ManagerConfig {
    pub tmux_session: String,
    pub claude_bin: PathBuf,
    /// CC's config dir: where its status files and transcripts are.
    pub claude_config_dir: PathBuf,
    /// The service's private state dir (0700): per-session CC settings files live under `sessions/`.
    pub state_dir: PathBuf,
    /// Whether to pass CLAUDE_CONFIG_DIR to CC (only when it was configured explicitly).
    pub set_config_dir_env: bool,
    /// The service's environment every new session gets, below the request's `env`
    /// (see `crate::session_env`): taken when the service starts, never from the tmux server.
    pub session_env: Vec<(String, String)>,
    /// Mark each new session's work dir trusted in the (private, demo) CC config dir before CC
    /// starts, so no trust dialog shows (`serve --demo` only: never for a user's config dir).
    pub trust_work_dirs: bool,
    pub stall_threshold: Duration,
    pub keep_events_per_session: i64,
    /// Inject Aegis's hooks into CC. Off, state comes from the screen, status file and transcript
    /// alone (as when managed settings block injected hooks); answers go by keys.
    pub hooks: bool,
}

pub struct Manager {
    cfg: ManagerConfig,
    store: Store,
    tmux: Tmux,
    control: tokio::sync::RwLock<Option<Arc<ControlClient>>>,
    sessions: RwLock<HashMap<String, Arc<SessionHandle>>>,
    by_pane: RwLock<HashMap<String, String>>,
    by_pid: RwLock<HashMap<u32, String>>,
    by_transcript: RwLock<HashMap<PathBuf, String>>,
    hook_base: StdMutex<String>,
    files: StdMutex<Option<crate::files::FileWatcher>>,
    started: Millis,
    cc_version: String,
    /// Serializes tmux server (re)starts.
    tmux_start: tokio::sync::Mutex<()>,
    /// (session, interaction) ids an answer was claimed for: first writer wins.
    answered: StdMutex<std::collections::HashSet<(String, String)>>,
    /// Per session, fingerprints of the last prompts Aegis typed (see `send`): CC puts an interrupted
    /// prompt back into the box, and that draft is ours to replace.
    delivered: StdMutex<HashMap<String, std::collections::VecDeque<u64>>>,
    /// Byte-offset indexes of the transcripts read lately (GetTranscript pages).
    transcripts: Arc<TranscriptPages>,
}

impl Manager {
    pub fn new(cfg: ManagerConfig, store: Store, tmux: Tmux, cc_version: String) -> Arc<Manager> {
        Arc::new(Manager {
            cfg,
            store,
            tmux,
            control: tokio::sync::RwLock::new(None),
            sessions: RwLock::new(HashMap::new()),
            by_pane: RwLock::new(HashMap::new()),
            by_pid: RwLock::new(HashMap::new()),
            by_transcript: RwLock::new(HashMap::new()),
            hook_base: StdMutex::new(String::new()),
            files: StdMutex::new(None),
            started: now_ms(),
            cc_version,
            tmux_start: tokio::sync::Mutex::new(()),
            answered: StdMutex::new(Default::default()),
            delivered: StdMutex::new(HashMap::new()),
            transcripts: Arc::new(TranscriptPages::default()),
        })
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.cfg
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn tmux(&self) -> &Tmux {
        &self.tmux
    }
    pub fn cc_version(&self) -> &str {
        &self.cc_version
    }
    pub fn started(&self) -> Millis {
        self.started
    }
    pub fn stall_threshold_ms(&self) -> i64 {
        self.cfg.stall_threshold.as_millis() as i64
    }

    /// Where CC's hooks post, e.g. "http://127.0.0.1:PORT". Set once the hook receiver is bound.
    pub fn set_hook_base(&self, base: String) {
        *self.hook_base.lock().unwrap() = base;
    }

    pub fn set_file_watcher(&self, w: crate::files::FileWatcher) {
        *self.files.lock().unwrap() = Some(w);
    }

    /// Loads sessions from the store and re-adopts the live ones (the tmux server outlives us).
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let records = self.store.load_sessions().await?;
        let live_panes = self.tmux.list_panes(&self.cfg.tmux_session).await.unwrap_or_default();
        if !live_panes.is_empty() {
            self.ensure_tmux().await?;
        }
        for rec in records {
            let exited = rec.state == State::Exited;
            let (handle, rx) = SessionHandle::new(rec.clone());
            let handle = Arc::new(handle);
            self.sessions.write().unwrap().insert(rec.id.clone(), handle.clone());
            if exited {
                continue;
            }
            let pane = live_panes.iter().find(|p| p.pane_id == rec.tmux_pane);
            self.index(&rec);
            tokio::spawn(Actor::new(self.clone(), handle.clone()).run(rx));
            match pane {
                None => handle.signal(Signal::Gone { reason: "tmux window vanished while the server was down".into() }),
                Some(p) if p.dead => handle.signal(Signal::PaneDied { status: p.dead_status, signal: p.dead_signal }),
                Some(p) => {
                    // The pane still runs the process we started (same pid): watch it again.
                    if p.pid == rec.pid {
                        self.watch_process(&handle, p.pid);
                    }
                    handle.signal(Signal::PaneOutput)
                }
            }
        }
        Ok(())
    }

    fn index(&self, rec: &SessionRecord) {
        if !rec.tmux_pane.is_empty() {
            self.by_pane.write().unwrap().insert(rec.tmux_pane.clone(), rec.id.clone());
        }
        if rec.pid != 0 {
            self.by_pid.write().unwrap().insert(rec.pid, rec.id.clone());
        }
        if !rec.transcript_path.is_empty() {
            self.watch_transcript(&rec.id, &rec.transcript_path);
        }
    }

    /// Holds a pidfd on CC's process (the pane pid: tmux execs CC directly) so its exit ends the
    /// session at once, not when tmux's death notice comes (up to seconds later).
    fn watch_process(&self, h: &Arc<SessionHandle>, pid: u32) {
        let h = h.clone();
        match crate::process::PidWatch::open(pid) {
            Ok(w) => {
                tokio::spawn(async move {
                    let e = w.exited().await;
                    h.signal(Signal::ProcessExited { status: e.status, signal: e.signal });
                });
            }
            // Already gone (it died at once): tmux knows the status.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                h.signal(Signal::ProcessExited { status: None, signal: None })
            }
            Err(e) => tracing::warn!(session = %h.id, pid, "cannot watch CC's process ({e}); relying on tmux"),
        }
    }

    /// Starts the private tmux server if needed and attaches the control client (our push channel).
    async fn ensure_tmux(self: &Arc<Self>) -> CoreResult<Arc<ControlClient>> {
        let _guard = self.tmux_start.lock().await;
        if let Some(c) = self.control.read().await.as_ref() {
            return Ok(c.clone());
        }
        self.tmux.ensure_server(&self.cfg.tmux_session).await.map_err(unavailable)?;
        let (client, mut events) =
            ControlClient::connect(&self.tmux, &self.cfg.tmux_session).await.map_err(unavailable)?;
        let client = Arc::new(client);
        *self.control.write().await = Some(client.clone());
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                me.route(ev).await;
            }
        });
        Ok(client)
    }

    async fn route(self: &Arc<Self>, ev: TmuxEvent) {
        match ev {
            TmuxEvent::PaneOutput { pane_id } => {
                if let Some(h) = self.by_pane_id(&pane_id) {
                    h.signal(Signal::PaneOutput);
                }
            }
            TmuxEvent::PaneDied { pane_id, status, signal } => {
                if let Some(h) = self.by_pane_id(&pane_id) {
                    h.signal(Signal::PaneDied { status, signal });
                }
            }
            TmuxEvent::WindowClosed { window_id } => {
                let hs: Vec<_> = self.live().into_iter().filter(|h| h.get().tmux_window == window_id).collect();
                for h in hs {
                    h.signal(Signal::Gone { reason: "tmux window vanished".into() });
                }
            }
            TmuxEvent::ServerExited { reason } => {
                *self.control.write().await = None;
                for h in self.live() {
                    h.signal(Signal::Gone { reason: format!("tmux server died: {reason}") });
                }
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn by_pane_id(&self, pane: &str) -> Option<Arc<SessionHandle>> {
        let id = self.by_pane.read().unwrap().get(pane).cloned()?;
        self.sessions.read().unwrap().get(&id).cloned()
    }

    fn live(&self) -> Vec<Arc<SessionHandle>> {
        self.sessions.read().unwrap().values().filter(|h| h.get().state != State::Exited).cloned().collect()
    }

    /// Resolves an id or a name to a session.
    pub fn resolve(&self, id_or_name: &str) -> CoreResult<Arc<SessionHandle>> {
        if id_or_name.is_empty() {
            return Err(CoreError::invalid("session_id", "SESSION_ID_REQUIRED", "session_id is required"));
        }
        let found = {
            let sessions = self.sessions.read().unwrap();
            sessions.get(id_or_name).cloned().or_else(|| {
                // Names: prefer a live session, else the newest.
                let mut named: Vec<_> = sessions.values().filter(|h| h.get().name == id_or_name).cloned().collect();
                named.sort_by_key(|h| (h.get().state != State::Exited, h.get().created));
                named.pop()
            })
        };
        let h = found.ok_or_else(|| CoreError::session_not_found(id_or_name))?;
        // The calling RPC's span (if any) carries the session id in its log lines.
        tracing::Span::current().record("session_id", h.get().id.as_str());
        Ok(h)
    }

    pub fn get(&self, id: &str) -> CoreResult<SessionRecord> {
        Ok(self.resolve(id)?.get())
    }

    /// The session once its snapshot includes `revision` (a feed can see an event a moment before the
    /// snapshot is swapped in).
    pub async fn get_at_least(&self, id: &str, revision: i64) -> CoreResult<SessionRecord> {
        let h = self.resolve(id)?;
        let mut rx = h.snapshot.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|r| r.revision >= revision)).await;
        Ok(h.get())
    }

    pub fn list(&self, f: &ListFilter) -> (Vec<SessionRecord>, Option<usize>) {
        let mut all: Vec<SessionRecord> = self
            .sessions
            .read()
            .unwrap()
            .values()
            .map(|h| h.get())
            .filter(|r| f.include_exited || r.state != State::Exited || f.states.contains(&State::Exited))
            .filter(|r| f.states.is_empty() || f.states.contains(&r.state))
            .filter(|r| f.work_dir.is_empty() || r.work_dir == f.work_dir)
            .filter(|r| f.labels.iter().all(|(k, v)| r.labels.get(k) == Some(v)))
            .collect();
        all.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        let page: Vec<_> = all.iter().skip(f.offset).take(f.limit).cloned().collect();
        let next = (f.offset + page.len() < all.len()).then_some(f.offset + page.len());
        (page, next)
    }

    pub fn counts(&self) -> (i64, i64, BTreeMap<String, i64>) {
        let sessions = self.sessions.read().unwrap();
        let mut by_state = BTreeMap::new();
        let mut live = 0;
        for h in sessions.values() {
            let s = h.get().state;
            if s != State::Exited {
                live += 1;
                *by_state.entry(s.name().to_string()).or_insert(0) += 1;
            }
        }
        (sessions.len() as i64, live, by_state)
    }

    /// Commits one event for a session (after applying `mutate` to its record), then publishes it.
    pub async fn emit(
        &self,
        h: &SessionHandle,
        kind: EventKind,
        evidence: Evidence,
        detail: String,
        interaction: Option<Interaction>,
        mutate: impl FnOnce(&mut SessionRecord),
    ) -> CoreResult<Event> {
        self.emit_with(h, kind, evidence, detail, interaction, None, mutate).await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn emit_with(
        &self,
        h: &SessionHandle,
        kind: EventKind,
        evidence: Evidence,
        detail: String,
        interaction: Option<Interaction>,
        stall: Option<Stall>,
        mutate: impl FnOnce(&mut SessionRecord),
    ) -> CoreResult<Event> {
        let mut rec = h.record.lock().await;
        if rec.state == State::Exited && matches!(kind, EventKind::StateChanged | EventKind::Deleted) {
            // Exactly one exit: whichever of delete, pane death, window loss came first made it.
            return Err(CoreError::new(ErrorKind::FailedPrecondition, "SESSION_EXITED", "the session already ended"));
        }
        let mut next = rec.clone();
        mutate(&mut next);
        next.revision += 1;
        next.updated = now_ms();
        let event = Event {
            session_id: next.id.clone(),
            revision: next.revision,
            sequence: 0,
            at: next.updated,
            kind,
            state: next.state,
            previous_state: rec.state,
            evidence,
            interaction,
            stall,
            detail,
        };
        let event = self.store.commit(event, next.clone()).await.map_err(|e| CoreError::internal(e.to_string()))?;
        crate::telemetry::event_committed(&event, &next);
        *rec = next.clone();
        h.snapshot.send_replace(next);
        Ok(event)
    }

    /// Saves record fields that are not themselves a change clients wait on (no event, no revision).
    pub async fn update_meta(&self, h: &SessionHandle, mutate: impl FnOnce(&mut SessionRecord)) -> CoreResult<()> {
        let mut rec = h.record.lock().await;
        let mut next = rec.clone();
        mutate(&mut next);
        self.store.save_session(next.clone()).await.map_err(|e| CoreError::internal(e.to_string()))?;
        *rec = next.clone();
        h.snapshot.send_replace(next);
        Ok(())
    }

    pub async fn create(
        self: &Arc<Self>,
        p: CreateParams,
    ) -> CoreResult<(SessionRecord, Option<oneshot::Receiver<Event>>)> {
        let work_dir = validate::create(&p)?;
        self.check_claude_bin()?;
        if !p.name.is_empty() && self.live().iter().any(|h| h.get().name == p.name) {
            return Err(CoreError::new(
                ErrorKind::AlreadyExists,
                "SESSION_NAME_TAKEN",
                format!("a live session is already named {:?}", p.name),
            )
            .with("name", &p.name));
        }
        let control = self.ensure_tmux().await?;
        let id = p.id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // Checked again when registering (`admit`); this one keeps another session's files untouched.
        if self.sessions.read().unwrap().contains_key(&id) {
            return Err(session_exists(&id));
        }
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let hook_url = format!("{}/hooks/{}/{}", self.hook_base.lock().unwrap(), id, secret);
        // The hook URL carries the secret: it goes to a 0600 file, never into CC's command line.
        let settings_path = self.cfg.state_dir.join("sessions").join(&id).join("settings.json");
        launch::write_settings(&settings_path, self.cfg.hooks.then_some(hook_url.as_str()))
            .map_err(|e| CoreError::internal(format!("cannot write {}: {e}", settings_path.display())))?;
        let argv = launch::argv(&LaunchSpec {
            claude_bin: &self.cfg.claude_bin,
            session_id: &id,
            name: &p.name,
            permission_mode: &p.permission_mode,
            model: &p.model,
            extra_args: &p.extra_args,
            prompt: &p.prompt,
            settings_path: &settings_path,
        });
        let mut env = crate::session_env::merge(&self.cfg.session_env, &p.env);
        if self.cfg.trust_work_dirs {
            crate::cc::demo::trust_dir(&self.cfg.claude_config_dir, &work_dir)
                .map_err(|e| CoreError::internal(format!("cannot mark {} trusted: {e}", work_dir.display())))?;
        }
        let own_key = env.iter().find(|(k, _)| k == "ANTHROPIC_API_KEY").map(|(_, v)| v.clone());
        if self.cfg.set_config_dir_env {
            env.retain(|(k, _)| k != "CLAUDE_CONFIG_DIR");
            env.push(("CLAUDE_CONFIG_DIR".into(), self.cfg.claude_config_dir.to_string_lossy().into_owned()));
        }
        let (cols, rows) =
            (if p.cols == 0 { 120 } else { p.cols as u16 }, if p.rows == 0 { 40 } else { p.rows as u16 });
        let now = now_ms();
        let transcript = crate::cc::transcript::transcript_path(&self.cfg.claude_config_dir, &work_dir, &id);
        let mut rec = SessionRecord {
            id: id.clone(),
            name: p.name.clone(),
            work_dir: work_dir.to_string_lossy().into_owned(),
            state: State::Starting,
            revision: 0,
            created: now,
            updated: now,
            state_since: now,
            evidence: Evidence::api("CreateSession"),
            pending: Vec::new(),
            labels: p.labels.clone(),
            permission_mode: p.permission_mode.clone(),
            model: p.model.clone(),
            cc_session_id: id.clone(),
            transcript_path: transcript.to_string_lossy().into_owned(),
            tmux_pane: String::new(),
            tmux_window: String::new(),
            pid: 0,
            exit: None,
            stall: Stall { threshold_ms: self.stall_threshold_ms(), ..Default::default() },
            cc_version: self.cc_version.clone(),
            last_assistant_message: String::new(),
            error_message: String::new(),
            hook_secret: secret,
            policy: p.policy.clone(),
            cols,
            rows,
        };
        let (handle, rx) = SessionHandle::new(rec.clone());
        *handle.own_api_key.lock().unwrap() = own_key.filter(|k| !k.is_empty());
        let handle = Arc::new(handle);
        // Register before the window exists so no hook or output of the new CC is lost. The quota,
        // name and id checks and the insert are one step under the map's lock, so concurrent creates
        // (BatchCreateSessions runs its creates at once) can neither overshoot nor share a name, and
        // no lock is held across the tmux calls below.
        {
            let mut sessions = self.sessions.write().unwrap();
            if let Err(e) = admit(&sessions, &id, &p) {
                drop(sessions);
                // The settings are this create's own, unless another create took the id meanwhile.
                if let (Some(dir), false) = (settings_path.parent(), e.reason == "SESSION_EXISTS") {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(e);
            }
            sessions.insert(id.clone(), handle.clone());
        }
        let window_name = format!("aegis-{}", &id[..8]);
        let spec = WindowSpec { name: window_name, cwd: work_dir.clone(), env, argv, cols, rows };
        let pane = match self.tmux.new_window(&self.cfg.tmux_session, &spec).await {
            Ok(p) => p,
            Err(e) => {
                self.sessions.write().unwrap().remove(&id);
                if let Some(dir) = settings_path.parent() {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(unavailable(e));
            }
        };
        drop(control);
        rec.tmux_pane = pane.pane_id.clone();
        rec.tmux_window = pane.window_id.clone();
        rec.pid = pane.pid;
        self.index(&rec);
        self.watch_process(&handle, pane.pid);
        let delivery = if p.prompt.is_empty() {
            None
        } else {
            self.remember_delivered(&id, &p.prompt);
            let (tx, rx) = oneshot::channel();
            handle.signal(Signal::ExpectDelivery(Delivery {
                since: now,
                prompt_text: Some(p.prompt.clone()),
                screen_ok: false,
                reply: tx,
            }));
            Some(rx)
        };
        let r2 = rec.clone();
        self.emit(&handle, EventKind::Created, Evidence::api("CreateSession"), "created".into(), None, move |r| {
            *r = r2
        })
        .await?;
        tokio::spawn(Actor::new(self.clone(), handle.clone()).run(rx));
        Ok((handle.get(), delivery))
    }

    /// The CC binary can still be run (it may vanish or lose its exec bit after start): a stat and
    /// an access(2) per create.
    fn check_claude_bin(&self) -> CoreResult<()> {
        let bin = &self.cfg.claude_bin;
        let Some(problem) = crate::process::binary_problem(bin) else { return Ok(()) };
        Err(CoreError::new(
            ErrorKind::FailedPrecondition,
            "CLAUDE_BINARY_UNAVAILABLE",
            format!("the Claude Code binary {} {problem}", bin.display()),
        )
        .with("path", bin.to_string_lossy())
        .with("problem", problem))
    }

    pub async fn delete(&self, id: &str) -> CoreResult<SessionRecord> {
        let h = self.resolve(id)?;
        let rec = h.get();
        if rec.state == State::Exited {
            return Ok(rec);
        }
        // IDLE may have gone out on the Stop hook before CC wrote the turn's last records: let them
        // reach the transcript (bounded) before CC is killed, so the kept transcript is complete.
        Self::await_announced_turn_end(&h).await;
        // Stop the actor first: CC's death by the kill below must not become a second exit event.
        h.signal(Signal::Stop);
        let screen = self.final_capture(&rec.tmux_pane).await.map(|c| c.0).unwrap_or_default();
        if !rec.tmux_window.is_empty() {
            // A window that is already gone is fine: the goal is that it does not exist.
            let _ = self.tmux.kill_window(&rec.tmux_window).await;
        }
        let exit = ExitInfo { status: None, signal: None, reason: "deleted".into(), at: now_ms(), screen };
        let deleted = self
            .emit(&h, EventKind::Deleted, Evidence::api("DeleteSession"), "deleted".into(), None, move |r| {
                r.state = State::Exited;
                r.evidence = Evidence::api("DeleteSession");
                r.state_since = now_ms();
                r.pending.clear();
                r.exit = Some(exit);
            })
            .await;
        match deleted {
            // CC exited on its own a moment before: that exit stands.
            Err(e) if e.reason == "SESSION_EXITED" => Ok(h.get()),
            other => other.map(|_| h.get()),
        }
    }

    /// Types a message and waits until CC's own signals confirm it took it. Returns the MessageSent event.
    pub async fn send(&self, id: &str, text: &str, kind: MessageKind) -> CoreResult<Event> {
        let h = self.resolve(id)?;
        let rec = h.get();
        let text = validate::message(text, kind)?;
        let allowed = match kind {
            MessageKind::Prompt => matches!(rec.state, State::Idle | State::Error | State::Working),
            _ => matches!(rec.state, State::Idle | State::Error),
        };
        if !allowed {
            return Err(not_ready(&rec, "SendMessage"));
        }
        self.empty_input_box(&rec).await?;
        let pane = rec.tmux_pane.clone();
        match kind {
            MessageKind::Prompt => self.type_prompt(&rec, &text).await?,
            MessageKind::Slash => {
                let t = if text.starts_with('/') { text.clone() } else { format!("/{text}") };
                self.tmux.send_text(&pane, &t).await.map_err(typing_failed)?;
            }
            MessageKind::Bash => {
                let cmd = text.strip_prefix('!').unwrap_or(&text);
                self.tmux.send_text(&pane, "!").await.map_err(typing_failed)?;
                self.wait_fresh_screen(&pane, Duration::from_secs(5), |o| o.shell_mode).await;
                self.tmux.send_text(&pane, cmd).await.map_err(typing_failed)?;
            }
        }
        // Submit only once the text is visibly in the box (a paste is applied asynchronously; a 1 MiB
        // one takes CC a moment). The box was seen empty before typing, so what shows now is ours.
        let room = Duration::from_secs(5 + (text.len() / 100_000) as u64);
        if !self.wait_fresh_screen(&pane, room, |o| o.input.is_some()).await {
            return Err(CoreError::new(
                ErrorKind::Unavailable,
                "DELIVERY_UNCONFIRMED",
                "the text did not appear in CC's input box; nothing was submitted",
            )
            .with("session_id", &rec.id));
        }
        if kind == MessageKind::Prompt {
            self.remember_delivered(&rec.id, &text);
        }
        let (tx, rx) = oneshot::channel();
        let since = now_ms();
        let prompt_text = (kind == MessageKind::Prompt).then(|| text.clone());
        h.signal(Signal::ExpectDelivery(Delivery { since, prompt_text, screen_ok: true, reply: tx }));
        self.tmux.send_keys(&pane, &[Key::Enter]).await.map_err(typing_failed)?;
        let confirm = Duration::from_secs(15 + (text.len() / 50_000) as u64);
        match tokio::time::timeout(confirm, rx).await {
            Ok(Ok(ev)) => Ok(ev),
            Ok(Err(_)) => Err(CoreError::new(ErrorKind::FailedPrecondition, "SESSION_EXITED", "the session ended")),
            Err(_) => Err(CoreError::new(
                ErrorKind::DeadlineExceeded,
                "DELIVERY_UNCONFIRMED",
                format!("CC did not confirm the message within {} s", confirm.as_secs()),
            )
            .with("session_id", &rec.id)),
        }
    }

    /// Makes sure CC's input box is empty before typing, deciding on a fresh capture (the last classified
    /// screen can predate the end of a very short turn). A draft that is a prompt Aegis typed into this
    /// session (CC restores an interrupted prompt into the box) is cleared with Ctrl-C, which empties an
    /// idle box with a draft on every supported version without any exit prompt. Any other draft was typed
    /// by someone else: submitting now would send it together with our text, so it is refused.
    async fn empty_input_box(&self, rec: &SessionRecord) -> CoreResult<()> {
        let obs = self.fresh_screen(&rec.tmux_pane).await?;
        let Some(draft) = obs.input else {
            return Ok(());
        };
        let own = obs.state == crate::detect::ScreenState::Idle && self.delivered_before(&rec.id, &draft);
        let refuse = |why: &str| {
            CoreError::new(ErrorKind::FailedPrecondition, "INPUT_NOT_EMPTY", why.to_string())
                .with("session_id", &rec.id)
                .with("draft", draft.chars().take(80).collect::<String>())
        };
        if !own {
            return Err(refuse("CC's input box holds a draft typed by someone else; clear it (Interrupt) first"));
        }
        self.tmux.send_keys(&rec.tmux_pane, &[Key::CtrlC]).await.map_err(typing_failed)?;
        if !self.wait_fresh_screen(&rec.tmux_pane, Duration::from_secs(5), |o| o.input.is_none()).await {
            return Err(refuse("CC's input box still holds the interrupted prompt after Ctrl-C"));
        }
        Ok(())
    }

    /// Types `text` into the empty box as ONE literal prompt, whatever it starts with. CC gives the first
    /// character that arrives in an EMPTY box a meaning (`!` switches to shell mode even inside a bracketed
    /// paste; `?` opens the shortcuts), so an anchor character goes in first and the cursor moves back
    /// onto it; the text is pasted in front of it (bracketed, so nothing in it acts as a key) and the
    /// anchor is deleted. Each step waits until CC has drawn the previous one: CC 2.1.197 applies a paste
    /// to the box as it was before keys that arrived just ahead of it, and then does enter shell mode.
    async fn type_prompt(&self, rec: &SessionRecord, text: &str) -> CoreResult<()> {
        let pane = &rec.tmux_pane;
        let step = Duration::from_secs(5);
        self.tmux.send_keys(pane, &[Key::Char(PROMPT_ANCHOR), Key::Left]).await.map_err(typing_failed)?;
        if !self.wait_fresh_ansi(pane, step, cursor_on_anchor).await {
            return Err(self.abandon_typing(rec, "CC did not show the typed anchor character").await);
        }
        self.tmux.paste(pane, text).await.map_err(typing_failed)?;
        // A 1 MiB paste takes CC a moment.
        let room = step + Duration::from_secs((text.len() / 100_000) as u64);
        let anchor = PROMPT_ANCHOR.to_string();
        // Shown, and the same in two captures in a row: with captures a few ms apart, a paste CC is still
        // applying must not pass for the whole text.
        // (A Mutex, not a RefCell: the future must stay Send.)
        let previous = std::sync::Mutex::new(None::<String>);
        let shown = |o: &crate::detect::ScreenObservation| {
            let settled = std::mem::replace(&mut *previous.lock().unwrap(), o.input.clone()) == o.input;
            settled && o.input.as_deref().is_some_and(|i| i != anchor && i.ends_with(PROMPT_ANCHOR))
        };
        let Some(with_anchor) = self.wait_fresh_screen_for(pane, room, shown).await.and_then(|o| o.input) else {
            return Err(self.abandon_typing(rec, "the text did not appear in CC's input box").await);
        };
        self.tmux.send_keys(pane, &[Key::Delete]).await.map_err(typing_failed)?;
        let want = draft_fingerprint(&with_anchor[..with_anchor.len() - PROMPT_ANCHOR.len_utf8()]);
        let gone =
            |o: &crate::detect::ScreenObservation| o.input.as_deref().is_some_and(|i| draft_fingerprint(i) == want);
        if self.wait_fresh_screen_for(pane, step, gone).await.is_none() {
            return Err(self.abandon_typing(rec, "CC did not delete the anchor character").await);
        }
        Ok(())
    }

    /// Typing went wrong before anything was submitted: clear what we typed (Ctrl-C empties a box with text)
    /// and say so.
    async fn abandon_typing(&self, rec: &SessionRecord, why: &str) -> CoreError {
        let _ = self.tmux.send_keys(&rec.tmux_pane, &[Key::CtrlC]).await;
        CoreError::new(ErrorKind::Unavailable, "DELIVERY_UNCONFIRMED", format!("{why}; nothing was submitted"))
            .with("session_id", &rec.id)
    }

    /// Polls fresh colour captures (see [`typing_poll_delay`], bounded) until one satisfies `pred`.
    async fn wait_fresh_ansi(&self, pane: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let opts = CaptureOptions { ansi: true, scrollback: 0 };
        for attempt in 0.. {
            let control = self.control.read().await.clone();
            let screen = match control {
                Some(c) => c.capture(pane, opts).await.ok(),
                None => self.tmux.capture(pane, opts).await.ok(),
            };
            if screen.is_some_and(|s| pred(&s)) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(typing_poll_delay(attempt)).await;
        }
        unreachable!("the loop returns at the deadline")
    }

    /// Captures and classifies the pane now, not the actor's last observation.
    async fn fresh_screen(&self, pane: &str) -> CoreResult<crate::detect::ScreenObservation> {
        let text = self
            .capture_for_detection(pane)
            .await
            .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", format!("capture failed: {e}")))?;
        Ok(crate::detect::classify(&text))
    }

    /// Polls fresh captures (every 100 ms, bounded) until one satisfies `pred`.
    async fn wait_fresh_screen(
        &self,
        pane: &str,
        limit: Duration,
        pred: impl Fn(&crate::detect::ScreenObservation) -> bool,
    ) -> bool {
        self.wait_fresh_screen_for(pane, limit, pred).await.is_some()
    }

    /// Like `wait_fresh_screen`, returning the observation that satisfied `pred`.
    async fn wait_fresh_screen_for(
        &self,
        pane: &str,
        limit: Duration,
        pred: impl Fn(&crate::detect::ScreenObservation) -> bool,
    ) -> Option<crate::detect::ScreenObservation> {
        let deadline = tokio::time::Instant::now() + limit;
        for attempt in 0.. {
            if let Some(o) = self.fresh_screen(pane).await.ok().filter(|o| pred(o)) {
                return Some(o);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(typing_poll_delay(attempt)).await;
        }
        unreachable!("the loop returns at the deadline")
    }

    /// Notes a prompt typed into (or given on the command line of) a session; the last 16 are kept.
    fn remember_delivered(&self, session: &str, text: &str) {
        let mut all = self.delivered.lock().unwrap();
        let texts = all.entry(session.to_string()).or_default();
        texts.push_back(draft_fingerprint(text));
        if texts.len() > 16 {
            texts.pop_front();
        }
    }

    fn delivered_before(&self, session: &str, draft: &str) -> bool {
        let fp = draft_fingerprint(draft);
        self.delivered.lock().unwrap().get(session).is_some_and(|t| t.contains(&fp))
    }

    /// Sends Ctrl-C or Esc and reports whether a state change followed within a few seconds.
    pub async fn key(&self, id: &str, key: Key) -> CoreResult<(SessionRecord, bool)> {
        let h = self.resolve(id)?;
        let rec = h.get();
        if rec.state == State::Exited {
            return Err(not_ready(&rec, "Interrupt/Escape"));
        }
        let mut rx = h.snapshot.subscribe();
        let before = rec.state;
        h.signal(Signal::Interrupting);
        self.tmux
            .send_keys(&rec.tmux_pane, &[key])
            .await
            .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", e.to_string()))?;
        let observed = tokio::time::timeout(Duration::from_secs(5), async {
            while rx.changed().await.is_ok() {
                if rx.borrow_and_update().state != before {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        Ok((h.get(), observed))
    }

    /// Captures the pane for the detector: over the control channel when attached (no process spawn).
    pub async fn capture_for_detection(&self, pane: &str) -> anyhow::Result<String> {
        let control = self.control.read().await.clone();
        let opts = CaptureOptions { ansi: false, scrollback: 0 };
        Ok(match control {
            Some(c) => c.capture(pane, opts).await?,
            None => self.tmux.capture(pane, opts).await?,
        })
    }

    /// The pane of a session that is ending: its last screen (see `exit_screen::final_screen`), whether
    /// it is dead (tmux reaped CC and drew all it wrote), and the status tmux knows. None if the pane
    /// is gone.
    pub(crate) async fn final_capture(&self, pane: &str) -> Option<(String, bool, Option<i32>, Option<i32>)> {
        if pane.is_empty() {
            return None;
        }
        let control = self.control.read().await.clone();
        // One line of history: tmux's dead-pane line pushes the frame's top line up.
        let opts = CaptureOptions { ansi: false, scrollback: 1 };
        let (st, text) = match control {
            Some(c) => (c.pane_status(pane).await.ok()?, c.capture(pane, opts).await.ok()?),
            None => (self.tmux.pane_status(pane).await.ok()?, self.tmux.capture(pane, opts).await.ok()?),
        };
        let text = super::exit_screen::final_screen(&text, st.rows);
        Some((text, st.dead, st.dead_status, st.dead_signal))
    }

    /// Why a session's pane cannot be read any more: the tmux server or its window is gone.
    pub(crate) async fn pane_gone_reason(&self, pane: &str) -> Option<&'static str> {
        match self.tmux.pane_status(pane).await {
            Err(e) if e.is_no_server() => Some("tmux server died"),
            Err(e) if e.is_not_found() => Some("tmux window vanished"),
            _ => None,
        }
    }

    /// The screen; for an exited session the last one it showed (kept with its exit, plain text).
    pub async fn capture(&self, id: &str, ansi: bool, scrollback: u32) -> CoreResult<(String, u16, u16)> {
        let rec = self.get(id)?;
        if let (State::Exited, Some(exit)) = (rec.state, rec.exit.as_ref()) {
            return Ok((exit.screen.clone(), rec.cols, rec.rows));
        }
        if rec.state == State::Exited {
            return Err(not_ready(&rec, "CaptureScreen"));
        }
        let text = self
            .tmux
            .capture(&rec.tmux_pane, CaptureOptions { ansi, scrollback })
            .await
            .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", e.to_string()))?;
        Ok((text, rec.cols, rec.rows))
    }

    /// Read-your-writes for the transcript: IDLE is announced on CC's Stop hook, which CC sends
    /// before it has written the turn's last records. While the actor knows that turn end is still
    /// due, wait for it (bounded: a transcript that never records it is read as it is).
    async fn await_announced_turn_end(h: &SessionHandle) {
        let mut due = h.transcript_due.subscribe();
        let _ = tokio::time::timeout(TRANSCRIPT_DUE_WAIT, due.wait_for(|d| !*d)).await;
    }

    /// One page of typed transcript entries from `cursor` (entry index), only `kinds` (empty = all).
    /// Reads the file (non-destructive) through an incremental offset index: O(page), not O(file).
    pub async fn transcript(
        &self,
        id: &str,
        cursor: u64,
        kinds: Vec<EntryKind>,
        limits: PageLimits,
    ) -> CoreResult<(Page, String)> {
        let h = self.resolve(id)?;
        Self::await_announced_turn_end(&h).await;
        let rec = h.get();
        let path = rec.transcript_path.clone();
        let (pages, p2) = (self.transcripts.clone(), PathBuf::from(&path));
        let page = tokio::task::spawn_blocking(move || {
            pages.page(&p2, cursor, limits, |e| kinds.is_empty() || kinds.contains(&e.kind))
        })
        .await
        .map_err(|e| CoreError::internal(e.to_string()))?
        .map_err(|e| CoreError::new(ErrorKind::Unavailable, "TRANSCRIPT_UNREADABLE", e.to_string()))?;
        Ok((page, path))
    }

    /// A hook POST that arrived at `at`: authenticate the per-session secret, then hand the payload to
    /// the session's actor. Only a PermissionRequest that a human must decide is held (the answer is
    /// the returned receiver); every other hook is answered now and the actor's work on it happens
    /// after the reply, so CC never waits on Aegis (issue 11).
    /// Returns the event's name (a known one, else "other": a small label set for metrics) and the answer.
    pub fn deliver_hook(
        &self,
        session_id: &str,
        secret: &str,
        body: &[u8],
        at: Millis,
    ) -> CoreResult<(&'static str, HookAnswer)> {
        let h = {
            let sessions = self.sessions.read().unwrap();
            sessions.get(session_id).cloned()
        };
        let Some(h) = h else {
            return Err(CoreError::session_not_found(session_id));
        };
        let (secret_ok, policy) = {
            let rec = h.snapshot.borrow();
            (bool::from(rec.hook_secret.as_bytes().ct_eq(secret.as_bytes())), rec.policy.clone())
        };
        if !secret_ok {
            return Err(CoreError::new(ErrorKind::NotFound, "SESSION_NOT_FOUND", "unknown hook url"));
        }
        let payload = parse_hook(body)
            .map_err(|e| CoreError::new(ErrorKind::InvalidArgument, "BAD_HOOK_PAYLOAD", e.to_string()))?;
        let (answer, reply) = match &payload.event {
            // The policy's approval needs no actor: answered now, recorded by the actor afterwards.
            HookEvent::PermissionRequest { tool_name, .. }
                if super::interactions::policy_approves(&policy, tool_name) =>
            {
                let allow = crate::cc::hook_payload::permission_request_allow(None);
                (HookAnswer::Now(Some(allow)), HookReply::Sent { policy_allowed: true })
            }
            HookEvent::PermissionRequest { .. } => {
                let (tx, rx) = oneshot::channel();
                (HookAnswer::Held(rx), HookReply::Held(tx))
            }
            _ => (HookAnswer::Now(None), HookReply::Sent { policy_allowed: false }),
        };
        let name = payload.event.static_name();
        h.signal(Signal::Hook { payload: Box::new(payload), at, reply });
        Ok((name, answer))
    }

    /// CC's status file `sessions/<pid>.json` changed.
    pub fn status_file_changed(&self, path: &std::path::Path) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let Some(pid) = crate::cc::status_file::status_file_pid(name) else {
            return;
        };
        let Some(id) = self.by_pid.read().unwrap().get(&pid).cloned() else {
            return;
        };
        let Some(h) = self.sessions.read().unwrap().get(&id).cloned() else {
            return;
        };
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        if let Some(file) = crate::cc::status_file::parse_status_file(&bytes) {
            h.signal(Signal::Status { file, at: now_ms() });
        }
    }

    pub fn transcript_changed(&self, path: &std::path::Path) {
        let id = self.by_transcript.read().unwrap().get(path).cloned();
        if let Some(h) = id.and_then(|id| self.sessions.read().unwrap().get(&id).cloned()) {
            h.signal(Signal::TranscriptChanged);
        }
    }

    pub fn watch_transcript(&self, session_id: &str, path: &str) {
        let path = PathBuf::from(path);
        self.by_transcript.write().unwrap().insert(path.clone(), session_id.to_string());
        if let Some(w) = self.files.lock().unwrap().as_mut() {
            if let Some(dir) = path.parent() {
                w.watch_dir(dir);
            }
        }
    }

    /// Graceful stop: actors end; sessions keep running in tmux for the next start to re-adopt.
    pub async fn shutdown(&self) {
        for h in self.sessions.read().unwrap().values() {
            h.signal(Signal::Stop);
        }
        if let Some(c) = self.control.write().await.take() {
            if let Ok(c) = Arc::try_unwrap(c) {
                c.close().await;
            }
        }
    }

    pub(crate) fn claim(&self, session: &str, interaction: &str) -> bool {
        self.answered.lock().unwrap().insert((session.to_string(), interaction.to_string()))
    }

    pub(crate) fn unclaim(&self, session: &str, interaction: &str) {
        self.answered.lock().unwrap().remove(&(session.to_string(), interaction.to_string()));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.store.subscribe()
    }
}

/// Typed into an empty box ahead of a prompt so CC never sees the prompt's first character arrive in an
/// empty box (see `Manager::type_prompt`); a plain letter has no meaning there.
const PROMPT_ANCHOR: char = 'x';

/// Whether CC's live input line shows its cursor (an inverse-video cell) on the anchor right after the
/// prompt sign: `❯\u{a0}\x1b[7mx` on every supported version and renderer.
fn cursor_on_anchor(screen: &str) -> bool {
    screen.lines().any(|l| {
        let Some((_, mut rest)) = l.split_once("❯\u{a0}") else {
            return false;
        };
        let mut inverse = false;
        while let Some(r) = rest.strip_prefix("\x1b[") {
            let Some(end) = r.find('m') else { return false };
            for p in r[..end].split(';') {
                inverse = match p {
                    "7" => true,
                    "" | "0" | "27" => false,
                    _ => inverse,
                };
            }
            rest = &r[end + 1..];
        }
        inverse && rest.starts_with(PROMPT_ANCHOR)
    })
}

fn typing_failed(e: crate::tmux::TmuxError) -> CoreError {
    CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", format!("typing failed: {e}"))
}

/// The pause between fresh captures while waiting for CC to draw what was just typed. CC draws a key
/// within a frame or two (~16–40 ms), so a fixed 100 ms tick cost each typing step up to 100 ms (a send
/// has four). Short at first, backing off to 100 ms so a slow or busy CC is not captured more than ten
/// times a second; captures go over the control client (no process), so the short ones are cheap, and
/// this runs only while a send waits, never when idle.
/// `AEGIS_BENCH_FIXED_TYPING_POLL=1` restores the old fixed 100 ms tick: the baseline that
/// examples/bench_turns.rs measures in the same run.
fn typing_poll_delay(attempt: u32) -> Duration {
    const STEPS_MS: [u64; 7] = [5, 5, 10, 10, 20, 50, 100];
    static FIXED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *FIXED.get_or_init(|| std::env::var_os("AEGIS_BENCH_FIXED_TYPING_POLL").is_some_and(|v| v == "1")) {
        return Duration::from_millis(100);
    }
    Duration::from_millis(STEPS_MS[(attempt as usize).min(STEPS_MS.len() - 1)])
}

/// A text as the screen parser can give it back: the box wraps long lines and indents continuation
/// lines, so a draft is compared without any white space.
fn draft_fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.chars().filter(|c| !c.is_whitespace()).for_each(|c| c.hash(&mut h));
    h.finish()
}

fn unavailable(e: impl std::fmt::Display) -> CoreError {
    CoreError::new(ErrorKind::Unavailable, "TMUX_FAILED", format!("tmux: {e}"))
}

pub fn not_ready(rec: &SessionRecord, op: &str) -> CoreError {
    CoreError::new(
        ErrorKind::FailedPrecondition,
        if rec.state == State::Exited { "SESSION_EXITED" } else { "SESSION_NOT_READY" },
        format!("{op} is not possible while the session is {}", rec.state.name()),
    )
    .with("session_id", &rec.id)
    .with("state", rec.state.name())
}

fn session_exists(id: &str) -> CoreError {
    CoreError::new(ErrorKind::AlreadyExists, "SESSION_EXISTS", "a session with this id exists").with("session_id", id)
}

/// Whether a new session `id` may join `sessions` (see `Manager::create`).
fn admit(sessions: &HashMap<String, Arc<SessionHandle>>, id: &str, p: &CreateParams) -> CoreResult<()> {
    if sessions.contains_key(id) {
        return Err(session_exists(id));
    }
    let live: Vec<SessionRecord> = sessions.values().map(|h| h.get()).filter(|r| r.state != State::Exited).collect();
    if !p.name.is_empty() && live.iter().any(|r| r.name == p.name) {
        return Err(CoreError::new(
            ErrorKind::AlreadyExists,
            "SESSION_NAME_TAKEN",
            format!("a live session is already named {:?}", p.name),
        )
        .with("name", &p.name));
    }
    if let Some(max) = p.max_live.filter(|max| live.len() >= *max) {
        return Err(CoreError::new(
            ErrorKind::ResourceExhausted,
            "TOO_MANY_SESSIONS",
            format!("at most {max} live sessions (--max-sessions); delete one first"),
        )
        .with("quota", "sessions")
        .with("limit", max));
    }
    Ok(())
}

#[cfg(test)]
mod send_tests {
    use super::*;

    /// Lines from real `capture-pane -e` screens of 2.1.197, 2.1.330 classic and 2.1.332 fullscreen.
    #[test]
    fn cursor_on_the_anchor() {
        assert!(cursor_on_anchor("\x1b[39m❯\u{a0}\x1b[7mx\x1b[0m\x1b[39m\x1b[49m"));
        // Anchor typed, cursor still after it; an empty box; an echoed prompt in the scrollback.
        assert!(!cursor_on_anchor("\x1b[39m❯\u{a0}x\x1b[7m"));
        assert!(!cursor_on_anchor("\x1b[39m❯\u{a0}\x1b[7m \x1b[0m\x1b[39m\x1b[49m"));
        assert!(!cursor_on_anchor("\x1b[48;5;237m❯ \x1b[38;5;231mx\x1b[39m"));
        assert!(!cursor_on_anchor("\x1b[39m❯\u{a0}\x1b[7m\x1b[0mx"));
    }

    #[test]
    fn a_restored_draft_matches_whatever_the_wrapping() {
        let sent = "HOLD_ONCE a first prompt that wraps\naround  the box";
        let shown = "HOLD_ONCE a first prompt that\nwraps\naround the box";
        assert_eq!(draft_fingerprint(sent), draft_fingerprint(shown));
        assert_ne!(draft_fingerprint(sent), draft_fingerprint("HOLD_ONCE a first prompt"));
    }
}
