//! Spreading items: the item cache, the seen-set and forwarding within ttl.
//!
//! Every item a host handles, announced locally or received from a peer, is
//! first checked against the seen-set: an id seen before is a duplicate and is
//! dropped, even long after the item left the cache. A new item goes into the
//! cache, which keeps the newest `cache_size` items for spreading. Once the
//! core decides it may spread (at once for local announcements, after
//! validation for received ones) [`Broadcast::forward`] sends it to the given
//! neighbours but the one it came from, with the ttl one hop smaller.
//!
//! Which neighbours get a spread item in full and which only hear of it is
//! for [`super::tree`] to say.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Instant;

use super::Outbox;
use super::types::{Action, DataType, Item, ItemId, Message, PeerId, Ttl};

/// Most origins whose forgotten sequence numbers a [`SeenSet`] remembers;
/// beyond, the origin whose mark was set first is forgotten (a guess: far
/// more origins than a network sends from at once).
pub const MAX_ORIGIN_MARKS: usize = 4096;

/// How far below an origin's mark a sequence number still counts as
/// forgotten: 2^32 numbers, about 65 s of the origin's clock at its
/// starting point (sequence numbers start at the start time in ms × 2^16).
/// An origin whose clock went back further starts a new run of numbers
/// that is not mistaken for old.
const MARK_REACH: u64 = 1 << 32;

/// A bounded set of ids, forgetting the oldest first.
///
/// What it forgot still counts as seen: per origin it keeps the highest
/// sequence number it forgot (its *mark*), and an id of that origin at or
/// just below the mark is known. Ids of one origin are forgotten roughly
/// in order, so a copy that comes back after its id was forgotten is not
/// taken as new, and an item delayed until after 64 × cache_size newer
/// ones is dropped as too old.
#[derive(Debug)]
pub struct SeenSet {
    capacity: usize,
    ids: HashSet<ItemId>,
    order: VecDeque<ItemId>,
    /// Per origin tag, the highest sequence number forgotten.
    marks: HashMap<[u8; 8], u64>,
    /// The tags of `marks`, in the order their marks were first set.
    mark_order: VecDeque<[u8; 8]>,
}

impl SeenSet {
    /// An empty set remembering at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> SeenSet {
        let capacity = capacity.max(1);
        SeenSet {
            capacity,
            ids: HashSet::new(),
            order: VecDeque::new(),
            marks: HashMap::new(),
            mark_order: VecDeque::new(),
        }
    }

    /// Adds `id`; false when it was already known.
    pub fn insert(&mut self, id: ItemId) -> bool {
        if self.below_mark(&id) || !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
            self.forget(old);
        }
        true
    }

    /// True when `id` is remembered, or at or just below its origin's mark.
    pub fn contains(&self, id: &ItemId) -> bool {
        self.ids.contains(id) || self.below_mark(id)
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn below_mark(&self, id: &ItemId) -> bool {
        self.marks
            .get(&id.origin_tag())
            .is_some_and(|&mark| id.seq() <= mark && mark - id.seq() < MARK_REACH)
    }

    /// Raises the mark of `old`'s origin to its sequence number.
    fn forget(&mut self, old: ItemId) {
        let tag = old.origin_tag();
        if let Some(mark) = self.marks.get_mut(&tag) {
            *mark = (*mark).max(old.seq());
            return;
        }
        if self.mark_order.len() >= MAX_ORIGIN_MARKS
            && let Some(gone) = self.mark_order.pop_front()
        {
            self.marks.remove(&gone);
        }
        self.marks.insert(tag, old.seq());
        self.mark_order.push_back(tag);
    }
}

#[derive(Debug)]
struct Cached {
    item: Item,
    /// The neighbour it came from (None: announced here).
    from: Option<PeerId>,
    /// The ttl to forward with; None: it stops at this host.
    forward_ttl: Option<Ttl>,
    /// Forwarded already (or never to be): only kept for later use, so it is
    /// evicted before items still waiting to spread.
    spread: bool,
    /// When it was spread (see [`Broadcast::next_eviction_spread_at`]).
    spread_at: Option<Instant>,
    /// The neighbours this host sent it to, and when: nobody gets it twice
    /// over one link, however often it asks (a pull costs a peer 16 bytes
    /// and may cost us 64 KiB). A copy sent over an earlier link may have
    /// been lost with it, so a new link may pull it again.
    sent_to: Vec<(PeerId, Instant)>,
}

