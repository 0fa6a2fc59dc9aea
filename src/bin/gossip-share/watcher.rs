//! Watching the shared directory by polling, without inotify.
//!
//! Each poll lists the directory (regular files only: no symlinks, no
//! subdirectories, no names [`check_name`] refuses, so no hidden files and
//! no temp files of a download in progress) and compares each file's size
//! and modification time with the last poll. A new or changed file is hashed
//! only once it looked the same on two polls in a row (settled), so a file
//! being written is not announced half-done; after hashing it is looked at
//! again and hashed later if it changed meanwhile.
//!
//! Polling is adaptive ([`PollInterval`]): 50 ms after any activity, doubling
//! while nothing happens, up to 2 s.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::hash::{FileDigest, digest_file};
use crate::index_item::check_name;

/// Most files shared from one directory; more are skipped (logged once per
/// poll).
pub const MAX_SHARES: usize = 4096;
/// Poll interval right after a change.
pub const FAST_POLL: Duration = Duration::from_millis(50);
/// Poll interval when idle.
pub const SLOW_POLL: Duration = Duration::from_secs(2);

/// What a file looked like on one poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

/// A change to announce.
#[derive(Debug)]
pub enum Change {
    /// A file appeared or its content changed; here is its new digest.
    Offered {
        /// The file's name.
        name: String,
        /// Its path.
        path: PathBuf,
        /// Its digest.
        digest: FileDigest,
    },
    /// A shared file is gone.
    Removed(String),
}

/// The poll interval: fast after activity, doubling while idle.
#[derive(Clone, Copy, Debug)]
pub struct PollInterval(Duration);

impl PollInterval {
    /// Starts fast.
    pub fn new() -> PollInterval {
        PollInterval(FAST_POLL)
    }

    /// The interval to wait now.
    pub fn current(&self) -> Duration {
        self.0
    }

    /// After a poll: back to fast on activity, else double up to the slow one.
    pub fn after_poll(&mut self, active: bool) {
        self.0 = if active {
            FAST_POLL
        } else {
            (self.0 * 2).min(SLOW_POLL)
        };
    }
}

/// The directory watcher's memory between polls.
pub struct Watcher {
    dir: PathBuf,
    /// Files announced, with the stamp they were hashed at.
    shared: HashMap<String, Stamp>,
    /// New or changed files, with the stamp of the last poll.
    settling: HashMap<String, Stamp>,
}

/// The outcome of one poll.
pub struct Poll {
    /// Changes to announce.
    pub changes: Vec<Change>,
    /// True when anything moved (a change, or a file still settling).
    pub active: bool,
}

impl Watcher {
    /// A watcher of `dir` that has seen nothing yet.
    pub fn new(dir: &Path) -> Watcher {
        Watcher {
            dir: dir.to_path_buf(),
            shared: HashMap::new(),
            settling: HashMap::new(),
        }
    }

    /// Looks at the directory once.
    pub fn poll(&mut self) -> io::Result<Poll> {
        let now = self.list()?;
        let mut changes = Vec::new();
        let gone: Vec<String> = self
            .shared
            .keys()
            .filter(|name| !now.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            self.shared.remove(&name);
            changes.push(Change::Removed(name));
        }
        self.settling.retain(|name, _| now.contains_key(name));
        for (name, stamp) in now {
            if self.shared.get(&name) == Some(&stamp) {
                self.settling.remove(&name);
            } else if self.settling.get(&name) == Some(&stamp) {
                self.settling.remove(&name);
                if let Some(change) = self.hash_settled(name, stamp) {
                    changes.push(change);
                }
            } else {
                self.settling.insert(name, stamp);
            }
        }
        let active = !changes.is_empty() || !self.settling.is_empty();
        Ok(Poll { changes, active })
    }

    /// Hashes a settled file; `None` (and it settles again) when it changed
    /// meanwhile or could not be read.
    fn hash_settled(&mut self, name: String, stamp: Stamp) -> Option<Change> {
        let path = self.dir.join(&name);
        let digest = match digest_file(&path) {
            Ok(digest) => digest,
            Err(e) => {
                log::warn!("cannot hash {}: {e}", path.display());
                return None;
            }
        };
        let after = fs::symlink_metadata(&path).ok().map(|m| stamp_of(&m));
        if after != Some(stamp) || digest.size != stamp.size {
            return None;
        }
        self.shared.insert(name.clone(), stamp);
        Some(Change::Offered { name, path, digest })
    }

    /// The shareable files in the directory now.
    fn list(&self) -> io::Result<HashMap<String, Stamp>> {
        let mut files = HashMap::new();
        let mut skipped = 0usize;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if check_name(&name).is_err() {
                continue;
            }
            // symlink_metadata: a symlink is not followed, so it cannot
            // share a file from outside the directory.
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if !meta.file_type().is_file() {
                continue;
            }
            if files.len() >= MAX_SHARES {
                skipped += 1;
                continue;
            }
            files.insert(name, stamp_of(&meta));
        }
        if skipped > 0 {
            log::warn!("{skipped} files not shared: at most {MAX_SHARES} per directory");
        }
        Ok(files)
    }
}

fn stamp_of(meta: &fs::Metadata) -> Stamp {
    Stamp {
        size: meta.len(),
        modified: meta.modified().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir(tag: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("gossip-share-{}-{tag}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn names(poll: &Poll) -> Vec<String> {
        let mut names: Vec<String> = poll
            .changes
            .iter()
            .map(|c| match c {
                Change::Offered { name, .. } => format!("+{name}"),
                Change::Removed(name) => format!("-{name}"),
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_offered_once_settled_and_removed_when_deleted() {
        let dir = temp_dir("watch");
        fs::write(dir.0.join("a.txt"), b"hello").unwrap();
        fs::write(dir.0.join(".hidden"), b"x").unwrap();
        fs::create_dir(dir.0.join("sub")).unwrap();
        let mut watcher = Watcher::new(&dir.0);
        let first = watcher.poll().unwrap();
        assert!(first.changes.is_empty() && first.active, "settling");
        assert_eq!(names(&watcher.poll().unwrap()), ["+a.txt"]);
        let idle = watcher.poll().unwrap();
        assert!(idle.changes.is_empty() && !idle.active);
        fs::remove_file(dir.0.join("a.txt")).unwrap();
        assert_eq!(names(&watcher.poll().unwrap()), ["-a.txt"]);
    }

    #[test]
    fn a_changed_file_is_offered_again_with_its_new_digest() {
        let dir = temp_dir("change");
        fs::write(dir.0.join("f"), b"one").unwrap();
        let mut watcher = Watcher::new(&dir.0);
        watcher.poll().unwrap();
        watcher.poll().unwrap();
        fs::write(dir.0.join("f"), b"three").unwrap();
        assert!(watcher.poll().unwrap().changes.is_empty());
        let poll = watcher.poll().unwrap();
        match &poll.changes[..] {
            [Change::Offered { digest, .. }] => assert_eq!(digest.size, 5),
            other => panic!("expected one offer, got {other:?}"),
        }
    }

    #[test]
    fn the_interval_is_fast_after_activity_and_doubles_to_the_slow_one() {
        let mut interval = PollInterval::new();
        assert_eq!(interval.current(), FAST_POLL);
        for _ in 0..10 {
            interval.after_poll(false);
        }
        assert_eq!(interval.current(), SLOW_POLL);
        interval.after_poll(true);
        assert_eq!(interval.current(), FAST_POLL);
        interval.after_poll(false);
        assert_eq!(interval.current(), FAST_POLL * 2);
    }
}
