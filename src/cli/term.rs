//! Terminal conventions: colour only on a TTY without NO_COLOR, a spinner only on a TTY.
use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use tokio::{sync::watch, task::JoinHandle};

use crate::proto::v1::SessionState;

/// True when stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Styling that is a no-op when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether escapes are emitted.
    pub color: bool,
}

impl Style {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Dim text.
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    /// Bold text.
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    /// A state name coloured by what it means.
    pub fn state(&self, state: i32, text: &str) -> String {
        let code = match SessionState::try_from(state).unwrap_or(SessionState::Unknown) {
            SessionState::Idle => "32",
            SessionState::Working | SessionState::Starting | SessionState::Compacting => "33",
            SessionState::AskQuestion
            | SessionState::PermissionPrompt
            | SessionState::BashApproval
            | SessionState::PlanMode
            | SessionState::TrustPrompt
            | SessionState::ApiKeyPrompt => "1;35",
            SessionState::Error | SessionState::RateLimited => "31",
            SessionState::Exited => "2",
            SessionState::Unknown | SessionState::Unspecified => "36",
        };
        self.wrap(code, text)
    }
    /// An event kind name.
    pub fn kind(&self, text: &str) -> String {
        self.wrap("36", text)
    }
}

/// A spinner on stderr showing a changing status text; does nothing unless stderr is a terminal.
pub struct Spinner {
    tx: watch::Sender<String>,
    task: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner with a label (`creating`, `waiting`).
    pub fn start(label: &str) -> Self {
        let (tx, mut rx) = watch::channel(String::new());
        let task = if std::io::stderr().is_terminal() {
            let label = label.to_string();
            Some(tokio::spawn(async move {
                const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let start = Instant::now();
                let mut i = 0usize;
                loop {
                    let status = rx.borrow_and_update().clone();
                    {
                        let mut err = std::io::stderr().lock();
                        let _ = write!(
                            err,
                            "\r\x1b[2K{} {label} {status} ({}s)",
                            FRAMES[i % FRAMES.len()],
                            start.elapsed().as_secs()
                        );
                        let _ = err.flush();
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }))
        } else {
            None
        };
        Self { tx, task }
    }

    /// Whether the spinner is drawn at all.
    pub fn active(&self) -> bool {
        self.task.is_some()
    }

    /// A handle to update the status text from another task.
    pub fn sender(&self) -> watch::Sender<String> {
        self.tx.clone()
    }

    /// Stops the spinner and clears its line.
    pub fn stop(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.clear();
    }
}
