//! Input validation for the core's commands: every rejection names the field and a stable reason.
use super::error::{CoreError, CoreResult, ErrorKind};
use super::params::{CreateParams, MessageKind};
use std::path::{Path, PathBuf};

pub const PERMISSION_MODES: &[&str] = &["default", "acceptEdits", "plan", "auto", "dontAsk", "bypassPermissions"];
/// Long flags Aegis sets itself or that change the session's identity, its transcript, its hooks or
/// make it non-interactive; letting callers pass them would break detection or hooks. Checked against
/// CC's own (commander.js) parser on 2.1.197/2.1.330/2.1.332: it takes `--flag` and `--flag=value`
/// (no abbreviations: `--prin` is "unknown option"); hidden options are included.
const RESERVED_LONG: &[&str] = &[
    "--session-id",
    "--settings",
    "--managed-settings",
    "--resume",
    "--resume-session-at",
    "--continue",
    "--fork-session",
    "--from-pr",
    "--teleport",
    "--remote",
    "--cloud",
    "--attach-serve",
    "--sdk-url",
    "--print",
    "--bare",
    "--bg",
    "--background",
    "--desktop",
    "--worktree",
    "--tmux",
    "--no-session-persistence",
    "--help",
    "--version",
];
/// Reserved short flags: `-c` continue, `-p` print, `-r` resume, `-w` worktree, `-h`/`-v` help/version.
const RESERVED_SHORT: &[char] = &['c', 'p', 'r', 'w', 'h', 'v'];
/// Short flags that take a value: commander reads the rest of a cluster as that value (`-dp` is
/// `--debug p`), so the walk over a cluster stops there.
const VALUE_SHORT: &[char] = &['d', 'n'];

/// The reserved flag an argument spells, if any: `--print`, `--print=x`, `-p`, `-pc` (commander
/// expands a cluster of boolean shorts), `-r<id>`, `-cr`… The argument is checked wherever it stands
/// (also as another flag's value): being stricter than CC's parser is safe, being looser is not.
pub fn reserved_flag(arg: &str) -> Option<String> {
    if let Some(long) = arg.strip_prefix("--") {
        let name = format!("--{}", long.split('=').next().unwrap_or_default());
        return RESERVED_LONG.contains(&name.as_str()).then_some(name);
    }
    let cluster = arg.strip_prefix('-')?;
    for c in cluster.chars() {
        if RESERVED_SHORT.contains(&c) {
            return Some(format!("-{c}"));
        }
        if VALUE_SHORT.contains(&c) || !c.is_ascii_alphabetic() {
            return None;
        }
    }
    None
}
/// An argv entry is limited by the kernel to 128 KiB; larger first prompts go through SendMessage.
pub const MAX_ARGV_PROMPT: usize = 100_000;
pub const MAX_MESSAGE: usize = 1 << 20;

