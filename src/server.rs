//! `aegis serve`: wires the store, tmux, the file watcher, the hook receiver and the gRPC services.
use crate::api::auth::BearerAuth;
use crate::api::idempotency::Idempotency;
use crate::api::service::Service;
use crate::core::{Manager, ManagerConfig};
use crate::files::FileWatcher;
use crate::proto::v1::session_service_server::SessionServiceServer;
use crate::store::Store;
use crate::tmux::Tmux;
use anyhow::Context as _;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub tmux_bin: PathBuf,
    pub tmux_socket: String,
    pub claude_bin: PathBuf,
    pub claude_config_dir: Option<PathBuf>,
    pub token: Option<String>,
    pub stall_threshold: Duration,
    /// Events kept per session; older ones are compacted (a resume before them is REVISION_COMPACTED).
    pub retain_events: i64,
    pub watch: crate::api::streams::WatchLimits,
    /// Inject CC hooks (see `ManagerConfig::hooks`).
    pub hooks: bool,
    /// Live sessions at most (CreateSession beyond is RESOURCE_EXHAUSTED).
    pub max_sessions: usize,
    /// Concurrent watch streams at most (WatchSession/WatchEvents beyond are RESOURCE_EXHAUSTED).
    pub max_watchers: usize,
    /// TCP_NODELAY on accepted gRPC connections (always, except as a benchmark baseline).
    pub tcp_nodelay: bool,
    /// Prometheus `/metrics` address (off when None); loopback unless a token is set, like `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// The original tool's HTTP API (crate::http; off when None); loopback unless a token is set.
    pub http_listen: Option<SocketAddr>,
    /// `--demo`: sessions run against the built-in scripted model with a private, pre-seeded CC
    /// config dir (no Claude account needed; see [`start_demo`]).
    pub demo: bool,
}

/// `<state>/service.json`: what `aegis doctor` needs to know about the running service's sessions.
pub const SERVICE_FACTS: &str = "service.json";

/// What `--demo` adds: the built-in scripted model on loopback and the demo's CC config dir.
struct Demo {
    api: crate::fakeapi::FakeApi,
    config_dir: PathBuf,
}

/// Starts the built-in scripted model (the code of `aegis fake-api`) in-process on loopback, on the
/// port of the previous run when it is free (re-adopted sessions keep their ANTHROPIC_BASE_URL), and
/// seeds `<state>/demo/claude-config`.
async fn start_demo(state_dir: &Path) -> anyhow::Result<Demo> {
    let dir = state_dir.join("demo");
    crate::private_fs::dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let config_dir = dir.join("claude-config");
    crate::cc::demo::seed(&config_dir).with_context(|| format!("cannot seed {}", config_dir.display()))?;
    let port_file = dir.join("api-port");
    let last: u16 = std::fs::read_to_string(&port_file).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", last)).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
    };
    let port = listener.local_addr()?.port();
    crate::private_fs::write(&port_file, format!("{port}\n").as_bytes())?;
    let api = crate::fakeapi::FakeApi::start_on(listener, crate::fakeapi::Script::builtin()).await?;
    Ok(Demo { api, config_dir })
}

/// `$XDG_STATE_HOME/aegis` or `~/.local/state/aegis` (`--state-dir` default; `AEGIS_STATE_DIR` wins).
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AEGIS_STATE_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/state"))
        .join("aegis")
}

/// Finds a program on PATH (tmux windows exec it directly, without a shell).
pub fn which(bin: &Path) -> PathBuf {
    if bin.components().count() > 1 {
        return bin.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(bin)).find(|p| p.is_file()))
        .unwrap_or_else(|| bin.to_path_buf())
}

async fn version_of(bin: &Path, arg: &str) -> String {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg(arg);
    for name in crate::tmux::service_env_names() {
        cmd.env_remove(name);
    }
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output()).await;
    match out {
        Ok(Ok(o)) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => String::new(),
    }
}

/// The bearer token from `--token`/`AEGIS_TOKEN` or `--token-file`/`AEGIS_TOKEN_FILE` (not both).
/// An empty token is a configuration error: it would authenticate `authorization: Bearer `.
pub fn resolve_token(flag: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let token = match (flag, file) {
        (Some(_), Some(_)) => anyhow::bail!("give the bearer token with --token or with --token-file, not both"),
        (Some(t), None) => t,
        (None, Some(p)) => read_token_file(p)?,
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        anyhow::bail!(
            "the bearer token is empty (--token, AEGIS_TOKEN or --token-file); give a non-empty token or none"
        );
    }
    if token.chars().any(char::is_control) {
        anyhow::bail!("the bearer token contains control characters (only a trailing newline is removed)");
    }
    Ok(Some(token))
}

