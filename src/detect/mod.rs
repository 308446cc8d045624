//! Pure detectors: Claude Code screen text -> what CC is doing / asking.
//!
//! Everything here is a pure function of its input (no I/O), so it can be
//! snapshot-tested over real recorded screens (`tests/fixtures/screens/`).

pub mod dialog;
pub mod screen;
mod text;

pub use screen::{classify, RetryInfo, ScreenObservation, ScreenState};

#[cfg(test)]
mod tests;
