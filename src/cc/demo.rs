//! The private CC config dir of `aegis serve --demo` (in the state dir, never the user's): seeded so
//! CC starts with no account, no onboarding and no dialog, against the built-in scripted model.
//! The same keys the e2e rig seeds (tests/common): onboarding done, a theme, the demo key approved
//! (CC keeps the last 20 characters of approved keys), and each work dir trusted before its session
//! starts. Nothing here is ever written to a config dir the user gave.
use serde_json::{json, Map, Value};
use std::path::Path;

/// The API key demo sessions send to the built-in model on loopback. Not a secret: the fake API
/// accepts any key; it only has to look like one so CC uses it.
pub const DEMO_API_KEY: &str = "sk-ant-aegis-demo-key-0000000000000000";

fn read(config_dir: &Path) -> Map<String, Value> {
    std::fs::read_to_string(config_dir.join(".claude.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

fn write(config_dir: &Path, cfg: Map<String, Value>) -> std::io::Result<()> {
    crate::private_fs::dir(config_dir)?;
    crate::private_fs::write(&config_dir.join(".claude.json"), Value::Object(cfg).to_string().as_bytes())
}

/// Creates or updates `<config_dir>/.claude.json` (0600, dir 0700) so CC starts without a login,
/// keeping whatever CC wrote there before.
pub fn seed(config_dir: &Path) -> std::io::Result<()> {
    let mut cfg = read(config_dir);
    let tail = &DEMO_API_KEY[DEMO_API_KEY.len() - 20..];
    cfg.insert("hasCompletedOnboarding".into(), json!(true));
    cfg.insert("theme".into(), json!("dark"));
    cfg.insert("customApiKeyResponses".into(), json!({"approved": [tail], "rejected": []}));
    write(config_dir, cfg)
}

/// Marks `dir` trusted (CC's `projects.<dir>.hasTrustDialogAccepted`), keeping the rest.
pub fn trust_dir(config_dir: &Path, dir: &Path) -> std::io::Result<()> {
    let mut cfg = read(config_dir);
    let projects = cfg.entry("projects").or_insert_with(|| json!({}));
    if !projects.is_object() {
        *projects = json!({});
    }
    let key = dir.to_string_lossy().into_owned();
    let entry = projects.as_object_mut().expect("an object").entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    let entry = entry.as_object_mut().expect("an object");
    if entry.get("hasTrustDialogAccepted") == Some(&json!(true)) {
        return Ok(());
    }
    entry.insert("hasTrustDialogAccepted".into(), json!(true));
    entry.entry("allowedTools").or_insert_with(|| json!([]));
    write(config_dir, cfg)
}

/// The demo sessions' variables on top of the service's: the loopback model, the demo key and no
/// traffic to Anthropic. Any credential or provider switch of the service's environment is dropped
/// so it never reaches the fake model.
pub fn session_env(service: Vec<(String, String)>, base_url: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = service
        .into_iter()
        .filter(|(k, _)| !k.starts_with("ANTHROPIC_") && !k.starts_with("CLAUDE_CODE_USE_") && k != "CLAUDE_CONFIG_DIR")
        .collect();
    for (k, v) in [
        ("ANTHROPIC_BASE_URL", base_url),
        ("ANTHROPIC_API_KEY", DEMO_API_KEY),
        ("DISABLE_TELEMETRY", "1"),
        ("DISABLE_AUTOUPDATER", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ] {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_seed_keeps_what_cc_wrote_and_trust_is_added_per_dir() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("cc");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(".claude.json"), r#"{"numStartups": 3, "theme": "light"}"#).unwrap();
        seed(&dir).unwrap();
        trust_dir(&dir, Path::new("/w/a")).unwrap();
        trust_dir(&dir, Path::new("/w/b")).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(".claude.json")).unwrap()).unwrap();
        assert_eq!(v["numStartups"], 3);
        assert_eq!(v["theme"], "dark");
        assert_eq!(v["hasCompletedOnboarding"], true);
        assert_eq!(v["customApiKeyResponses"]["approved"][0], &DEMO_API_KEY[DEMO_API_KEY.len() - 20..]);
        assert_eq!(v["projects"]["/w/a"]["hasTrustDialogAccepted"], true);
        assert_eq!(v["projects"]["/w/b"]["hasTrustDialogAccepted"], true);
        let mode = std::fs::metadata(dir.join(".claude.json")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn demo_sessions_never_get_the_services_credentials() {
        let service = vec![
            ("ANTHROPIC_API_KEY".to_string(), "sk-real".to_string()),
            ("ANTHROPIC_AUTH_TOKEN".to_string(), "real".to_string()),
            ("CLAUDE_CODE_USE_BEDROCK".to_string(), "1".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let env = session_env(service, "http://127.0.0.1:9");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ANTHROPIC_API_KEY"), Some(DEMO_API_KEY));
        assert_eq!(get("ANTHROPIC_BASE_URL"), Some("http://127.0.0.1:9"));
        assert_eq!((get("ANTHROPIC_AUTH_TOKEN"), get("CLAUDE_CODE_USE_BEDROCK")), (None, None));
        assert_eq!(get("PATH"), Some("/bin"));
    }
}