/// Reads a token file: a regular file owned by the current user with mode 0600 or 0400 (anything
/// looser means other users may have read it). One trailing newline is removed.
pub fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let f = File::open(path).with_context(|| format!("cannot open token file {}", path.display()))?;
    // fstat of the opened file: what is checked is what is read.
    let meta = f.metadata().with_context(|| format!("cannot stat token file {}", path.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.is_file() {
        anyhow::bail!("token file {} is not a regular file", path.display());
    }
    if meta.uid() != me {
        anyhow::bail!(
            "token file {} is owned by uid {}, not by the current user (uid {me})",
            path.display(),
            meta.uid()
        );
    }
    let mode = meta.mode() & 0o7777;
    if mode != 0o600 && mode != 0o400 {
        anyhow::bail!(
            "token file {} has mode {mode:04o}; it must be 0600 or 0400 (chmod 600 {})",
            path.display(),
            path.display()
        );
    }
    let text = std::io::read_to_string(f).with_context(|| format!("cannot read token file {}", path.display()))?;
    let token = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    Ok(token.to_string())
}

/// `<state>/lock`, held with an exclusive flock(2) for the service's whole life: one service per state
/// dir (a second one would overwrite the hook port and take over the tmux sessions). The kernel drops
/// the lock when the process dies, so a stale file never blocks a restart. The file says who holds it.
/// flock is called through libc (already in the dependency tree) because std's `File::try_lock` needs
/// Rust 1.89, above the crate's MSRV; the file is opened close-on-exec, so tmux and CC never hold it.
pub struct StateLock {
    file: File,
}

impl StateLock {
    pub fn acquire(state_dir: &Path) -> anyhow::Result<StateLock> {
        let path = state_dir.join("lock");
        let file = crate::private_fs::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                anyhow::bail!(
                    "another aegis serve ({}) already uses the state dir {}; stop it or give another --state-dir",
                    describe_holder(&holder),
                    state_dir.display()
                );
            }
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
        let lock = StateLock { file };
        lock.record(None).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(lock)
    }

    /// Rewrites the file: `pid <pid>` and, once bound, `address <listen address>`.
    pub fn record(&self, address: Option<SocketAddr>) -> std::io::Result<()> {
        let mut text = format!("pid {}\n", std::process::id());
        if let Some(a) = address {
            text.push_str(&format!("address {a}\n"));
        }
        self.file.set_len(0)?;
        self.file.write_all_at(text.as_bytes(), 0)
    }
}

/// "pid 123, listening on 127.0.0.1:50051" from the lock file's content.
fn describe_holder(text: &str) -> String {
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()));
    let pid = field("pid ").map(|p| format!("pid {p}")).unwrap_or_else(|| "pid unknown".into());
    match field("address ") {
        Some(a) => format!("{pid}, listening on {a}"),
        None => format!("{pid}, not listening yet"),
    }
}

