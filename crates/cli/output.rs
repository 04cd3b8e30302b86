//! What the CLI shows: stdout that does not panic when its reader has gone
//! away, and progress bars that appear only on a terminal.

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

/// A progress bar on stderr for `total` steps, drawn only when `show` and
/// stderr is a terminal.
pub fn progress_bar(total: u64, show: bool, unit: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = format!("    {{bar:40.cyan/blue}} {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
