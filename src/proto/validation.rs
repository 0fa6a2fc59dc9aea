//! Items waiting for the verdicts of the local clients that were notified of
//! them (SPEC §4, "VALIDATION").
//!
//! When a new item arrives from a peer, the core reserves a message id for it
//! ([`Validation::begin`]) and asks the driver to deliver it. The driver answers
//! with the clients it reached ([`Validation::on_notified`]). From then on the
//! item waits until every one of those clients still connected has called it
//! valid (then it may spread), any of them calls it invalid (it never spreads
//! and its sender is held to account), or the deadline passes (it never
//! spreads). A message id names its item only while the item waits; verdicts
//! for unknown or expired ids are ignored.
//!
//! The table also tracks, per client, how many verdicts it owes and when it
//! last gave one, so the core can tell a client that stopped reading or
//! judging ([`Validation::silent_clients`]) and disconnect it before it holds
//! the host's validation window for long (SPEC §4: a client that stops
//! reading must not stall the others).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::types::{ClientId, ItemId, MsgId, PeerId};

/// Message ids are 16 bits wide, so at most this many items can wait at once.
/// When every id is taken, the oldest waiting item is given up.
pub const MAX_PENDING: usize = 1 << 16;

/// What became of a waiting item after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every notified client still connected called it valid: spread it.
    Valid {
        /// The item.
        item: ItemId,
    },
    /// A client called it invalid: drop it and hold `from` to account.
    Invalid {
        /// The item.
        item: ItemId,
        /// The peer that sent it.
        from: PeerId,
    },
    /// Still waiting, or nothing known about it.
    Waiting,
}

#[derive(Debug)]
struct Pending {
    item: ItemId,
    from: PeerId,
    /// Clients that were notified and owe a verdict.
    awaiting: Vec<ClientId>,
}

/// The waiting items, indexed by message id, with their deadlines.
#[derive(Debug)]
pub struct Validation {
    timeout: Duration,
    /// BTreeMap, not HashMap: iteration order must not depend on a random hash
    /// seed, so that seeded runs stay deterministic.
    pending: BTreeMap<MsgId, Pending>,
    by_item: HashMap<ItemId, MsgId>,
    /// Deadlines in the order they were set; the timeout is constant, so this
    /// is also deadline order. Entries whose id was reused or resolved are
    /// skipped when they come up (the item id is the staleness guard).
    deadlines: VecDeque<(Instant, MsgId, ItemId)>,
    next_id: u16,
    /// Clients owing at least one verdict.
    owing: HashMap<ClientId, Owing>,
}

/// What one client owes.
#[derive(Debug, Clone, Copy)]
struct Owing {
    /// Verdicts owed.
    count: usize,
    /// When it last gave a verdict, or was first notified while owing none.
    last_heard: Instant,
}

impl Validation {
    /// An empty table; items wait at most `timeout` for their verdicts.
    pub fn new(timeout: Duration) -> Validation {
        Validation {
            timeout,
            pending: BTreeMap::new(),
            by_item: HashMap::new(),
            deadlines: VecDeque::new(),
            next_id: 0,
            owing: HashMap::new(),
        }
    }

    /// Verdicts `client` owes.
    pub fn outstanding(&self, client: ClientId) -> usize {
        self.owing.get(&client).map_or(0, |o| o.count)
    }

    /// Clients that owe verdicts and gave none for `silence` or longer, in
    /// id order.
    pub fn silent_clients(&self, now: Instant, silence: Duration) -> Vec<ClientId> {
        let mut silent: Vec<ClientId> = self
            .owing
            .iter()
            .filter(|(_, o)| now.saturating_duration_since(o.last_heard) >= silence)
            .map(|(c, _)| *c)
            .collect();
        silent.sort();
        silent
    }

