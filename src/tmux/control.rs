//! The control-mode client: one `tmux -L <socket> -C attach -t =<session>` for the whole server.
//!
//! It is the push channel ([`TmuxEvent`]) and a cheap way to run FIXED read-only commands
//! (`capture-pane`, `display-message` with a fixed format) whose only variable part is a
//! validated pane id (`^%\d+$`). No caller text is ever written to its stdin.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::time::Instant;

use super::{
    capture_args, parse_status, validate_pane, validate_session, CaptureOptions, PaneStatus, Tmux, TmuxError,
    STATUS_FORMAT,
};

/// `%output` of one pane is coalesced into at most one [`TmuxEvent::PaneOutput`] per this
/// interval. The event is sent at the end of the interval that starts with the first unreported
/// output, so the last event of a burst always comes after its last byte.
pub const OUTPUT_COALESCE: Duration = Duration::from_millis(30);

/// Capacity of the event channel. The reader never blocks on it: output events are deduplicated
/// and kept as "dirty" flags while the consumer is slow.
const EVENT_CHANNEL: usize = 256;

/// How long to wait for the exit status of a pane that tmux already shows as dead.
const DEAD_INCOMPLETE: Duration = Duration::from_millis(1500);

const SUB_DEAD: &str = "aegis-dead";
const SUB_TITLE: &str = "aegis-title";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TmuxEvent {
    /// The pane produced output (coalesced, see [`OUTPUT_COALESCE`]): capture it now.
    PaneOutput { pane_id: String },
    /// The pane's program exited (remain-on-exit keeps the pane). `status` is `None` when it was
    /// killed by a signal. Also sent once at connect for panes that are already dead.
    /// Latency 0–1 s (tmux checks subscriptions once a second).
    PaneDied { pane_id: String, status: Option<i32>, signal: Option<i32> },
    /// The window was closed (killed) — `%window-close` / `%unlinked-window-close`.
    WindowClosed { window_id: String },
    /// The pane title changed (subscription, 0–1 s latency; also sent once per pane at connect).
    TitleChanged { pane_id: String, title: String },
    /// The server exited (`%exit`, or EOF on the control client). Always the last event.
    ServerExited { reason: String },
}

type Reply = Result<Vec<String>, TmuxError>;

#[derive(Default)]
struct Shared {
    /// Waiters for command responses, in the order the commands were written.
    waiters: VecDeque<oneshot::Sender<Reply>>,
    /// Set once the client is gone; new commands fail at once with this reason.
    closed: Option<String>,
}

/// One control-mode client for the whole server.
pub struct ControlClient {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    shared: Arc<StdMutex<Shared>>,
    reader: tokio::task::JoinHandle<()>,
    timeout: Duration,
    closing: Arc<std::sync::atomic::AtomicBool>,
}

