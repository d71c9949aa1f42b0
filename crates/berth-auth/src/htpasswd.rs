//! Distribution's htpasswd access controller: bcrypt entries in an Apache htpasswd file,
//! re-read when the file changes (Distribution needs a restart for that).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use crate::AuthError;

/// What identifies a version of the file: a rewrite changes at least one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

struct Loaded {
    stamp: Stamp,
    entries: HashMap<String, String>,
}

pub struct HtpasswdFile {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

/// Parses `user:hash` lines. Only bcrypt hashes (`htpasswd -B`) are kept, as in
/// Distribution; other lines are reported so a wrong file is noticed.
fn parse(text: &str, path: &Path) -> HashMap<String, String> {
    let mut entries = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash)) if ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) => {
                entries.insert(user.to_string(), hash.to_string());
            }
            Some((user, _)) => tracing::warn!(
                file = %path.display(),
                line = n + 1,
                user,
                "htpasswd entry is not bcrypt (create it with `htpasswd -B`); it will never match"
            ),
            None => tracing::warn!(file = %path.display(), line = n + 1, "malformed htpasswd line"),
        }
    }
    entries
}

fn read(path: &Path) -> Result<Loaded, AuthError> {
    let err = |e: std::io::Error| AuthError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let stamp = stamp(path).map_err(err)?;
    let text = std::fs::read_to_string(path).map_err(err)?;
    Ok(Loaded {
        stamp,
        entries: parse(&text, path),
    })
}

impl HtpasswdFile {
    /// Reads the file; a missing or unreadable file is an error at start-up.
    pub fn open(path: &Path) -> Result<HtpasswdFile, AuthError> {
        let loaded = read(path)?;
        tracing::info!(file = %path.display(), users = loaded.entries.len(), "htpasswd loaded");
        Ok(HtpasswdFile {
            path: path.to_path_buf(),
            loaded: RwLock::new(loaded),
        })
    }

    /// Re-reads the file if it changed since the last look. A file that vanished or
    /// cannot be read keeps the last good contents (and says so in the log).
    fn refresh(&self) {
        let current = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "htpasswd file unreadable; keeping the previous users");
                return;
            }
        };
        let unchanged = self
            .loaded
            .read()
            .map(|l| l.stamp == current)
            .unwrap_or(false);
        if unchanged {
            return;
        }
        match read(&self.path) {
            Ok(loaded) => {
                tracing::info!(file = %self.path.display(), users = loaded.entries.len(), "htpasswd reloaded");
                if let Ok(mut slot) = self.loaded.write() {
                    *slot = loaded;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "htpasswd reload failed; keeping the previous users")
            }
        }
    }

    /// The stored bcrypt hash for `user`, after picking up changes to the file.
    pub fn hash_of(&self, user: &str) -> Option<String> {
        self.refresh();
        self.loaded.read().ok()?.entries.get(user).cloned()
    }
}

/// bcrypt verification (slow by design: call it off the async threads).
pub fn verify_bcrypt(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bcrypt_entries_and_reloads_on_change() {
        let dir = std::env::temp_dir().join(format!("berth-htpasswd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("htpasswd");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&path, format!("# users\nalice:{hash}\nbob:{{SHA}}abc\n")).unwrap();
        let file = HtpasswdFile::open(&path).unwrap();
        let stored = file.hash_of("alice").unwrap();
        assert!(verify_bcrypt("pw", &stored));
        assert!(!verify_bcrypt("wrong", &stored));
        assert_eq!(file.hash_of("bob"), None, "non-bcrypt entries never match");

        // Rewritten with another user (a new file, as editors and `htpasswd` do).
        let tmp = dir.join("htpasswd.new");
        std::fs::write(&tmp, format!("carol:{hash}\n")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(file.hash_of("alice"), None);
        assert!(file.hash_of("carol").is_some());

        // A vanished file keeps the last good users.
        std::fs::remove_file(&path).unwrap();
        assert!(file.hash_of("carol").is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = HtpasswdFile::open(Path::new("/nonexistent/htpasswd"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/htpasswd"));
    }
}
