//! `aegis ls|new|show|send|answer|approve|reject|watch|logs|screen|attach|kill|doctor|…`: the human
//! commands. Every one is a thin client of the gRPC API (see proto/aegis/v1/aegis.proto). This file holds
//! the clap definitions and the dispatch; each command is one file under `commands/`.
//!
//! Terminal conventions: results on stdout, diagnostics and errors on stderr (errors carry the server's
//! ErrorInfo reason; with `--json` one JSON object), colour only when stdout is a terminal and `NO_COLOR` is
//! unset, a spinner only when stderr is a terminal. Exit codes: [`exit`]. Sessions are named by id, name
//! or unique id prefix: [`resolve`].
mod commands;
pub mod connect;
mod doctor;
pub mod exit;
mod out;
pub mod render;
pub mod resolve;
pub mod sanitize;
pub mod term;
mod waiting;

use std::path::PathBuf;

use out::errln;

pub use commands::show::{last_entries, session_text};
pub use connect::{connect, request, Client, ConnectOptions};
pub use exit::{CliError, EXIT_CODES_HELP, EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE};
pub use resolve::list_all;

use crate::proto::v1::{self as pb, EntryKind, SessionState};

/// Human commands. The owner flattens this into the top-level `aegis` command.
#[derive(Debug, clap::Subcommand)]
pub enum CliCommand {
    /// List sessions: id, name, state, pending interaction, work dir, age.
    #[command(alias = "list")]
    #[command(after_help = EXIT_CODES_HELP)]
    Ls(LsArgs),
    /// Start CC in DIR (optionally with a first prompt) and print the session id.
    #[command(after_help = EXIT_CODES_HELP)]
    New(Box<NewArgs>),
    /// Show one session: state, pending interactions, last messages.
    #[command(after_help = EXIT_CODES_HELP)]
    Show(ShowArgs),
    /// Send a prompt (or a slash command / bash line) to a session.
    #[command(after_help = EXIT_CODES_HELP)]
    Send(SendArgs),
    /// Answer a pending question (AskUserQuestion).
    #[command(after_help = EXIT_CODES_HELP)]
    Answer(AnswerArgs),
    /// Approve a pending permission, bash command, plan or workspace trust.
    #[command(after_help = EXIT_CODES_HELP)]
    Approve(ApproveArgs),
    /// Reject a pending permission, bash command, plan or workspace trust.
    #[command(after_help = EXIT_CODES_HELP)]
    Reject(RejectArgs),
    /// Print one line per event of a session (or of all sessions with --all).
    #[command(after_help = EXIT_CODES_HELP)]
    Watch(WatchArgs),
    /// Print a session's transcript (optionally following it).
    #[command(after_help = EXIT_CODES_HELP)]
    Logs(LogsArgs),
    /// Print the current screen (tmux pane) of a session.
    #[command(after_help = EXIT_CODES_HELP)]
    Screen(ScreenArgs),
    /// Attach your terminal to the session's tmux window (local server only).
    #[command(after_help = EXIT_CODES_HELP)]
    Attach(IdArg),
    /// Stop a session (CC is ended, its tmux window removed; the record stays readable).
    #[command(after_help = EXIT_CODES_HELP)]
    Kill(IdArg),
    /// Wait until a session is stable (or in given states); exit 3 on timeout, 5/6 if it ended EXITED/ERROR.
    #[command(after_help = EXIT_CODES_HELP)]
    Wait(WaitArgs),
    /// Send Ctrl-C to a session (stop the running turn).
    #[command(after_help = EXIT_CODES_HELP)]
    Interrupt(IdArg),
    /// Send Esc to a session (interrupt a turn or close a dialog).
    #[command(after_help = EXIT_CODES_HELP)]
    Escape(IdArg),
    /// Check the local setup and the server: tmux, Claude Code, state dir, port, hooks.
    #[command(after_help = EXIT_CODES_HELP)]
    Doctor(DoctorArgs),
}

/// A session id (or prefix, or name).
#[derive(Debug, clap::Args)]
pub struct IdArg {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Print the result as JSON (attach: print where to attach, as JSON, and do not attach).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Print JSON (an array of sessions) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Include exited sessions.
    #[arg(short, long)]
    pub all: bool,
    /// Only sessions in this state (repeatable), e.g. idle, ask_question.
    #[arg(long, value_parser = parse_state_arg)]
    pub state: Vec<SessionState>,
    /// Only sessions in this work directory.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Only sessions with this label (KEY=VALUE, repeatable).
    #[arg(long, value_parser = parse_kv)]
    pub label: Vec<(String, String)>,
}

/// Wait flags shared by the mutating commands.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitFlags {
    /// Wait until CC is stable again (a state reached because of this command) and print it.
    #[arg(short, long)]
    pub wait: bool,
    /// Longest wait in seconds (the server caps it at 600). Exit code 3 when it passes.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// End the wait only in these states (repeatable; implies --wait). Default: any stable state.
    #[arg(long, value_name = "STATE", value_parser = parse_state_arg)]
    pub until: Vec<SessionState>,
}