impl ControlClient {
    /// Attach a control client to `session` (normally the holder session created by
    /// [`Tmux::ensure_server`]) and subscribe to pane death and title changes.
    pub async fn connect(tmux: &Tmux, session: &str) -> Result<(ControlClient, mpsc::Receiver<TmuxEvent>), TmuxError> {
        validate_session(session)?;
        let target = format!("={session}");
        let mut cmd = tmux.command();
        cmd.args(["-C", "attach-session", "-t", &target])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| TmuxError::Spawn {
            command: format!("tmux -L {} -C attach-session -t {target}", tmux.socket()),
            source,
        })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let stderr_text = Arc::new(StdMutex::new(String::new()));
        {
            let stderr_text = stderr_text.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = stderr.read_to_end(&mut buf).await;
                *stderr_text.lock().unwrap() = String::from_utf8_lossy(&buf).trim().to_string();
            });
        }
        let shared = Arc::new(StdMutex::new(Shared::default()));
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(EVENT_CHANNEL);
        let (attached_tx, attached_rx) = oneshot::channel();
        let reader = tokio::spawn(
            Reader {
                shared: shared.clone(),
                tx,
                closing: closing.clone(),
                stderr_text,
                dirty: HashMap::new(),
                ready: VecDeque::new(),
                dead: HashMap::new(),
                dead_incomplete: HashMap::new(),
                tmux: tmux.clone(),
                titles: HashMap::new(),
                attach_error: None,
                attached: Some(attached_tx),
            }
            .run(stdout),
        );
        let client =
            ControlClient { child, stdin: Mutex::new(Some(stdin)), shared, reader, timeout: tmux.timeout(), closing };
        // Commands sent before the attach command has finished fail with "no current client",
        // so wait for the attach command's own block (flags 0).
        let attached = match tokio::time::timeout(client.timeout, attached_rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(message))) => {
                Err(TmuxError::Control { command: format!("-C attach-session -t {target}"), message })
            }
            Ok(Err(_)) => Err(TmuxError::ControlClosed(
                client.shared.lock().unwrap().closed.clone().unwrap_or_else(|| "control client exited".into()),
            )),
            Err(_) => {
                Err(TmuxError::Timeout { command: format!("-C attach-session -t {target}"), timeout: client.timeout })
            }
        };
        if let Err(e) = attached {
            client.close().await;
            return Err(e);
        }
        // Fixed subscriptions (quoted: `#` starts a comment in tmux command syntax).
        let subs = [
            format!("refresh-client -B '{SUB_DEAD}:%*:#{{pane_dead}}/#{{pane_dead_status}}/#{{pane_dead_signal}}'"),
            format!("refresh-client -B '{SUB_TITLE}:%*:#{{pane_title}}'"),
        ];
        for sub in subs {
            if let Err(e) = client.command(&sub).await {
                client.close().await;
                return Err(e);
            }
        }
        Ok((client, rx))
    }

    /// Write one FIXED command line and wait for its `%begin`/`%end` block.
    async fn command(&self, line: &str) -> Result<Vec<String>, TmuxError> {
        debug_assert!(!line.contains('\n'));
        let (tx, rx) = oneshot::channel();
        {
            let mut stdin = self.stdin.lock().await;
            let Some(pipe) = stdin.as_mut() else {
                return Err(TmuxError::ControlClosed("client closed".into()));
            };
            {
                let mut shared = self.shared.lock().unwrap();
                if let Some(reason) = &shared.closed {
                    return Err(TmuxError::ControlClosed(reason.clone()));
                }
                shared.waiters.push_back(tx);
            }
            let write = async {
                pipe.write_all(line.as_bytes()).await?;
                pipe.write_all(b"\n").await?;
                pipe.flush().await
            };
            if let Err(e) = write.await {
                // The reader fails all waiters when it sees EOF.
                return Err(TmuxError::ControlClosed(format!("write failed: {e}")));
            }
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Err(_) => Err(TmuxError::Timeout { command: format!("(control) {line}"), timeout: self.timeout }),
            Ok(Err(_)) => Err(TmuxError::ControlClosed("reader stopped".into())),
            Ok(Ok(Err(TmuxError::Control { message, .. }))) => {
                Err(TmuxError::Control { command: line.to_string(), message })
            }
            Ok(Ok(r)) => r,
        }
    }

    /// `capture-pane -p` over the control channel. Same output as [`Tmux::capture`].
    pub async fn capture(&self, pane: &str, opts: CaptureOptions) -> Result<String, TmuxError> {
        validate_pane(pane)?;
        // Fixed command; the only variable parts are the validated pane id and a number.
        let line = capture_args(pane, opts).join(" ");
        let lines = self.command(&line).await?;
        let mut out = String::new();
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        Ok(out)
    }

    /// `display-message -p` with the fixed status format over the control channel.
    pub async fn pane_status(&self, pane: &str) -> Result<PaneStatus, TmuxError> {
        validate_pane(pane)?;
        // Fixed command; the only variable part is the validated pane id. The format contains
        // no double quote, backslash or `$`, so it is a plain double-quoted tmux string.
        let line = format!("display-message -p -t {pane} \"{STATUS_FORMAT}\"");
        let lines = self.command(&line).await?;
        let first = lines.first().map(String::as_str).unwrap_or("");
        parse_status(pane, "(control) display-message", first)
    }

    /// Whether the client is still connected.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().unwrap().closed.is_none()
    }

    /// Detach (close stdin), wait briefly, then kill the client process. No `ServerExited`
    /// event is sent for a close.
    pub async fn close(mut self) {
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        self.stdin.lock().await.take();
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await;
        self.reader.abort();
    }
}

impl Drop for ControlClient {
    fn drop(&mut self) {
        self.reader.abort();
        let _ = self.child.start_kill();
    }
}

struct Block {
    time: String,
    num: String,
    flags: String,
    ours: bool,
    lines: Vec<String>,
}

struct Reader {
    shared: Arc<StdMutex<Shared>>,
    tx: mpsc::Sender<TmuxEvent>,
    closing: Arc<std::sync::atomic::AtomicBool>,
    stderr_text: Arc<StdMutex<String>>,
    /// Panes with unreported output and when to report them.
    dirty: HashMap<String, Instant>,
    /// Events waiting for channel capacity (PaneOutput deduplicated).
    ready: VecDeque<TmuxEvent>,
    /// Last seen pane_dead per pane, to report only transitions.
    dead: HashMap<String, bool>,
    /// Panes seen dead without status or signal yet, with the time to report them anyway.
    dead_incomplete: HashMap<String, Instant>,
    tmux: Tmux,
    titles: HashMap<String, String>,
    /// The `%error` text of the attach command itself (e.g. `can't find session`).
    attach_error: Option<String>,
    /// Signalled when the attach command's own block ends.
    attached: Option<oneshot::Sender<Result<(), String>>>,
}

