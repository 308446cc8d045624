//! How the sessions' CC will authenticate, judged from what CC itself reads: the credential
//! variables of the sessions' environment (names only: values are never looked at or shown) and the
//! CC config dir (`.credentials.json` from `/login` on Linux; `oauthAccount` in `.claude.json`,
//! which `/login` also writes where the token lives in the OS keychain; an `apiKeyHelper` setting).
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A credential variable (or a Bedrock/Vertex switch) in the sessions' environment.
    Env(String),
    /// `/login` credentials in the config dir.
    Login,
    /// `.claude.json` names an account but no token file exists (keychain, or logged out since).
    AccountOnly,
    /// An `apiKeyHelper` in the config dir's settings.
    Helper,
    /// Nothing: CC will say "Not logged in" / "Unable to connect" and the session dies or stalls.
    None,
}

/// Variables that give CC a credential or another provider, in CC's order of preference.
pub const CREDENTIAL_VARS: &[&str] = &[
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
];

fn json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Judges the credentials of sessions that use `config_dir` with variables named `env_names`.
pub fn check<'a>(config_dir: &Path, env_names: impl IntoIterator<Item = &'a str>) -> Auth {
    let names: Vec<&str> = env_names.into_iter().collect();
    if let Some(v) = CREDENTIAL_VARS.iter().find(|v| names.contains(v)) {
        return Auth::Env(v.to_string());
    }
    let creds = json(&config_dir.join(".credentials.json"));
    let oauth = creds.as_ref().and_then(|c| c.get("claudeAiOauth"));
    if oauth.is_some_and(|o| o.get("accessToken").is_some() || o.get("refreshToken").is_some()) {
        return Auth::Login;
    }
    let helper = json(&config_dir.join("settings.json"))
        .and_then(|s| s.get("apiKeyHelper").and_then(|h| h.as_str()).map(|h| !h.is_empty()))
        .unwrap_or(false);
    if helper {
        return Auth::Helper;
    }
    if json(&config_dir.join(".claude.json")).is_some_and(|c| c.get("oauthAccount").is_some_and(|a| a.is_object())) {
        return Auth::AccountOnly;
    }
    Auth::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_where_cc_reads_them() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert_eq!(check(d, ["PATH", "ANTHROPIC_BASE_URL"]), Auth::None);
        assert_eq!(check(d, ["ANTHROPIC_API_KEY"]), Auth::Env("ANTHROPIC_API_KEY".into()));
        std::fs::write(d.join(".claude.json"), r#"{"oauthAccount": {"emailAddress": "me@x"}}"#).unwrap();
        assert_eq!(check(d, []), Auth::AccountOnly);
        std::fs::write(d.join("settings.json"), r#"{"apiKeyHelper": "~/bin/key"}"#).unwrap();
        assert_eq!(check(d, []), Auth::Helper);
        std::fs::write(d.join(".credentials.json"), r#"{"claudeAiOauth": {"accessToken": "x"}}"#).unwrap();
        assert_eq!(check(d, []), Auth::Login);
        assert_eq!(check(d, ["CLAUDE_CODE_USE_BEDROCK"]), Auth::Env("CLAUDE_CODE_USE_BEDROCK".into()));
        std::fs::write(d.join(".credentials.json"), "not json").unwrap();
        assert_eq!(check(d, []), Auth::Helper);
    }
}
