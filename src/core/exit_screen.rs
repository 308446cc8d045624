//! What a dead session leaves behind: CC's last screen, and the few lines of it that say why it
//! ended (CC prints its own start-up errors there and nowhere else). Pure functions over pane text.

/// Lines kept in `exit.reason` from the last screen, and its length cap.
const REASON_LINES: usize = 3;
const REASON_MAX_CHARS: usize = 500;

/// tmux's `remain-on-exit-format` line, written below the last frame of a dead pane.
fn is_tmux_dead_line(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("Pane is dead (") && t.ends_with(')')
}

/// The last screen as kept with the session: the capture (visible screen plus a line of history,
/// since tmux's dead-pane line pushes the frame's top line up) without tmux's dead-pane line and
/// trailing blank lines, at most `rows` lines.
pub fn final_screen(captured: &str, rows: u16) -> String {
    let mut lines: Vec<&str> = captured.lines().filter(|l| !is_tmux_dead_line(l)).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let skip = lines.len().saturating_sub(rows.max(1) as usize);
    let mut out = lines[skip..].iter().map(|l| l.trim_end()).collect::<Vec<_>>().join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Box drawing, block elements and CC's bare prompt glyph: frame, not message.
fn is_decoration(c: char) -> bool {
    matches!(c, '\u{2500}'..='\u{259F}' | '❯' | '>' | '·') || c.is_whitespace()
}

/// The meaningful last lines of `screen`: without blank lines, box-drawing rules and borders, and
/// tmux's dead-pane line; at most a few lines and 500 characters.
pub fn last_words(screen: &str) -> String {
    let meaningful: Vec<String> = screen
        .lines()
        .filter(|l| !is_tmux_dead_line(l))
        .map(|l| l.trim_matches(|c: char| matches!(c, '\u{2500}'..='\u{257F}') || c.is_whitespace()).to_string())
        .filter(|l| !l.chars().all(is_decoration))
        .collect();
    let tail = &meaningful[meaningful.len().saturating_sub(REASON_LINES)..];
    let text = tail.join("\n");
    if text.chars().count() <= REASON_MAX_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(REASON_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `exit.reason`: how the process ended, then (unless a signal ended it: then the screen shows
/// whatever CC was doing, not why it stopped) what CC last said.
pub fn exit_reason(status: Option<i32>, signal: Option<i32>, screen: &str) -> String {
    let how = match (status, signal) {
        (_, Some(sig)) => return format!("process killed by {}", crate::process::signal_name(sig)),
        (Some(code), None) => format!("process exited with status {code}"),
        (None, None) => "process exited".to_string(),
    };
    let words = last_words(screen);
    if words.is_empty() {
        how
    } else {
        format!("{how}: {words}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNKNOWN_OPTION: &str =
        "error: unknown option '--no-such-flag'\n\n\n\nPane is dead (status 1, Wed Dec  2 06:10:01 2026)\n";

    #[test]
    fn start_up_error_is_the_reason() {
        let screen = final_screen(UNKNOWN_OPTION, 24);
        assert_eq!(screen, "error: unknown option '--no-such-flag'\n");
        assert_eq!(
            exit_reason(Some(1), None, &screen),
            "process exited with status 1: error: unknown option '--no-such-flag'"
        );
    }

    #[test]
    fn frames_and_rules_are_not_words() {
        let screen =
            "╭────────╮\n│ ✻ Welcome │\n╰────────╯\n  ⎿  Not logged in · Please run /login\n────────\n❯ \n────────\n\n";
        assert_eq!(last_words(screen), "✻ Welcome\n⎿  Not logged in · Please run /login");
        assert_eq!(exit_reason(None, Some(9), screen), "process killed by signal 9 (SIGKILL)");
        assert_eq!(exit_reason(None, None, "\n\n"), "process exited");
    }

    #[test]
    fn the_screen_keeps_rows_lines_and_the_reason_is_capped() {
        let captured: String = (0..30).map(|i| format!("line {i}   \n")).collect();
        let screen = final_screen(&captured, 24);
        assert_eq!(screen.lines().count(), 24);
        assert!(screen.starts_with("line 6\n"));
        assert_eq!(last_words(&screen), "line 27\nline 28\nline 29");
        let long = "x".repeat(2000);
        assert_eq!(last_words(&long).chars().count(), 500);
    }
}
