//! Builds the argument vector that starts CC in a tmux window. No shell is ever involved: tmux runs a
//! multi-argument command with execvp. Hooks are injected with `--settings <file>`, so nothing in the
//! user's CC settings or project is edited. The file (0600, in the 0700 state dir) holds the hook URL
//! with the session's secret: a JSON string argument would show it in /proc/<pid>/cmdline to every
//! local user. Every supported CC (2.1.197, 2.1.330, 2.1.332) documents `--settings <file-or-json>`.
use serde_json::{json, Value};
use std::path::Path;

/// Hook events Aegis listens to. SessionStart is absent on purpose: CC only runs command hooks for it.
pub const HOOK_EVENTS: &[&str] = &[
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
    "StopFailure",
    "Notification",
    "PreCompact",
    "PostCompact",
    "SessionEnd",
];

/// CC lets an HTTP hook wait up to 600 s; PermissionRequest hooks are held that long at most.
pub const HOOK_TIMEOUT_SECS: u64 = 600;

pub struct LaunchSpec<'a> {
    pub claude_bin: &'a Path,
    pub session_id: &'a str,
    pub name: &'a str,
    pub permission_mode: &'a str,
    pub model: &'a str,
    pub extra_args: &'a [String],
    pub prompt: &'a str,
    /// The settings file written by [`write_settings`].
    pub settings_path: &'a Path,
}

/// The `--settings` JSON: one HTTP hook per event, all pointing at our per-session URL.
pub fn hook_settings(hook_url: &str) -> Value {
    let mut hooks = serde_json::Map::new();
    for event in HOOK_EVENTS {
        hooks.insert(
            event.to_string(),
            json!([{ "hooks": [{ "type": "http", "url": hook_url, "timeout": HOOK_TIMEOUT_SECS }] }]),
        );
    }
    json!({ "hooks": hooks })
}

/// Writes [`hook_settings`] for `hook_url` (e.g. "http://127.0.0.1:PORT/hooks/<session>/<secret>")
/// to `path`, 0600, creating its directory 0700. CC reads it at start; it stays for the session's life.
/// Without a URL (hooks off) the settings inject nothing.
pub fn write_settings(path: &Path, hook_url: Option<&str>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::private_fs::dir(dir)?;
    }
    let settings = hook_url.map(hook_settings).unwrap_or_else(|| json!({}));
    crate::private_fs::write(path, settings.to_string().as_bytes())
}

pub fn argv(spec: &LaunchSpec) -> Vec<String> {
    let mut args = vec![
        spec.claude_bin.to_string_lossy().into_owned(),
        "--session-id".into(),
        spec.session_id.into(),
        "--settings".into(),
        spec.settings_path.to_string_lossy().into_owned(),
    ];
    if !spec.name.is_empty() {
        // One `--name=<value>` argument: a name that starts with "-" is never read as a flag.
        args.push(format!("--name={}", spec.name));
    }
    if !spec.permission_mode.is_empty() {
        args.extend(["--permission-mode".into(), spec.permission_mode.into()]);
    }
    if !spec.model.is_empty() {
        args.extend(["--model".into(), spec.model.into()]);
    }
    args.extend(spec.extra_args.iter().cloned());
    if !spec.prompt.is_empty() {
        // "--" ends option parsing so a prompt starting with "-" is never read as a flag.
        args.extend(["--".into(), spec.prompt.into()]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_keeps_every_value_as_one_argument() {
        let extra = vec!["--add-dir".to_string(), "/tmp/x y".to_string()];
        let spec = LaunchSpec {
            claude_bin: Path::new("/opt/claude"),
            session_id: "0b5c7a52-2f0e-4a55-9d59-1a2b3c4d5e6f",
            name: "n1",
            permission_mode: "default",
            model: "",
            extra_args: &extra,
            prompt: "-rf $(rm -rf /); echo 'hi'\nsecond line",
            settings_path: Path::new("/state/sessions/s/settings.json"),
        };
        let a = argv(&spec);
        assert_eq!(a[0], "/opt/claude");
        assert_eq!(&a[1..3], ["--session-id", "0b5c7a52-2f0e-4a55-9d59-1a2b3c4d5e6f"]);
        assert_eq!(&a[3..5], ["--settings", "/state/sessions/s/settings.json"]);
        assert_eq!(a[a.len() - 2], "--");
        assert_eq!(a[a.len() - 1], "-rf $(rm -rf /); echo 'hi'\nsecond line");
        assert!(a.windows(2).any(|w| w == ["--add-dir", "/tmp/x y"]));
        assert!(!a.iter().any(|x| x == "--model"));
    }

    #[test]
    fn settings_file_is_private_and_names_the_hook_url() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("sessions/s/settings.json");
        write_settings(&path, Some("http://127.0.0.1:1/hooks/s/k")).unwrap();
        let settings: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(settings["hooks"]["PermissionRequest"][0]["hooks"][0]["url"], "http://127.0.0.1:1/hooks/s/k");
        assert!(settings["hooks"].get("SessionStart").is_none());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
    }
}
