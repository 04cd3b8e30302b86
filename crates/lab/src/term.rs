//! What the lab shows on the terminal: whole lines on stdout that end
//! quietly when the reader has gone away, and progress bars on stderr that
//! appear only on a terminal.

use std::io::{ErrorKind, IsTerminal, Write};

use crate::Error;

/// Prints `text` and a newline to stdout. A closed pipe (as in `jlock bench
/// --json | head -c 10`) is not an error: the reader wanted no more.
pub fn print_line(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(Error::io("writing to stdout", e)),
        _ => Ok(()),
    }
}

/// A progress bar on stderr for `total` steps, drawn only when `show` and
/// both stdout and stderr are a terminal (so piped output stays plain).
pub fn progress_bar(total: u64, show: bool, unit: &str) -> indicatif::ProgressBar {
    if !show || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = format!("    {{bar:40.cyan/blue}} {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
