//! The network index: which holder offers which file, as learnt from index
//! items (this host's own included), with expiry.
//!
//! One entry per (name, holder). An item replaces the entry when its `seq`
//! is at least the entry's, so a late copy of an old offer cannot undo a
//! newer withdrawal; a withdrawal stays as a tombstone until it expires.
//! Entries not refreshed for `expiry` are dropped: holders re-announce
//! periodically, so a holder that vanished without a withdrawal leaves the
//! index after at most `expiry`. At most `max_entries` entries are kept.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::hash::Hash;
use crate::index_item::{IndexItem, Kind};

/// Default bound on the entries of the index.
pub const MAX_ENTRIES: usize = 65536;

/// The index shared by the subscriber, the announcer and the piece server's
/// control requests; a lock because each only applies or reads one item or
/// one listing at a time, never across I/O.
pub type SharedIndex = Arc<Mutex<NetworkIndex>>;

/// What the index knows about one (name, holder).
#[derive(Clone, Debug)]
struct Entry {
    content: Hash,
    size: u64,
    piece_size: u32,
    seq: u64,
    offered: bool,
    seen: Instant,
}

/// What applying an item did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The item was newer (or as new) and is now the entry.
    Updated,
    /// An entry with a higher seq was already there; nothing changed.
    Stale,
    /// The index is full of live entries; the item was not kept.
    Full,
}

/// One file version in the network, as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRow {
    /// The file's name.
    pub name: String,
    /// Its content hash.
    pub content: Hash,
    /// Its size in bytes.
    pub size: u64,
    /// Its piece size.
    pub piece_size: u32,
    /// The holders offering this version, sorted.
    pub holders: Vec<SocketAddr>,
}

/// The network index; owned behind a lock by the serve process.
pub struct NetworkIndex {
    entries: HashMap<(String, SocketAddr), Entry>,
    expiry: Duration,
    max_entries: usize,
}

impl NetworkIndex {
    /// An empty index whose entries expire `expiry` after their last refresh.
    pub fn new(expiry: Duration, max_entries: usize) -> NetworkIndex {
        NetworkIndex {
            entries: HashMap::new(),
            expiry,
            max_entries,
        }
    }

    /// Applies one checked item received (or announced) at `now`.
    pub fn apply(&mut self, item: &IndexItem, now: Instant) -> Applied {
        let fresh = Entry {
            content: item.content,
            size: item.size,
            piece_size: item.piece_size,
            seq: item.seq,
            offered: item.kind == Kind::Offer,
            seen: now,
        };
        if !self.entries.contains_key(&(item.name.clone(), item.holder))
            && self.entries.len() >= self.max_entries
        {
            self.expire(now);
            if self.entries.len() >= self.max_entries {
                return Applied::Full;
            }
        }
        match self.entries.entry((item.name.clone(), item.holder)) {
            MapEntry::Occupied(e) if e.get().seq > item.seq => Applied::Stale,
            MapEntry::Occupied(mut e) => {
                e.insert(fresh);
                Applied::Updated
            }
            MapEntry::Vacant(e) => {
                e.insert(fresh);
                Applied::Updated
            }
        }
    }

