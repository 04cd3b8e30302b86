//! Writing to stdout without panicking when the reader has gone away.

use std::io::{ErrorKind, Write};

/// Prints `text` and a newline to stdout. If stdout is a closed pipe (as in
/// `jlock get db.json | head -c 10`), exits quietly like other Unix tools.
pub fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("jlock: writing to stdout: {e}");
        std::process::exit(i32::from(crate::exit::IO));
    }
}
