//! `aegis.toml`: the `aegis serve` configuration file. Keys are the long flag names (`state-dir`,
//! `max-sessions`, …); a key that is not one of them is an error naming it, so a typo never silently
//! falls back to a default. Precedence is flags > environment > file > defaults; the binary merges a
//! [`FileConfig`] into its parsed flags where clap says a value came from its default (see main.rs).
use crate::telemetry::LogFormat;
use anyhow::Context as _;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub state_dir: Option<PathBuf>,
    pub tmux_socket: Option<String>,
    pub tmux_bin: Option<PathBuf>,
    pub claude_bin: Option<PathBuf>,
    pub claude_config_dir: Option<PathBuf>,
    pub stall_secs: Option<u64>,
    pub retain_events: Option<i64>,
    pub watch_lifetime_secs: Option<u64>,
    pub watch_send_timeout_ms: Option<u64>,
    pub watch_buffer: Option<usize>,
    pub no_hooks: Option<bool>,
    pub max_sessions: Option<usize>,
    pub max_watchers: Option<usize>,
    pub metrics_listen: Option<SocketAddr>,
    /// The original tool's HTTP API address (`--http`).
    pub http: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    /// The token itself is deliberately not a key: a file for it (0600) is the one way to keep it out
    /// of a config that is often world-readable or committed.
    pub token_file: Option<PathBuf>,
}

/// Where the file is: `--config`/`AEGIS_CONFIG` (then it must exist), else
/// `$XDG_CONFIG_HOME/aegis/aegis.toml` (or `~/.config/aegis/aegis.toml`), used only if present.
pub fn locate(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some((base.join("aegis/aegis.toml"), false))
}

/// Reads the config file, if any (see [`locate`]).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<(Option<PathBuf>, FileConfig)> {
    let Some((path, required)) = locate(explicit) else {
        return Ok((None, FileConfig::default()));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok((None, FileConfig::default())),
        Err(e) => return Err(e).with_context(|| format!("cannot read config file {}", path.display())),
    };
    let cfg = parse(&text).with_context(|| format!("bad config file {}", path.display()))?;
    Ok((Some(path), cfg))
}

/// Parses `aegis.toml` text; unknown keys and wrong types are errors that name the key.
/// The error says the line and the problem, not the line's text (a misplaced secret stays out of logs).
pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(l) => anyhow::anyhow!("line {l}: {}", e.message()),
            None => anyhow::anyhow!("{}", e.message()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_unknown_keys_are_named() {
        let c = parse(
            "listen = \"127.0.0.1:6000\"\nmax-sessions = 3\nno-hooks = true\nlog-format = \"json\"\nhttp = \"127.0.0.1:9100\"\n",
        )
        .unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(c.http, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(c.max_sessions, Some(3));
        assert_eq!(c.no_hooks, Some(true));
        assert_eq!(c.log_format, Some(LogFormat::Json));
        let e = parse("max-session = 3\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `max-session`"), "{e}");
        let e = parse("token = \"s3cret\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `token`") && !e.contains("s3cret"), "{e}");
        let e = parse("stall-secs = \"soon\"\n").unwrap_err().to_string();
        assert!(e.contains("stall-secs") || e.contains("invalid type"), "{e}");
    }

    #[test]
    fn the_deploy_example_is_valid() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/aegis.toml")).unwrap();
        let c = parse(&text).unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:50051".parse().unwrap()));
    }

    #[test]
    fn an_explicit_missing_file_is_an_error_the_default_one_is_not() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("nope.toml");
        let e = load(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("nope.toml"), "{e}");
        let p = t.path().join("a.toml");
        std::fs::write(&p, "stall-secs = 9\n").unwrap();
        assert_eq!(load(Some(&p)).unwrap().1.stall_secs, Some(9));
    }
}
