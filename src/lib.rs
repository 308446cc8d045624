//! Aegis: a gRPC service that runs interactive Claude Code sessions in tmux and steers them.
//!
//! Layering (data flows drivers → detect → core → api; commands flow api → core → drivers):
//! - [`detect`], [`cc`]: pure parsers of CC's screen, transcript, hook payloads and status file.
//! - [`tmux`], [`files`], [`hooks_http`], [`process`]: drivers (argv-only tmux + control-mode push
//!   channel, inotify, the hook receiver, a pidfd on each CC process).
//! - [`model`]: the session model (sessions, states, events, interactions) every room shares.
//! - [`core`]: sessions, state fusion, pending interactions, event log — no gRPC here.
//! - [`store`]: the embedded SQLite store behind the core; [`private_fs`]: 0700/0600 state files.
//! - [`api`]: thin tonic handlers and the one place that maps core errors to `tonic::Status`.
//! - [`http`]: the original tool's HTTP API (curl + jq), routes calling [`api`]'s service in-process.
//! - [`cli`], [`mcp`]: the human commands and the MCP server, both thin gRPC clients; [`login`]:
//!   `aegis login` (CC's own `/login` for the sessions' config dir).
//! - [`fakeapi`]: a scripted fake Anthropic Messages API for tests and offline use (and `serve --demo`).
//! - [`session_env`]: which variables a new session's CC gets, and their precedence.
//! - [`telemetry`]: metric names, the Prometheus recorder, the log subscriber (below every room).
pub mod api;
pub mod cc;
pub mod cli;
pub mod config;
pub mod core;
pub mod detect;
pub mod docs;
pub mod fakeapi;
pub mod files;
pub mod hooks_http;
pub mod http;
pub mod login;
pub mod mcp;
pub mod model;
pub mod private_fs;
pub mod process;
pub mod proto;
pub mod server;
pub mod session_env;
pub mod store;
pub mod telemetry;
pub mod tmux;
