//! Which neighbours get an item at once and which only hear of it: the
//! eager/lazy push of Plumtree (Leitão, Pereira, Rodrigues, SRDS 2007).
//!
//! Every neighbour starts **eager**: a new item goes to it in full. A peer
//! that sends an item this host already has is moved to **lazy** and told
//! so ([`Message::Prune`]): the eager links then form a spanning tree, and
//! each host receives about one copy of each item. Lazy neighbours get the
//! ids of new items instead, batched into [`Message::IHave`] every
//! `ihave_interval`. A host that hears of an id it has not seen waits
//! `graft_timeout` for the item to come the eager way; then it asks the
//! first announcer for it with [`Message::Graft`], which also makes that
//! link eager again and so repairs the tree; the next announcer is asked
//! after `graft_retry`, and so on. The first wait is longer than the lag
//! of an eager copy behind a lazy announcement on an intact tree (with
//! many senders one shared tree is a few hops longer than the shortest
//! path for most of them): a shorter one pulls items the tree was about to
//! deliver, and every such pull adds an eager link, hence duplicates and
//! prunes that reshape the tree for the last sender and break it for the
//! others. Only a host that knows its branch is broken (within
//! `repair_window` after it lost an eager neighbour or had to pull an
//! item) or is not on the tree yet (it never received an item) pulls after
//! `graft_retry` at once.
//!
//! Links start eager while the tree forms: until a host received its first
//! item, every new link of it is eager, and the duplicates of the first
//! items prune the tree out of the overlay. Afterwards a new link (the
//! membership replaces links all the time) starts lazy, so the tree keeps
//! its shape, unless the host needs it: it has no other eager neighbour,
//! or it is repairing; it then asks the peer to push in full too, with an
//! empty `Graft`.
//!
//! The same mechanism catches up: every new link starts with an `IHave` of
//! the items this host still has cached, so a host that was cut off pulls
//! what it missed while some neighbour still has it.
//!
//! [`Dissemination::Flood`] turns the tree off (every neighbour eager, no
//! lazy announcements, no prunes): the baseline the simulator compares
//! against. The digest of a new link and the pulls it leads to stay.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::Outbox;
use super::types::{Action, ItemId, Message, PeerId};
use crate::wire::MAX_IDS_PER_MESSAGE;

/// How items spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dissemination {
    /// Every item to every neighbour (each host gets about `degree` copies).
    Flood,
    /// Eager push along a self-repairing tree, lazy announcements, pull.
    Plumtree,
}

/// Tunables of the tree.
#[derive(Clone, Debug)]
pub struct TreeConfig {
    /// Flooding or Plumtree.
    pub mode: Dissemination,
    /// How long an announced item may take to come the eager way before it
    /// is pulled from its first announcer.
    pub graft_timeout: Duration,
    /// How long a pull may take before the next announcer is asked; also
    /// the first wait of a host that is repairing or not on the tree yet.
    pub graft_retry: Duration,
    /// How long after losing an eager neighbour, or pulling an item, a
    /// host counts as repairing: it pulls after `graft_retry` and its new
    /// links start eager.
    pub repair_window: Duration,
    /// How often the ids queued for lazy neighbours are sent.
    pub ihave_interval: Duration,
    /// Most ids waiting to be pulled; beyond, the oldest is given up.
    pub max_missing: usize,
}

impl Default for TreeConfig {
    /// Plumtree with a 250 ms graft timeout (the lag of the eager copy of a
    /// shared tree in the simulator's 10,000-node network of 10–50 ms links
    /// stays below it: 100 ms pulled a tenth of all deliveries with many
    /// senders; see the README's dissemination table), 100 ms to the next
    /// announcer and while repairing (far beyond a LAN hop and a local
    /// validation), a repair window of 1 s, ids sent every 50 ms and 16,384
    /// missing ids (guesses). How often a peer may pull is bounded by the
    /// cache: each cached item goes to each peer at most once.
    fn default() -> TreeConfig {
        TreeConfig {
            mode: Dissemination::Plumtree,
            graft_timeout: Duration::from_millis(250),
            graft_retry: Duration::from_millis(100),
            repair_window: Duration::from_secs(1),
            ihave_interval: Duration::from_millis(50),
            max_missing: 16_384,
        }
    }
}