fn ok_chars(s: &str, extra: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Longest session name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// Characters that would make a name lie on a screen or in a log: C0/C1 controls and DEL, bidi
/// overrides and isolates, zero-width characters, line/paragraph separators and the BOM.
fn invisible_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// A name is a label for people: any printable Unicode text (spaces, `#`, accents, CJK…) up to
/// `MAX_NAME_CHARS`, without control or invisible characters and without surrounding spaces. It only
/// ever travels as one argv entry or as data (never a tmux target or format), so nothing in it is
/// interpreted anywhere.
pub fn name(name: &str) -> CoreResult<()> {
    if name.is_empty() {
        return Ok(());
    }
    let n = name.chars().count();
    let why = if n > MAX_NAME_CHARS {
        Some(format!("name is {n} characters; at most {MAX_NAME_CHARS}"))
    } else if let Some((i, c)) = name.char_indices().find(|(_, c)| invisible_or_control(*c)) {
        Some(format!("name has the control or invisible character U+{:04X} at byte {i}", c as u32))
    } else if name.trim() != name {
        Some("name starts or ends with white space".to_string())
    } else if uuid::Uuid::parse_str(name).is_ok() {
        Some("name looks like a session id".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(CoreError::invalid("name", "INVALID_NAME", why)),
        None => Ok(()),
    }
}

/// Validates a create request; returns the canonical work dir.
pub fn create(p: &CreateParams) -> CoreResult<PathBuf> {
    let wd = work_dir(&p.work_dir)?;
    name(&p.name)?;
    if !p.permission_mode.is_empty() && !PERMISSION_MODES.contains(&p.permission_mode.as_str()) {
        return Err(CoreError::invalid(
            "permission_mode",
            "INVALID_PERMISSION_MODE",
            format!("permission_mode must be one of {}", PERMISSION_MODES.join(", ")),
        ));
    }
    if !p.model.is_empty() && (p.model.len() > 100 || !ok_chars(&p.model, "._:-[]")) {
        return Err(CoreError::invalid(
            "model",
            "INVALID_MODEL",
            "model must be 1-100 characters of [A-Za-z0-9._:[]-]",
        ));
    }
    if p.env.len() > 100 {
        return Err(CoreError::invalid("env", "INVALID_ENV", "at most 100 environment variables"));
    }
    for (k, v) in &p.env {
        let good_name =
            !k.is_empty() && k.len() <= 128 && !k.starts_with(|c: char| c.is_ascii_digit()) && ok_chars(k, "_");
        if !good_name || v.contains('\0') || v.len() > 32 * 1024 {
            return Err(
                CoreError::invalid("env", "INVALID_ENV", format!("bad environment variable {k:?}")).with("name", k)
            );
        }
    }
    if p.extra_args.len() > 50 {
        return Err(CoreError::invalid("extra_args", "INVALID_EXTRA_ARGS", "at most 50 extra arguments"));
    }
    for a in &p.extra_args {
        if a.contains('\0') || a.len() > 8192 {
            return Err(CoreError::invalid(
                "extra_args",
                "INVALID_EXTRA_ARGS",
                "an extra argument is too long or has NUL",
            ));
        }
        if let Some(flag) = reserved_flag(a) {
            return Err(CoreError::invalid(
                "extra_args",
                "EXTRA_ARG_RESERVED",
                format!("{flag} is set by Aegis or breaks its session control and cannot be passed in extra_args"),
            )
            .with("arg", flag));
        }
    }
    for (k, v) in &p.labels {
        if k.is_empty()
            || k.len() > 63
            || !k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c))
            || v.len() > 256
        {
            return Err(CoreError::invalid("labels", "INVALID_LABEL", format!("bad label {k:?}")).with("key", k));
        }
    }
    if p.cols != 0 && !(40..=500).contains(&p.cols) || p.rows != 0 && !(10..=200).contains(&p.rows) {
        return Err(CoreError::invalid("cols", "INVALID_SIZE", "cols must be 40-500 and rows 10-200"));
    }
    for t in &p.policy.approve_tools {
        if t.is_empty() || t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c)) {
            return Err(CoreError::invalid("policy", "INVALID_POLICY", format!("bad tool name {t:?}")));
        }
        if t == "AskUserQuestion" || t == "ExitPlanMode" {
            return Err(CoreError::invalid(
                "policy",
                "INVALID_POLICY",
                format!("{t} is never auto-answered: questions and plans need an explicit answer"),
            ));
        }
    }
    if p.prompt.len() > MAX_ARGV_PROMPT {
        return Err(CoreError::invalid(
            "prompt",
            "PROMPT_TOO_LONG",
            format!("a first prompt is limited to {MAX_ARGV_PROMPT} bytes; send longer ones with SendMessage"),
        ));
    }
    first_prompt(&p.prompt)?;
    Ok(wd)
}