pub async fn serve(cfg: ServeConfig, shutdown: impl std::future::Future<Output = ()> + Send) -> anyhow::Result<()> {
    if cfg.token.as_deref() == Some("") {
        anyhow::bail!("the bearer token is empty; give a non-empty token or none");
    }
    if !cfg.listen.ip().is_loopback() && cfg.token.is_none() {
        anyhow::bail!(
            "refusing to listen on {} without a token (--token-file or --token; only loopback may be unauthenticated)",
            cfg.listen
        );
    }
    if let Some(m) = cfg.metrics_listen {
        if !m.ip().is_loopback() && cfg.token.is_none() {
            anyhow::bail!(
                "refusing to serve metrics on {m} without a token (--token-file or --token; only loopback may be unauthenticated)"
            );
        }
    }
    if let Some(h) = cfg.http_listen {
        if !h.ip().is_loopback() && cfg.token.is_none() {
            anyhow::bail!(
                "refusing to serve the HTTP API on {h} without a token (--token-file or --token; only loopback may be unauthenticated)"
            );
        }
    }
    // Installed first, so adoption's events and tmux commands at start-up are counted too.
    let recorder = cfg.metrics_listen.map(|_| crate::telemetry::install_recorder()).transpose()?;
    // The state dir is private (0700) and locked before anything else touches it.
    crate::private_fs::dir(&cfg.state_dir)
        .with_context(|| format!("cannot create state dir {}", cfg.state_dir.display()))?;
    let lock = StateLock::acquire(&cfg.state_dir)?;
    let store = Store::open(&cfg.state_dir.join("aegis.db"), 4096)?;
    let tmux = Tmux::new(&cfg.tmux_bin, cfg.tmux_socket.clone());
    let tmux_version = tmux.version().await.unwrap_or_default();
    let claude_bin = which(&cfg.claude_bin);
    // Refuse to start rather than accept sessions that can only die: name the path and why.
    if let Some(problem) = crate::process::binary_problem(&claude_bin) {
        anyhow::bail!("the Claude Code binary {} {problem} (set --claude-bin)", claude_bin.display());
    }
    let cc_version = version_of(&claude_bin, "--version").await;
    // What every session gets from this service's environment (crate::session_env), taken now.
    let service_env = crate::session_env::from_service(
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    let demo = if cfg.demo {
        if cfg.claude_config_dir.is_some() {
            anyhow::bail!("--demo uses its own CC config dir; give --demo or --claude-config-dir, not both");
        }
        Some(start_demo(&cfg.state_dir).await?)
    } else {
        None
    };
    let session_env = match &demo {
        Some(d) => crate::cc::demo::session_env(service_env, &d.api.base_url()),
        None => service_env,
    };
    let config_dir = demo
        .as_ref()
        .map(|d| d.config_dir.clone())
        .unwrap_or_else(|| crate::session_env::config_dir(cfg.claude_config_dir.as_deref()));
    // For `aegis doctor` on this machine: which config dir and which variable names (never values)
    // the sessions get. 0600 in the 0700 state dir.
    let facts = serde_json::json!({
        "pid": std::process::id(),
        "claude_config_dir": config_dir,
        "demo": demo.is_some(),
        "session_env_names": session_env.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
    });
    crate::private_fs::write(&cfg.state_dir.join(SERVICE_FACTS), facts.to_string().as_bytes())?;
    let mgr = Manager::new(
        ManagerConfig {
            tmux_session: "aegis".into(),
            claude_bin,
            claude_config_dir: config_dir.clone(),
            state_dir: cfg.state_dir.clone(),
            set_config_dir_env: cfg.claude_config_dir.is_some() || demo.is_some(),
            session_env,
            trust_work_dirs: demo.is_some(),
            stall_threshold: cfg.stall_threshold,
            keep_events_per_session: cfg.retain_events,
            hooks: cfg.hooks,
        },
        store.clone(),
        tmux,
        cc_version,
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut hook_stop = stop_rx.clone();
    let hook_addr = crate::hooks_http::start(mgr.clone(), &cfg.state_dir.join("hook-port"), async move {
        let _ = hook_stop.changed().await;
    })
    .await?;
    mgr.set_hook_base(format!("http://{hook_addr}"));

    let (mut watcher, mut paths) = FileWatcher::new()?;
    let sessions_dir = config_dir.join("sessions");
    watcher.watch_dir(&sessions_dir);
    mgr.set_file_watcher(watcher);
    let m = mgr.clone();
    tokio::spawn(async move {
        while let Some(p) = paths.recv().await {
            if p.parent() == Some(sessions_dir.as_path()) {
                m.status_file_changed(&p);
            } else {
                m.transcript_changed(&p);
            }
        }
    });

    // Compaction runs before serving (so retention is in force from the first call), then hourly.
    store.prune(cfg.retain_events, crate::api::idempotency::TTL_MS).await?;
    mgr.start().await?;
    let (s, retain) = (store.clone(), cfg.retain_events);
    tokio::spawn(async move {
        let mut t = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(3600),
            Duration::from_secs(3600),
        );
        loop {
            t.tick().await;
            let _ = s.prune(retain, crate::api::idempotency::TTL_MS).await;
        }
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<SessionServiceServer<Service>>().await;
    // Reflection v1 (grpcurl, Postman) and v1alpha (grpcio-reflection and older tools speak only that),
    // from the same descriptors: ours, google.rpc error details, health.
    let reflection_files = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_files().build_v1()?;
    let reflection_v1alpha = reflection_files().build_v1alpha()?;
    let caps = crate::api::service::Caps::new(cfg.max_sessions, cfg.max_watchers);
    let metrics_addr = match (cfg.metrics_listen, recorder) {
        (Some(a), Some(handle)) => {
            Some(start_metrics(a, handle, &cfg, &mgr, caps.watchers_open(), stop_rx.clone()).await?)
        }
        _ => None,
    };
    let service = std::sync::Arc::new(Service {
        mgr: mgr.clone(),
        idem: Idempotency::default(),
        shutdown: stop_rx,
        watch: cfg.watch,
        tmux_version,
        state_dir: cfg.state_dir.to_string_lossy().into_owned(),
        caps,
    });
    let auth = BearerAuth::new(cfg.token.clone());
    // The HTTP API calls the same service object the gRPC server runs (one implementation).
    let http_addr = match cfg.http_listen {
        Some(a) => {
            let mut stop = service.shutdown.clone();
            let stopped = async move {
                let _ = stop.changed().await;
            };
            Some(crate::http::start(a, service.clone(), auth.clone(), stopped).await?)
        }
        None => None,
    };
    let sessions =
        tonic::service::interceptor::InterceptedService::new(SessionServiceServer::from_arc(service), move |r| {
            auth.check(r)
        });

    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    lock.record(Some(addr))?;
    // The lines on stdout: tests and scripts read the bound address from the first, then the HTTP
    // API's and where to scrape (each when on). One write, and a reader that stopped reading (`| head -1`,
    // a closed pipe) must not take the service down: `println!` would panic on EPIPE.
    let mut banner = format!("listening {addr}\n");
    if let Some(h) = http_addr {
        banner.push_str(&format!("http {h}\n"));
    }
    if let Some(m) = metrics_addr {
        banner.push_str(&format!("metrics {m}\n"));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|_| out.flush());
    }
    tracing::info!(%addr, %hook_addr, http = ?http_addr, metrics = ?metrics_addr, "aegis serving");
    if let Some(d) = &demo {
        tracing::info!(
            model = %d.api.base_url(),
            config_dir = %d.config_dir.display(),
            "demo: sessions use the built-in scripted model (no Claude account); drop --demo to use your CC login"
        );
    }
    // TCP_NODELAY on every accepted socket: `serve_with_incoming_shutdown` ignores the builder's
    // `tcp_nodelay`, and with Nagle on, a small unary response waits for the client's delayed ACK
    // (~40 ms on Linux loopback). TcpIncoming sets it per accepted connection.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(cfg.tcp_nodelay));
    let h2 = health.clone();
    tonic::transport::Server::builder()
        .layer(crate::api::observe::RpcLayer)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(sessions)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            h2.set_not_serving::<SessionServiceServer<Service>>().await;
            let _ = stop_tx.send(true);
        })
        .await?;
    mgr.shutdown().await;
    if let Some(d) = demo {
        d.api.shutdown().await;
    }
    tracing::info!("aegis stopped");
    Ok(())
}

