//! tmux driver: a private tmux server (`tmux -L <socket>`) holding one window per Claude Code
//! session, plus one control-mode client ([`ControlClient`]) that pushes change signals.
//!
//! # Safety rules
//!
//! * Every tmux invocation that carries caller data runs as its own process with an argument
//!   vector (`Command::new(bin).args(["-L", socket, ...])`); no shell and no tmux command string
//!   is ever built from caller data.
//! * Window programs are started with a multi-argument command (`-- argv0 argv1 …`, at least two
//!   elements), which tmux runs with `execvp` and never through `/bin/sh`.
//! * tmux itself still interprets a few things in argv (all verified on tmux 3.3a):
//!   - **An argument that ends in `;` ends the tmux command** (`cmd_parse_from_arguments`), and
//!     the next argument is parsed as a new tmux command. `new-window … -- sh -c x 'a;' kill-server`
//!     really kills the server. Every caller-derived argument therefore goes through
//!     [`escape_arg`], which turns a trailing `;` into `\;` (tmux turns that back into `;`;
//!     `x\;` is sent as `x\\;` and arrives as `x\;`).
//!   - `new-window -c <dir>`, `-n <name>` and `new-session -s <name>` are **format-expanded**
//!     (`-n 'n#{pane_id}'` becomes `n%0`, and `#(…)` would run a shell command). Those values go
//!     through [`escape_format`] (`#` → `##`). `-e K=V`, the program argv and `send-keys -l`
//!     text are not expanded (verified: `#{pane_id}`, `#(echo hi)`, `$(echo pwned)`, `'`, `"`,
//!     `~`, `$HOME`, `{`, `}`, `%if` all arrive verbatim).
//! * The control-mode client only ever runs FIXED read-only commands whose only variable part is
//!   a validated pane id (`^%\d+$`): `capture-pane` and `display-message` with a fixed format.
//!   No caller text ever enters a control-mode command line.
//!
//! # What was verified empirically on tmux 3.3a
//!
//! * **`set -g window-size manual` crashes the tmux 3.3a server on the next `new-window`**
//!   ("server exited unexpectedly"), with or without clients attached. So the global option stays
//!   at its default, and `resize-window -x -y` is used per window: it also sets the *window* option
//!   `window-size` to `manual`, so attaching a control client does not resize the window (the test
//!   `window_size_survives_control_client` checks this).
//! * A freshly created window has the default size (80x24), and resizing it after the program has
//!   started causes a SIGWINCH and can reflow what it printed. [`Tmux::new_window`] therefore
//!   creates the window with a fixed placeholder program (`tail -f /dev/null`), resizes it, and
//!   then starts the real program with `respawn-pane -k -c … -e … -- argv…`, so the program
//!   starts at the requested size.
//! * One control client attached to the holder session gets `%output` for panes of **all**
//!   windows of that session, not only the current one (the holder window stays current; the
//!   test `pane_output_event_from_other_window` checks it).
//! * With `remain-on-exit on` a pane exit produces **no** `%output`, `%window-close` or other
//!   notification. The `pane-died` hook fires, but `set-buffer` from a hook does not produce a
//!   `%paste-buffer-changed` notification in 3.3a. What works is a format subscription:
//!   `refresh-client -B 'aegis-dead:%*:#{pane_dead}/#{pane_dead_status}/#{pane_dead_signal}'`
//!   produces `%subscription-changed aegis-dead $0 @1 1 %1 : 1/7/`. `pane_dead` can become 1
//!   (pty closed) before the child is reaped, with an empty status for one sample; the event is
//!   only sent once the status or signal is known. Under load (1 run in ~5 with 8 parallel
//!   tests) the second notification never came; after 1.5 s the reader then asks tmux once
//!   more (`display-message` process) and reports whatever status it gets (possibly `None`). tmux checks subscriptions once a
//!   second, so the latency is 0–1 s (measured ≈ 0.76 s; tests assert < 2.5 s). The exit status is
//!   included; a pane killed by a signal has an empty `pane_dead_status` (and `pane_dead_signal`,
//!   which [`PaneStatus`] does not carry, is set). Note that `#` starts a comment in the control
//!   command line, so the subscription must be quoted.
//! * When a pane dies with remain-on-exit, tmux 3.3a writes `remain-on-exit-format`
//!   ("Pane is dead (status 7, <date>)") on the bottom line **after a linefeed**, so the last
//!   frame scrolls up one line and its top line moves into the history. Capture with
//!   `scrollback >= 1` to see the whole last frame of a dead pane.
//! * Commands written to a control client before its attach command has finished fail with
//!   `no current client`; [`ControlClient::connect`] waits for the attach block first.
//! * `kill-server` itself may fail with "server exited unexpectedly" (the server exits before it
//!   answers); that counts as success.
//! * `display-message -p -t %999` (missing pane) succeeds with an empty expansion; it is mapped
//!   to [`TmuxError::NotFound`]. `capture-pane -t %999` fails with `can't find pane: %999`.
//! * A control client's command output comes as `%begin <time> <num> <flags>` … `%end|%error
//!   <time> <num> <flags>`. Commands we send have flags `1`; the initial block produced by the
//!   `attach` itself has flags `0` (and for a missing session it is an `%error` block with
//!   `can't find session: …`, followed by `%exit`). Notifications never appear inside a block.
//! * `kill-server` gives `%sessions-changed`, `%exit` and EOF on the control client; `kill -9` of
//!   the server gives EOF. Both become [`TmuxEvent::ServerExited`].
//! * `paste-buffer -p` only adds the bracketed-paste markers if the application enabled them
//!   (CC does; `cat` does not). LF in the buffer is sent as CR (the default without `-r`), which a
//!   cooked tty turns back into NL.
//! * Window names keep control characters (a tab in `-n` stays a tab), so names are validated.
//! * Session targets use `=name` (exact match); `has-session -t hol` would match `hold`.

