//! The `aegis` binary: `serve` runs the service; the human commands and `mcp` are gRPC clients of it;
//! `fake-api` runs the scripted fake Anthropic API.
use aegis::server::{serve, ServeConfig};
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
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
    /// Log format on stderr: text (no colours unless stderr is a terminal) or json (one object a line).
    #[arg(long, global = true, env = "AEGIS_LOG_FORMAT", value_enum, default_value_t = aegis::telemetry::LogFormat::Text)]
    log_format: aegis::telemetry::LogFormat,
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
    /// Print a shell completion script (e.g. `aegis completions bash > ~/.local/share/bash-completion/completions/aegis`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff; e.g. `aegis man > ~/.local/share/man/man1/aegis.1`).
    Man,
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
    /// TCP_NODELAY on accepted gRPC connections. Hidden: `false` exists only as the RPC benchmark's
    /// baseline (examples/bench_rpc.rs), to show the delayed-ACK stall it removes.
    #[arg(long, hide = true, default_value_t = true, action = clap::ArgAction::Set)]
    tcp_nodelay: bool,
    /// Serve Prometheus metrics on this address (GET /metrics); off by default. Loopback unless a token
    /// is set (then scrapes need `Authorization: Bearer <token>`).
    #[arg(long, env = "AEGIS_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Serve the original Aegis HTTP API (curl + jq, e.g. 127.0.0.1:9100) on this address; off by
    /// default. Loopback unless a token is set (then requests need `Authorization: Bearer <token>`).
    #[arg(long, env = "AEGIS_HTTP", value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Config file (aegis.toml). Default: $XDG_CONFIG_HOME/aegis/aegis.toml, used if present.
    #[arg(long, env = "AEGIS_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Demo: sessions use the built-in scripted model on loopback and a private, pre-seeded CC config
    /// dir in the state dir (no Claude account; work dirs trusted). Without it: your CC login.
    #[arg(long, env = "AEGIS_DEMO", conflicts_with = "claude_config_dir")]
    demo: bool,
}