/// An announced id this host has not seen yet.
#[derive(Debug)]
struct Missing {
    /// Who announced it, in order; asked one after the other.
    announcers: VecDeque<PeerId>,
}

/// Counters of the tree, for logs, status and the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Links made lazy after a duplicate (Prune sent).
    pub prunes: u64,
    /// Items asked for with Graft.
    pub grafts: u64,
    /// Items sent because a neighbour asked with Graft.
    pub pulled_out: u64,
    /// Ids announced to lazy neighbours (one per id per neighbour).
    pub ids_announced: u64,
    /// Pulled ids not sent: not cached (any more), not validated, or sent to
    /// that peer already.
    pub pulls_refused: u64,
    /// Announced ids given up to make room for newer ones.
    pub missing_dropped: u64,
    /// Neighbours moved to lazy because their outbox backed up.
    pub slow_to_lazy: u64,
}

/// The eager/lazy state of one host.
#[derive(Debug)]
pub struct Tree {
    config: TreeConfig,
    /// Neighbours that get ids instead of items. Everyone else is eager.
    lazy: BTreeSet<PeerId>,
    /// Ids waiting to be announced, per lazy neighbour.
    queued: BTreeMap<PeerId, Vec<ItemId>>,
    next_flush: Option<Instant>,
    missing: HashMap<ItemId, Missing>,
    /// When to pull which id from its first announcer after
    /// `graft_timeout`, in deadline order (the timeout is constant).
    grafts_due: VecDeque<(Instant, ItemId)>,
    /// When to pull which id after `graft_retry` (from the next announcer,
    /// or the first while repairing), in deadline order.
    retries_due: VecDeque<(Instant, ItemId)>,
    /// An item came from a peer: this host is on the tree.
    on_tree: bool,
    /// Until when this host repairs its branch (it lost an eager neighbour
    /// or had to pull).
    repairing_until: Option<Instant>,
    stats: TreeStats,
}

impl Tree {
    /// Every neighbour eager, nothing missing.
    pub fn new(config: TreeConfig) -> Tree {
        Tree {
            config,
            lazy: BTreeSet::new(),
            queued: BTreeMap::new(),
            next_flush: None,
            missing: HashMap::new(),
            grafts_due: VecDeque::new(),
            retries_due: VecDeque::new(),
            on_tree: false,
            repairing_until: None,
            stats: TreeStats::default(),
        }
    }

    /// What the tree did so far.
    pub fn stats(&self) -> &TreeStats {
        &self.stats
    }

    /// With Plumtree, how long after an item spread a lazy neighbour may
    /// still pull it: the id waits up to `ihave_interval` to be announced,
    /// then `graft_timeout` for the eager copy, and the graft takes its way
    /// back (counted as `graft_retry`, after which the next announcer is
    /// asked). None with flooding.
    pub fn pull_window(&self) -> Option<Duration> {
        (self.config.mode == Dissemination::Plumtree).then(|| {
            self.config.ihave_interval + self.config.graft_timeout + self.config.graft_retry
        })
    }

    /// True when `peer` gets items in full.
    pub fn is_eager(&self, peer: &PeerId) -> bool {
        !self.lazy.contains(peer)
    }

    /// Ids waiting to be pulled.
    pub fn missing(&self) -> usize {
        self.missing.len()
    }

    /// True while ids wait to be announced or pulled.
    pub fn is_busy(&self) -> bool {
        !self.missing.is_empty() || self.queued.values().any(|ids| !ids.is_empty())
    }

    /// Forgets the state of peers that are no longer neighbours.
    pub fn retain(&mut self, is_neighbour: impl Fn(&PeerId) -> bool) {
        self.lazy.retain(|p| is_neighbour(p));
        self.queued.retain(|p, _| is_neighbour(p));
    }

    /// A neighbour is gone: it is forgotten.
    pub fn on_neighbour_gone(&mut self, peer: &PeerId) {
        self.lazy.remove(peer);
        self.queued.remove(peer);
    }