/// The cached items of one data type, oldest first. Ids that left the cache
/// linger until they come up and are skipped.
#[derive(Debug, Default)]
struct Class {
    count: usize,
    order: VecDeque<ItemId>,
    spread_order: VecDeque<ItemId>,
}

/// What happened to an item offered to [`Broadcast::on_item`].
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Seen before: dropped.
    Duplicate,
    /// New: cached. `evicted` is the oldest item, pushed out of the full cache.
    New {
        /// An item that left the cache to make room, if any.
        evicted: Option<ItemId>,
    },
}

/// The item cache and seen-set of one host.
///
/// A full cache makes room in the data type that holds the most items: the
/// oldest spread item of that type goes first, the oldest still waiting to
/// spread only when none of that type has spread. So a flood of one type
/// pushes out its own items, and the few items of other types stay cached
/// long enough to be pulled by hosts that missed them.
#[derive(Debug)]
pub struct Broadcast {
    cache_size: usize,
    cache: HashMap<ItemId, Cached>,
    classes: HashMap<DataType, Class>,
    /// `(count, type)` of every class, to find the largest.
    by_size: BTreeSet<(usize, DataType)>,
    /// Every item in the order it was spread (for digests).
    recent: VecDeque<ItemId>,
    seen: SeenSet,
}

impl Broadcast {
    /// An empty cache of `cache_size` items and a seen-set of `seen_capacity` ids.
    pub fn new(cache_size: usize, seen_capacity: usize) -> Broadcast {
        Broadcast {
            cache_size: cache_size.max(1),
            cache: HashMap::new(),
            classes: HashMap::new(),
            by_size: BTreeSet::new(),
            recent: VecDeque::new(),
            seen: SeenSet::new(seen_capacity.max(cache_size)),
        }
    }

    /// Offers an item announced here (`from` None) or received from a peer.
    /// Items received with ttl 1 are kept but will not be forwarded.
    pub fn on_item(&mut self, from: Option<PeerId>, item: Item) -> Offered {
        // Still cached means still handled here, even if the seen-set has
        // already forgotten the id (found by fuzzing).
        if self.cache.contains_key(&item.id) || !self.seen.insert(item.id) {
            return Offered::Duplicate;
        }
        let forward_ttl = match from {
            None => Some(item.ttl),
            Some(_) => item.ttl.next_hop(),
        };
        let (id, data_type) = (item.id, item.data_type);
        self.cache.insert(
            id,
            Cached {
                item,
                from,
                forward_ttl,
                spread: false,
                spread_at: None,
                sent_to: Vec::new(),
            },
        );
        self.resize(data_type, 1);
        let class = self.classes.entry(data_type).or_default();
        class.order.push_back(id);
        compact(&mut class.order, class.count, &self.cache);
        Offered::New {
            evicted: self.evict_over_capacity(),
        }
    }

    /// The cached item with this id.
    pub fn item(&self, id: &ItemId) -> Option<&Item> {
        self.cache.get(id).map(|c| &c.item)
    }

    /// Where a cached item came from (`Some(None)`: announced here).
    pub fn sender(&self, id: &ItemId) -> Option<Option<PeerId>> {
        self.cache.get(id).map(|c| c.from)
    }

    /// True when a cached item's ttl ends at this host.
    pub fn stops_here(&self, id: &ItemId) -> bool {
        self.cache.get(id).is_some_and(|c| c.forward_ttl.is_none())
    }

