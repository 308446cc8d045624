//! `aegis ls|new|show|send|answer|approve|reject|watch|logs|screen|attach|kill|doctor|…`: the human
//! commands. Every one is a thin client of the gRPC API (see proto/aegis/v1/aegis.proto).
//!
//! Terminal conventions: results on stdout, diagnostics and errors on stderr (errors carry the server's
//! ErrorInfo reason), colour only when stdout is a terminal and `NO_COLOR` is unset, a spinner only when
//! stderr is a terminal. Exit codes: [`EXIT_OK`], [`EXIT_ERROR`], [`EXIT_USAGE`], [`EXIT_TIMEOUT`].
pub mod connect;
mod doctor;
pub mod render;
pub mod term;

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::sync::watch;

pub use connect::{connect, request, Client, ConnectOptions};

use crate::proto::v1::{
    self as pb, pending_interaction::Content, watch_events_response, watch_session_response, EntryKind, EventKind,
    InteractionKind, MessageKind, PendingInteraction, Session, SessionState,
};
use render::{state_name, status_text};
use term::{Spinner, Style};

/// Success.
pub const EXIT_OK: i32 = 0;
/// The server or the local system reported an error (message on stderr).
pub const EXIT_ERROR: i32 = 1;
/// Bad usage: bad flags, or an ambiguous/missing argument the user must give.
pub const EXIT_USAGE: i32 = 2;
/// A `--wait` ended because its timeout passed before the wanted state.
pub const EXIT_TIMEOUT: i32 = 3;

/// A usage error detected after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A wait that timed out (exit 3); the message says what the session is doing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WaitTimedOut(pub String);

/// Human commands. The owner flattens this into the top-level `aegis` command.
#[derive(Debug, clap::Subcommand)]
pub enum CliCommand {
    /// List sessions: id, name, state, pending interaction, work dir, age.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Start CC in DIR (optionally with a first prompt) and print the session id.
    New(Box<NewArgs>),
    /// Show one session: state, pending interactions, last messages.
    Show(ShowArgs),
    /// Send a prompt (or a slash command / bash line) to a session.
    Send(SendArgs),
    /// Answer a pending question (AskUserQuestion).
    Answer(AnswerArgs),
    /// Approve a pending permission, bash command, plan or workspace trust.
    Approve(ApproveArgs),
    /// Reject a pending permission, bash command, plan or workspace trust.
    Reject(RejectArgs),
    /// Print one line per event of a session (or of all sessions with --all).
    Watch(WatchArgs),
    /// Print a session's transcript (optionally following it).
    Logs(LogsArgs),
    /// Print the current screen (tmux pane) of a session.
    Screen(ScreenArgs),
    /// Attach your terminal to the session's tmux window (local server only).
    Attach(IdArg),
    /// Stop a session (CC is ended, its tmux window removed; the record stays readable).
    Kill(IdArg),
    /// Wait until a session is stable (or in given states); exit 3 on timeout.
    Wait(WaitArgs),
    /// Send Ctrl-C to a session (stop the running turn).
    Interrupt(IdArg),
    /// Send Esc to a session (interrupt a turn or close a dialog).
    Escape(IdArg),
    /// Check the local setup and the server: tmux, Claude Code, state dir, port, hooks.
    Doctor(DoctorArgs),
}

/// A session id (or name).
#[derive(Debug, clap::Args)]
pub struct IdArg {
    /// Session id or name.
    pub id: String,
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

impl WaitFlags {
    fn options(&self) -> Option<pb::WaitOptions> {
        (self.wait || !self.until.is_empty()).then(|| pb::WaitOptions {
            states: self.until.iter().map(|s| *s as i32).collect(),
            timeout: Some(prost_types::Duration { seconds: self.timeout as i64, nanos: 0 }),
        })
    }
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
    /// Print the session as JSON instead of its id.
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
    /// Session id or name.
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
    /// Session id or name.
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
}

/// Flags of `answer`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// Session id or name.
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
}

/// Flags of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// Session id or name.
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
}

/// Flags of `reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// Session id or name.
    pub id: String,
    /// Pending interaction id (default: the one pending permission/bash/plan/trust).
    pub interaction: Option<String>,
    /// Tell Claude what to do instead.
    #[arg(short, long)]
    pub feedback: Option<String>,
    #[command(flatten)]
    pub wait: WaitFlags,
}

/// Flags of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Session id or name (or --all).
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
    /// Session id or name.
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
    /// Session id or name.
    pub id: String,
    /// Keep colours (ANSI escapes).
    #[arg(long)]
    pub ansi: bool,
    /// Lines of scrollback to include.
    #[arg(long, default_value_t = 0)]
    pub scrollback: i32,
}

/// Flags of `wait`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Session id or name.
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
}

/// Flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
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

/// Runs one human command and returns the process exit code. Errors are printed to stderr here.
pub async fn run(cmd: CliCommand, conn: ConnectOptions) -> anyhow::Result<i32> {
    let result = dispatch(cmd, &conn).await;
    Ok(match result {
        Ok(code) => code,
        Err(e) => report_error(&e),
    })
}