mod control;
#[cfg(test)]
mod tests;

pub use control::{ControlClient, TmuxEvent, OUTPUT_COALESCE};

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Default timeout of one tmux call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Above this many bytes, or with any line break, [`Tmux::send_text`] uses a bracketed paste.
pub const SEND_KEYS_MAX: usize = 512;

/// The fixed, harmless, long-lived program of the holder window and of a new window before the
/// real program is started. At least two elements, so tmux never uses a shell.
const PLACEHOLDER_ARGV: [&str; 3] = ["tail", "-f", "/dev/null"];

/// Fixed format for [`PaneStatus`]: tab separated, the title last (it may contain anything but
/// a line break; window names are validated on creation).
pub(crate) const STATUS_FORMAT: &str = "#{pane_id}\t#{window_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}\t#{alternate_on}\t#{pane_width}\t#{pane_height}\t#{history_size}\t#{window_name}\t#{pane_title}";

#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` timed out after {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed (exit status {status:?}): {stderr}")]
    Failed { command: String, status: Option<i32>, stderr: String },
    #[error("tmux target not found: {0}")]
    NotFound(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("could not parse output of `{command}`: {output:?}")]
    Parse { command: String, output: String },
    #[error("control-mode command `{command}` failed: {message}")]
    Control { command: String, message: String },
    #[error("control-mode client closed: {0}")]
    ControlClosed(String),
}

impl TmuxError {
    /// The tmux server is not running (or its socket is gone).
    pub fn is_no_server(&self) -> bool {
        match self {
            TmuxError::Failed { stderr, .. } => {
                stderr.contains("no server running") || stderr.contains("error connecting to")
            }
            TmuxError::ControlClosed(_) => true,
            _ => false,
        }
    }

    /// The target (pane, window or session) does not exist.
    pub fn is_not_found(&self) -> bool {
        let text = match self {
            TmuxError::Failed { stderr, .. } => stderr.as_str(),
            TmuxError::Control { message, .. } => message.as_str(),
            TmuxError::NotFound(_) => return true,
            _ => return false,
        };
        text.contains("can't find") || self.is_no_server()
    }
}

/// A tmux key, mapped to a fixed tmux key name. Never free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Enter,
    Escape,
    CtrlC,
    CtrlD,
    Up,
    Down,
    Left,
    Right,
    Tab,
    BackTab,
    Backspace,
    /// Forward delete (the character under the cursor).
    Delete,
    /// Sent literally (`send-keys -l`).
    Char(char),
}

