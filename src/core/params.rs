//! What the core's commands take, already decoded from the wire (the API builds them; validation and
//! the manager read them).
use crate::model::{Policy, State};
use std::collections::BTreeMap;

/// What CreateSession asks for, already decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateParams {
    pub work_dir: String,
    pub name: String,
    pub prompt: String,
    pub permission_mode: String,
    pub model: String,
    pub env: BTreeMap<String, String>,
    pub extra_args: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub cols: u32,
    pub rows: u32,
    pub policy: Policy,
    /// The new session's id when chosen before acting (idempotent creates record it first); else a
    /// fresh UUID.
    pub id: Option<String>,
    /// Live sessions at most, checked atomically with the new session's registration (None = no cap).
    pub max_live: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Prompt,
    Slash,
    Bash,
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub states: Vec<State>,
    pub work_dir: String,
    pub labels: BTreeMap<String, String>,
    pub include_exited: bool,
    pub offset: usize,
    pub limit: usize,
}
