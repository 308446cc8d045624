//! The gRPC surface: thin tonic handlers, the one error-mapping place, auth, streams.
pub mod auth;
pub mod convert;
pub mod idempotency;
pub mod observe;
pub mod service;
pub mod status;
pub mod streams;