/// Flags of `new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Work directory (must exist; made absolute).
    pub dir: PathBuf,
    /// First prompt (use "-" to read it from stdin).
    pub prompt: Option<String>,
    /// Session name (1-64 chars of [A-Za-z0-9._-]).
    #[arg(short, long)]
    pub name: Option<String>,
    /// CC permission mode: default, acceptEdits, plan, auto, dontAsk, bypassPermissions.
    #[arg(long)]
    pub permission_mode: Option<String>,
    /// CC model alias or name.
    #[arg(long)]
    pub model: Option<String>,
    /// Label KEY=VALUE (repeatable).
    #[arg(long, value_parser = parse_kv)]
    pub label: Vec<(String, String)>,
    /// Extra environment for CC, NAME=VALUE (repeatable).
    #[arg(long, value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Idempotency key: a retry with the same key returns the first session.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Print the response as JSON (session, wait_result) instead of the id.
    #[arg(long)]
    pub json: bool,
    /// Pane columns (40-500).
    #[arg(long)]
    pub cols: Option<u32>,
    /// Pane rows (10-200).
    #[arg(long)]
    pub rows: Option<u32>,
    /// Auto-answer policy: accept CC's workspace-trust dialog for DIR.
    #[arg(long)]
    pub trust: bool,
    /// Auto-answer policy: approve permission requests of this tool once, automatically (repeatable).
    #[arg(long = "approve-tool", value_name = "TOOL")]
    pub approve_tools: Vec<String>,
    /// Auto-answer policy: accept CC's "use this API key?" dialog when it shows the session's own key.
    #[arg(long)]
    pub accept_own_api_key: bool,
    #[command(flatten)]
    pub wait: WaitFlags,
    /// Extra CC arguments, after `--`.
    #[arg(last = true)]
    pub extra_args: Vec<String>,
}

/// Flags of `show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// How many of the last transcript messages to show.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub messages: usize,
    /// Print the session as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// The text: a prompt (multi-line is one turn), or with --slash / --bash a single line. "-" reads stdin.
    pub text: String,
    /// The text is a slash command (e.g. "/compact").
    #[arg(long, conflicts_with = "bash")]
    pub slash: bool,
    /// The text is a shell line run through CC's "!" mode.
    #[arg(long)]
    pub bash: bool,
    #[command(flatten)]
    pub wait: WaitFlags,
    /// Print the response as JSON: session, delivered_revision, delivery_evidence, wait_result.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `answer`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Pending interaction id (default: the one pending question).
    pub interaction: Option<String>,
    /// A chosen option: its label or its number; prefix "QUESTION=" (text or header) for other than
    /// the first question. Repeat for multi-select and for several questions.
    #[arg(short, long = "option", value_name = "[QUESTION=]LABEL")]
    pub options: Vec<String>,
    /// Free text instead of an option; "QUESTION=" prefix as for --option.
    #[arg(short, long = "text", value_name = "[QUESTION=]TEXT")]
    pub texts: Vec<String>,
    #[command(flatten)]
    pub wait: WaitFlags,
    /// Print the response as JSON: session, interaction_id, path, wait_result.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Pending interaction id (default: the one pending permission/bash/plan/trust).
    pub interaction: Option<String>,
    /// "Yes, and don't ask again" for this session, when CC offers it.
    #[arg(long)]
    pub always: bool,
    /// For a plan: continue in auto mode instead of approving edits manually.
    #[arg(long)]
    pub auto: bool,
    #[command(flatten)]
    pub wait: WaitFlags,
    /// Print the response as JSON: session, interaction_id, path, wait_result.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Pending interaction id (default: the one pending permission/bash/plan/trust).
    pub interaction: Option<String>,
    /// Tell Claude what to do instead.
    #[arg(short, long)]
    pub feedback: Option<String>,
    #[command(flatten)]
    pub wait: WaitFlags,
    /// Print the response as JSON: session, interaction_id, path, wait_result.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Session: id, unique id prefix or name (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Watch the events of all sessions.
    #[arg(long)]
    pub all: bool,
    /// Start at this revision (one session) or global sequence (--all), inclusive; default: new events.
    #[arg(long, value_name = "N")]
    pub from: Option<i64>,
    /// Stop once the session is in one of these states (one session only; repeatable).
    #[arg(long, value_name = "STATE", value_parser = parse_state_arg, conflicts_with = "all")]
    pub until: Vec<SessionState>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Keep printing new entries until the session exits (or Ctrl-C).
    #[arg(short, long)]
    pub follow: bool,
    /// Start at this entry index (see --json output).
    #[arg(long, default_value_t = 0)]
    pub from: i64,
    /// Only these entry kinds (repeatable): user_text, assistant_text, thinking, tool_use, tool_result, system.
    #[arg(long, value_parser = parse_entry_kind_arg)]
    pub kind: Vec<EntryKind>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `screen`.
