//! Standard output of the CLI: one place that writes it, so a reader that goes away
//! (`portcullis token inspect … | head -1`) ends the command quietly instead of the
//! panic `println!` raises on a closed pipe (issue 16).

use std::io::{ErrorKind, Write};

/// Writes `text` and a newline to standard output and flushes it.
///
/// When the reader has closed the pipe (`EPIPE`, `ErrorKind::BrokenPipe`) the process
/// ends at once with status 0 and no message, as `ripgrep` and other filters do: the
/// reader chose to stop reading, which is not a failure of this command. Any other
/// write error is ignored the same way `println!` would not be able to report it
/// either (standard output is gone), except that it does not panic.
pub fn line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(error) = written
        && error.kind() == ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}
