//! Input validation for the core's commands: every rejection names the field and a stable reason.
use super::error::{CoreError, CoreResult, ErrorKind};
use super::manager::{CreateParams, MessageKind};
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
    if p.prompt.contains('\0') {
        return Err(CoreError::invalid("prompt", "INVALID_PROMPT", "prompt contains NUL"));
    }
    if p.prompt.len() > MAX_ARGV_PROMPT {
        return Err(CoreError::invalid(
            "prompt",
            "PROMPT_TOO_LONG",
            format!("a first prompt is limited to {MAX_ARGV_PROMPT} bytes; send longer ones with SendMessage"),
        ));
    }
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

pub fn message(text: &str, kind: MessageKind) -> CoreResult<()> {
    if text.trim().is_empty() {
        return Err(CoreError::invalid("text", "EMPTY_MESSAGE", "text is required"));
    }
    if text.len() > MAX_MESSAGE || text.contains('\0') {
        return Err(CoreError::invalid("text", "INVALID_MESSAGE", "text must be at most 1 MiB without NUL"));
    }
    if kind != MessageKind::Prompt && text.contains('\n') {
        return Err(CoreError::invalid("text", "INVALID_MESSAGE", "slash commands and bash lines are single-line"));
    }
    Ok(())
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
        assert!(message("a\nb", MessageKind::Prompt).is_ok());
        assert_eq!(message("a\nb", MessageKind::Slash).unwrap_err().reason, "INVALID_MESSAGE");
        assert_eq!(message("  ", MessageKind::Prompt).unwrap_err().reason, "EMPTY_MESSAGE");
    }
}
