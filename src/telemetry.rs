//! Operations: the Prometheus metric names every room records to, the recorder and the `/metrics`
//! endpoint, and the log subscriber (text or JSON). Recording goes through the `metrics` facade: with
//! no recorder installed (no `--metrics-listen`) every call is a no-op, so the core, the store and the
//! tmux driver record unconditionally. This module depends on nothing above [`crate::model`].
use crate::model::{Event, EventKind, InteractionKind, SessionRecord, State};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal as _;

/// Sessions by state (gauge, set at each scrape from the manager's table).
pub const SESSIONS: &str = "aegis_sessions";
/// State changes (counter by `from`, `to`).
pub const STATE_CHANGES: &str = "aegis_state_changes_total";
/// Time a pending interaction waited on a human (histogram by `kind`: opened → resolved).
pub const INTERACTION_WAIT: &str = "aegis_interaction_wait_seconds";
/// Hook arrival → reply (histogram by `event`).
pub const HOOK_REPLY: &str = "aegis_hook_reply_seconds";
/// RPCs (counter by `method`, `code`) and their latency (histogram by `method`).
pub const RPCS: &str = "aegis_rpc_total";
pub const RPC_LATENCY: &str = "aegis_rpc_seconds";
/// Events committed to the store (counter).
pub const EVENTS_COMMITTED: &str = "aegis_events_committed_total";
/// Open watch streams (gauge, set at each scrape).
pub const WATCHERS: &str = "aegis_watchers";
/// tmux commands run (counter by `subcommand`).
pub const TMUX_COMMANDS: &str = "aegis_tmux_commands_total";

/// Histogram buckets in seconds: hook replies and RPCs take milliseconds, a human takes minutes.
const FAST_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const HUMAN_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0];

/// Installs the process-wide Prometheus recorder (once; `aegis serve --metrics-listen`).
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(INTERACTION_WAIT.into()), HUMAN_BUCKETS)?
        .set_buckets(FAST_BUCKETS)?
        .install_recorder()?;
    metrics::describe_gauge!(SESSIONS, "Sessions by state (EXITED ones count until deleted)");
    metrics::describe_counter!(STATE_CHANGES, "Session state changes by from/to state");
    metrics::describe_histogram!(
        INTERACTION_WAIT,
        "Seconds a pending interaction waited from opened to resolved, by kind"
    );
    metrics::describe_histogram!(HOOK_REPLY, "Seconds from a CC hook's arrival to Aegis's reply, by hook event");
    metrics::describe_counter!(RPCS, "gRPC calls by service, method and status code");
    metrics::describe_histogram!(RPC_LATENCY, "gRPC call latency in seconds (to the end of the response stream)");
    metrics::describe_counter!(EVENTS_COMMITTED, "Session events committed to the store");
    metrics::describe_gauge!(WATCHERS, "Open watch streams");
    metrics::describe_counter!(TMUX_COMMANDS, "tmux commands run, by subcommand");
    Ok(handle)
}

pub fn interaction_kind_name(k: InteractionKind) -> &'static str {
    match k {
        InteractionKind::Question => "QUESTION",
        InteractionKind::Permission => "PERMISSION",
        InteractionKind::Bash => "BASH",
        InteractionKind::Plan => "PLAN",
        InteractionKind::Trust => "TRUST",
        InteractionKind::ApiKey => "API_KEY",
    }
}

/// One committed event: counts state changes, times resolved interactions, and writes the one info line
/// per lifecycle change (created, state change incl. exit, deleted) with the session's id and name —
/// never its prompt or screen text.
pub fn event_committed(event: &Event, rec: &SessionRecord) {
    let (id, name) = (rec.id.as_str(), rec.name.as_str());
    match event.kind {
        EventKind::Created => {
            // The CreateSession span learns the new id here (other RPCs record it on resolve).
            tracing::Span::current().record("session_id", id);
            tracing::info!(session_id = id, name, state = event.state.name(), "session created")
        }
        EventKind::StateChanged => {
            let (from, to) = (event.previous_state.name(), event.state.name());
            metrics::counter!(STATE_CHANGES, "from" => from, "to" => to).increment(1);
            if event.state == State::Exited {
                let (status, signal) = rec.exit.as_ref().map(|e| (e.status, e.signal)).unwrap_or_default();
                tracing::info!(session_id = id, name, from, ?status, ?signal, "session exited");
            } else {
                tracing::info!(session_id = id, name, from, to, "session state changed");
            }
        }
        EventKind::Deleted => tracing::info!(session_id = id, name, "session deleted"),
        EventKind::InteractionResolved => {
            if let Some(it) = &event.interaction {
                let secs = (event.at - it.since).max(0) as f64 / 1000.0;
                metrics::histogram!(INTERACTION_WAIT, "kind" => interaction_kind_name(it.kind)).record(secs);
            }
        }
        _ => {}
    }
}

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines; colours only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line (for journald/Loki/etc.).
    Json,
}

/// The process-wide log subscriber, on stderr (MCP owns stdout). `AEGIS_LOG` is the filter.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG").unwrap_or_else(|_| default_level.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // A span's fields (the RPC's method, session id, request id) go into each line's "span"s.
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
        // No ANSI escapes in a file or a pipe (journald, `2> server.log`).
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown`. `refresh` sets the
/// gauges read from live tables (sessions by state, watchers) just before each render. With a token,
/// the scrape must carry `Authorization: Bearer <token>` (as on the gRPC port).
pub fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    token: Option<String>,
    refresh: impl Fn() + Send + Sync + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use subtle::ConstantTimeEq as _;
    let expected = token.map(|t| format!("Bearer {t}").into_bytes());
    let refresh = std::sync::Arc::new(refresh);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let (handle, expected, refresh) = (handle.clone(), expected.clone(), refresh.clone());
            async move {
                if let Some(expected) = &expected {
                    let got = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or_default();
                    if !bool::from(got.ct_eq(expected.as_slice())) {
                        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
                    }
                }
                refresh();
                // Upkeep folds recent histogram samples in; without it they would grow until drained.
                handle.run_upkeep();
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    });
}