impl Key {
    /// The tmux key name, or `None` for [`Key::Char`].
    pub fn tmux_name(self) -> Option<&'static str> {
        Some(match self {
            Key::Enter => "Enter",
            Key::Escape => "Escape",
            Key::CtrlC => "C-c",
            Key::CtrlD => "C-d",
            Key::Up => "Up",
            Key::Down => "Down",
            Key::Left => "Left",
            Key::Right => "Right",
            Key::Tab => "Tab",
            Key::BackTab => "BTab",
            Key::Backspace => "BSpace",
            Key::Delete => "DC",
            Key::Char(_) => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Include colours and attributes (`capture-pane -e`).
    pub ansi: bool,
    /// Lines of history above the visible screen to include (`-S -N`).
    pub scrollback: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window name; no control characters, at most 200 bytes.
    pub name: String,
    /// Absolute start directory.
    pub cwd: PathBuf,
    /// Extra environment for the program (`-e K=V`); keys must match `[A-Za-z_][A-Za-z0-9_]*`.
    pub env: Vec<(String, String)>,
    /// Program and arguments; at least two elements so tmux never uses a shell.
    pub argv: Vec<String>,
    pub cols: u16,
    pub rows: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneRef {
    /// `@N`
    pub window_id: String,
    /// `%N`
    pub pane_id: String,
    pub pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneStatus {
    pub pane_id: String,
    pub window_id: String,
    pub window_name: String,
    pub pid: u32,
    pub dead: bool,
    /// Exit status of a dead pane; `None` while alive or when it was killed by a signal.
    pub dead_status: Option<i32>,
    /// The signal that killed the program (then there is no status).
    pub dead_signal: Option<i32>,
    pub title: String,
    pub alternate_on: bool,
    pub cols: u16,
    pub rows: u16,
    pub history_size: u32,
}

impl PaneStatus {
    /// Parse one line produced by [`STATUS_FORMAT`].
    pub(crate) fn parse(line: &str) -> Option<PaneStatus> {
        let f: Vec<&str> = line.splitn(12, '\t').collect();
        if f.len() != 12 || !is_pane_id(f[0]) || !is_window_id(f[1]) {
            return None;
        }
        Some(PaneStatus {
            pane_id: f[0].to_string(),
            window_id: f[1].to_string(),
            pid: f[2].parse().unwrap_or(0),
            dead: f[3] == "1",
            dead_status: f[4].parse().ok(),
            dead_signal: f[5].parse().ok(),
            alternate_on: f[6] == "1",
            cols: f[7].parse().ok()?,
            rows: f[8].parse().ok()?,
            history_size: f[9].parse().unwrap_or(0),
            window_name: f[10].to_string(),
            title: f[11].to_string(),
        })
    }
}

/// Handle on one private tmux server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tmux {
    bin: PathBuf,
    socket: String,
    timeout: Duration,
}

impl Tmux {
    pub fn new(bin: impl Into<PathBuf>, socket: impl Into<String>) -> Self {
        Tmux { bin: bin.into(), socket: socket.into(), timeout: DEFAULT_TIMEOUT }
    }

    /// Set the timeout of every tmux call (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn socket(&self) -> &str {
        &self.socket
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A `tokio::process::Command` for this server: `tmux -L <socket> -f /dev/null`, with the
    /// caller's `TMUX`/`TMUX_PANE` removed (so running inside tmux does not matter) and the
    /// service's own `AEGIS_*` variables removed: the tmux server a client starts inherits the
    /// client's environment, and every window (CC, the model's Bash) inherits the server's.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .kill_on_drop(true);
        for name in service_env_names() {
            cmd.env_remove(name);
        }
        cmd
    }

    /// Run one tmux process. `label` describes the command in errors (it must not contain
    /// secrets such as env values or typed text).
    async fn run(&self, label: &str, args: Vec<OsString>, stdin: Option<&[u8]>) -> Result<String, TmuxError> {
        let command = format!("tmux -L {} {}", self.socket, label);
        // The subcommand is the label's first word (labels never carry caller text).
        let sub = label.split_whitespace().next().unwrap_or("").to_string();
        metrics::counter!(crate::telemetry::TMUX_COMMANDS, "subcommand" => sub).increment(1);
        let mut cmd = self.command();
        cmd.args(&args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let fut = async {
            let mut child = cmd.spawn().map_err(|source| TmuxError::Spawn { command: command.clone(), source })?;
            if let Some(data) = stdin {
                let mut pipe = child.stdin.take().expect("stdin is piped");
                pipe.write_all(data).await.map_err(|source| TmuxError::Spawn { command: command.clone(), source })?;
                drop(pipe);
            }
            child.wait_with_output().await.map_err(|source| TmuxError::Spawn { command: command.clone(), source })
        };
        let out = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| TmuxError::Timeout { command: command.clone(), timeout: self.timeout })??;
        if !out.status.success() {
            return Err(TmuxError::Failed {
                command,
                status: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Start the private server and the holder session `session` if absent, and set the options
    /// we rely on. Idempotent.
    pub async fn ensure_server(&self, session: &str) -> Result<(), TmuxError> {
        validate_session(session)?;
        let target = format!("={session}");
        let exists = match self.run("has-session", args(["has-session", "-t", &target]), None).await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e),
        };
        if !exists {
            let mut a = args([
                "new-session",
                "-d",
                "-s",
                session, // validated: [A-Za-z0-9_-]
                "-x",
                "80",
                "-y",
                "24",
                "--",
            ]);
            a.extend(PLACEHOLDER_ARGV.iter().map(OsString::from));
            match self.run("new-session", a, None).await {
                Ok(_) => {}
                Err(TmuxError::Failed { ref stderr, .. }) if stderr.contains("duplicate session") => {}
                Err(e) => return Err(e),
            }
        }
        // Fixed options, one process. NOT `window-size manual` globally: it crashes tmux 3.3a on
        // new-window (see module docs); resize-window sets it per window instead.
        let a = args([
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "history-limit",
            "10000",
            ";",
            "set-option",
            "-g",
            "allow-rename",
            "off",
            ";",
            "set-option",
            "-g",
            "automatic-rename",
            "off",
            ";",
            "set-option",
            "-g",
            "destroy-unattached",
            "off",
            ";",
            "set-option",
            "-s",
            "exit-empty",
            "off",
            ";",
            "set-option",
            "-s",
            "exit-unattached",
            "off",
            ";",
            // An attaching client (`aegis attach`) would otherwise copy its SSH_AUTH_SOCK, DISPLAY…
            // into the session, and every CC started afterwards would get the user's agent.
            "set-option",
            "-g",
            "update-environment",
            "",
        ]);
        self.run("set-option (server defaults)", a, None).await?;
        self.forget_service_env(session).await
    }

    /// A server started before the environment was scrubbed (or by hand) may hold `AEGIS_*`
    /// variables (the token among them) in its global or holder-session environment, which new
    /// windows inherit: unset them. The same for the family each session gets from the service at
    /// creation (`crate::session_env`): the first client's ANTHROPIC_* must not outlive a restart.
    async fn forget_service_env(&self, session: &str) -> Result<(), TmuxError> {
        let target = format!("={session}");
        let mut a: Vec<OsString> = Vec::new();
        for scope in [vec!["-g"], vec!["-t", target.as_str()]] {
            let mut show = args(["show-environment"]);
            show.extend(scope.iter().map(OsString::from));
            let out = self.run("show-environment", show, None).await?;
            for name in scrubbed_env_names_in(&out) {
                if !a.is_empty() {
                    a.push(";".into());
                }
                a.extend(args(["set-environment", "-u"]));
                a.extend(scope.iter().map(OsString::from));
                a.push(name.into());
            }
        }
        if a.is_empty() {
            return Ok(());
        }
        self.run("set-environment -u AEGIS_*", a, None).await.map(|_| ())
    }

    /// Create a detached window in `session` running `spec.argv` at `spec.cols`x`spec.rows`.
    ///
    /// The window is created with a placeholder program, resized (which pins its size, see
    /// module docs), and then the real program is started with `respawn-pane -k`, so it starts
    /// at the right size in `spec.cwd` with `spec.env`.
    pub async fn new_window(&self, session: &str, spec: &WindowSpec) -> Result<PaneRef, TmuxError> {
        validate_session(session)?;
        validate_window_name(&spec.name)?;
        if spec.argv.len() < 2 {
            return Err(TmuxError::InvalidArgument(
                "argv needs at least two elements (tmux runs a single-element command through /bin/sh)".into(),
            ));
        }
        if spec.argv.iter().any(|a| a.contains('\0')) {
            return Err(TmuxError::InvalidArgument("argv contains NUL".into()));
        }
        if spec.argv[0].is_empty() {
            return Err(TmuxError::InvalidArgument("argv[0] is empty".into()));
        }
        if spec.cols < 2 || spec.rows < 2 {
            return Err(TmuxError::InvalidArgument(format!("window size {}x{} too small", spec.cols, spec.rows)));
        }
        if !spec.cwd.is_absolute() {
            return Err(TmuxError::InvalidArgument("cwd must be absolute".into()));
        }
        let cwd = spec.cwd.to_str().ok_or_else(|| TmuxError::InvalidArgument("cwd is not UTF-8".into()))?;
        if cwd.contains('\0') {
            return Err(TmuxError::InvalidArgument("cwd contains NUL".into()));
        }
        for (k, v) in &spec.env {
            validate_env_key(k)?;
            if v.contains('\0') {
                return Err(TmuxError::InvalidArgument(format!("env {k} contains NUL")));
            }
        }

        // 1. Window with the placeholder program.
        let target = format!("={session}:");
        let mut a = args(["new-window", "-d", "-P", "-F", "#{window_id}\t#{pane_id}", "-t"]);
        a.push(target.into());
        a.push("-n".into());
        a.push(escape_arg(&escape_format(&spec.name)).into());
        a.push("--".into());
        a.extend(PLACEHOLDER_ARGV.iter().map(OsString::from));
        let out = self.run("new-window", a, None).await?;
        let line = out.trim_end_matches('\n');
        let (window_id, pane_id) = line
            .split_once('\t')
            .filter(|(w, p)| is_window_id(w) && is_pane_id(p))
            .ok_or_else(|| TmuxError::Parse { command: "new-window".into(), output: out.clone() })?;
        let (window_id, pane_id) = (window_id.to_string(), pane_id.to_string());

        let started = async {
            // 2. Pin the size (sets the window's window-size option to manual).
            let cols = spec.cols.to_string();
            let rows = spec.rows.to_string();
            self.run(
                &format!("resize-window -t {window_id}"),
                args(["resize-window", "-t", &window_id, "-x", &cols, "-y", &rows]),
                None,
            )
            .await?;
            // 3. Start the real program: argv after `--`, never through a shell. The command goes
            // to `source-file -` on stdin, not on a tmux client's argv: env values (API keys) would
            // show in `ps` to every local user. Every value is one double-quoted token.
            let mut line = format!("respawn-pane -k -t {pane_id} -c {}", quote_token(&escape_format(cwd)));
            for (k, v) in &spec.env {
                line.push_str(" -e ");
                line.push_str(&quote_token(&format!("{k}={v}")));
            }
            line.push_str(" --");
            for s in &spec.argv {
                line.push(' ');
                line.push_str(&quote_token(s));
            }
            line.push('\n');
            self.run(
                &format!("source-file - (respawn-pane -t {pane_id})"),
                args(["source-file", "-"]),
                Some(line.as_bytes()),
            )
            .await?;
            // 4. The pid of the real program.
            let out = self
                .run(
                    &format!("display-message -t {pane_id}"),
                    args(["display-message", "-p", "-t", &pane_id, "#{pane_pid}"]),
                    None,
                )
                .await?;
            out.trim()
                .parse::<u32>()
                .map_err(|_| TmuxError::Parse { command: "display-message #{pane_pid}".into(), output: out.clone() })
        }
        .await;
        match started {
            Ok(pid) => Ok(PaneRef { window_id, pane_id, pid }),
            Err(e) => {
                let _ = self.kill_window(&window_id).await;
                Err(e)
            }
        }
    }

    /// Type `text` literally, without Enter. Short single-line text uses `send-keys -l`;
    /// text with line breaks or longer than [`SEND_KEYS_MAX`] bytes goes through a uniquely named
    /// buffer (`load-buffer -b <name> -` on stdin) and a bracketed paste
    /// (`paste-buffer -p -d`), so CC receives one paste and submits nothing.
    pub async fn send_text(&self, pane: &str, text: &str) -> Result<(), TmuxError> {
        validate_pane(pane)?;
        if text.is_empty() {
            return Ok(());
        }
        if text.len() <= SEND_KEYS_MAX && !text.contains(['\n', '\r']) {
            let mut a = args(["send-keys", "-l", "-t", pane, "--"]);
            a.push(escape_arg(text).into());
            self.run(&format!("send-keys -l -t {pane} <text>"), a, None).await?;
            return Ok(());
        }
        self.paste(pane, text).await
    }

    /// One bracketed paste of `text` through a uniquely named buffer (`load-buffer -b <name> -` on stdin,
    /// `paste-buffer -p -d`): nothing in it (line breaks, tabs) acts as a key, and nothing is submitted.
    pub async fn paste(&self, pane: &str, text: &str) -> Result<(), TmuxError> {
        validate_pane(pane)?;
        let buffer = format!("aegis-{}", uuid::Uuid::new_v4().simple());
        self.run(
            &format!("load-buffer -b {buffer} -"),
            args(["load-buffer", "-b", &buffer, "-"]),
            Some(text.as_bytes()),
        )
        .await?;
        let pasted = self
            .run(
                &format!("paste-buffer -p -d -b {buffer} -t {pane}"),
                args(["paste-buffer", "-p", "-d", "-b", &buffer, "-t", pane]),
                None,
            )
            .await;
        if pasted.is_err() {
            let _ = self.run("delete-buffer", args(["delete-buffer", "-b", &buffer]), None).await;
        }
        pasted.map(|_| ())
    }

    /// Send keys in order, in one tmux process. Named keys use fixed tmux key names; runs of
    /// [`Key::Char`] are sent with `send-keys -l`.
    pub async fn send_keys(&self, pane: &str, keys: &[Key]) -> Result<(), TmuxError> {
        validate_pane(pane)?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut a: Vec<OsString> = Vec::new();
        let mut i = 0;
        while i < keys.len() {
            if !a.is_empty() {
                a.push(";".into());
            }
            if let Key::Char(_) = keys[i] {
                let mut text = String::new();
                while let Some(Key::Char(c)) = keys.get(i) {
                    text.push(*c);
                    i += 1;
                }
                a.extend(args(["send-keys", "-l", "-t", pane, "--"]));
                a.push(escape_arg(&text).into());
            } else {
                a.extend(args(["send-keys", "-t", pane]));
                while let Some(name) = keys.get(i).and_then(|k| k.tmux_name()) {
                    a.push(name.into());
                    i += 1;
                }
            }
        }
        self.run(&format!("send-keys -t {pane} <keys>"), a, None).await.map(|_| ())
    }

    /// `capture-pane -p` of the visible screen plus `opts.scrollback` lines of history.
    pub async fn capture(&self, pane: &str, opts: CaptureOptions) -> Result<String, TmuxError> {
        validate_pane(pane)?;
        let a: Vec<OsString> = capture_args(pane, opts).into_iter().map(OsString::from).collect();
        self.run(&format!("capture-pane -t {pane}"), a, None).await
    }

    pub async fn pane_status(&self, pane: &str) -> Result<PaneStatus, TmuxError> {
        validate_pane(pane)?;
        let out = self
            .run(
                &format!("display-message -t {pane}"),
                args(["display-message", "-p", "-t", pane, STATUS_FORMAT]),
                None,
            )
            .await?;
        parse_status(pane, "display-message", out.trim_end_matches('\n'))
    }

    /// All panes of all windows of `session` (including the holder window), for re-adoption.
    pub async fn list_panes(&self, session: &str) -> Result<Vec<PaneStatus>, TmuxError> {
        validate_session(session)?;
        let target = format!("={session}");
        let out =
            self.run("list-panes -s", args(["list-panes", "-s", "-t", &target, "-F", STATUS_FORMAT]), None).await?;
        Ok(out.lines().filter_map(PaneStatus::parse).collect())
    }

    /// `kill-window -t @N`.
    pub async fn kill_window(&self, window: &str) -> Result<(), TmuxError> {
        if !is_window_id(window) {
            return Err(TmuxError::InvalidArgument(format!("not a window id: {window:?}")));
        }
        self.run(&format!("kill-window -t {window}"), args(["kill-window", "-t", window]), None).await.map(|_| ())
    }

    /// Kill the private server. Succeeds if it is not running.
    pub async fn kill_server(&self) -> Result<(), TmuxError> {
        match self.run("kill-server", args(["kill-server"]), None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_no_server() => Ok(()),
            // The server exits before it answers the client.
            Err(TmuxError::Failed { ref stderr, .. }) if stderr.contains("server exited unexpectedly") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `tmux -V`, e.g. `tmux 3.3a`.
    pub async fn version(&self) -> Result<String, TmuxError> {
        Ok(self.run("-V", args(["-V"]), None).await?.trim().to_string())
    }
}

/// Parse a [`STATUS_FORMAT`] line. tmux 3.3a answers `display-message -p -t %999` for a
/// missing pane with an all-empty expansion and exit status 0, so that becomes `NotFound`.
pub(crate) fn parse_status(pane: &str, command: &str, line: &str) -> Result<PaneStatus, TmuxError> {
    if line.bytes().all(|b| b == b'\t') {
        return Err(TmuxError::NotFound(pane.to_string()));
    }
    PaneStatus::parse(line)
        .ok_or_else(|| TmuxError::Parse { command: format!("{command} -t {pane}"), output: line.to_string() })
}

/// Fixed capture-pane arguments; the only variable part is a validated pane id and numbers.
/// Also used on the control channel.
pub(crate) fn capture_args(pane: &str, opts: CaptureOptions) -> Vec<String> {
    let mut a = vec!["capture-pane".to_string(), "-p".to_string()];
    if opts.ansi {
        a.push("-e".into());
    }
    if opts.scrollback > 0 {
        a.push("-S".into());
        a.push(format!("-{}", opts.scrollback));
    }
    a.push("-t".into());
    a.push(pane.to_string());
    a
}

/// The service's own configuration variables in this process's environment (`AEGIS_*`: the token,
/// the token file's path, the listen address…). No child process may inherit them.
pub fn service_env_names() -> Vec<OsString> {
    std::env::vars_os().map(|(k, _)| k).filter(|k| k.as_encoded_bytes().starts_with(b"AEGIS_")).collect()
}

/// Names in `show-environment` output (`NAME=value`, or `-NAME` for removed) that the server must
/// not hold: `AEGIS_*` and the family each session gets from the service at creation
/// ([`crate::session_env::is_scrubbed`]).
fn scrubbed_env_names_in(show_environment: &str) -> Vec<String> {
    show_environment
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| crate::session_env::is_scrubbed(k) && validate_env_key(k).is_ok())
        .map(str::to_string)
        .collect()
}

fn args<const N: usize>(a: [&str; N]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

/// Make an argument safe for tmux's argv parser: an argument ending in `;` would end the tmux
/// command, so the final `;` becomes `\;` (tmux restores `;`).
pub fn escape_arg(s: &str) -> String {
    match s.strip_suffix(';') {
        Some(rest) => format!("{rest}\\;"),
        None => s.to_string(),
    }
}

/// One double-quoted token for tmux's command parser (`source-file`): `\`, `"`, `$` and `~` are
/// escaped and control characters written as escapes (`\n`, octal), so a value never ends the
/// token, starts a comment or a `%if` line, or expands a variable (verified on tmux 3.3a by
/// `new_window_env_cwd_argv_verbatim`). Not single quotes: tmux drops a `#` line inside them.
pub fn quote_token(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            // A leading `~` is home-expanded even inside double quotes (tmux 3.3a: "~" → /root).
            '~' => out.push_str("\\~"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escape a value that tmux expands as a format (`-c`, `-n`, `-s`): `#` → `##`.
pub fn escape_format(s: &str) -> String {
    s.replace('#', "##")
}

pub fn is_pane_id(s: &str) -> bool {
    is_id(s, '%')
}

pub fn is_window_id(s: &str) -> bool {
    is_id(s, '@')
}

fn is_id(s: &str, sigil: char) -> bool {
    match s.strip_prefix(sigil) {
        Some(n) => !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

pub(crate) fn validate_pane(pane: &str) -> Result<(), TmuxError> {
    if is_pane_id(pane) {
        Ok(())
    } else {
        Err(TmuxError::InvalidArgument(format!("not a pane id: {pane:?}")))
    }
}

/// Session names: `[A-Za-z0-9_-]{1,64}`.
pub fn validate_session(s: &str) -> Result<(), TmuxError> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        Ok(())
    } else {
        Err(TmuxError::InvalidArgument(format!("invalid session name {s:?} (allowed: [A-Za-z0-9_-]{{1,64}})")))
    }
}

/// Window names: 1..=200 bytes without control characters (tmux keeps them verbatim).
pub fn validate_window_name(s: &str) -> Result<(), TmuxError> {
    if !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(TmuxError::InvalidArgument(format!("invalid window name {s:?}")))
    }
}

fn validate_env_key(k: &str) -> Result<(), TmuxError> {
    let mut b = k.bytes();
    let ok = matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(TmuxError::InvalidArgument(format!("invalid environment variable name {k:?}")))
    }
}