pub fn work_dir(s: &str) -> CoreResult<PathBuf> {
    if s.is_empty() {
        return Err(CoreError::invalid("work_dir", "WORK_DIR_REQUIRED", "work_dir is required"));
    }
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(CoreError::invalid("work_dir", "WORK_DIR_NOT_ABSOLUTE", "work_dir must be an absolute path")
            .with("work_dir", s));
    }
    match std::fs::metadata(p) {
        Err(_) => {
            Err(CoreError::new(ErrorKind::NotFound, "WORK_DIR_NOT_FOUND", format!("work_dir {s:?} does not exist"))
                .with("work_dir", s))
        }
        Ok(m) if !m.is_dir() => Err(CoreError::invalid(
            "work_dir",
            "WORK_DIR_NOT_A_DIRECTORY",
            format!("work_dir {s:?} is not a directory"),
        )
        .with("work_dir", s)),
        Ok(_) => p.canonicalize().map_err(|e| CoreError::internal(e.to_string())),
    }
}

/// Checks a SendMessage text and returns what is typed: a prompt with `\r\n` normalised to `\n`, other
/// kinds unchanged. The rules (README, "SendMessage semantics"): caller text is typed as literal text and
/// never as keys, so characters a terminal would read as keys are refused with their byte offset: every
/// C0 control except `\n` and `\t` in a prompt (ESC starts key sequences and the paste end marker, CR
/// submits, `^U` erases, `^C` interrupts), DEL and C1 controls. SLASH_COMMAND and BASH are one line
/// without any control character (a tab would autocomplete). A prompt whose first word is a slash
/// command name is refused: CC runs it as a command however it is typed (verified for `/exit` typed,
/// pasted and after leading spaces), so it must be sent as kind SLASH_COMMAND.
pub fn message(text: &str, kind: MessageKind) -> CoreResult<String> {
    if text.trim().is_empty() {
        return Err(CoreError::invalid("text", "EMPTY_MESSAGE", "text is required"));
    }
    if text.len() > MAX_MESSAGE {
        return Err(CoreError::invalid(
            "text",
            "MESSAGE_TOO_LONG",
            format!("text is {} bytes; at most {MAX_MESSAGE} (1 MiB)", text.len()),
        )
        .with("limit", MAX_MESSAGE));
    }
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        let crlf = c == '\r' && bytes.get(i + 1) == Some(&b'\n');
        let fine = match kind {
            MessageKind::Prompt => !c.is_control() || c == '\n' || c == '\t' || crlf,
            _ => !c.is_control(),
        };
        if fine {
            continue;
        }
        if kind != MessageKind::Prompt && (c == '\n' || c == '\r') {
            return Err(CoreError::invalid(
                "text",
                "MESSAGE_NOT_SINGLE_LINE",
                format!("slash commands and bash lines are one line; line break at byte {i}"),
            )
            .with("offset", i));
        }
        return Err(control_character(c, i));
    }
    if kind != MessageKind::Prompt {
        return Ok(text.to_string());
    }
    let text = text.replace("\r\n", "\n");
    if let Some(name) = slash_command_name(&text) {
        return Err(CoreError::invalid(
            "text",
            "PROMPT_IS_SLASH_COMMAND",
            format!("a prompt starting with /{name} would run as a slash command; send it with kind SLASH_COMMAND"),
        )
        .with("command", name));
    }
    Ok(text)
}

/// The first text of a CreateSession: CC gets it on its command line and treats it like a typed prompt
/// (`claude -- /exit` exits; `!cmd` and `#` stay prompt text), so the prompt rule applies unchanged.
fn first_prompt(prompt: &str) -> CoreResult<()> {
    if prompt.is_empty() {
        return Ok(());
    }
    message(prompt, MessageKind::Prompt).map(|_| ()).map_err(|mut e| {
        e.field = Some("prompt");
        e
    })
}

fn control_character(c: char, offset: usize) -> CoreError {
    let code = format!("U+{:04X}", c as u32);
    CoreError::invalid(
        "text",
        "MESSAGE_CONTROL_CHARACTER",
        format!("text has the control character {code} at byte {offset}; it cannot be typed as literal text"),
    )
    .with("offset", offset)
    .with("character", code)
}

