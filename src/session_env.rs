//! The environment a session's CC starts with, decided at session creation (never frozen in the
//! long-lived tmux server).
//!
//! Precedence, highest first: the request's `env` > the service's environment (only the variables
//! [`is_passed`] names) > the tmux server's global environment (everything else: HOME, LANG, TERM…).
//! The passed family is unset from the tmux server's environment when the service starts
//! ([`is_scrubbed`]), so a value the service no longer has cannot linger from the process that first
//! started the tmux server. `AEGIS_*` (the service's own configuration, the token among it) never
//! reaches CC: it is dropped from the request's env as well.

/// Name prefixes of the service variables every session gets: CC's own configuration (auth, base
/// URL, model, Bedrock/Vertex), CC's switches, and the proxy/CA settings any HTTPS client needs.
const PREFIXES: &[&str] = &["ANTHROPIC_", "CLAUDE_", "DISABLE_", "MCP_", "AWS_", "VERTEX_", "OTEL_"];

/// Exact names passed as well (proxies in both spellings, CA bundles, PATH to find tools).
const NAMES: &[&str] = &[
    "CLOUD_ML_REGION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "MAX_THINKING_TOKENS",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "PATH",
];

/// The service's own configuration: never passed to anything Aegis starts.
pub fn is_service_var(name: &str) -> bool {
    name.starts_with("AEGIS_")
}

/// Whether a service variable is passed to every new session.
pub fn is_passed(name: &str) -> bool {
    !is_service_var(name) && (NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)))
}

/// Whether the tmux server's copy of a variable is removed when the service starts: the passed
/// family (the service's value, or none, is what counts), except PATH, which tmux itself needs to
/// find the placeholder program and which every session gets explicitly anyway.
pub fn is_scrubbed(name: &str) -> bool {
    is_service_var(name) || (is_passed(name) && name != "PATH")
}

/// The passed subset of an environment (e.g. `std::env::vars()`), sorted by name.
pub fn from_service(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<_> = vars.into_iter().filter(|(k, _)| is_passed(k)).collect();
    out.sort();
    out
}

/// The environment of one new session: `request` over `base` (the service's passed variables and
/// the service's own additions, e.g. the demo's), `AEGIS_*` dropped, sorted by name.
pub fn merge<'a>(
    base: &'a [(String, String)],
    request: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(String, String)> {
    let mut map: std::collections::BTreeMap<String, String> = base.iter().cloned().collect();
    for (k, v) in request {
        map.insert(k.clone(), v.clone());
    }
    map.into_iter().filter(|(k, _)| !is_service_var(k)).collect()
}

/// The CC config dir sessions use without `--demo`: `--claude-config-dir`, else the service's
/// `$CLAUDE_CONFIG_DIR`, else `~/.claude` (CC's own rule; `aegis serve` and `aegis login` share it).
pub fn config_dir(flag: Option<&std::path::Path>) -> std::path::PathBuf {
    use std::path::PathBuf;
    flag.map(PathBuf::from)
        .or_else(|| std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".claude"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn the_family_is_passed_and_aegis_never() {
        for name in ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR", "HTTPS_PROXY", "no_proxy", "PATH"]
        {
            assert!(is_passed(name), "{name}");
        }
        for name in ["AEGIS_TOKEN", "HOME", "SSH_AUTH_SOCK", "LD_PRELOAD", "XANTHROPIC_X", "TERM"] {
            assert!(!is_passed(name), "{name}");
        }
        assert!(is_scrubbed("AEGIS_TOKEN") && is_scrubbed("ANTHROPIC_API_KEY") && !is_scrubbed("PATH"));
        assert!(!is_scrubbed("HOME"));
        let got = from_service(vec![kv("HOME", "/h"), kv("ANTHROPIC_BASE_URL", "u"), kv("AEGIS_TOKEN", "t")]);
        assert_eq!(got, [kv("ANTHROPIC_BASE_URL", "u")]);
    }

    #[test]
    fn the_request_wins_over_the_service_and_aegis_is_dropped() {
        let base = vec![kv("ANTHROPIC_BASE_URL", "service"), kv("PATH", "/bin")];
        let req: std::collections::HashMap<String, String> =
            [kv("ANTHROPIC_BASE_URL", "request"), kv("AEGIS_TOKEN", "x"), kv("FOO", "1")].into_iter().collect();
        assert_eq!(merge(&base, &req), [kv("ANTHROPIC_BASE_URL", "request"), kv("FOO", "1"), kv("PATH", "/bin")]);
    }
}
