//! Pure parsers for Claude Code's non-screen signals: the transcript JSONL
//! ([`transcript`]), hook payloads ([`hook_payload`]) and the
//! `sessions/<pid>.json` status file ([`status_file`]).

pub mod auth;
pub mod demo;
pub mod hook_payload;
pub mod launch;
pub mod status_file;
pub mod transcript;
pub mod transcript_index;
pub mod versions;