    /// An eager neighbour left: this host's branch of the tree is broken,
    /// so for `repair_window` it pulls sooner and takes new links eager.
    pub fn on_eager_lost(&mut self, now: Instant) {
        self.repairing_until = Some(now + self.config.repair_window);
    }

    fn repairing(&self, now: Instant) -> bool {
        self.repairing_until.is_some_and(|t| now < t)
    }

    /// A new link to `peer`, while `eager` other neighbours get items in
    /// full. It starts eager until this host is on the tree, or when the
    /// host has no other eager neighbour or is repairing; in the last two
    /// cases the peer, which may have taken the link lazy, is asked to push
    /// in full too (an empty Graft). Otherwise it starts lazy: it carries
    /// announcements and pulls, and becomes eager when it delivers an item
    /// first or is grafted.
    pub fn on_link_up(&mut self, peer: PeerId, eager: usize, now: Instant, out: &mut Outbox) {
        self.on_neighbour_gone(&peer);
        if self.config.mode != Dissemination::Plumtree || !self.on_tree {
            return;
        }
        if eager == 0 || self.repairing(now) {
            out.push(Action::Send {
                to: peer,
                msg: Message::Graft(Vec::new()),
            });
        } else {
            self.lazy.insert(peer);
        }
    }

    /// `from` sent an item this host had not seen: it is on the tree.
    pub fn on_new_item(&mut self, from: Option<PeerId>, id: &ItemId) {
        self.missing.remove(id);
        if let Some(peer) = from {
            self.on_tree = true;
            self.lazy.remove(&peer);
        }
    }

    /// `from` sent an item this host already had: the link is redundant.
    pub fn on_duplicate(&mut self, from: PeerId, out: &mut Outbox) {
        if self.config.mode == Dissemination::Plumtree && self.lazy.insert(from) {
            self.stats.prunes += 1;
            out.push(Action::Send {
                to: from,
                msg: Message::Prune,
            });
        }
    }

    /// The outbox towards `peer` backed up (or drained): while it is backed
    /// up, `peer` gets ids only, in either mode, and pulls what it misses.
    /// Once it drains, a flooding host makes it eager again; with Plumtree
    /// it stays lazy until it grafts (the tree has settled without it).
    pub fn on_backed_up(&mut self, peer: PeerId, backed_up: bool) {
        if backed_up {
            if self.lazy.insert(peer) {
                self.stats.slow_to_lazy += 1;
            }
        } else if self.config.mode == Dissemination::Flood {
            self.lazy.remove(&peer);
        }
    }

    /// `from` made this link lazy.
    pub fn on_prune(&mut self, from: PeerId) {
        if self.config.mode == Dissemination::Plumtree {
            self.lazy.insert(from);
        }
    }