    /// Number of items waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no item waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Reserves a message id for `item`, received from `from`, whose deadline
    /// starts now. When every id is taken, the oldest waiting item is given up
    /// first and returned as the second value.
    pub fn begin(&mut self, item: ItemId, from: PeerId, now: Instant) -> (MsgId, Option<ItemId>) {
        let given_up = if self.pending.len() >= MAX_PENDING {
            self.give_up_oldest()
        } else {
            None
        };
        let msg_id = self.free_id();
        self.pending.insert(
            msg_id,
            Pending {
                item,
                from,
                awaiting: Vec::new(),
            },
        );
        self.by_item.insert(item, msg_id);
        self.deadlines.push_back((now + self.timeout, msg_id, item));
        if self.deadlines.len() > 2 * MAX_PENDING {
            // Resolved items leave stale deadlines behind; compact so the queue stays bounded.
            let pending = &self.pending;
            self.deadlines
                .retain(|(_, id, item)| pending.get(id).is_some_and(|p| p.item == *item));
        }
        (msg_id, given_up)
    }

    /// Records which clients were handed `item`. With none, the item needs no
    /// verdict and is valid at once.
    pub fn on_notified(&mut self, item: ItemId, clients: Vec<ClientId>, now: Instant) -> Verdict {
        let Some(&msg_id) = self.by_item.get(&item) else {
            return Verdict::Waiting;
        };
        if clients.is_empty() {
            self.remove(msg_id);
            return Verdict::Valid { item };
        }
        for client in &clients {
            let owing = self.owing.entry(*client).or_insert(Owing {
                count: 0,
                last_heard: now,
            });
            owing.count += 1;
        }
        if let Some(p) = self.pending.get_mut(&msg_id) {
            p.awaiting = clients;
        }
        Verdict::Waiting
    }

    /// A client's verdict on the item it knows as `msg_id`. Verdicts from
    /// clients that were not notified of it, and for unknown ids, are ignored
    /// (but show that the client is alive).
    pub fn on_validation(
        &mut self,
        client: ClientId,
        msg_id: MsgId,
        valid: bool,
        now: Instant,
    ) -> Verdict {
        if let Some(o) = self.owing.get_mut(&client) {
            o.last_heard = now;
        }
        let Some(p) = self.pending.get_mut(&msg_id) else {
            return Verdict::Waiting;
        };
        let Some(pos) = p.awaiting.iter().position(|c| *c == client) else {
            return Verdict::Waiting;
        };
        if !valid {
            let (item, from) = (p.item, p.from);
            self.remove(msg_id);
            return Verdict::Invalid { item, from };
        }
        p.awaiting.swap_remove(pos);
        let (now_empty, item) = (p.awaiting.is_empty(), p.item);
        settle(&mut self.owing, client);
        if now_empty {
            self.remove(msg_id);
            return Verdict::Valid { item };
        }
        Verdict::Waiting
    }

    /// A client went away: it owes no verdicts any more. Returns the items
    /// that were waiting only for it and are now valid.
    pub fn on_client_gone(&mut self, client: ClientId) -> Vec<ItemId> {
        self.owing.remove(&client);
        let mut now_valid = Vec::new();
        for (msg_id, p) in self.pending.iter_mut() {
            let before = p.awaiting.len();
            p.awaiting.retain(|c| *c != client);
            if before > 0 && p.awaiting.is_empty() {
                now_valid.push((*msg_id, p.item));
            }
        }
        for (msg_id, _) in &now_valid {
            self.remove(*msg_id);
        }
        now_valid.into_iter().map(|(_, item)| item).collect()
    }

    /// Forgets `item` (it left the cache); its message id becomes free.
    /// Returns true when it was waiting.
    pub fn cancel(&mut self, item: ItemId) -> bool {
        match self.by_item.get(&item).copied() {
            Some(msg_id) => {
                self.remove(msg_id);
                true
            }
            None => false,
        }
    }