    /// Sends a cached item to each of `targets` except the one it came from
    /// and those that got it already; returns how many copies were sent (0
    /// if its ttl ends here or it left the cache). The item then counts as
    /// spread.
    pub fn forward<'a>(
        &mut self,
        id: &ItemId,
        targets: impl Iterator<Item = &'a PeerId>,
        now: Instant,
        out: &mut Outbox,
    ) -> usize {
        let Some(cached) = self.cache.get_mut(id) else {
            return 0;
        };
        if !std::mem::replace(&mut cached.spread, true) {
            cached.spread_at = Some(now);
            let class = self.classes.entry(cached.item.data_type).or_default();
            class.spread_order.push_back(*id);
            compact(&mut class.spread_order, class.count, &self.cache);
            self.recent.push_back(*id);
            compact(&mut self.recent, self.cache.len(), &self.cache);
        }
        let Some(cached) = self.cache.get_mut(id) else {
            return 0;
        };
        let Some(ttl) = cached.forward_ttl else {
            return 0;
        };
        let mut sent = 0;
        for peer in targets {
            if Some(*peer) == cached.from || cached.sent_to.iter().any(|(p, _)| p == peer) {
                continue;
            }
            cached.sent_to.push((*peer, now));
            let item = Item {
                ttl,
                ..cached.item.clone()
            };
            out.push(Action::Send {
                to: *peer,
                msg: Message::Item(item),
            });
            sent += 1;
        }
        sent
    }

    /// The item as this host forwards it (ttl one hop smaller) for `peer`,
    /// which asked for it over a link up since `link_since`: if it is
    /// cached, cleared to spread (validated), its ttl goes on, and `peer`
    /// did not send it and did not get it over this link.
    pub fn pull(
        &mut self,
        id: &ItemId,
        peer: PeerId,
        link_since: Instant,
        now: Instant,
    ) -> Option<Item> {
        let cached = self.cache.get_mut(id).filter(|c| c.spread)?;
        let ttl = cached.forward_ttl?;
        let sent = |&(p, at): &(PeerId, Instant)| p == peer && at >= link_since;
        if cached.from == Some(peer) || cached.sent_to.iter().any(sent) {
            return None;
        }
        cached.sent_to.retain(|(p, _)| *p != peer);
        cached.sent_to.push((peer, now));
        Some(Item {
            ttl,
            ..cached.item.clone()
        })
    }

    /// The ids of up to `max` items that could be pulled, the most recently
    /// spread first.
    pub fn recent_spreadable(&self, max: usize) -> Vec<ItemId> {
        self.recent
            .iter()
            .rev()
            .filter(|id| {
                self.cache
                    .get(id)
                    .is_some_and(|c| c.spread && c.forward_ttl.is_some())
            })
            .take(max)
            .copied()
            .collect()
    }

    /// Drops an item from the cache (it was judged invalid); it stays seen.
    pub fn remove(&mut self, id: &ItemId) {
        if let Some(c) = self.cache.remove(id) {
            self.resize(c.item.data_type, -1);
        }
    }

    /// True when `id` was handled here (cached or not).
    pub fn has_seen(&self, id: &ItemId) -> bool {
        self.seen.contains(id)
    }

    /// True when an item with this id would be a duplicate: it is cached or
    /// in the seen-set.
    pub fn is_known(&self, id: &ItemId) -> bool {
        self.cache.contains_key(id) || self.seen.contains(id)
    }

    /// When the cache is full: when the item the next new one would push
    /// out was spread (None if it never was, or the cache has room). Hosts
    /// that heard of that item by id may still be about to pull it.
    pub fn next_eviction_spread_at(&self) -> Option<Instant> {
        if self.cache.len() < self.cache_size {
            return None;
        }
        let &(_, data_type) = self.by_size.last()?;
        let class = self.classes.get(&data_type)?;
        let victim = class
            .spread_order
            .iter()
            .find_map(|id| self.cache.get(id))?;
        victim.spread_at
    }

    /// Number of cached items.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Adds `delta` to the count of `data_type`'s class.
    fn resize(&mut self, data_type: DataType, delta: isize) {
        let class = self.classes.entry(data_type).or_default();
        self.by_size.remove(&(class.count, data_type));
        class.count = class.count.saturating_add_signed(delta);
        if class.count == 0 {
            self.classes.remove(&data_type);
        } else {
            self.by_size.insert((class.count, data_type));
        }
    }

    /// Makes room in the largest class: its oldest spread item goes first;
    /// only when every item of it still waits to spread does the oldest of
    /// those go.
    fn evict_over_capacity(&mut self) -> Option<ItemId> {
        if self.cache.len() <= self.cache_size {
            return None;
        }
        let &(_, data_type) = self.by_size.last()?;
        let class = self.classes.get_mut(&data_type)?;
        let mut evicted = None;
        for queue in [&mut class.spread_order, &mut class.order] {
            while let Some(old) = queue.pop_front() {
                if self.cache.remove(&old).is_some() {
                    evicted = Some(old);
                    break;
                }
            }
            if evicted.is_some() {
                break;
            }
        }
        if evicted.is_some() {
            self.resize(data_type, -1);
        }
        evicted
    }
}

