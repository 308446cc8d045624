//! Aegis: a gRPC service that runs interactive Claude Code sessions in tmux and steers them.
//!
//! Layering (data flows drivers → detect → core → api; commands flow api → core → drivers):
//! - [`detect`], [`cc`]: pure parsers of CC's screen, transcript, hook payloads and status file.
//! - [`tmux`]: the tmux driver (argv-only commands, one control-mode client as the push channel).
//! - [`core`]: sessions, state fusion, pending interactions, event log — no gRPC here.
//! - [`store`]: the embedded SQLite store behind the core.
//! - [`api`]: thin tonic handlers and the one place that maps core errors to `tonic::Status`.
pub mod cc;
pub mod detect;
pub mod proto;
