//! Standard output that a closed pipe (`bulwark lab run | head`) ends quietly instead of with
//! a panic, as Unix tools do.

use std::io::{self, Write};

/// Write `text` to standard output; a reader that went away is not an error.
pub fn stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