/// Drops the ids that left the cache from `queue` once it holds more than
/// twice the `live` items it should, so it stays bounded.
fn compact(queue: &mut VecDeque<ItemId>, live: usize, cache: &HashMap<ItemId, Cached>) {
    if queue.len() > 2 * live + 16 {
        queue.retain(|id| cache.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Some base instant; only offsets from it matter.
    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        now
    }

    fn item(n: u64, ttl: u8) -> Item {
        Item::numbered(n, Ttl(ttl), super::super::DataType(7), Arc::from(&b"x"[..]))
    }

    fn sent_to(out: &mut Outbox) -> Vec<(PeerId, u8)> {
        out.drain()
            .into_iter()
            .map(|a| match a {
                Action::Send {
                    to,
                    msg: Message::Item(i),
                } => (to, i.ttl.0),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_item_is_handled_once() {
        let mut b = Broadcast::new(10, 100);
        assert!(matches!(b.on_item(None, item(1, 0)), Offered::New { .. }));
        assert_eq!(
            b.on_item(Some(PeerId::from_u64(2)), item(1, 0)),
            Offered::Duplicate
        );
    }

    #[test]
    fn a_duplicate_is_recognised_after_the_item_left_the_cache() {
        let mut b = Broadcast::new(2, 100);
        for n in 1..=3 {
            b.on_item(None, item(n, 0));
        }
        assert!(b.item(&ItemId::from_u64(1)).is_none());
        assert_eq!(b.on_item(None, item(1, 0)), Offered::Duplicate);
    }

    #[test]
    fn the_full_cache_evicts_the_oldest_item() {
        let mut b = Broadcast::new(2, 100);
        b.on_item(None, item(1, 0));
        b.on_item(None, item(2, 0));
        let third = b.on_item(None, item(3, 0));
        assert_eq!(
            third,
            Offered::New {
                evicted: Some(ItemId::from_u64(1))
            }
        );
        assert_eq!(b.cached(), 2);
    }

    #[test]
    fn spread_items_are_evicted_before_items_waiting_to_spread() {
        let mut b = Broadcast::new(2, 100);
        let p = PeerId::from_u64(9);
        b.on_item(Some(p), item(1, 0));
        b.on_item(Some(p), item(2, 0));
        let mut out = Outbox::default();
        b.forward(
            &ItemId::from_u64(2),
            [PeerId::from_u64(3)].iter(),
            t0(),
            &mut out,
        );
        let third = b.on_item(Some(p), item(3, 0));
        assert_eq!(
            third,
            Offered::New {
                evicted: Some(ItemId::from_u64(2))
            }
        );
        let fourth = b.on_item(Some(p), item(4, 0));
        assert_eq!(
            fourth,
            Offered::New {
                evicted: Some(ItemId::from_u64(1))
            }
        );
    }

    #[test]
    fn a_full_cache_makes_room_in_the_type_with_the_most_items() {
        let mut b = Broadcast::new(4, 100);
        let typed = |n: u64, t: u16| Item {
            data_type: super::super::DataType(t),
            ..item(n, 0)
        };
        b.on_item(None, typed(1, 5));
        for n in 2..=4 {
            b.on_item(None, typed(n, 9));
        }
        // A flood of type 9 pushes out its own items, not the one of type 5.
        for n in 5..=20 {
            let Offered::New { evicted } = b.on_item(None, typed(n, 9)) else {
                panic!("new item {n} taken for a duplicate");
            };
            assert_eq!(evicted, Some(ItemId::from_u64(n - 3)));
        }
        assert!(b.item(&ItemId::from_u64(1)).is_some());
        assert_eq!(b.cached(), 4);
    }

    #[test]
    fn a_cached_item_goes_to_each_peer_at_most_once_per_link() {
        let mut b = Broadcast::new(10, 100);
        let (p1, p2) = (PeerId::from_u64(1), PeerId::from_u64(2));
        let (t, later) = (t0(), t0() + Duration::from_secs(1));
        b.on_item(Some(p1), item(1, 0));
        let id = ItemId::from_u64(1);
        assert!(b.pull(&id, p2, t, t).is_none(), "not spread yet");
        let mut out = Outbox::default();
        assert_eq!(b.forward(&id, [p1, p2].iter(), t, &mut out), 1);
        assert!(b.pull(&id, p2, t, t).is_none(), "sent already");
        assert!(b.pull(&id, p1, t, t).is_none(), "its sender");
        assert_eq!(b.forward(&id, [p2].iter(), t, &mut out), 0);
        let p3 = PeerId::from_u64(3);
        assert!(b.pull(&id, p3, t, t).is_some());
        assert!(b.pull(&id, p3, t, t).is_none());
        // Over a new link, what went over an old one may be pulled again.
        assert!(b.pull(&id, p2, later, later).is_some());
        assert!(b.pull(&id, p2, later, later).is_none());
    }

    #[test]
    fn forwarding_skips_the_sender_and_lowers_the_ttl() {
        let mut b = Broadcast::new(10, 100);
        let (p1, p2, p3) = (
            PeerId::from_u64(1),
            PeerId::from_u64(2),
            PeerId::from_u64(3),
        );
        b.on_item(Some(p1), item(1, 3));
        let mut out = Outbox::default();
        assert_eq!(
            b.forward(&ItemId::from_u64(1), [p1, p2, p3].iter(), t0(), &mut out),
            2
        );
        assert_eq!(sent_to(&mut out), vec![(p2, 2), (p3, 2)]);
    }

    #[test]
    fn a_local_announcement_keeps_its_ttl_for_the_first_hop() {
        let mut b = Broadcast::new(10, 100);
        let p1 = PeerId::from_u64(1);
        b.on_item(None, item(1, 1));
        let mut out = Outbox::default();
        b.forward(&ItemId::from_u64(1), [p1].iter(), t0(), &mut out);
        assert_eq!(sent_to(&mut out), vec![(p1, 1)]);
    }

    #[test]
    fn an_item_received_with_ttl_one_stops_here() {
        let mut b = Broadcast::new(10, 100);
        b.on_item(Some(PeerId::from_u64(1)), item(1, 1));
        let mut out = Outbox::default();
        let peers = [PeerId::from_u64(2)];
        assert_eq!(
            b.forward(&ItemId::from_u64(1), peers.iter(), t0(), &mut out),
            0
        );
    }

    /// Item `seq` of the origin whose tag is `origin` in big-endian bytes.
    fn id_of(origin: u64, seq: u64) -> ItemId {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&origin.to_be_bytes());
        id[8..].copy_from_slice(&seq.to_be_bytes());
        ItemId(id)
    }

    #[test]
    fn the_seen_set_is_bounded_and_what_it_forgot_stays_seen() {
        let mut s = SeenSet::new(3);
        for n in 0..10 {
            assert!(s.insert(ItemId::from_u64(n)));
        }
        assert_eq!(s.len(), 3);
        assert!(s.contains(&ItemId::from_u64(9)));
        // Forgotten, but at or below the origin's mark (6): still seen.
        assert!(s.contains(&ItemId::from_u64(0)));
        assert!(!s.insert(ItemId::from_u64(6)));
        assert_eq!(s.len(), 3);
        // Newer than anything forgotten: new.
        assert!(s.insert(ItemId::from_u64(10)));
    }

    #[test]
    fn marks_are_per_origin_and_reach_only_so_far_back() {
        let mut s = SeenSet::new(1);
        let base = 1 << 40;
        s.insert(id_of(1, base + 5));
        s.insert(id_of(1, base + 6));
        assert!(s.contains(&id_of(1, base + 2)), "below origin 1's mark");
        assert!(!s.contains(&id_of(2, base + 2)), "origin 2 has no mark");
        assert!(s.contains(&id_of(1, base + 5 - (MARK_REACH - 1))));
        // Far below the mark: an origin whose clock went back, new numbers.
        assert!(!s.contains(&id_of(1, base + 5 - MARK_REACH)));
        assert!(s.insert(id_of(1, 7)));
    }

    #[test]
    fn the_marks_are_bounded() {
        let mut s = SeenSet::new(1);
        for origin in 0..=MAX_ORIGIN_MARKS as u64 + 1 {
            s.insert(id_of(origin, 100));
        }
        assert_eq!(s.marks.len(), MAX_ORIGIN_MARKS);
        assert_eq!(s.mark_order.len(), MAX_ORIGIN_MARKS);
        // Origin 0's mark was the first set and is gone; origin 1's stays.
        assert!(!s.contains(&id_of(0, 100)));
        assert!(s.contains(&id_of(1, 100)));
    }
}