/// Fills in the values of `aegis.toml` where clap took its own default, giving flags > env > file >
/// defaults. Chosen over feeding the file in as clap `default_value`s: the file is typed (TOML → the
/// field's own type, no string round trip), it is read only once the subcommand is known to be
/// `serve` (`--config` is a serve flag), and the derive's defaults stay in one place.
fn merge_config(cli: &mut Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    use clap::parser::ValueSource;
    let (Command::Serve(a), Some(sm)) = (&mut cli.command, matches.subcommand_matches("serve")) else {
        return Ok(());
    };
    let (_, mut f) = aegis::config::load(a.config.as_deref())?;
    // Globals are looked up in the top-level matches; a value the user gave wins over the file.
    let given = |m: &clap::ArgMatches, id: &str| {
        matches!(m.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
    };
    macro_rules! take {
        ($($field:ident),* ; $($opt:ident),*) => {
            $(if let Some(v) = f.$field.take() { if !given(sm, stringify!($field)) { a.$field = v; } })*
            $(if let Some(v) = f.$opt.take() { if !given(sm, stringify!($opt)) { a.$opt = Some(v); } })*
        };
    }
    take!(listen, tmux_socket, tmux_bin, claude_bin, stall_secs, retain_events, watch_lifetime_secs,
        watch_send_timeout_ms, watch_buffer, no_hooks, max_sessions, max_watchers;
        state_dir, claude_config_dir, metrics_listen, http);
    if let Some(v) = f.log_format.take() {
        if !given(matches, "log_format") {
            cli.log_format = v;
        }
    }
    if let Some(v) = f.token_file.take() {
        if !given(matches, "token_file") && !given(matches, "token") {
            cli.token_file = Some(v);
        }
    }
    Ok(())
}

/// `aegis completions` / `aegis man`: generated from the clap definition, so they list every command.
fn print_docs(cmd: &Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Completions { shell } => aegis::docs::completions(Cli::command(), *shell, &mut out),
        _ => aegis::docs::man(Cli::command(), &mut out),
    }
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
    // Usage errors exit 2; with --json they are reported as a JSON object like every other CLI error.
    let matches = Cli::command().try_get_matches().unwrap_or_else(|e| aegis::cli::exit_on_parse_error(e));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| aegis::cli::exit_on_parse_error(e));
    if matches!(cli.command, Command::Completions { .. } | Command::Man) {
        return print_docs(&cli.command);
    }
    merge_config(&mut cli, &matches)?;
    // Client commands log only warnings by default; the server logs info. All logs go to stderr (MCP
    // owns stdout).
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    aegis::telemetry::init_logging(cli.log_format, default_level);
    let token = match cli.command {
        Command::FakeApi { .. } | Command::Completions { .. } | Command::Man | Command::Login(_) => None,
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
                tcp_nodelay: a.tcp_nodelay,
                metrics_listen: a.metrics_listen,
                http_listen: a.http,
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
        Command::Completions { .. } | Command::Man => unreachable!("handled before logging starts"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> anyhow::Result<Cli> {
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        merge_config(&mut cli, &matches)?;
        Ok(cli)
    }

    fn serve_args(cli: &Cli) -> &ServeArgs {
        match &cli.command {
            Command::Serve(a) => a,
            _ => panic!("not serve"),
        }
    }

    /// Every visible subcommand name, from the clap definition itself.
    fn subcommands() -> Vec<String> {
        let names: Vec<String> =
            Cli::command().get_subcommands().filter(|c| !c.is_hide_set()).map(|c| c.get_name().to_string()).collect();
        assert!(names.len() > 8 && names.iter().any(|n| n == "serve"), "{names:?}");
        names
    }

    #[test]
    fn config_file_values_fill_in_below_flags_and_env() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("aegis.toml");
        std::fs::write(
            &p,
            "listen = \"127.0.0.1:6001\"\nstall-secs = 7\nmax-watchers = 5\nmetrics-listen = \"127.0.0.1:6002\"\nhttp = \"127.0.0.1:6003\"\n\
             log-format = \"json\"\nstate-dir = \"/tmp/from-file\"\nno-hooks = true\n",
        )
        .unwrap();
        let cfg = p.to_str().unwrap();
        // File over defaults.
        let cli = parsed(&["aegis", "serve", "--config", cfg]).unwrap();
        let a = serve_args(&cli);
        assert_eq!(a.listen, "127.0.0.1:6001".parse().unwrap());
        assert_eq!((a.stall_secs, a.max_watchers, a.no_hooks), (7, 5, true));
        assert_eq!(a.metrics_listen, Some("127.0.0.1:6002".parse().unwrap()));
        assert_eq!(a.http, Some("127.0.0.1:6003".parse().unwrap()));
        assert_eq!(a.state_dir.as_deref(), Some(std::path::Path::new("/tmp/from-file")));
        assert_eq!(cli.log_format, aegis::telemetry::LogFormat::Json);
        // Untouched keys keep clap's defaults.
        assert_eq!(a.retain_events, 10_000);
        // Flags over the file.
        let cli = parsed(&["aegis", "serve", "--config", cfg, "--stall-secs", "9", "--log-format", "text"]).unwrap();
        assert_eq!(serve_args(&cli).stall_secs, 9);
        assert_eq!(cli.log_format, aegis::telemetry::LogFormat::Text);
        // The environment over the file (this is the only test that sets AEGIS_MAX_WATCHERS).
        std::env::set_var("AEGIS_MAX_WATCHERS", "11");
        let cli = parsed(&["aegis", "serve", "--config", cfg]);
        std::env::remove_var("AEGIS_MAX_WATCHERS");
        let cli = cli.unwrap();
        assert_eq!(serve_args(&cli).max_watchers, 11);
        assert_eq!(serve_args(&cli).stall_secs, 7);
    }

    #[test]
    fn unknown_config_keys_and_missing_explicit_files_are_clear_errors() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("aegis.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:6001\"\nmax-sesions = 3\n").unwrap();
        let e = format!("{:#}", parsed(&["aegis", "serve", "--config", p.to_str().unwrap()]).err().unwrap());
        assert!(e.contains("aegis.toml") && e.contains("line 2") && e.contains("max-sesions"), "{e}");
        let e = format!("{:#}", parsed(&["aegis", "serve", "--config", "/nonexistent/aegis.toml"]).err().unwrap());
        assert!(e.contains("cannot read config file /nonexistent/aegis.toml"), "{e}");
    }

    #[test]
    fn completions_cover_every_subcommand_in_each_shell() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let mut out = Vec::new();
            aegis::docs::completions(Cli::command(), shell, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            for name in subcommands() {
                assert!(text.contains(&name), "{shell} completions lack {name}");
            }
            // Flags of a subcommand are completed too.
            assert!(text.contains("metrics-listen"), "{shell} completions lack --metrics-listen");
        }
    }

    #[test]
    fn the_man_page_documents_every_subcommand_and_its_flags() {
        let mut out = Vec::new();
        aegis::docs::man(Cli::command(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH aegis"), "{}", &text[..200.min(text.len())]);
        for name in subcommands() {
            assert!(
                text.contains(&format!(".SH \"AEGIS {}\"", name.to_uppercase())),
                "man page lacks a section for {name}"
            );
        }
        assert!(text.contains("metrics\\-listen"), "man page lacks --metrics-listen");
    }
}
