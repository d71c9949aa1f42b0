//! A write counter every process using one database shares: one 8-byte integer in a file
//! beside the database, mapped into memory by each of them and raised after every write
//! they commit. A reader that keeps answers in memory compares it — a load from memory,
//! no query — so a `berth gc` in another process is seen at once.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct WriteCounter {
    shared: Option<NonNull<AtomicU64>>,
    /// Where the file cannot be mapped: this process's writes only (other processes'
    /// are then caught by the cache's slower `data_version` watch).
    local: AtomicU64,
}

// SAFETY: the mapping is only ever accessed through atomic operations, from any thread.
unsafe impl Send for WriteCounter {}
unsafe impl Sync for WriteCounter {}

const LEN: usize = std::mem::size_of::<u64>();

impl WriteCounter {
    pub(crate) fn open(path: &Path) -> WriteCounter {
        let shared = map(path)
            .map_err(|e| {
                tracing::warn!(file = %path.display(), error = %e, "cannot share the write counter; other processes' writes reach cached reads later");
            })
            .ok();
        WriteCounter {
            shared,
            local: AtomicU64::new(0),
        }
    }

    /// A counter of this process's writes alone, for an engine whose other writers are
    /// followed otherwise (PostgreSQL's notifications).
    pub(crate) fn local() -> WriteCounter {
        WriteCounter {
            shared: None,
            local: AtomicU64::new(0),
        }
    }

    fn cell(&self) -> &AtomicU64 {
        match self.shared {
            // SAFETY: the mapping lives as long as `self` (unmapped in Drop), is aligned
            // (page-aligned start) and LEN bytes long.
            Some(p) => unsafe { p.as_ref() },
            None => &self.local,
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.cell().load(Ordering::Acquire)
    }

    pub(crate) fn raise(&self) {
        self.cell().fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for WriteCounter {
    fn drop(&mut self) {
        if let Some(p) = self.shared {
            // SAFETY: unmapping the mapping made in `map`, once.
            unsafe {
                libc::munmap(p.as_ptr().cast(), LEN);
            }
        }
    }
}

fn map(path: &Path) -> std::io::Result<NonNull<AtomicU64>> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    if file.metadata()?.len() < LEN as u64 {
        file.set_len(LEN as u64)?;
    }
    // SAFETY: a fresh shared mapping of LEN bytes of a file we hold open; the kernel
    // keeps the mapping valid after the descriptor closes.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| std::io::Error::other("mmap returned null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_openers_see_each_others_writes() {
        let dir = std::env::temp_dir().join(format!("berth-counter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c");
        let a = WriteCounter::open(&path);
        let b = WriteCounter::open(&path);
        let start = b.get();
        a.raise();
        a.raise();
        assert_eq!(b.get(), start + 2);
        assert!(a.shared.is_some());
        drop(a);
        b.raise();
        assert_eq!(
            WriteCounter::open(&path).get(),
            start + 3,
            "kept in the file"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