    /// Gives up every item whose deadline is at or before `now`; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<ItemId> {
        let mut expired = Vec::new();
        while let Some(&(deadline, msg_id, item)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.is_current(msg_id, item) {
                self.remove(msg_id);
                expired.push(item);
            }
        }
        expired
    }

    /// When the next waiting item expires, if any.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(deadline, msg_id, item)) = self.deadlines.front() {
            if self.is_current(msg_id, item) {
                return Some(deadline);
            }
            self.deadlines.pop_front();
        }
        None
    }

    fn is_current(&self, msg_id: MsgId, item: ItemId) -> bool {
        self.pending.get(&msg_id).is_some_and(|p| p.item == item)
    }

    fn give_up_oldest(&mut self) -> Option<ItemId> {
        while let Some((_, msg_id, item)) = self.deadlines.pop_front() {
            if self.is_current(msg_id, item) {
                self.remove(msg_id);
                return Some(item);
            }
        }
        None
    }

    fn free_id(&mut self) -> MsgId {
        // Terminates: the caller made sure fewer than 2^16 ids are taken.
        loop {
            let id = MsgId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1);
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    fn remove(&mut self, msg_id: MsgId) {
        if let Some(p) = self.pending.remove(&msg_id) {
            self.by_item.remove(&p.item);
            for client in p.awaiting {
                settle(&mut self.owing, client);
            }
        }
    }
}