/// The command name when a prompt (after leading white space, which CC trims before it looks) starts with
/// `/` and its first word is not a path. `/tmp/x is broken` is a path: CC sends a first word with a second
/// `/` as prompt text (checked on every supported version); a bare `/word` may be a command, a skill or
/// "Unknown skill", so it is never sent as a prompt.
fn slash_command_name(text: &str) -> Option<String> {
    let rest = text.trim_start().strip_prefix('/')?;
    let word = rest.split(char::is_whitespace).next().unwrap_or_default();
    (!word.contains('/')).then(|| word.chars().take(64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_with_field_and_reason() {
        let mut p = CreateParams { work_dir: "relative/dir".into(), ..Default::default() };
        assert_eq!(create(&p).unwrap_err().reason, "WORK_DIR_NOT_ABSOLUTE");
        p.work_dir = "/definitely/not/here".into();
        let e = create(&p).unwrap_err();
        assert_eq!((e.kind, e.reason), (ErrorKind::NotFound, "WORK_DIR_NOT_FOUND"));
        p.work_dir = "/etc/hostname".into();
        assert_eq!(create(&p).unwrap_err().reason, "WORK_DIR_NOT_A_DIRECTORY");
        p.work_dir = "/tmp".into();
        assert!(create(&p).is_ok());
        p.extra_args = vec!["--settings={}".into()];
        assert_eq!(create(&p).unwrap_err().reason, "EXTRA_ARG_RESERVED");
        p.extra_args.clear();
        for good in ["impl-#123", "review PR 456", "tâche-é", "fix ci", "-n", "日本語のセッション", "a;$(rm -rf /)`x`"]
        {
            p.name = good.into();
            assert!(create(&p).is_ok(), "{good:?}");
        }
        let long = "é".repeat(MAX_NAME_CHARS + 1);
        for bad in [
            "tab\there",
            "new\nline",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "rtl\u{202E}txt",
            "zw\u{200B}j",
            " padded",
            long.as_str(),
        ] {
            p.name = bad.into();
            assert_eq!(create(&p).unwrap_err().reason, "INVALID_NAME", "{bad:?}");
        }
        p.name = uuid::Uuid::new_v4().to_string();
        assert_eq!(create(&p).unwrap_err().reason, "INVALID_NAME");
        p.name.clear();
        p.env.insert("1BAD".into(), "x".into());
        assert_eq!(create(&p).unwrap_err().field, Some("env"));
    }

    #[test]
    fn reserved_flags_are_caught_in_every_spelling_commander_accepts() {
        for bad in [
            "-p",
            "-pc",
            "-cp",
            "--print",
            "--print=x",
            "-r",
            "-rabc",
            "-r0b5c7a52-2f0e-4a55-9d59-1a2b3c4d5e6f",
            "--resume=abc",
            "--resume",
            "--session-id=0b5c7a52-2f0e-4a55-9d59-1a2b3c4d5e6f",
            "--settings={}",
            "--settings=/tmp/s.json",
            "--continue",
            "-c",
            "--fork-session",
            "--resume-session-at=m1",
            "--sdk-url=ws://x",
            "-w",
            "--worktree=x",
            "--bare",
        ] {
            assert!(reserved_flag(bad).is_some(), "{bad:?}");
            let p = CreateParams { work_dir: "/tmp".into(), extra_args: vec![bad.into()], ..Default::default() };
            let e = create(&p).unwrap_err();
            assert_eq!((e.reason, e.field), ("EXTRA_ARG_RESERVED", Some("extra_args")), "{bad:?}");
        }
        // A value-taking short ends the cluster: `-dp` is `--debug p`, `-nrc` is `--name rc`.
        for good in ["--add-dir", "/tmp/x", "-dp", "-nrc", "--model", "--verbose", "--printer", "-", "--", "plain"] {
            assert_eq!(reserved_flag(good), None, "{good:?}");
        }
    }

    #[test]
    fn messages() {
        use MessageKind::*;
        assert_eq!(message("a\nb\tc", Prompt).unwrap(), "a\nb\tc");
        assert_eq!(message("  ", Prompt).unwrap_err().reason, "EMPTY_MESSAGE");
        let long = "x".repeat(MAX_MESSAGE + 1);
        assert_eq!(message(&long, Prompt).unwrap_err().reason, "MESSAGE_TOO_LONG");
        assert!(message(&long[..MAX_MESSAGE], Prompt).is_ok());
    }

    /// Every character a terminal reads as a key is refused, with the byte offset of the first one.
    #[test]
    fn prompt_control_characters_are_refused_with_their_offset() {
        for (text, offset, code) in [
            ("!touch x\u{15}", 8, "U+0015"),
            ("a\u{3}b", 1, "U+0003"),
            ("é\u{1b}[201~/exit", 2, "U+001B"),
            ("done\u{1b}OM", 4, "U+001B"),
            ("bare\rcr", 4, "U+000D"),
            ("nul\0", 3, "U+0000"),
            ("del\u{7f}", 3, "U+007F"),
            ("c1\u{9b}201~", 2, "U+009B"),
            ("ok\r\nthen\r", 8, "U+000D"),
        ] {
            let e = message(text, MessageKind::Prompt).unwrap_err();
            assert_eq!(
                (e.kind, e.reason, e.field),
                (ErrorKind::InvalidArgument, "MESSAGE_CONTROL_CHARACTER", Some("text"))
            );
            assert_eq!(e.metadata["offset"], offset.to_string(), "{text:?}");
            assert_eq!(e.metadata["character"], code, "{text:?}");
        }
    }

    #[test]
    fn prompt_crlf_becomes_lf() {
        assert_eq!(message("one\r\ntwo\r\n", MessageKind::Prompt).unwrap(), "one\ntwo\n");
    }

    /// `!`, `#` and paths are prompt text; a leading `/word` is a command and must use SLASH_COMMAND.
    #[test]
    fn prompt_leading_characters() {
        for ok in [
            "!touch /tmp/x",
            "# remember",
            "  \n!rm -rf x",
            "/tmp/x is broken",
            "\n /usr/bin/env fails",
            "?",
            "a /exit",
        ] {
            assert!(message(ok, MessageKind::Prompt).is_ok(), "{ok:?}");
        }
        for (bad, name) in
            [("/exit", "exit"), ("  \n/clear now", "clear"), ("/tmp is full", "tmp"), ("/", ""), ("/ x", "")]
        {
            let e = message(bad, MessageKind::Prompt).unwrap_err();
            assert_eq!(e.reason, "PROMPT_IS_SLASH_COMMAND", "{bad:?}");
            assert_eq!(e.metadata["command"], name);
            assert!(e.message.contains("SLASH_COMMAND"));
        }
    }

    #[test]
    fn slash_and_bash_are_one_plain_line() {
        for kind in [MessageKind::Slash, MessageKind::Bash] {
            assert_eq!(message("echo one && ls -la", kind).unwrap(), "echo one && ls -la");
            for (text, offset) in [("echo one\rtouch X", 8), ("a\nb", 1), ("ab\r\n", 2)] {
                let e = message(text, kind).unwrap_err();
                assert_eq!(e.reason, "MESSAGE_NOT_SINGLE_LINE", "{text:?}");
                assert_eq!(e.metadata["offset"], offset.to_string());
            }
            for text in ["a\tb", "x\u{1b}[A", "q\u{7f}"] {
                assert_eq!(message(text, kind).unwrap_err().reason, "MESSAGE_CONTROL_CHARACTER", "{text:?}");
            }
        }
    }

    /// CC runs a first prompt `/exit` from its command line as the command: the same rule applies.
    #[test]
    fn first_prompt_follows_the_prompt_rule() {
        let mut p = CreateParams { work_dir: "/tmp".into(), ..Default::default() };
        for ok in ["", "!touch x", "# note", "/tmp/x is broken", "line\nline"] {
            p.prompt = ok.into();
            assert!(create(&p).is_ok(), "{ok:?}");
        }
        p.prompt = "/exit".into();
        let e = create(&p).unwrap_err();
        assert_eq!((e.reason, e.field), ("PROMPT_IS_SLASH_COMMAND", Some("prompt")));
        p.prompt = "hi\u{3}".into();
        assert_eq!(create(&p).unwrap_err().reason, "MESSAGE_CONTROL_CHARACTER");
    }
}