/// Prints an error on stderr and returns its exit code.
pub fn report_error(e: &anyhow::Error) -> i32 {
    let mut stderr = std::io::stderr().lock();
    if let Some(u) = e.downcast_ref::<UsageError>() {
        let _ = writeln!(stderr, "aegis: {u}");
        return EXIT_USAGE;
    }
    if let Some(t) = e.downcast_ref::<WaitTimedOut>() {
        let _ = writeln!(stderr, "aegis: wait timed out: {t}");
        return EXIT_TIMEOUT;
    }
    if let Some(s) = e.downcast_ref::<tonic::Status>() {
        let ctx = e.chain().next().map(|c| c.to_string()).unwrap_or_default();
        let text = status_text(s);
        if ctx == s.to_string() {
            let _ = writeln!(stderr, "aegis: error: {text}");
        } else {
            let _ = writeln!(stderr, "aegis: error: {ctx}: {text}");
        }
        return EXIT_ERROR;
    }
    let _ = writeln!(stderr, "aegis: error: {e:#}");
    EXIT_ERROR
}

async fn dispatch(cmd: CliCommand, conn: &ConnectOptions) -> anyhow::Result<i32> {
    if let CliCommand::Doctor(args) = &cmd {
        return doctor::run(conn, args.json).await;
    }
    let mut client = connect(conn).await?;
    let t = conn.timeout;
    match cmd {
        CliCommand::Ls(a) => ls(&mut client, t, a).await,
        CliCommand::New(a) => new(&mut client, t, *a).await,
        CliCommand::Show(a) => show(&mut client, t, a).await,
        CliCommand::Send(a) => send(&mut client, t, a).await,
        CliCommand::Answer(a) => answer(&mut client, t, a).await,
        CliCommand::Approve(a) => approve(&mut client, t, a).await,
        CliCommand::Reject(a) => reject(&mut client, t, a).await,
        CliCommand::Watch(a) => watch_cmd(&mut client, a).await,
        CliCommand::Logs(a) => logs(&mut client, t, a).await,
        CliCommand::Screen(a) => screen(&mut client, t, a).await,
        CliCommand::Attach(a) => attach(&mut client, t, &a.id, conn).await,
        CliCommand::Kill(a) => kill(&mut client, t, &a.id).await,
        CliCommand::Wait(a) => wait_cmd(&mut client, t, a).await,
        CliCommand::Interrupt(a) => {
            let r = client
                .interrupt(request(pb::InterruptRequest { session_id: a.id, request_id: String::new() }, t))
                .await?
                .into_inner();
            print_key_result("interrupt", r.session.as_ref(), r.observed);
            Ok(EXIT_OK)
        }
        CliCommand::Escape(a) => {
            let r = client
                .escape(request(pb::EscapeRequest { session_id: a.id, request_id: String::new() }, t))
                .await?
                .into_inner();
            print_key_result("escape", r.session.as_ref(), r.observed);
            Ok(EXIT_OK)
        }
        CliCommand::Doctor(_) => unreachable!("handled above"),
    }
}

fn print_key_result(what: &str, s: Option<&Session>, observed: bool) {
    let state = s.map(|s| state_name(s.state)).unwrap_or_default();
    if observed {
        println!("{what}: done, session is {state}");
    } else {
        println!("{what}: sent, no state change observed (session is {state})");
    }
}

/// The deadline of a call that waits `wait` server-side.
fn wait_deadline(base: Duration, wait: Option<&pb::WaitOptions>) -> Duration {
    let w =
        wait.and_then(|w| w.timeout.as_ref()).map(|d| Duration::from_secs(d.seconds.max(0) as u64)).unwrap_or_default();
    base + w + Duration::from_secs(15)
}

/// Lists all pages.
pub async fn list_all(
    client: &mut Client,
    t: Duration,
    mut req: pb::ListSessionsRequest,
) -> anyhow::Result<Vec<Session>> {
    let mut out = Vec::new();
    loop {
        let resp = client.list_sessions(request(req.clone(), t)).await?.into_inner();
        out.extend(resp.sessions);
        if resp.next_page_token.is_empty() || resp.next_page_token == req.page_token {
            break;
        }
        req.page_token = resp.next_page_token;
    }
    Ok(out)
}

fn abs_dir(p: &Path) -> anyhow::Result<String> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) };
    // Canonicalise when it exists locally (the server may be remote: then keep the absolute path as given).
    Ok(std::fs::canonicalize(&abs).unwrap_or(abs).to_string_lossy().into_owned())
}

async fn ls(client: &mut Client, t: Duration, a: LsArgs) -> anyhow::Result<i32> {
    let req = pb::ListSessionsRequest {
        states: a.state.iter().map(|s| *s as i32).collect(),
        work_dir: a.work_dir.as_deref().map(abs_dir).transpose()?.unwrap_or_default(),
        labels: a.label.into_iter().collect(),
        page_size: 500,
        page_token: String::new(),
        include_exited: a.all,
    };
    let sessions = list_all(client, t, req).await?;
    if a.json {
        let v: Vec<_> = sessions.iter().map(render::session_json).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(EXIT_OK);
    }
    if sessions.is_empty() {
        eprintln!("no sessions");
        return Ok(EXIT_OK);
    }
    let now = SystemTime::now();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                if s.name.is_empty() { "-".into() } else { s.name.clone() },
                state_name(s.state),
                render::pending_summary(s),
                s.work_dir.clone(),
                render::age(s.create_time.as_ref(), now),
            ]
        })
        .collect();
    print!("{}", render::table(&["ID", "NAME", "STATE", "PENDING", "WORK DIR", "AGE"], &rows));
    Ok(EXIT_OK)
}