    /// Splits `neighbours` (minus `except`, the item's sender) into those to
    /// send `id` to now, returned, and those that hear of it later.
    pub fn spread<'a>(
        &mut self,
        id: ItemId,
        neighbours: impl Iterator<Item = &'a PeerId>,
        except: Option<PeerId>,
        now: Instant,
    ) -> Vec<PeerId> {
        let mut eager = Vec::new();
        for peer in neighbours.filter(|p| Some(**p) != except) {
            if self.is_eager(peer) {
                eager.push(*peer);
            } else {
                self.queued.entry(*peer).or_default().push(id);
                self.next_flush
                    .get_or_insert(now + self.config.ihave_interval);
            }
        }
        eager
    }

    /// Queues `ids` (the cache, for a new link) for `peer`'s next IHave.
    /// Flooding uses it too: a host that was cut off catches up either way.
    pub fn announce(&mut self, peer: PeerId, ids: Vec<ItemId>, now: Instant) {
        if ids.is_empty() {
            return;
        }
        self.queued.entry(peer).or_default().extend(ids);
        self.next_flush
            .get_or_insert(now + self.config.ihave_interval);
    }

    /// `from` has these ids; those `unseen` are pulled unless they come the
    /// eager way within `graft_timeout` (`graft_retry` while repairing or
    /// not on the tree yet).
    pub fn on_ihave(
        &mut self,
        from: PeerId,
        ids: &[ItemId],
        unseen: impl Fn(&ItemId) -> bool,
        now: Instant,
    ) {
        for id in ids.iter().filter(|id| unseen(id)) {
            if let Some(m) = self.missing.get_mut(id) {
                if !m.announcers.contains(&from) && m.announcers.len() < 16 {
                    m.announcers.push_back(from);
                }
                continue;
            }
            if self.missing.len() >= self.config.max_missing {
                // The oldest entry gives way: under a flood of ids, fresh
                // announcements matter more than stale ones.
                while let Some((_, old)) =
                    (self.grafts_due.pop_front()).or_else(|| self.retries_due.pop_front())
                {
                    if self.missing.remove(&old).is_some() {
                        self.stats.missing_dropped += 1;
                        break;
                    }
                }
            }
            self.missing.insert(
                *id,
                Missing {
                    announcers: VecDeque::from([from]),
                },
            );
            if self.on_tree && !self.repairing(now) {
                self.grafts_due
                    .push_back((now + self.config.graft_timeout, *id));
            } else {
                self.retries_due
                    .push_back((now + self.config.graft_retry, *id));
            }
        }
    }

    /// `from` asks for items and joins the tree (its link is eager again).
    pub fn on_graft(&mut self, from: PeerId) {
        self.lazy.remove(&from);
    }

    /// Counts a Graft's answer: `sent` of `asked` items went out.
    pub fn count_pulled_out(&mut self, sent: usize, asked: usize) {
        self.stats.pulled_out += sent as u64;
        self.stats.pulls_refused += asked.saturating_sub(sent) as u64;
    }

    /// When [`Tree::on_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first = self.grafts_due.front().map(|(at, _)| *at);
        let retry = self.retries_due.front().map(|(at, _)| *at);
        [first, retry, self.next_flush].into_iter().flatten().min()
    }

    /// Sends the queued announcements when due, and pulls announced items
    /// that did not come in time (`is_neighbour` filters announcers that
    /// left).
    pub fn on_timeout(
        &mut self,
        now: Instant,
        is_neighbour: impl Fn(&PeerId) -> bool,
        out: &mut Outbox,
    ) {
        if self.next_flush.is_some_and(|t| t <= now) {
            self.next_flush = None;
            for (peer, mut ids) in std::mem::take(&mut self.queued) {
                // A neighbour that left (or was banned) meanwhile hears nothing.
                if !is_neighbour(&peer) {
                    continue;
                }
                // Sorted by origin and sequence number, as the wire carries
                // them (see `crate::wire::tree`).
                ids.sort_unstable();
                ids.dedup();
                self.stats.ids_announced += ids.len() as u64;
                for chunk in ids.chunks(MAX_IDS_PER_MESSAGE) {
                    out.push(Action::Send {
                        to: peer,
                        msg: Message::IHave(chunk.to_vec()),
                    });
                }
            }
        }
        let mut grafts: BTreeMap<PeerId, Vec<ItemId>> = BTreeMap::new();
        let mut due = Vec::new();
        for queue in [&mut self.grafts_due, &mut self.retries_due] {
            while let Some(&(at, id)) = queue.front()
                && at <= now
            {
                queue.pop_front();
                due.push(id);
            }
        }
        for id in due {
            let Some(m) = self.missing.get_mut(&id) else {
                continue;
            };
            let Some(peer) =
                std::iter::from_fn(|| m.announcers.pop_front()).find(|p| is_neighbour(p))
            else {
                self.missing.remove(&id);
                continue;
            };
            grafts.entry(peer).or_default().push(id);
            if m.announcers.is_empty() {
                self.missing.remove(&id);
            } else {
                self.retries_due
                    .push_back((now + self.config.graft_retry, id));
            }
        }
        if !grafts.is_empty() {
            // The tree did not deliver in time: this branch is broken.
            self.repairing_until = Some(now + self.config.repair_window);
        }
        for (peer, mut ids) in grafts {
            ids.sort_unstable();
            self.lazy.remove(&peer);
            self.stats.grafts += ids.len() as u64;
            for chunk in ids.chunks(MAX_IDS_PER_MESSAGE) {
                out.push(Action::Send {
                    to: peer,
                    msg: Message::Graft(chunk.to_vec()),
                });
            }
        }
    }
}
