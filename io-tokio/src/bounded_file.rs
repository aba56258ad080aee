//! Reading a whole file the configuration names (configuration text, dictionaries,
//! PEM files) with a bound on its size, refusing what is not a regular file: a FIFO
//! would block for ever (even in `open`), a device such as `/dev/zero` never end.

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// It could not be inspected, opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It is a directory.
    #[error("it is a directory")]
    Directory,
    /// It is a FIFO, a device or a socket.
    #[error("it is not a regular file")]
    NotRegular,
    /// It is larger than allowed (`size` bytes, or more: it may have grown while
    /// it was read).
    #[error("the file is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        /// Its size, as far as it was read.
        size: u64,
        /// The bound.
        limit: u64,
    },
}

/// The whole of the regular file `path`, at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    // Asked before opening: opening a FIFO blocks until something writes to it.
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(BoundedReadError::Directory);
    }
    if !meta.is_file() {
        return Err(BoundedReadError::NotRegular);
    }
    if meta.len() > limit {
        return Err(BoundedReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    // Bound the read too, in case the file grows while it is read.
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let size = bytes.len() as u64;
    if size > limit {
        return Err(BoundedReadError::TooLarge { size, limit });
    }
    Ok(bytes)
}
