//! The `aegis` binary: `serve` runs the service; the human commands and `mcp` are gRPC clients of it;
//! `fake-api` runs the scripted fake Anthropic API.
use aegis::server::{serve, ServeConfig};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "aegis", version, about = "Run and steer interactive Claude Code sessions over gRPC")]
struct Cli {
    /// Aegis server address (client commands and `mcp`).
    #[arg(long, global = true, env = "AEGIS_ADDRESS", default_value = "http://127.0.0.1:50051")]
    address: String,
    /// Bearer token: required by `serve` on non-loopback addresses, sent by the client commands.
    /// Prefer --token-file: a flag's value shows in `ps` to every local user.
    #[arg(long, global = true, env = "AEGIS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (the preferred way): owned by you, mode 0600 or 0400; one
    /// trailing newline is removed.
    #[arg(long, global = true, env = "AEGIS_TOKEN_FILE", value_name = "PATH")]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service.
    Serve(ServeArgs),
    #[command(flatten)]
    Human(aegis::cli::CliCommand),
    /// Serve the Aegis tools over MCP on stdio (for agents; see README).
    Mcp,
    /// Log the sessions' CC config dir in: runs CC's own /login in this terminal with that dir.
    Login(aegis::login::LoginArgs),
    /// Run the scripted fake Anthropic Messages API (test orchestrations offline; see docs/fake-api.md).
    FakeApi {
        /// Address to listen on (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// JSON script of rules (the built-in vocabulary applies after them).
        #[arg(long)]
        script: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// gRPC listen address. Loopback by default; any other address requires a token (--token-file).
    #[arg(long, env = "AEGIS_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// State directory (SQLite store). Default: $XDG_STATE_HOME/aegis or ~/.local/state/aegis.
    #[arg(long, env = "AEGIS_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// tmux socket name (tmux -L). Fixed so sessions outlive the server and are re-adopted.
    #[arg(long, env = "AEGIS_TMUX_SOCKET", default_value = "aegis")]
    tmux_socket: String,
    /// tmux binary.
    #[arg(long, env = "AEGIS_TMUX_BIN", default_value = "tmux")]
    tmux_bin: PathBuf,
    /// Claude Code binary.
    #[arg(long, env = "AEGIS_CLAUDE_BIN", default_value = "claude")]
    claude_bin: PathBuf,
    /// CC config dir passed to CC as CLAUDE_CONFIG_DIR. Default: CC's own ($CLAUDE_CONFIG_DIR or ~/.claude).
    #[arg(long, env = "AEGIS_CLAUDE_CONFIG_DIR")]
    claude_config_dir: Option<PathBuf>,
    /// Working with no progress for this many seconds marks a session stalled.
    #[arg(long, env = "AEGIS_STALL_SECS", default_value_t = 300)]
    stall_secs: u64,
    /// Events kept per session (older ones are compacted; resuming before them is REVISION_COMPACTED).
    #[arg(long, env = "AEGIS_RETAIN_EVENTS", default_value_t = 10_000)]
    retain_events: i64,
    /// Watch streams end with OK after this many seconds (clients resume).
    #[arg(long, env = "AEGIS_WATCH_LIFETIME_SECS", default_value_t = 1800)]
    watch_lifetime_secs: u64,
    /// A watcher that takes no item for this many milliseconds is cut with WATCH_LAGGED.
    #[arg(long, env = "AEGIS_WATCH_SEND_TIMEOUT_MS", default_value_t = 10_000)]
    watch_send_timeout_ms: u64,
    /// Items queued per watch stream beyond what the transport holds.
    #[arg(long, env = "AEGIS_WATCH_BUFFER", default_value_t = 256)]
    watch_buffer: usize,
    /// Start CC without Aegis's hooks: state from the screen, the status file and the transcript only
    /// (as when managed settings block injected hooks). Every dialog is still detected and answered by keys.
    #[arg(long, env = "AEGIS_NO_HOOKS")]
    no_hooks: bool,
    /// Live sessions at most; CreateSession beyond is RESOURCE_EXHAUSTED (TOO_MANY_SESSIONS).
    #[arg(long, env = "AEGIS_MAX_SESSIONS", default_value_t = aegis::api::service::Caps::DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,
    /// Concurrent watch streams at most; beyond is RESOURCE_EXHAUSTED (TOO_MANY_WATCHERS).
    #[arg(long, env = "AEGIS_MAX_WATCHERS", default_value_t = aegis::api::service::Caps::DEFAULT_MAX_WATCHERS)]
    max_watchers: usize,
    /// Demo: sessions use the built-in scripted model on loopback and a private, pre-seeded CC config
    /// dir in the state dir (no Claude account; work dirs trusted). Without it: your CC login.
    #[arg(long, env = "AEGIS_DEMO", conflicts_with = "claude_config_dir")]
    demo: bool,
}

/// Resolves on Ctrl-C or SIGTERM.
async fn termination() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Client commands log only warnings by default; the server logs info. All logs go to stderr (MCP
    // owns stdout).
    let default_level = if std::env::args().nth(1).as_deref() == Some("serve") { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG").unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let token = match cli.command {
        Command::FakeApi { .. } | Command::Login(_) => None,
        _ => aegis::server::resolve_token(cli.token, cli.token_file.as_deref())?,
    };
    let conn =
        aegis::cli::ConnectOptions { address: cli.address, token: token.clone(), timeout: Duration::from_secs(30) };
    match cli.command {
        Command::Human(cmd) => std::process::exit(aegis::cli::run(cmd, conn).await?),
        Command::Mcp => aegis::mcp::serve_stdio(conn).await,
        Command::Login(a) => std::process::exit(aegis::login::run(&a)?),
        Command::Serve(a) => {
            let cfg = ServeConfig {
                listen: a.listen,
                state_dir: a.state_dir.unwrap_or_else(aegis::server::default_state_dir),
                tmux_bin: a.tmux_bin,
                tmux_socket: a.tmux_socket,
                claude_bin: a.claude_bin,
                claude_config_dir: a.claude_config_dir,
                token,
                stall_threshold: Duration::from_secs(a.stall_secs),
                retain_events: a.retain_events.max(1),
                hooks: !a.no_hooks,
                watch: aegis::api::streams::WatchLimits {
                    lifetime: Duration::from_secs(a.watch_lifetime_secs),
                    send_timeout: Duration::from_millis(a.watch_send_timeout_ms),
                    buffer: a.watch_buffer,
                },
                max_sessions: a.max_sessions,
                max_watchers: a.max_watchers,
                demo: a.demo,
            };
            serve(cfg, termination()).await
        }
        Command::FakeApi { listen, script } => {
            let script = match script {
                Some(p) => aegis::fakeapi::Script::from_json(&std::fs::read_to_string(p)?)?,
                None => aegis::fakeapi::Script::builtin(),
            };
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let addr = listener.local_addr()?;
            let api = aegis::fakeapi::FakeApi::start_on(listener, script).await?;
            println!("listening {addr}");
            termination().await;
            api.shutdown().await;
            Ok(())
        }
    }
}