fn read_text_arg(text: String) -> anyhow::Result<String> {
    if text == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        Ok(s.trim_end_matches('\n').to_string())
    } else {
        Ok(text)
    }
}

/// Shows live state changes on a spinner while `fut` runs (only when stderr is a TTY). With no session id
/// (a create), the first session created after the call started is followed.
async fn with_spinner<F, T>(client: &Client, label: &str, session_id: Option<String>, fut: F) -> T
where
    F: std::future::Future<Output = T>,
{
    let spinner = Spinner::start(label);
    if !spinner.active() {
        return fut.await;
    }
    let tx = spinner.sender();
    let follower = tokio::spawn(follow_states(client.clone(), session_id, tx));
    let out = fut.await;
    follower.abort();
    spinner.stop();
    out
}

async fn follow_states(mut client: Client, session_id: Option<String>, tx: watch::Sender<String>) {
    let show = |state: i32, stable: bool| {
        let _ = tx.send(format!("{}{}", state_name(state), if stable { " (stable)" } else { "" }));
    };
    match session_id {
        Some(id) => {
            let req = pb::WatchSessionRequest { session_id: id, include_snapshot: true, ..Default::default() };
            let Ok(resp) = client.watch_session(req).await else {
                return;
            };
            let mut stream = resp.into_inner();
            while let Some(Ok(item)) = stream.next().await {
                match item.item {
                    Some(watch_session_response::Item::Snapshot(s)) => show(s.state, s.stable),
                    Some(watch_session_response::Item::Event(e)) => show(e.state, e.stable),
                    _ => {}
                }
            }
        }
        None => {
            let Ok(resp) = client.watch_events(pb::WatchEventsRequest::default()).await else {
                return;
            };
            let mut stream = resp.into_inner();
            let mut mine: Option<String> = None;
            while let Some(Ok(item)) = stream.next().await {
                let Some(watch_events_response::Item::Event(e)) = item.item else {
                    continue;
                };
                if mine.is_none() && e.kind == EventKind::Created as i32 {
                    mine = Some(e.session_id.clone());
                }
                if mine.as_deref() == Some(e.session_id.as_str()) {
                    show(e.state, e.stable);
                }
            }
        }
    }
}

fn check_wait(wait: Option<&pb::WaitResult>, session: Option<&Session>) -> anyhow::Result<()> {
    if let Some(w) = wait {
        if !w.satisfied {
            let state = session.map(|s| state_name(s.state)).unwrap_or_default();
            return Err(WaitTimedOut(format!("session is still {state}")).into());
        }
    }
    Ok(())
}

/// After a wait: state on stderr; the question/permission or the last assistant message on stdout.
fn print_after_wait(s: &Session) {
    eprintln!("{}: {}{}", render::short_id(&s.id), state_name(s.state), if s.stable { " (stable)" } else { "" });
    if !s.pending_interactions.is_empty() {
        for p in &s.pending_interactions {
            print!("{}", render::interaction_text(p));
        }
    } else if !s.error_message.is_empty() {
        println!("{}", s.error_message);
    } else if !s.last_assistant_message.is_empty() {
        println!("{}", s.last_assistant_message);
    }
}

async fn new(client: &mut Client, t: Duration, a: NewArgs) -> anyhow::Result<i32> {
    let wait = a.wait.options();
    let req = pb::CreateSessionRequest {
        work_dir: abs_dir(&a.dir)?,
        name: a.name.unwrap_or_default(),
        prompt: a.prompt.map(read_text_arg).transpose()?.unwrap_or_default(),
        permission_mode: a.permission_mode.unwrap_or_default(),
        model: a.model.unwrap_or_default(),
        env: a.env.into_iter().collect::<HashMap<_, _>>(),
        extra_args: a.extra_args,
        labels: a.label.into_iter().collect::<HashMap<_, _>>(),
        request_id: a.request_id.unwrap_or_default(),
        wait: wait.clone(),
        cols: a.cols.unwrap_or(0),
        rows: a.rows.unwrap_or(0),
        policy: Some(pb::InteractionPolicy {
            trust_work_dir: a.trust,
            approve_tools: a.approve_tools,
            accept_own_api_key: a.accept_own_api_key,
        }),
    };
    let deadline = wait_deadline(t, wait.as_ref());
    let mut rpc = client.clone();
    let call = rpc.create_session(request(req, deadline));
    let resp =
        if wait.is_some() { with_spinner(client, "starting", None, call).await } else { call.await }?.into_inner();
    let session = resp.session.context("server returned no session")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&render::session_json(&session))?);
    } else {
        println!("{}", session.id);
    }
    if wait.is_some() {
        check_wait(resp.wait_result.as_ref(), Some(&session))?;
        if !a.json {
            print_after_wait_stderr(&session);
        }
    }
    Ok(EXIT_OK)
}