#[derive(Debug, clap::Args)]
pub struct ScreenArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Keep colours (ANSI escapes).
    #[arg(long)]
    pub ansi: bool,
    /// Lines of scrollback to include.
    #[arg(long, default_value_t = 0)]
    pub scrollback: i32,
    /// Print the capture as JSON: session_id, text, cols, rows, capture_time.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `wait`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Session: id, unique id prefix (4+ characters) or name.
    pub id: String,
    /// Longest wait in seconds (the server caps it at 600).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// Wanted states (repeatable). Default: any stable state.
    #[arg(long, value_name = "STATE", value_parser = parse_state_arg)]
    pub until: Vec<SessionState>,
    /// Only states entered after this revision count (default: the current one, i.e. wait for a change).
    #[arg(long)]
    pub after: Option<i64>,
    /// Return at once when the session is already stable (or in a wanted state).
    #[arg(long)]
    pub now: bool,
    /// Print the response as JSON: session, wait_result.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

impl WaitFlags {
    fn options(&self) -> Option<pb::WaitOptions> {
        (self.wait || !self.until.is_empty()).then(|| pb::WaitOptions {
            states: self.until.iter().map(|s| *s as i32).collect(),
            timeout: Some(prost_types::Duration { seconds: self.timeout as i64, nanos: 0 }),
        })
    }
}

fn parse_state_arg(s: &str) -> Result<SessionState, String> {
    render::parse_state(s).ok_or_else(|| {
        format!("unknown state {s:?} (e.g. idle, working, ask_question, permission_prompt, bash_approval, exited)")
    })
}

fn parse_entry_kind_arg(s: &str) -> Result<EntryKind, String> {
    render::parse_entry_kind(s).ok_or_else(|| {
        format!("unknown entry kind {s:?} (user_text, assistant_text, thinking, tool_use, tool_result, system)")
    })
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl CliCommand {
    /// Whether `--json` was given (errors are then reported as JSON too).
    fn json(&self) -> bool {
        match self {
            CliCommand::Ls(a) => a.json,
            CliCommand::New(a) => a.json,
            CliCommand::Show(a) => a.json,
            CliCommand::Send(a) => a.json,
            CliCommand::Answer(a) => a.json,
            CliCommand::Approve(a) => a.json,
            CliCommand::Reject(a) => a.json,
            CliCommand::Watch(a) => a.json,
            CliCommand::Logs(a) => a.json,
            CliCommand::Screen(a) => a.json,
            CliCommand::Wait(a) => a.json,
            CliCommand::Doctor(a) => a.json,
            CliCommand::Attach(a) | CliCommand::Kill(a) | CliCommand::Interrupt(a) | CliCommand::Escape(a) => a.json,
        }
    }
}

/// Runs one human command and returns the process exit code. Errors are printed to stderr here, as text
/// or (with `--json`) as one JSON object.
pub async fn run(cmd: CliCommand, conn: ConnectOptions) -> anyhow::Result<i32> {
    let json = cmd.json();
    // The last flush is where a closed stdout shows up when the output ended without a newline.
    let result = dispatch(cmd, &conn).await.and_then(|code| Ok(out::flush().map(|_| code)?));
    Ok(match result {
        Ok(code) => code,
        Err(e) => exit::report(&e, json),
    })
}

/// Prints a clap error (as JSON when `--json` is among the arguments) and exits; help and version
/// requests print normally.
pub fn exit_on_parse_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let wants_json = std::env::args_os().any(|a| a == "--json");
    if !wants_json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !e.use_stderr() {
        e.exit()
    }
    let text = e.render().to_string();
    let message = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
    let r = exit::classify(&CliError::usage(message).with("clap_kind", format!("{:?}", e.kind())).into());
    errln!("{}", exit::report_json(&r));
    std::process::exit(exit::EXIT_USAGE)
}

async fn dispatch(cmd: CliCommand, conn: &ConnectOptions) -> anyhow::Result<i32> {
    use commands::*;
    if let CliCommand::Doctor(args) = &cmd {
        return doctor::run(conn, args.json).await;
    }
    let mut client = connect(conn).await?;
    let c = &mut client;
    let t = conn.timeout;
    match cmd {
        CliCommand::Ls(a) => ls::run(c, t, a).await,
        CliCommand::New(a) => new::run(c, t, *a).await,
        CliCommand::Show(a) => show::run(c, t, a).await,
        CliCommand::Send(a) => send::run(c, t, a).await,
        CliCommand::Answer(a) => answer::run(c, t, a).await,
        CliCommand::Approve(a) => approve::run(c, t, a).await,
        CliCommand::Reject(a) => reject::run(c, t, a).await,
        CliCommand::Watch(a) => watch::run(c, t, a).await,
        CliCommand::Logs(a) => logs::run(c, t, a).await,
        CliCommand::Screen(a) => screen::run(c, t, a).await,
        CliCommand::Attach(a) => attach::run(c, t, a, conn).await,
        CliCommand::Kill(a) => kill::run(c, t, a).await,
        CliCommand::Wait(a) => wait::run(c, t, a).await,
        CliCommand::Interrupt(a) => keys::run(c, t, a, keys::Key::Interrupt).await,
        CliCommand::Escape(a) => keys::run(c, t, a, keys::Key::Escape).await,
        CliCommand::Doctor(_) => unreachable!("handled above"),
    }
}
