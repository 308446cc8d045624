//! `aegis serve`: wires the store, tmux, the file watcher, the hook receiver and the gRPC services.
use crate::api::auth::BearerAuth;
use crate::api::idempotency::Idempotency;
use crate::api::service::Service;
use crate::core::{Manager, ManagerConfig};
use crate::files::FileWatcher;
use crate::proto::v1::session_service_server::SessionServiceServer;
use crate::store::Store;
use crate::tmux::Tmux;
use std::net::SocketAddr;
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
    let out = tokio::time::timeout(Duration::from_secs(10), tokio::process::Command::new(bin).arg(arg).output()).await;
    match out {
        Ok(Ok(o)) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => String::new(),
    }
}

pub async fn serve(cfg: ServeConfig, shutdown: impl std::future::Future<Output = ()> + Send) -> anyhow::Result<()> {
    if !cfg.listen.ip().is_loopback() && cfg.token.is_none() {
        anyhow::bail!("refusing to listen on {} without --token (only loopback may be unauthenticated)", cfg.listen);
    }
    std::fs::create_dir_all(&cfg.state_dir)?;
    let store = Store::open(&cfg.state_dir.join("aegis.db"), 4096)?;
    let tmux = Tmux::new(&cfg.tmux_bin, cfg.tmux_socket.clone());
    let tmux_version = tmux.version().await.unwrap_or_default();
    let claude_bin = which(&cfg.claude_bin);
    // Refuse to start rather than accept sessions that can only die: name the path and why.
    if let Some(problem) = crate::process::binary_problem(&claude_bin) {
        anyhow::bail!("the Claude Code binary {} {problem} (set --claude-bin)", claude_bin.display());
    }
    let cc_version = version_of(&claude_bin, "--version").await;
    let config_dir = cfg
        .claude_config_dir
        .clone()
        .or_else(|| std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".claude"));
    let mgr = Manager::new(
        ManagerConfig {
            tmux_session: "aegis".into(),
            claude_bin,
            claude_config_dir: config_dir.clone(),
            set_config_dir_env: cfg.claude_config_dir.is_some(),
            stall_threshold: cfg.stall_threshold,
            keep_events_per_session: cfg.retain_events,
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
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let service = Service {
        mgr: mgr.clone(),
        idem: Idempotency::default(),
        shutdown: stop_rx,
        watch: cfg.watch,
        tmux_version,
        state_dir: cfg.state_dir.to_string_lossy().into_owned(),
    };
    let auth = BearerAuth::new(cfg.token.clone());
    let sessions = SessionServiceServer::with_interceptor(service, move |r| auth.check(r));

    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    // The one line on stdout: tests and scripts read the bound address from it.
    println!("listening {addr}");
    tracing::info!(%addr, %hook_addr, "aegis serving");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let h2 = health.clone();
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(sessions)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            h2.set_not_serving::<SessionServiceServer<Service>>().await;
            let _ = stop_tx.send(true);
        })
        .await?;
    mgr.shutdown().await;
    tracing::info!("aegis stopped");
    Ok(())
}