/// For `new --wait`: stdout carries only the id, so everything else goes to stderr.
fn print_after_wait_stderr(s: &Session) {
    eprintln!("{}: {}{}", render::short_id(&s.id), state_name(s.state), if s.stable { " (stable)" } else { "" });
    for p in &s.pending_interactions {
        eprint!("{}", render::interaction_text(p));
    }
    if s.pending_interactions.is_empty() && !s.last_assistant_message.is_empty() {
        eprintln!("{}", s.last_assistant_message);
    }
}

async fn get_session(client: &mut Client, t: Duration, id: &str) -> anyhow::Result<Session> {
    client
        .get_session(request(pb::GetSessionRequest { session_id: id.to_string() }, t))
        .await?
        .into_inner()
        .session
        .context("server returned no session")
}

/// The last `n` entries of these kinds (reads the transcript by cursor from the start).
pub async fn last_entries(
    client: &mut Client,
    t: Duration,
    id: &str,
    kinds: &[EntryKind],
    n: usize,
) -> anyhow::Result<Vec<pb::TranscriptEntry>> {
    let mut last: VecDeque<pb::TranscriptEntry> = VecDeque::with_capacity(n + 1);
    let mut cursor = 0i64;
    loop {
        let resp = client
            .get_transcript(request(
                pb::GetTranscriptRequest {
                    session_id: id.to_string(),
                    cursor,
                    limit: 1000,
                    kinds: kinds.iter().map(|k| *k as i32).collect(),
                },
                t,
            ))
            .await?
            .into_inner();
        if resp.entries.is_empty() {
            break;
        }
        for e in resp.entries {
            last.push_back(e);
            if last.len() > n {
                last.pop_front();
            }
        }
        if resp.next_cursor <= cursor {
            break;
        }
        cursor = resp.next_cursor;
    }
    Ok(last.into())
}

async fn show(client: &mut Client, t: Duration, a: ShowArgs) -> anyhow::Result<i32> {
    let s = get_session(client, t, &a.id).await?;
    let kinds = [EntryKind::UserText, EntryKind::AssistantText, EntryKind::ToolUse];
    // The transcript may not exist yet (CC starting): show the session anyway.
    let entries = match last_entries(client, t, &s.id, &kinds, a.messages).await {
        Ok(e) => e,
        Err(e) => {
            if a.messages > 0 {
                eprintln!("aegis: transcript unavailable: {}", error_text(&e));
            }
            Vec::new()
        }
    };
    if a.json {
        let mut v = render::session_json(&s);
        v["last_messages"] = serde_json::Value::Array(entries.iter().map(render::entry_json).collect());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(EXIT_OK);
    }
    let style = Style { color: term::stdout_color() };
    print!("{}", session_text(&s, &style));
    if !s.pending_interactions.is_empty() {
        println!("\n{}", style.bold("Pending interactions:"));
        for p in &s.pending_interactions {
            print!("{}", render::interaction_text(p));
        }
    }
    if a.messages > 0 {
        println!("\n{}", style.bold("Last messages:"));
        if entries.is_empty() {
            println!("(none)");
        }
        for e in &entries {
            print!("{}", render::entry_text(e));
        }
    }
    Ok(EXIT_OK)
}

/// The header block of `show`.
pub fn session_text(s: &Session, style: &Style) -> String {
    let now = SystemTime::now();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{:<12}{v}\n", format!("{k}:")));
        }
    };
    kv("id", s.id.clone());
    kv("name", s.name.clone());
    let stable = if s.stable { "stable" } else { "not stable" };
    let ev = render::evidence_text(s.evidence.as_ref());
    let ev = if ev.is_empty() { String::new() } else { format!("  [{ev}]") };
    kv(
        "state",
        format!(
            "{} ({stable}, for {}, revision {}){ev}",
            style.state(s.state, &state_name(s.state)),
            render::age(s.state_since.as_ref(), now),
            s.revision
        ),
    );
    kv("work dir", s.work_dir.clone());
    kv(
        "created",
        format!("{} ({} ago)", render::rfc3339(s.create_time.as_ref()), render::age(s.create_time.as_ref(), now)),
    );
    let mut cc = vec![];
    if !s.cc_version.is_empty() {
        cc.push(format!("claude {}", s.cc_version));
    }
    if !s.model.is_empty() {
        cc.push(format!("model {}", s.model));
    }
    if !s.permission_mode.is_empty() {
        cc.push(format!("permission mode {}", s.permission_mode));
    }
    kv("cc", cc.join(", "));
    if !s.labels.is_empty() {
        let mut l: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort();
        kv("labels", l.join(" "));
    }
    kv("tmux pane", s.tmux_pane.clone());
    kv("transcript", s.transcript_path.clone());
    if let Some(st) = s.stall.as_ref().filter(|st| st.stalled) {
        kv("stalled", format!("no progress since {}", render::rfc3339(st.last_progress_time.as_ref())));
    }
    kv("error", s.error_message.clone());
    if let Some(x) = &s.exit {
        let status = x.exit_status.map(|c| format!(" (status {c})")).unwrap_or_default();
        kv("exited", format!("{}{status} at {}", x.reason, render::rfc3339(x.exit_time.as_ref())));
    }
    if !s.last_assistant_message.is_empty() {
        kv("last reply", render::truncate(&render::first_line(&s.last_assistant_message), 100));
    }
    out
}

