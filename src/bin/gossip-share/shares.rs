//! The files this host shares: name → file and digest, and content hash →
//! file for the piece server.
//!
//! Written by the watcher thread, read by the announcer and by every piece
//! server connection; it is a lock because those threads only look things
//! up, and the lock is never held across I/O.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::hash::{FileDigest, Hash};

/// One shared file.
#[derive(Debug)]
pub struct Share {
    /// The file's name in the shared directory.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size, piece hashes and content hash when it was last hashed.
    pub digest: FileDigest,
}

/// The registry of shared files; cheap to clone (one shared map).
#[derive(Clone, Default)]
pub struct Shares {
    /// Name → share; the lock lets the piece server read while the watcher
    /// updates.
    by_name: Arc<RwLock<HashMap<String, Arc<Share>>>>,
}

impl Shares {
    /// An empty registry.
    pub fn new() -> Shares {
        Shares::default()
    }

    /// Adds or replaces the share of `share.name`.
    pub fn insert(&self, share: Share) -> Arc<Share> {
        let share = Arc::new(share);
        self.by_name
            .write()
            .insert(share.name.clone(), Arc::clone(&share));
        share
    }

    /// Removes the share of `name`, returning it.
    pub fn remove(&self, name: &str) -> Option<Arc<Share>> {
        self.by_name.write().remove(name)
    }

    /// A share with this content hash, if any.
    pub fn by_content(&self, content: &Hash) -> Option<Arc<Share>> {
        let map = self.by_name.read();
        map.values().find(|s| s.digest.content == *content).cloned()
    }

    /// Every share, sorted by name.
    pub fn all(&self) -> Vec<Arc<Share>> {
        let mut all: Vec<Arc<Share>> = self.by_name.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Number of shares.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_name.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::digest_reader;

    fn share(name: &str, body: &[u8]) -> Share {
        Share {
            name: name.into(),
            path: PathBuf::from(name),
            digest: digest_reader(body, body.len() as u64).unwrap(),
        }
    }

    #[test]
    fn a_content_hash_finds_any_share_with_that_content_until_all_are_gone() {
        let shares = Shares::new();
        let content = shares.insert(share("a", b"same")).digest.content;
        shares.insert(share("b", b"same"));
        shares.remove("a");
        assert_eq!(shares.by_content(&content).unwrap().name, "b");
        shares.remove("b");
        assert!(shares.by_content(&content).is_none());
        assert_eq!(shares.len(), 0);
    }
}
