//! What the CLI prints from a transcript is CC's text, so two filters apply to it: secrets are redacted
//! (always), and terminal control sequences are removed when stdout is not a terminal.
use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

use crate::proto::v1::TranscriptEntry;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

fn rules() -> &'static [(Regex, &'static str)] {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            // The per-session hook URL `/hooks/<session>/<secret>` (e.g. in a hook error CC logged).
            (r"(/hooks/[^/\s]+/)[A-Za-z0-9_-]+", "${1}<redacted>"),
            // `Authorization: Bearer <token>`.
            (r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", "${1}<redacted>"),
            // Anthropic keys (`sk-ant-api03-…`, `sk-ant-oat01-…`).
            (r"\b(sk-ant-)[A-Za-z0-9_-]+", "${1}<redacted>"),
            // Secret-named variables: `ANTHROPIC_API_KEY=…`, `"AEGIS_TOKEN": "…"`.
            (
                r#"\b([A-Z][A-Z0-9_]*(?:API_KEY|TOKEN|SECRET|PASSWORD)S?)(=|"?\s*:\s*"?)([^\s"'\\,;}<]+)"#,
                "${1}${2}<redacted>",
            ),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).expect("redaction rule"), with))
        .collect()
    })
}

/// `text` with secrets replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (re, with) in rules() {
        if let Cow::Owned(s) = re.replace_all(&out, *with) {
            out = Cow::Owned(s);
        }
    }
    out
}

/// An entry with secrets redacted in every text field it prints.
pub fn redact_entry(e: &TranscriptEntry) -> TranscriptEntry {
    let mut e = e.clone();
    for f in [&mut e.text, &mut e.tool_input_json, &mut e.subtype, &mut e.tool_name] {
        if let Cow::Owned(s) = redact(f) {
            *f = s;
        }
    }
    e
}

/// `text` without terminal escape sequences (CSI, OSC, DCS…, C1) and control characters other than
/// newline and tab: what is left cannot move the cursor, recolour or retitle a terminal, or hide text.
pub fn strip_control(text: &str) -> Cow<'_, str> {
    let keep = |c: char| c == '\n' || c == '\t' || !(c.is_control());
    if text.chars().all(keep) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to one final byte.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // A two-character escape (ESC c, ESC 7…): dropped with its character.
                _ => {}
            },
            c if keep(c) => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let url = "PermissionRequest hook error: http://127.0.0.1:40123/hooks/92a1ac34-7705-472d-b6e5-2f0ea66f8411/0f3c9d2e4b5a46c7a8e9f0a1b2c3d4e5 returned 500";
        assert_eq!(
            redact(url),
            "PermissionRequest hook error: http://127.0.0.1:40123/hooks/92a1ac34-7705-472d-b6e5-2f0ea66f8411/<redacted> returned 500"
        );
        let settings = r#"{"hooks":{"Stop":[{"hooks":[{"type":"http","url":"http://127.0.0.1:1/hooks/s1/abcDEF123","timeout":600}]}]}}"#;
        assert!(redact(settings).contains(r#""url":"http://127.0.0.1:1/hooks/s1/<redacted>","timeout":600"#));
        assert_eq!(
            redact("curl -H 'Authorization: Bearer eyJhb.c-d_e/f='"),
            "curl -H 'Authorization: Bearer <redacted>'"
        );
        assert_eq!(redact("key sk-ant-api03-AbC_d-9 used"), "key sk-ant-<redacted> used");
        assert_eq!(redact("ANTHROPIC_API_KEY=abc123 claude"), "ANTHROPIC_API_KEY=<redacted> claude");
        assert_eq!(redact(r#"{"AEGIS_TOKEN": "t0ps3cret", "x": 1}"#), r#"{"AEGIS_TOKEN": "<redacted>", "x": 1}"#);
        assert_eq!(redact("export GITHUB_TOKENS=ghp_x; ls"), "export GITHUB_TOKENS=<redacted>; ls");
        // Ordinary text is left alone (and not copied).
        for plain in [
            "max_tokens: 100",
            "the bearer of news",
            "AEGIS_TOKEN_FILE=/run/aegis/token",
            "see /hooks/ in the docs",
            "a task-1234",
        ] {
            assert!(matches!(redact(plain), Cow::Borrowed(_)), "{plain} was changed to {}", redact(plain));
        }
    }

    #[test]
    fn entries_are_redacted_in_every_printed_field() {
        let e = TranscriptEntry {
            text: "token sk-ant-oat01-zzz".into(),
            tool_input_json: r#"{"command":"ANTHROPIC_API_KEY=k1 claude -p hi"}"#.into(),
            ..Default::default()
        };
        let r = redact_entry(&e);
        assert_eq!(r.text, "token sk-ant-<redacted>");
        assert_eq!(r.tool_input_json, r#"{"command":"ANTHROPIC_API_KEY=<redacted> claude -p hi"}"#);
    }

    #[test]
    fn control_sequences_are_stripped() {
        assert_eq!(strip_control("\x1b[1;31mred\x1b[0m plain"), "red plain");
        assert_eq!(strip_control("\x1b]0;new title\x07after"), "after");
        assert_eq!(strip_control("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert_eq!(strip_control("a\x1bcb\rc\x08d\u{9b}e"), "abcde");
        assert_eq!(strip_control("tâche-é\n\tok"), "tâche-é\n\tok");
        assert!(matches!(strip_control("no escapes"), Cow::Borrowed(_)));
        // An unterminated sequence at the end swallows only itself.
        assert_eq!(strip_control("x\x1b[31"), "x");
    }
}
