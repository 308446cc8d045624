//! One file per human command: each resolves its session once ([`super::resolve`]), makes its call and
//! prints the result as text or, with `--json`, as JSON (field names as in [`super::render::session_json`]).
pub mod answer;
pub mod approve;
pub mod attach;
pub mod keys;
pub mod kill;
pub mod logs;
pub mod ls;
pub mod new;
pub mod reject;
mod respond;
pub mod screen;
pub mod send;
pub mod show;
pub mod wait;
pub mod watch;

pub(super) use super::doctor;

use std::path::Path;

use anyhow::Context as _;

/// The text argument, or stdin for "-".
fn read_text_arg(text: String) -> anyhow::Result<String> {
    if text == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        Ok(s.trim_end_matches('\n').to_string())
    } else {
        Ok(text)
    }
}

/// `p` made absolute (and canonical when it exists locally).
fn abs_dir(p: &Path) -> anyhow::Result<String> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) };
    // Canonicalise when it exists locally (the server may be remote: then keep the absolute path as given).
    Ok(std::fs::canonicalize(&abs).unwrap_or(abs).to_string_lossy().into_owned())
}

/// Pretty JSON document on stdout.
fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    super::out::line(format_args!("{}", serde_json::to_string_pretty(v)?))?;
    Ok(())
}