impl Reader {
    async fn run(mut self, stdout: tokio::process::ChildStdout) {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let mut buf = Vec::with_capacity(4096);
        let mut block: Option<Block> = None;
        let mut exit_reason: Option<String> = None;
        let tx = self.tx.clone();
        loop {
            let next_deadline = self.dirty.values().chain(self.dead_incomplete.values()).min().copied();
            tokio::select! {
                biased;
                permit = tx.reserve(), if !self.ready.is_empty() => {
                    match permit {
                        Ok(permit) => permit.send(self.ready.pop_front().expect("non-empty")),
                        Err(_) => self.ready.clear(), // consumer gone; keep serving commands
                    }
                }
                _ = tokio::time::sleep_until(next_deadline.unwrap_or_else(Instant::now)),
                    if next_deadline.is_some() => {
                    self.flush_due(Instant::now());
                }
                read = reader.read_until(b'\n', &mut buf) => {
                    match read {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    buf.clear();
                    if let Some(reason) = self.handle_line(line, &mut block) {
                        exit_reason = Some(reason);
                    }
                }
            }
        }
        // EOF: fail pending commands, then report the exit after pending output events.
        let reason = self.attach_error.clone().or(exit_reason).unwrap_or_else(|| {
            let err = self.stderr_text.lock().unwrap().clone();
            if err.is_empty() {
                "control client EOF".to_string()
            } else {
                format!("control client EOF: {err}")
            }
        });
        let waiters = {
            let mut shared = self.shared.lock().unwrap();
            shared.closed = Some(reason.clone());
            std::mem::take(&mut shared.waiters)
        };
        for w in waiters {
            let _ = w.send(Err(TmuxError::ControlClosed(reason.clone())));
        }
        let pending: Vec<String> = self.dirty.drain().map(|(p, _)| p).collect();
        for pane_id in pending {
            self.push_output(pane_id);
        }
        if !self.closing.load(std::sync::atomic::Ordering::SeqCst) {
            self.ready.push_back(TmuxEvent::ServerExited { reason });
        }
        while let Some(ev) = self.ready.pop_front() {
            if self.tx.send(ev).await.is_err() {
                break;
            }
        }
    }

    /// Returns `Some(reason)` on `%exit`.
    fn handle_line(&mut self, line: String, block: &mut Option<Block>) -> Option<String> {
        if let Some(b) = block {
            // Inside a block everything is raw output, except the exact matching end line.
            if let Some(is_error) = end_of(&line, b) {
                let b = block.take().expect("in block");
                self.finish_block(b, is_error);
            } else {
                b.lines.push(line);
            }
            return None;
        }
        let rest = line.strip_prefix('%')?;
        let (kind, args) = rest.split_once(' ').unwrap_or((rest, ""));
        match kind {
            "begin" => {
                let mut it = args.split(' ');
                let (time, num, flags) = (
                    it.next().unwrap_or("").to_string(),
                    it.next().unwrap_or("").to_string(),
                    it.next().unwrap_or("").to_string(),
                );
                // Commands written by a client have flag 1; the attach command's own block
                // has flag 0 and has no waiter.
                let ours = flags.parse::<u32>().map(|f| f & 1 == 1).unwrap_or(false);
                *block = Some(Block { time, num, flags, ours, lines: Vec::new() });
            }
            "output" => {
                let pane = args.split(' ').next().unwrap_or("");
                if super::is_pane_id(pane) && !self.dirty.contains_key(pane) {
                    self.dirty.insert(pane.to_string(), Instant::now() + OUTPUT_COALESCE);
                }
            }
            "window-close" | "unlinked-window-close" => {
                let window_id = args.split(' ').next().unwrap_or("");
                if super::is_window_id(window_id) {
                    self.ready.push_back(TmuxEvent::WindowClosed { window_id: window_id.to_string() });
                }
            }
            "subscription-changed" => self.subscription(args),
            "exit" => {
                return Some(if args.is_empty() {
                    "server exited".to_string()
                } else {
                    format!("server exited: {args}")
                });
            }
            _ => {}
        }
        None
    }

    fn finish_block(&mut self, b: Block, is_error: bool) {
        if !b.ours {
            let result = if is_error {
                let message = b.lines.join("\n");
                self.attach_error = Some(message.clone());
                Err(message)
            } else {
                Ok(())
            };
            if let Some(attached) = self.attached.take() {
                let _ = attached.send(result);
            }
            return;
        }
        let waiter = self.shared.lock().unwrap().waiters.pop_front();
        if let Some(w) = waiter {
            let reply = if is_error {
                Err(TmuxError::Control { command: String::new(), message: b.lines.join("\n") })
            } else {
                Ok(b.lines)
            };
            let _ = w.send(reply);
        }
    }

    /// `%subscription-changed <name> $S @W <idx> %P : <value>`
    fn subscription(&mut self, args: &str) {
        let Some((head, value)) = args.split_once(" : ") else {
            return;
        };
        let f: Vec<&str> = head.split(' ').collect();
        if f.len() < 5 || !super::is_pane_id(f[4]) {
            return;
        }
        let pane_id = f[4].to_string();
        match f[0] {
            SUB_DEAD => {
                let mut it = value.split('/');
                let (dead, status, signal) =
                    (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""));
                // tmux marks the pane dead when the pty closes, which can be before the child
                // is reaped; then status and signal are both empty and the subscription fires
                // again once the status is known. Report only a complete death.
                // If that second notification does not come within DEAD_INCOMPLETE, the death is
                // reported without a status.
                let complete = dead == "1" && (!status.is_empty() || !signal.is_empty());
                if dead == "1" && !complete {
                    if !self.dead.get(&pane_id).copied().unwrap_or(false) {
                        self.dead_incomplete.entry(pane_id).or_insert_with(|| Instant::now() + DEAD_INCOMPLETE);
                    }
                    return;
                }
                self.dead_incomplete.remove(&pane_id);
                let was = self.dead.insert(pane_id.clone(), complete).unwrap_or(false);
                if complete && !was {
                    self.push_died(pane_id, status.parse().ok(), signal.parse().ok());
                }
            }
            SUB_TITLE if self.titles.get(&pane_id).map(String::as_str) != Some(value) => {
                self.titles.insert(pane_id.clone(), value.to_string());
                self.ready.push_back(TmuxEvent::TitleChanged { pane_id, title: value.to_string() });
            }
            _ => {}
        }
    }

