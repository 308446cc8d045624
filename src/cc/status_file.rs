//! Claude Code's own status file, `$CLAUDE_CONFIG_DIR/sessions/<pid>.json`.
//!
//! Shape (both 2.1.197 and 2.1.330): `pid`, `sessionId`, `cwd`, `startedAt`,
//! `procStart`, `version`, `peerProtocol`, `kind`, `entrypoint`, `name`,
//! `nameSource`, `status`, `waitingFor`, `updatedAt`, `statusUpdatedAt`;
//! 2.1.330 adds `peerFeatures`, `pidDomain`, `messagingSocketPath`,
//! `nameSince`, `asksForConvertedSkills`. The first write has no `status`.
//! `sessionId` changes after `/clear`.

use serde_json::Value;

/// `status` / `waitingFor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcStatus {
    /// No `status` key yet (first write, ~100 ms before `idle`).
    Starting,
    /// `idle`, and the idle variant `shell`.
    Idle,
    Busy,
    /// `waitingFor`: `permission prompt` (tools, plan approval, exit-plan;
    /// AskUserQuestion in 2.1.197), `input needed` (AskUserQuestion in
    /// 2.1.330), `dialog open` (local dialogs, rewind, auto-mode and upsell
    /// dialogs), and unobserved values such as `worker request`,
    /// `sandbox request`, `goal proposal`. Empty if absent.
    Waiting {
        waiting_for: String,
    },
    Other(String),
}

impl CcStatus {
    fn parse(status: Option<&str>, waiting_for: Option<&str>) -> Self {
        match status {
            None => CcStatus::Starting,
            Some("idle") | Some("shell") => CcStatus::Idle,
            Some("busy") => CcStatus::Busy,
            Some("waiting") => CcStatus::Waiting { waiting_for: waiting_for.unwrap_or_default().to_owned() },
            Some(other) => CcStatus::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFile {
    pub pid: u32,
    pub session_id: String,
    pub cwd: Option<String>,
    pub status: CcStatus,
    pub version: Option<String>,
    pub name: Option<String>,
    /// `statusUpdatedAt`, else `updatedAt` (epoch milliseconds).
    pub updated_at_ms: Option<u64>,
}

fn ms(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parse a status file. `None` unless it is a JSON object with a numeric
/// `pid` and a string `sessionId` (a half-written file is `None`; read again).
pub fn parse_status_file(bytes: &[u8]) -> Option<StatusFile> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let o = v.as_object()?;
    let pid = o.get("pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok())?;
    let session_id = o.get("sessionId")?.as_str()?.to_owned();
    let st = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(StatusFile {
        pid,
        session_id,
        cwd: st("cwd"),
        status: CcStatus::parse(o.get("status").and_then(Value::as_str), o.get("waitingFor").and_then(Value::as_str)),
        version: st("version"),
        name: st("name"),
        updated_at_ms: ms(o.get("statusUpdatedAt")).or_else(|| ms(o.get("updatedAt"))),
    })
}

/// `<digits>.json` only; ignores `<pid>.<sha256>.key`, temp files and the rest.
pub fn is_status_file_name(name: &str) -> bool {
    status_file_pid(name).is_some()
}

/// The pid in a status file name (`"1234.json"` → `Some(1234)`).
pub fn status_file_pid(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".json")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cc/pidfiles");

    fn load(name: &str) -> StatusFile {
        let bytes = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        parse_status_file(&bytes).unwrap()
    }

    #[test]
    fn version_2_1_197_shapes() {
        let s = load("2.1.197-starting.json");
        assert_eq!(s.status, CcStatus::Starting);
        assert_eq!(s.pid, 41231);
        assert_eq!(s.session_id, "848d74bb-e1ad-4bf4-8172-28769ebf8a03");
        assert_eq!(s.cwd.as_deref(), Some("/srv/examples/work/perm-120x40"));
        assert_eq!(s.version.as_deref(), Some("2.1.197"));
        assert_eq!(s.name.as_deref(), Some("perm-120x40-3f2a"));
        assert_eq!(s.updated_at_ms, Some(1795257530140));

        let s = load("2.1.197-idle.json");
        assert_eq!(s.status, CcStatus::Idle);
        assert_eq!(s.updated_at_ms, Some(1795257530240));

        let s = load("2.1.197-waiting-permission.json");
        assert_eq!(s.status, CcStatus::Waiting { waiting_for: "permission prompt".into() });
    }

    #[test]
    fn version_2_1_330_shapes() {
        let s = load("2.1.330-busy.json");
        assert_eq!(s.status, CcStatus::Busy);
        assert_eq!(s.version.as_deref(), Some("2.1.330"));
        assert_eq!(s.name.as_deref(), Some("my-named-session"));
        let s = load("2.1.330-waiting-input-needed.json");
        assert_eq!(s.status, CcStatus::Waiting { waiting_for: "input needed".into() });
        assert_eq!(s.updated_at_ms, Some(1795259051409));
    }

    #[test]
    fn odd_values() {
        let p = |s: &str| parse_status_file(s.as_bytes());
        assert_eq!(p(r#"{"pid":1,"sessionId":"s","status":"shell"}"#).unwrap().status, CcStatus::Idle);
        assert_eq!(
            p(r#"{"pid":1,"sessionId":"s","status":"waiting"}"#).unwrap().status,
            CcStatus::Waiting { waiting_for: String::new() }
        );
        assert_eq!(
            p(r#"{"pid":1,"sessionId":"s","status":"waiting","waitingFor":"goal proposal"}"#).unwrap().status,
            CcStatus::Waiting { waiting_for: "goal proposal".into() }
        );
        assert_eq!(
            p(r#"{"pid":1,"sessionId":"s","status":"sleeping"}"#).unwrap().status,
            CcStatus::Other("sleeping".into())
        );
        assert_eq!(p(r#"{"pid":1,"sessionId":"s","updatedAt":"12"}"#).unwrap().updated_at_ms, Some(12));
        // Half-written, wrong shapes, missing keys.
        for bad in [
            "",
            "{\"pid\":1,\"sessionId\":\"s\"",
            "[]",
            r#"{"sessionId":"s"}"#,
            r#"{"pid":1}"#,
            r#"{"pid":-1,"sessionId":"s"}"#,
            r#"{"pid":99999999999,"sessionId":"s"}"#,
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn file_names() {
        assert!(is_status_file_name("1234.json"));
        assert_eq!(status_file_pid("1234.json"), Some(1234));
        for n in [
            "1234.0f3a9c.key",
            "1234.json.tmp",
            ".1234.json.swp",
            "abc.json",
            ".json",
            "12a4.json",
            "1234.JSON",
            "-1.json",
            "99999999999.json",
            "1234.json~",
        ] {
            assert!(!is_status_file_name(n), "{n}");
        }
    }
}