/// One verdict `client` owed is no longer owed.
fn settle(owing: &mut HashMap<ClientId, Owing>, client: ClientId) {
    if let Some(o) = owing.get_mut(&client) {
        o.count -= 1;
        if o.count == 0 {
            owing.remove(&client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Validation, Instant) {
        // Tests need some base instant; only offsets from it matter.
        #[allow(clippy::disallowed_methods)]
        (Validation::new(Duration::from_secs(5)), Instant::now())
    }

    const A: ClientId = ClientId(1);
    const B: ClientId = ClientId(2);

    fn peer() -> PeerId {
        PeerId::from_u64(9)
    }

    #[test]
    fn item_without_subscribers_is_valid_at_once() {
        let (mut v, now) = setup();
        let item = ItemId::from_u64(1);
        v.begin(item, peer(), now);
        assert_eq!(v.on_notified(item, vec![], now), Verdict::Valid { item });
        assert!(v.is_empty());
    }

    #[test]
    fn item_is_valid_once_every_notified_client_agrees() {
        let (mut v, now) = setup();
        let item = ItemId::from_u64(1);
        let (id, _) = v.begin(item, peer(), now);
        v.on_notified(item, vec![A, B], now);
        assert_eq!(v.on_validation(A, id, true, now), Verdict::Waiting);
        assert_eq!(v.on_validation(A, id, true, now), Verdict::Waiting);
        assert_eq!(v.on_validation(B, id, true, now), Verdict::Valid { item });
        assert_eq!(v.on_validation(B, id, true, now), Verdict::Waiting);
    }

    #[test]
    fn one_invalid_verdict_blames_the_sender() {
        let (mut v, now) = setup();
        let item = ItemId::from_u64(1);
        let (id, _) = v.begin(item, peer(), now);
        v.on_notified(item, vec![A, B], now);
        v.on_validation(A, id, true, now);
        let verdict = v.on_validation(B, id, false, now);
        assert_eq!(verdict, Verdict::Invalid { item, from: peer() });
        assert!(v.is_empty());
    }

    #[test]
    fn verdicts_from_clients_not_notified_are_ignored() {
        let (mut v, now) = setup();
        let item = ItemId::from_u64(1);
        let (id, _) = v.begin(item, peer(), now);
        v.on_notified(item, vec![A], now);
        assert_eq!(v.on_validation(B, id, false, now), Verdict::Waiting);
        assert_eq!(v.on_validation(A, MsgId(999), true, now), Verdict::Waiting);
        assert_eq!(v.on_validation(A, id, true, now), Verdict::Valid { item });
    }

    #[test]
    fn a_client_leaving_releases_what_waited_only_for_it() {
        let (mut v, now) = setup();
        let (i1, i2) = (ItemId::from_u64(1), ItemId::from_u64(2));
        v.begin(i1, peer(), now);
        v.begin(i2, peer(), now);
        v.on_notified(i1, vec![A], now);
        v.on_notified(i2, vec![A, B], now);
        assert_eq!(v.on_client_gone(A), vec![i1]);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn a_client_owing_verdicts_and_giving_none_is_silent() {
        let (mut v, now) = setup();
        let second = Duration::from_secs(1);
        let (m1, _) = v.begin(ItemId::from_u64(1), peer(), now);
        v.begin(ItemId::from_u64(2), peer(), now);
        v.on_notified(ItemId::from_u64(1), vec![A, B], now);
        v.on_notified(ItemId::from_u64(2), vec![A, B], now);
        assert!(v.silent_clients(now + second, 2 * second).is_empty());
        v.on_validation(B, m1, true, now + second);
        assert_eq!(v.silent_clients(now + 2 * second, 2 * second), vec![A]);
        assert_eq!(
            v.silent_clients(now + 3 * second, 2 * second),
            vec![A, B],
            "B still owes one and was last heard at 1 s"
        );
        v.on_client_gone(A);
        assert_eq!(v.outstanding(A), 0);
        assert_eq!(v.outstanding(B), 1);
    }

    #[test]
    fn verdicts_owed_are_settled_by_verdicts_expiry_and_invalidity() {
        let (mut v, now) = setup();
        let (i1, i2, i3) = (
            ItemId::from_u64(1),
            ItemId::from_u64(2),
            ItemId::from_u64(3),
        );
        let (m1, _) = v.begin(i1, peer(), now);
        v.begin(i2, peer(), now + Duration::from_secs(1));
        let (m3, _) = v.begin(i3, peer(), now);
        for i in [i1, i2, i3] {
            v.on_notified(i, vec![A, B], now);
        }
        v.on_validation(A, m1, true, now);
        assert_eq!((v.outstanding(A), v.outstanding(B)), (2, 3));
        v.on_validation(A, m3, false, now);
        assert_eq!((v.outstanding(A), v.outstanding(B)), (1, 2));
        v.expire(now + Duration::from_secs(5));
        assert_eq!((v.outstanding(A), v.outstanding(B)), (1, 1));
        v.expire(now + Duration::from_secs(6));
        assert_eq!((v.outstanding(A), v.outstanding(B)), (0, 0));
    }

    #[test]
    fn unanswered_items_expire_at_the_deadline() {
        let (mut v, now) = setup();
        let item = ItemId::from_u64(1);
        let (id, _) = v.begin(item, peer(), now);
        v.on_notified(item, vec![A], now);
        assert_eq!(v.next_deadline(), Some(now + Duration::from_secs(5)));
        assert!(v.expire(now + Duration::from_secs(4)).is_empty());
        assert_eq!(v.expire(now + Duration::from_secs(5)), vec![item]);
        assert_eq!(v.on_validation(A, id, true, now), Verdict::Waiting);
        assert_eq!(v.next_deadline(), None);
    }

    #[test]
    fn message_ids_are_reused_only_when_free() {
        let (mut v, now) = setup();
        let (a, _) = v.begin(ItemId::from_u64(1), peer(), now);
        let (b, _) = v.begin(ItemId::from_u64(2), peer(), now);
        assert_ne!(a, b);
        v.cancel(ItemId::from_u64(1));
        // The stale deadline of the cancelled item must not expire a newer one.
        v.next_id = a.0;
        let (c, _) = v.begin(ItemId::from_u64(3), peer(), now + Duration::from_secs(1));
        assert_eq!(c, a);
        assert!(
            v.expire(now + Duration::from_secs(5))
                .contains(&ItemId::from_u64(2))
        );
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn when_every_id_is_taken_the_oldest_item_is_given_up() {
        let (mut v, now) = setup();
        for n in 0..MAX_PENDING as u64 {
            v.begin(ItemId::from_u64(n), peer(), now);
        }
        let (_, given_up) = v.begin(ItemId::from_u64(1 << 20), peer(), now);
        assert_eq!(given_up, Some(ItemId::from_u64(0)));
        assert_eq!(v.len(), MAX_PENDING);
    }
}