    fn push_died(&mut self, pane_id: String, status: Option<i32>, signal: Option<i32>) {
        // Report output first so a consumer captures the last frame.
        if self.dirty.remove(&pane_id).is_some() {
            self.push_output(pane_id.clone());
        }
        self.ready.push_back(TmuxEvent::PaneDied { pane_id, status, signal });
    }

    fn flush_due(&mut self, now: Instant) {
        let due: Vec<String> =
            self.dead_incomplete.iter().filter(|(_, t)| **t <= now).map(|(p, _)| p.clone()).collect();
        for pane_id in due {
            self.dead_incomplete.remove(&pane_id);
            self.dead.insert(pane_id.clone(), true);
            // Ask tmux once more (separate process, fixed format, validated pane id), then
            // report the death with whatever status is known.
            if self.dirty.remove(&pane_id).is_some() {
                self.push_output(pane_id.clone());
            }
            let (tmux, tx) = (self.tmux.clone(), self.tx.clone());
            tokio::spawn(async move {
                // Under load tmux can reap the child late: look a few times (≈3.5 s more) before
                // reporting the death without a status.
                let (mut status, mut signal) = (None, None);
                for delay_ms in [0, 500, 1000, 2000] {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    if let Ok(st) = tmux.pane_status(&pane_id).await {
                        (status, signal) = (st.dead_status, st.dead_signal);
                    }
                    if status.is_some() || signal.is_some() {
                        break;
                    }
                }
                let _ = tx.send(TmuxEvent::PaneDied { pane_id, status, signal }).await;
            });
        }
        let due: Vec<String> = self.dirty.iter().filter(|(_, t)| **t <= now).map(|(p, _)| p.clone()).collect();
        for pane_id in due {
            self.dirty.remove(&pane_id);
            self.push_output(pane_id);
        }
    }

    fn push_output(&mut self, pane_id: String) {
        let queued = self.ready.iter().any(|e| matches!(e, TmuxEvent::PaneOutput { pane_id: p } if *p == pane_id));
        if !queued {
            self.ready.push_back(TmuxEvent::PaneOutput { pane_id });
        }
    }
}

/// `Some(is_error)` if `line` is exactly the `%end`/`%error` line of block `b`.
fn end_of(line: &str, b: &Block) -> Option<bool> {
    let (kind, rest) = line.split_once(' ')?;
    let is_error = match kind {
        "%end" => false,
        "%error" => true,
        _ => return None,
    };
    let mut it = rest.split(' ');
    let matches = it.next() == Some(b.time.as_str())
        && it.next() == Some(b.num.as_str())
        && it.next() == Some(b.flags.as_str())
        && it.next().is_none();
    matches.then_some(is_error)
}
