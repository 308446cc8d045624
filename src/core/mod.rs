//! The domain core: sessions, state fusion, pending interactions, event log. No gRPC here.
pub mod actor;
pub mod answer;
pub mod error;
pub mod exit_screen;
pub mod feed;
pub mod fuse;
pub mod handle;
pub mod interactions;
pub mod manager;
pub mod params;
pub mod validate;

pub use error::{CoreError, CoreResult, ErrorKind};
pub use manager::{HookAnswer, Manager, ManagerConfig};
pub use params::{CreateParams, ListFilter, MessageKind};
