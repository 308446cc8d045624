//! Small text helpers shared by the screen classifier and the dialog parsers.

use regex::Regex;

/// A lazily compiled, process-wide regex (`re!(r"...")`).
macro_rules! re {
    ($pat:expr) => {{
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        RE.get_or_init(|| regex::Regex::new($pat).expect("static regex"))
    }};
}
pub(crate) use re;

/// NO-BREAK SPACE: the live input line is `❯\u{a0}`, scrollback echoes use `❯ `.
pub const NBSP: char = '\u{a0}';

/// Splits a `capture-pane -p` text into lines.
///
/// Only ASCII blanks are trimmed at the end of a line: `str::trim_end` would
/// also eat the NBSP of an empty live input line (`❯\u{a0}`), the best
/// discriminator we have. ANSI escapes (from `capture-pane -e`) are removed so
/// that such captures classify like their plain twins.
pub fn screen_lines(screen: &str) -> Vec<String> {
    let plain = if screen.contains('\u{1b}') { strip_ansi(screen) } else { screen.to_string() };
    let mut lines: Vec<String> = plain.split('\n').map(|l| l.trim_end_matches([' ', '\r', '\t']).to_string()).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

fn strip_ansi(s: &str) -> String {
    let re: &Regex = re!(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]");
    re.replace_all(s, "").into_owned()
}

/// Number of leading ASCII spaces.
pub fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A full-width, unindented rule: the input box borders and the top of a
/// blocking dialog (`────…`, possibly with an embedded session name), or the
/// fullscreen renderer's dialog frame (`▔▔▔…`, possibly with an overlay hint).
pub fn is_rule(line: &str) -> bool {
    (line.starts_with("───") && count(line, '─') >= 10) || line.starts_with("▔▔▔")
}

/// The rule CC draws for a named session (`--name`): `────…──── <name> ─`. It is the top border of the
/// input box, and on the fullscreen renderer the last line under a blocking dialog. Names are any
/// printable text (wide, long, truncated by CC with `…`), so only the frame is checked.
pub fn session_name_rule(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("───")?.trim_start_matches('─').strip_prefix(' ')?;
    let name = inner.trim_end_matches('─').strip_suffix(' ')?;
    (is_rule(line) && !name.trim().is_empty()).then_some(name)
}

/// A rule at any indentation (the fullscreen plan dialog indents its rules).
pub fn is_any_rule(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("───") && t.chars().all(|c| c == '─')
}

/// A dashed `╌╌╌` separator (file contents, diffs, plans, commands).
pub fn is_dashed(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("╌╌╌") && t.chars().all(|c| c == '╌')
}

fn count(line: &str, ch: char) -> usize {
    line.chars().filter(|&c| c == ch).count()
}

/// Joins wrapped text lines with single spaces.
pub fn join_wrapped<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}