fn error_text(e: &anyhow::Error) -> String {
    match e.downcast_ref::<tonic::Status>() {
        Some(s) => status_text(s),
        None => format!("{e:#}"),
    }
}

async fn send(client: &mut Client, t: Duration, a: SendArgs) -> anyhow::Result<i32> {
    let kind = if a.slash {
        MessageKind::SlashCommand
    } else if a.bash {
        MessageKind::Bash
    } else {
        MessageKind::Prompt
    };
    let text = read_text_arg(a.text)?;
    if text.is_empty() {
        return Err(UsageError("the text is empty".into()).into());
    }
    let wait = a.wait.options();
    let req = pb::SendMessageRequest {
        session_id: a.id.clone(),
        text,
        kind: kind as i32,
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.send_message(request(req, wait_deadline(t, wait.as_ref())));
    let resp =
        if wait.is_some() { with_spinner(client, "waiting", Some(a.id.clone()), call).await } else { call.await }?
            .into_inner();
    let s = resp.session.context("server returned no session")?;
    if wait.is_some() {
        check_wait(resp.wait_result.as_ref(), Some(&s))?;
        print_after_wait(&s);
    } else {
        let ev = render::evidence_text(resp.delivery_evidence.as_ref());
        eprintln!(
            "delivered to {} at revision {}{}",
            render::short_id(&s.id),
            resp.delivered_revision,
            if ev.is_empty() { String::new() } else { format!(" [{ev}]") }
        );
    }
    Ok(EXIT_OK)
}

/// Picks the interaction: the one given, or the only pending one of these kinds.
fn pick_interaction(
    s: &Session,
    given: Option<String>,
    kinds: &[InteractionKind],
    what: &str,
) -> anyhow::Result<PendingInteraction> {
    if let Some(id) = given {
        return Ok(s
            .pending_interactions
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .unwrap_or(PendingInteraction { id, ..Default::default() }));
    }
    let matching: Vec<&PendingInteraction> =
        s.pending_interactions.iter().filter(|p| kinds.iter().any(|k| *k as i32 == p.kind)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(anyhow::anyhow!("no {what} is pending in session {} (state {})", s.id, state_name(s.state))),
        many => Err(UsageError(format!(
            "{} {what}s are pending; give one of: {}",
            many.len(),
            many.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .into()),
    }
}

/// Splits `QUESTION=VALUE` when QUESTION names a question (text or header), else the first question.
fn split_question<'a>(arg: &'a str, questions: &[pb::Question]) -> (Option<usize>, &'a str) {
    if let Some((k, v)) = arg.split_once('=') {
        if let Some(i) = questions.iter().position(|q| q.question == k || (!q.header.is_empty() && q.header == k)) {
            return (Some(i), v);
        }
    }
    (None, arg)
}

/// Builds the answers of `answer` from --option / --text against the pending question (when known).
pub fn build_answers(
    questions: &[pb::Question],
    options: &[String],
    texts: &[String],
) -> anyhow::Result<Vec<pb::QuestionAnswer>> {
    let mut answers: Vec<pb::QuestionAnswer> = Vec::new();
    let key_of = |i: Option<usize>| -> String {
        let i = i.unwrap_or(0);
        questions.get(i).map(|q| q.question.clone()).unwrap_or_default()
    };
    let mut slot = |key: String| -> usize {
        match answers.iter().position(|a| a.question == key) {
            Some(i) => i,
            None => {
                answers.push(pb::QuestionAnswer { question: key, ..Default::default() });
                answers.len() - 1
            }
        }
    };
    let mut picks: Vec<(usize, String)> = Vec::new();
    for o in options {
        let (qi, label) = split_question(o, questions);
        let q = questions.get(qi.unwrap_or(0));
        // A number picks the option at that position unless a label is literally that number.
        let label = match (q, label.parse::<usize>()) {
            (Some(q), Ok(n)) if !q.options.iter().any(|op| op.label == label) => {
                match q.options.get(n.wrapping_sub(1)) {
                    Some(op) => op.label.clone(),
                    None => {
                        return Err(UsageError(format!(
                            "option {n} does not exist (the question has {} options)",
                            q.options.len()
                        ))
                        .into())
                    }
                }
            }
            _ => label.to_string(),
        };
        let i = slot(key_of(qi));
        picks.push((i, label));
    }
    let mut frees: Vec<(usize, String)> = Vec::new();
    for tx in texts {
        let (qi, text) = split_question(tx, questions);
        let i = slot(key_of(qi));
        frees.push((i, text.to_string()));
    }
    for (i, label) in picks {
        answers[i].selected_labels.push(label);
    }
    for (i, text) in frees {
        answers[i].free_text = text;
    }
    if answers.is_empty() {
        return Err(UsageError("give the answer with --option LABEL (or its number) or --text TEXT".into()).into());
    }
    Ok(answers)
}

fn print_answer_result(
    what: &str,
    id: &str,
    path: i32,
    s: Option<&Session>,
    wait: Option<&pb::WaitResult>,
) -> anyhow::Result<i32> {
    let via = match pb::AnswerPath::try_from(path).unwrap_or(pb::AnswerPath::Unspecified) {
        pb::AnswerPath::Hook => " via hook",
        pb::AnswerPath::Keys => " via keys",
        pb::AnswerPath::Unspecified => "",
    };
    eprintln!("{what} {id}{via}");
    if wait.is_some() {
        check_wait(wait, s)?;
        if let Some(s) = s {
            print_after_wait(s);
        }
    } else if let Some(s) = s {
        eprintln!("{}: {}", render::short_id(&s.id), state_name(s.state));
    }
    Ok(EXIT_OK)
}

async fn answer(client: &mut Client, t: Duration, a: AnswerArgs) -> anyhow::Result<i32> {
    let s = get_session(client, t, &a.id).await?;
    let p = pick_interaction(&s, a.interaction, &[InteractionKind::Question], "question")?;
    let questions = match &p.content {
        Some(Content::Question(q)) => q.questions.clone(),
        _ => Vec::new(),
    };
    let answers = build_answers(&questions, &a.options, &a.texts)?;
    let wait = a.wait.options();
    let req = pb::AnswerQuestionRequest {
        session_id: s.id.clone(),
        interaction_id: p.id.clone(),
        answers,
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.answer_question(request(req, wait_deadline(t, wait.as_ref())));
    let r = if wait.is_some() { with_spinner(client, "waiting", Some(s.id.clone()), call).await } else { call.await }?
        .into_inner();
    print_answer_result("answered", &p.id, r.path, r.session.as_ref(), r.wait_result.as_ref())
}

const APPROVABLE: [InteractionKind; 5] = [
    InteractionKind::Permission,
    InteractionKind::Bash,
    InteractionKind::Plan,
    InteractionKind::Trust,
    InteractionKind::ApiKey,
];

async fn approve(client: &mut Client, t: Duration, a: ApproveArgs) -> anyhow::Result<i32> {
    let s = get_session(client, t, &a.id).await?;
    let p = pick_interaction(&s, a.interaction, &APPROVABLE, "permission")?;
    let wait = a.wait.options();
    let req = pb::ApprovePermissionRequest {
        session_id: s.id.clone(),
        interaction_id: p.id.clone(),
        scope: if a.always { pb::ApprovalScope::Session } else { pb::ApprovalScope::Once } as i32,
        plan_mode: if a.auto { pb::PlanApprovalMode::Auto } else { pb::PlanApprovalMode::Manual } as i32,
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.approve_permission(request(req, wait_deadline(t, wait.as_ref())));
    let r = if wait.is_some() { with_spinner(client, "waiting", Some(s.id.clone()), call).await } else { call.await }?
        .into_inner();
    print_answer_result("approved", &p.id, r.path, r.session.as_ref(), r.wait_result.as_ref())
}

async fn reject(client: &mut Client, t: Duration, a: RejectArgs) -> anyhow::Result<i32> {
    let s = get_session(client, t, &a.id).await?;
    let p = pick_interaction(&s, a.interaction, &APPROVABLE, "permission")?;
    let wait = a.wait.options();
    let req = pb::RejectPermissionRequest {
        session_id: s.id.clone(),
        interaction_id: p.id.clone(),
        feedback: a.feedback.unwrap_or_default(),
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.reject_permission(request(req, wait_deadline(t, wait.as_ref())));
    let r = if wait.is_some() { with_spinner(client, "waiting", Some(s.id.clone()), call).await } else { call.await }?
        .into_inner();
    print_answer_result("rejected", &p.id, r.path, r.session.as_ref(), r.wait_result.as_ref())
}

fn print_event(style: &Style, e: &pb::SessionEvent, with_session: bool, json: bool) {
    if json {
        println!("{}", render::event_json(e));
        return;
    }
    let (prefix, kind, rest) = render::event_line(e, with_session);
    let rest = if e.kind == EventKind::StateChanged as i32 {
        // Colour only the new state name.
        let name = state_name(e.state);
        rest.replacen(&format!("-> {name}"), &format!("-> {}", style.state(e.state, &name)), 1)
    } else {
        rest
    };
    println!("{} {} {rest}", style.dim(&prefix), style.kind(&format!("{kind:<20}")));
}

async fn watch_cmd(client: &mut Client, a: WatchArgs) -> anyhow::Result<i32> {
    let style = Style { color: term::stdout_color() };
    if a.all {
        let req = pb::WatchEventsRequest { start_sequence: a.from.unwrap_or(0), ..Default::default() };
        let mut stream = client.watch_events(req).await?.into_inner();
        while let Some(item) = stream.next().await {
            if let Some(watch_events_response::Item::Event(e)) = item?.item {
                print_event(&style, &e, true, a.json);
            }
        }
        return Ok(EXIT_OK);
    }
    let id = a.id.unwrap_or_default();
    let req = pb::WatchSessionRequest {
        session_id: id,
        start_revision: a.from.unwrap_or(0),
        include_snapshot: true,
        until_states: a.until.iter().map(|s| *s as i32).collect(),
        heartbeat_interval: None,
    };
    let mut stream = client.watch_session(req).await?.into_inner();
    while let Some(item) = stream.next().await {
        match item?.item {
            Some(watch_session_response::Item::Snapshot(s)) => {
                if a.json {
                    println!("{}", serde_json::json!({"snapshot": render::session_json(&s)}));
                } else {
                    println!(
                        "{} {} {} {}",
                        style.dim(&format!(
                            "{} {:<5}",
                            render::clock(s.update_time.as_ref()),
                            format!("#{}", s.revision)
                        )),
                        style.kind(&format!("{:<20}", "SNAPSHOT")),
                        style.state(s.state, &state_name(s.state)),
                        render::pending_summary(&s)
                    );
                }
            }
            Some(watch_session_response::Item::Event(e)) => print_event(&style, &e, false, a.json),
            _ => {}
        }
        let _ = std::io::stdout().flush();
    }
    Ok(EXIT_OK)
}

async fn logs(client: &mut Client, t: Duration, a: LogsArgs) -> anyhow::Result<i32> {
    let session = get_session(client, t, &a.id).await?;
    let id = session.id.clone();
    let kinds: Vec<i32> = a.kind.iter().map(|k| *k as i32).collect();
    let mut cursor = a.from;
    let fetch = |mut client: Client, mut cursor_in: i64| {
        let id = id.clone();
        let kinds = kinds.clone();
        let json = a.json;
        async move {
            loop {
                let resp = client
                    .get_transcript(request(
                        pb::GetTranscriptRequest {
                            session_id: id.clone(),
                            cursor: cursor_in,
                            limit: 1000,
                            kinds: kinds.clone(),
                        },
                        t,
                    ))
                    .await?
                    .into_inner();
                let n = resp.entries.len();
                let mut out = std::io::stdout().lock();
                for e in &resp.entries {
                    if json {
                        writeln!(out, "{}", render::entry_json(e))?;
                    } else {
                        write!(out, "{}", render::entry_text(e))?;
                    }
                }
                out.flush()?;
                let advanced = resp.next_cursor > cursor_in;
                if advanced {
                    cursor_in = resp.next_cursor;
                }
                if n == 0 || !advanced {
                    return anyhow::Ok(cursor_in);
                }
            }
        }
    };
    if !a.follow {
        fetch(client.clone(), cursor).await?;
        return Ok(EXIT_OK);
    }
    // Follow: re-read by cursor whenever the session changes (WatchSession), and at least every second.
    let req = pb::WatchSessionRequest {
        session_id: id.clone(),
        include_snapshot: true,
        heartbeat_interval: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let mut stream = client.watch_session(req).await.ok().map(|r| r.into_inner());
    let mut exited = session.state == SessionState::Exited as i32;
    loop {
        cursor = match fetch(client.clone(), cursor).await {
            Ok(c) => c,
            // The transcript file may not exist yet right after creation.
            Err(e) if !exited && is_not_found(&e) => cursor,
            Err(e) => return Err(e),
        };
        if exited {
            return Ok(EXIT_OK);
        }
        let next = match stream.as_mut() {
            Some(s) => tokio::time::timeout(Duration::from_secs(2), s.next()).await.ok(),
            None => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        };
        match next {
            Some(Some(Ok(item))) => {
                let state = match item.item {
                    Some(watch_session_response::Item::Snapshot(s)) => Some(s.state),
                    Some(watch_session_response::Item::Event(e)) => Some(e.state),
                    _ => None,
                };
                if state == Some(SessionState::Exited as i32) {
                    // One last read after the exit, then stop.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    exited = true;
                }
            }
            Some(None) | Some(Some(Err(_))) => stream = None,
            None => {}
        }
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    // NOT_FOUND for the transcript, not for the session itself.
    match e.downcast_ref::<tonic::Status>() {
        Some(s) => {
            s.code() == tonic::Code::NotFound && render::status_reason(s).as_deref() != Some("SESSION_NOT_FOUND")
        }
        None => false,
    }
}

async fn screen(client: &mut Client, t: Duration, a: ScreenArgs) -> anyhow::Result<i32> {
    let r = client
        .capture_screen(request(
            pb::CaptureScreenRequest { session_id: a.id, ansi: a.ansi, scrollback_lines: a.scrollback },
            t,
        ))
        .await?
        .into_inner();
    let mut out = std::io::stdout().lock();
    out.write_all(r.text.as_bytes())?;
    if !r.text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(EXIT_OK)
}

async fn kill(client: &mut Client, t: Duration, id: &str) -> anyhow::Result<i32> {
    let r = client
        .delete_session(request(pb::DeleteSessionRequest { session_id: id.to_string(), request_id: String::new() }, t))
        .await?
        .into_inner();
    let s = r.session.context("server returned no session")?;
    println!("killed {} ({})", s.id, state_name(s.state));
    Ok(EXIT_OK)
}

async fn wait_cmd(client: &mut Client, t: Duration, a: WaitArgs) -> anyhow::Result<i32> {
    let wanted = |s: &Session| {
        if a.until.is_empty() {
            s.stable
        } else {
            a.until.iter().any(|w| *w as i32 == s.state)
        }
    };
    if a.now {
        let s = get_session(client, t, &a.id).await?;
        if wanted(&s) {
            print_after_wait(&s);
            return Ok(EXIT_OK);
        }
    }
    let wait = pb::WaitOptions {
        states: a.until.iter().map(|s| *s as i32).collect(),
        timeout: Some(prost_types::Duration { seconds: a.timeout as i64, nanos: 0 }),
    };
    let deadline = wait_deadline(t, Some(&wait));
    let req =
        pb::WaitSessionRequest { session_id: a.id.clone(), after_revision: a.after.unwrap_or(0), wait: Some(wait) };
    let mut rpc = client.clone();
    let call = rpc.wait_session(request(req, deadline));
    let r = with_spinner(client, "waiting", Some(a.id.clone()), call).await?.into_inner();
    check_wait(r.wait_result.as_ref(), r.session.as_ref())?;
    if let Some(s) = &r.session {
        print_after_wait(s);
    }
    Ok(EXIT_OK)
}

async fn attach(client: &mut Client, t: Duration, id: &str, conn: &ConnectOptions) -> anyhow::Result<i32> {
    let info = client.get_server_info(request(pb::GetServerInfoRequest {}, t)).await?.into_inner();
    let s = get_session(client, t, id).await?;
    if s.state == SessionState::Exited as i32 {
        anyhow::bail!("session {} has exited; nothing to attach to", s.id);
    }
    if s.tmux_pane.is_empty() || info.tmux_socket.is_empty() {
        anyhow::bail!("the server did not report the session's tmux pane/socket");
    }
    if !doctor::is_local_address(&conn.address) {
        eprintln!("aegis: warning: the server at {} may be remote; attach only works on its machine", conn.address);
    }
    let tmux = |args: &[&str]| {
        let mut c = std::process::Command::new("tmux");
        c.arg("-L").arg(&info.tmux_socket).args(args);
        c
    };
    // The pane's window, as `session:@window`, so the right window is selected.
    let target = tmux(&["display-message", "-p", "-t", &s.tmux_pane, "#{session_name}:#{window_id}"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| s.tmux_pane.clone());
    eprintln!("attaching to {} (tmux -L {} attach -t {target}); detach with Ctrl-b d", s.id, info.tmux_socket);
    let mut cmd = tmux(&["attach-session", "-t", &target]);
    // Inside tmux, attaching to another server would be refused; nesting is what the user asked for.
    cmd.env_remove("TMUX");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let err = cmd.exec();
        Err(anyhow::anyhow!("cannot run tmux: {err}"))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().context("cannot run tmux")?;
        Ok(status.code().unwrap_or(EXIT_ERROR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, header: &str, labels: &[&str]) -> pb::Question {
        pb::Question {
            header: header.into(),
            question: text.into(),
            options: labels
                .iter()
                .map(|l| pb::ChoiceOption { label: l.to_string(), description: String::new() })
                .collect(),
            multi_select: false,
        }
    }

    #[test]
    fn interaction_defaulting() {
        let pi = |id: &str, kind: InteractionKind| PendingInteraction {
            id: id.into(),
            kind: kind as i32,
            ..Default::default()
        };
        let mut s = Session { pending_interactions: vec![pi("q1", InteractionKind::Question)], ..Default::default() };
        assert_eq!(pick_interaction(&s, None, &[InteractionKind::Question], "question").unwrap().id, "q1");
        assert!(pick_interaction(&s, None, &APPROVABLE, "permission").is_err());
        s.pending_interactions.push(pi("b1", InteractionKind::Bash));
        s.pending_interactions.push(pi("b2", InteractionKind::Bash));
        let e = pick_interaction(&s, None, &APPROVABLE, "permission").unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some_and(|u| u.0.contains("b1, b2")), "{e}");
        assert_eq!(pick_interaction(&s, Some("b2".into()), &APPROVABLE, "permission").unwrap().id, "b2");
    }

    #[test]
    fn answers_from_flags() {
        let qs = vec![q("Which colour?", "Colour", &["Red", "Blue"]), q("Size?", "Size", &["S", "M", "3"])];
        let a = build_answers(&qs, &["2".into(), "Size=3".into()], &[]).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].question, "Which colour?");
        assert_eq!(a[0].selected_labels, vec!["Blue"]);
        assert_eq!(a[1].question, "Size?");
        assert_eq!(a[1].selected_labels, vec!["3"]);
        let a = build_answers(&qs, &[], &["Colour=green please".into()]).unwrap();
        assert_eq!(a[0].free_text, "green please");
        assert!(build_answers(&qs, &[], &[]).unwrap_err().downcast_ref::<UsageError>().is_some());
        assert!(build_answers(&qs, &["7".into()], &[]).is_err());
        // Unknown question content (interaction given explicitly, not pending): labels pass through.
        let a = build_answers(&[], &["a=b".into()], &[]).unwrap();
        assert_eq!(a[0].selected_labels, vec!["a=b"]);
    }
}