    /// Drops the entries not refreshed within the expiry.
    pub fn expire(&mut self, now: Instant) {
        let expiry = self.expiry;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.seen) < expiry);
    }

    /// Number of entries (offers and tombstones).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every offered file version, sorted by name then content hash.
    pub fn files(&self, now: Instant) -> Vec<FileRow> {
        self.rows(now, |_| true)
    }

    /// The offered versions of `name`, most holders first.
    pub fn query(&self, name: &str, now: Instant) -> Vec<FileRow> {
        let mut rows = self.rows(now, |n| n == name);
        rows.sort_by_key(|r| std::cmp::Reverse(r.holders.len()));
        rows
    }

    fn rows(&self, now: Instant, want: impl Fn(&str) -> bool) -> Vec<FileRow> {
        let mut by_version: HashMap<(&str, Hash), FileRow> = HashMap::new();
        for ((name, holder), e) in &self.entries {
            let live = now.saturating_duration_since(e.seen) < self.expiry;
            if !e.offered || !live || !want(name) {
                continue;
            }
            by_version
                .entry((name, e.content))
                .or_insert_with(|| FileRow {
                    name: name.clone(),
                    content: e.content,
                    size: e.size,
                    piece_size: e.piece_size,
                    holders: Vec::new(),
                })
                .holders
                .push(*holder);
        }
        let mut rows: Vec<FileRow> = by_version.into_values().collect();
        for row in &mut rows {
            row.holders.sort();
        }
        rows.sort_by(|a, b| (&a.name, a.content).cmp(&(&b.name, b.content)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::MIN_PIECE_SIZE;

    const EXPIRY: Duration = Duration::from_secs(3);

    fn item(name: &str, holder: u16, seq: u64, kind: Kind, body: &[u8]) -> IndexItem {
        IndexItem {
            kind,
            seq,
            holder: SocketAddr::from(([127, 0, 0, 1], holder)),
            content: Hash::of(body),
            size: body.len() as u64,
            piece_size: MIN_PIECE_SIZE,
            name: name.to_string(),
        }
    }

    fn holders(index: &NetworkIndex, name: &str, now: Instant) -> Vec<u16> {
        let rows = index.query(name, now);
        rows.iter()
            .flat_map(|r| r.holders.iter().map(|h| h.port()))
            .collect()
    }

    #[test]
    fn holders_of_one_version_are_grouped_and_versions_kept_apart() {
        let now = Instant::now();
        let mut index = NetworkIndex::new(EXPIRY, 10);
        index.apply(&item("a", 1, 1, Kind::Offer, b"x"), now);
        index.apply(&item("a", 2, 1, Kind::Offer, b"x"), now);
        index.apply(&item("a", 3, 1, Kind::Offer, b"y"), now);
        index.apply(&item("b", 1, 1, Kind::Offer, b"z"), now);
        let rows = index.query("a", now);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].holders.len(), 2, "most holders first");
        assert_eq!(index.files(now).len(), 3);
    }

    #[test]
    fn a_withdrawal_removes_the_holder_and_an_older_offer_cannot_undo_it() {
        let now = Instant::now();
        let mut index = NetworkIndex::new(EXPIRY, 10);
        index.apply(&item("a", 1, 5, Kind::Offer, b"x"), now);
        let applied = index.apply(&item("a", 1, 6, Kind::Withdrawal, b"x"), now);
        assert_eq!(applied, Applied::Updated);
        assert!(holders(&index, "a", now).is_empty());
        let late = index.apply(&item("a", 1, 5, Kind::Offer, b"x"), now);
        assert_eq!(late, Applied::Stale);
        assert!(holders(&index, "a", now).is_empty());
        index.apply(&item("a", 1, 7, Kind::Offer, b"x2"), now);
        assert_eq!(holders(&index, "a", now), vec![1]);
    }

    #[test]
    fn entries_not_refreshed_within_the_expiry_disappear() {
        let start = Instant::now();
        let mut index = NetworkIndex::new(EXPIRY, 10);
        index.apply(&item("a", 1, 1, Kind::Offer, b"x"), start);
        index.apply(&item("a", 2, 1, Kind::Offer, b"x"), start);
        let later = start + Duration::from_secs(2);
        index.apply(&item("a", 2, 2, Kind::Offer, b"x"), later);
        let after = start + Duration::from_secs(4);
        assert_eq!(holders(&index, "a", after), vec![2]);
        index.expire(after);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_full_index_refuses_new_keys_until_entries_expire() {
        let start = Instant::now();
        let mut index = NetworkIndex::new(EXPIRY, 2);
        index.apply(&item("a", 1, 1, Kind::Offer, b"x"), start);
        index.apply(&item("b", 1, 1, Kind::Offer, b"x"), start);
        assert_eq!(
            index.apply(&item("c", 1, 1, Kind::Offer, b"x"), start),
            Applied::Full
        );
        assert_eq!(
            index.apply(&item("a", 1, 2, Kind::Offer, b"y"), start),
            Applied::Updated
        );
        let after = start + EXPIRY;
        assert_eq!(
            index.apply(&item("c", 1, 1, Kind::Offer, b"x"), after),
            Applied::Updated
        );
        assert_eq!(index.len(), 1);
    }
}
