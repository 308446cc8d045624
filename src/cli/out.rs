//! stdout/stderr writes of the human commands. SIGPIPE stays ignored (as Rust sets it, so a broken gRPC
//! socket is an error, not a kill); instead every stdout write goes through here and returns the
//! `io::Error`, so a closed pipe (`aegis ls | head -1`) unwinds with `?` to [`super::exit::report`],
//! which exits quietly with 141. `println!` would panic ("failed printing to stdout", rc 101) instead.
use std::fmt;
use std::io::{self, Write as _};

/// Writes formatted text to stdout.
pub fn write(args: fmt::Arguments) -> io::Result<()> {
    io::stdout().lock().write_fmt(args)
}

/// Writes formatted text and a newline to stdout.
pub fn line(args: fmt::Arguments) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// Writes raw bytes to stdout.
pub fn bytes(b: &[u8]) -> io::Result<()> {
    io::stdout().lock().write_all(b)
}

/// Flushes stdout (a follow loop shows each batch at once; the last flush reports a closed pipe).
pub fn flush() -> io::Result<()> {
    io::stdout().lock().flush()
}

/// Writes a diagnostic to stderr; a closed stderr is not worth failing the command for.
pub fn diag(args: fmt::Arguments) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// `print!` that returns (via `?`) instead of panicking on a closed stdout.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::out::write(format_args!($($t)*))? };
}

/// `println!` that returns (via `?`) instead of panicking on a closed stdout.
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::out::line(format_args!($($t)*))? };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => { $crate::cli::out::diag(format_args!($($t)*)) };
}

pub(crate) use {errln, out, outln};