/// Installs the Prometheus recorder and serves `/metrics` on `addr` until the service stops.
async fn start_metrics(
    addr: SocketAddr,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    cfg: &ServeConfig,
    mgr: &std::sync::Arc<Manager>,
    watchers: impl Fn() -> usize + Send + Sync + 'static,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    use crate::telemetry::{SESSIONS, WATCHERS};
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot bind metrics address {addr}"))?;
    let bound = listener.local_addr()?;
    // The gauges are read from the live tables at scrape time (no counting to drift).
    let m = std::sync::Arc::downgrade(mgr);
    let refresh = move || {
        let Some(mgr) = m.upgrade() else { return };
        let (total, live, by_state) = mgr.counts();
        for s in crate::model::State::ALL {
            let n = match s {
                crate::model::State::Exited => total - live,
                _ => by_state.get(s.name()).copied().unwrap_or(0),
            };
            metrics::gauge!(SESSIONS, "state" => s.name()).set(n as f64);
        }
        metrics::gauge!(WATCHERS).set(watchers() as f64);
    };
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    crate::telemetry::serve_metrics(listener, handle, cfg.token.clone(), refresh, shutdown);
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn token_file(content: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("token");
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        (t, p)
    }

    #[test]
    fn token_files_must_be_private_and_tokens_non_empty() {
        let (_t, p) = token_file("s3cret\n", 0o600);
        assert_eq!(resolve_token(None, Some(&p)).unwrap().as_deref(), Some("s3cret"));
        let (_t, p) = token_file("s3cret", 0o400);
        assert_eq!(resolve_token(None, Some(&p)).unwrap().as_deref(), Some("s3cret"));
        let (_t, p) = token_file("s3cret\n", 0o644);
        let e = resolve_token(None, Some(&p)).unwrap_err().to_string();
        assert!(e.contains("mode 0644"), "{e}");
        let (_t, p) = token_file("\n", 0o600);
        assert!(resolve_token(None, Some(&p)).unwrap_err().to_string().contains("empty"));
        assert!(resolve_token(Some(String::new()), None).unwrap_err().to_string().contains("empty"));
        assert!(resolve_token(Some("a".into()), Some(&p)).is_err());
        assert!(resolve_token(Some("a\tb".into()), None).is_err());
        assert_eq!(resolve_token(None, None).unwrap(), None);
    }

    #[test]
    fn the_state_lock_is_exclusive_and_names_its_holder() {
        let t = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(t.path()).unwrap();
        first.record(Some("127.0.0.1:4242".parse().unwrap())).unwrap();
        let e = StateLock::acquire(t.path()).err().unwrap().to_string();
        assert!(e.contains(&format!("pid {}, listening on 127.0.0.1:4242", std::process::id())), "{e}");
        drop(first);
        StateLock::acquire(t.path()).unwrap();
    }
}
