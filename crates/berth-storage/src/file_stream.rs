//! Streams a byte range of a file in large pieces read on the blocking pool, one piece
//! ahead of the consumer. Each piece is read straight into the buffer that goes to the
//! socket (no intermediate copy, unlike `tokio::fs::File`), and reading the next piece
//! overlaps sending this one. No thread is held between pieces, so slow clients cannot
//! exhaust the blocking pool.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use tokio::task::JoinHandle;

use crate::ByteStream;

/// Size of one piece; large pieces keep syscall and task overhead per byte low.
const PIECE: u64 = 1 << 20;

struct Cursor {
    file: Arc<File>,
    path: Arc<PathBuf>,
    offset: u64,
    end: u64,
}

impl Cursor {
    /// Starts reading the next piece, or returns None at the end of the range.
    fn next_read(&mut self) -> Option<JoinHandle<io::Result<Bytes>>> {
        if self.offset >= self.end {
            return None;
        }
        let len = (self.end - self.offset).min(PIECE) as usize;
        let (file, path, offset) = (self.file.clone(), self.path.clone(), self.offset);
        self.offset += len as u64;
        Some(tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, offset).map_err(|e| {
                io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
            })?;
            Ok(Bytes::from(buf))
        }))
    }
}

/// Streams `file[start..end]`. A file shorter than `end` ends the stream with an error,
/// so a client never receives fewer bytes than the Content-Length it was promised
/// without the connection being aborted.
pub fn stream_range(file: File, path: PathBuf, start: u64, end: u64) -> ByteStream {
    let mut cursor = Cursor {
        file: Arc::new(file),
        path: Arc::new(path),
        offset: start,
        end,
    };
    let first = cursor.next_read();
    Box::pin(stream::unfold(
        (cursor, first),
        |(mut cursor, pending)| async move {
            let piece = match pending?.await {
                Ok(result) => result,
                Err(join) => Err(io::Error::other(join)),
            };
            let next = match piece {
                Ok(_) => cursor.next_read(),
                Err(_) => None,
            };
            Some((piece, (cursor, next)))
        },
    ))
}
