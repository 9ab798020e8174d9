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
    let mut bytes = Vec::with_capacity(text.len().saturating_add(1));
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    raw(&bytes);
}

/// Writes `bytes` as they are (a completion script, a manual page) and flushes; a
/// closed pipe ends the process quietly, as for [`line`].
pub fn raw(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    if let Err(error) = written
        && error.kind() == ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}
