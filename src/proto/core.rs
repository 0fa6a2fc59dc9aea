//! [`Core`]: the three layers composed behind one event/action interface.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use super::Outbox;
use super::accounting::{Accounting, AccountingConfig, Admission, BanReason};
use super::broadcast::{Broadcast, Offered};
use super::membership::{LinkUp, Membership, MembershipConfig, MembershipStats, Neighbour};
use super::origin::{ChecksumAuth, HlcClock, ItemAuth};
use super::tree::{Tree, TreeConfig, TreeStats};
use super::types::{
    Action, ClientId, Event, Item, ItemId, Message, Misbehaviour, PeerId, Violation,
};
use super::validation::{self, Validation, Verdict};
use crate::wire::{self, MAX_IDS_PER_MESSAGE};

/// Settings of the protocol core (the part of the config it needs).
#[derive(Clone, Debug)]
pub struct ProtoConfig {
    /// Neighbours kept.
    pub degree: usize,
    /// Items kept for spreading.
    pub cache_size: usize,
    /// Item ids remembered so duplicates are dropped after leaving the cache.
    pub seen_capacity: usize,
    /// How long an item waits for local verdicts.
    pub validation_timeout: Duration,
    /// The validation window: while this many items wait for local
    /// verdicts, [`Core::wants_items`] says no, so the driver stops reading
    /// items from peers instead of letting the cache push waiting items out.
    pub max_pending: usize,
    /// While the validation window is full, a client that owes verdicts and
    /// gave none for this long is disconnected as too slow: it is what holds
    /// the window shut.
    pub client_silence: Duration,
    /// How often membership does its periodic work.
    pub tick_interval: Duration,
    /// A neighbour silent this long is dropped (keep-alives go out every
    /// third of it).
    pub keepalive_timeout: Duration,
    /// Time between two membership shuffles (jittered).
    pub shuffle_interval: Duration,
    /// Where to join; None for the first host of a network.
    pub bootstrapper: Option<SocketAddr>,
    /// How long a misbehaving peer (and its proven address) stays banned.
    pub ban_time: Duration,
    /// When a peer has misbehaved enough to be banned, and its rate limits.
    pub accounting: AccountingConfig,
    /// How items spread (Plumtree by default).
    pub tree: TreeConfig,
    /// Signs this host's items and checks others'; None: a
    /// [`ChecksumAuth`] for the host (simulator and tests only: it proves
    /// nothing).
    pub auth: Option<Arc<dyn ItemAuth>>,
    /// Wall-clock time, in milliseconds since the Unix epoch, at the
    /// `now` the core is created with: the hybrid logical clock's physical
    /// part is this plus the time elapsed since, and the first sequence
    /// number is this shifted left by 16 bits, so a host that restarts
    /// with the same key does not reuse sequence numbers (unless it
    /// announced more than 65,536 items per millisecond of its last run).
    pub wall_clock_ms: u64,
}

impl ProtoConfig {
    /// Settings with the given degree and cache size and defaults elsewhere:
    /// a seen-set of 64 × cache_size ids but at least 65,536 (a guess: many
    /// times the items one host sees while a copy can still be in flight),
    /// a 5 s validation deadline (SPEC §4), a validation window of half the
    /// cache (the other half keeps spread items; waiting items are then never
    /// evicted), a client silence of 2 s (a guess: far beyond a healthy
    /// module's answer time, short enough that a stuck module holds up the
    /// others only briefly), a 200 ms tick (a guess: fast joins, negligible
    /// cost), the membership defaults ([`MembershipConfig::with_degree`]),
    /// the config's default ban time and the accounting defaults
    /// ([`AccountingConfig::default`]).
    pub fn new(degree: usize, cache_size: usize) -> ProtoConfig {
        let max_pending = (cache_size / 2).clamp(1, validation::MAX_PENDING);
        let membership = MembershipConfig::with_degree(degree);
        ProtoConfig {
            degree,
            cache_size,
            seen_capacity: (cache_size.saturating_mul(64)).max(1 << 16),
            validation_timeout: Duration::from_secs(5),
            max_pending,
            client_silence: Duration::from_secs(2),
            tick_interval: Duration::from_millis(200),
            keepalive_timeout: membership.keepalive_timeout,
            shuffle_interval: membership.shuffle_interval,
            bootstrapper: None,
            ban_time: Duration::from_secs(crate::config::DEFAULT_BAN_TIME_S),
            accounting: AccountingConfig::default(),
            tree: TreeConfig::default(),
            auth: None,
            wall_clock_ms: 0,
        }
    }
}

/// Counters of what the core did, for logs, status and the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Items announced by local clients.
    pub announced: u64,
    /// New items received from peers.
    pub received: u64,
    /// Copies of items already seen.
    pub duplicates: u64,
    /// Items handed to at least one local client.
    pub delivered: u64,
    /// Item copies sent to neighbours.
    pub relayed: u64,
    /// Items local clients called valid.
    pub valid: u64,
    /// Items local clients called invalid.
    pub invalid: u64,
    /// Items given up because no verdict came in time (or ids ran out).
    pub expired: u64,
    /// Items that left the cache before they could spread.
    pub evicted_unspread: u64,
    /// Clients disconnected for holding the validation window shut.
    pub slow_clients: u64,
    /// Misbehaviours counted against peers (invalid items, malformed frames,
    /// protocol violations, flooding reports), bans or not.
    pub misbehaviours: u64,
    /// Messages from peers dropped unread for exceeding the rate limits.
    pub dropped_over_rate: u64,
    /// Peers banned.
    pub peers_banned: u64,
    /// Connections refused because the peer or its address is banned.
    pub refused_banned: u64,
    /// Origin signatures checked (once per new item, never per duplicate).
    pub verified: u64,
    /// Items dropped because their origin signature did not verify.
    pub bad_signatures: u64,
    /// Items whose timestamp was too far ahead to move this host's clock.
    pub clock_ahead: u64,
}

/// The protocol state machine of one host. See the [module docs](super).
pub struct Core<R> {
    me: PeerId,
    rng: R,
    tick_interval: Duration,
    next_tick: Instant,
    membership: Membership,
    broadcast: Broadcast,
    tree: Tree,
    validation: Validation,
    accounting: Accounting,
    out: Outbox,
    stats: Stats,
    cache_size: usize,
    max_pending: usize,
    client_silence: Duration,
    /// The driver reported a congested outbox (see [`Event::Congestion`]).
    congested: bool,
    /// Items announced here while there was no neighbour to send them to
    /// (at most `cache_size`; items that left the cache are skipped).
    unsent: VecDeque<ItemId>,
    auth: Arc<dyn ItemAuth>,
    clock: HlcClock,
    /// The sequence number of this host's next item.
    next_seq: u64,
    /// The `now` the core was created with and the wall clock then.
    started: (Instant, u64),
}

impl<R: Rng> Core<R> {
    /// A host with identity `me` whose P2P listener is `my_addr`. Joining
    /// starts at once: the first actions dial the bootstrapper.
    pub fn new(config: ProtoConfig, me: PeerId, my_addr: SocketAddr, rng: R, now: Instant) -> Self {
        let mut membership_config = MembershipConfig::with_degree(config.degree);
        membership_config.keepalive_timeout = config.keepalive_timeout;
        membership_config.shuffle_interval = config.shuffle_interval;
        let mut core = Core {
            me,
            rng,
            tick_interval: config.tick_interval,
            next_tick: now + config.tick_interval,
            membership: Membership::new(membership_config, me, my_addr, config.bootstrapper),
            broadcast: Broadcast::new(config.cache_size, config.seen_capacity),
            tree: Tree::new(config.tree),
            validation: Validation::new(config.validation_timeout),
            accounting: Accounting::new(config.accounting, config.ban_time),
            out: Outbox::default(),
            stats: Stats::default(),
            cache_size: config.cache_size.max(1),
            max_pending: config.max_pending.max(1),
            client_silence: config.client_silence,
            congested: false,
            unsent: VecDeque::new(),
            auth: config.auth.unwrap_or_else(|| ChecksumAuth::for_host(me)),
            clock: HlcClock::default(),
            next_seq: config.wall_clock_ms << 16,
            started: (now, config.wall_clock_ms),
        };
        core.membership.start(&mut core.out);
        core
    }

    /// This host's identity.
    pub fn me(&self) -> PeerId {
        self.me
    }

    /// What the core did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The current neighbours.
    pub fn neighbours(&self) -> impl Iterator<Item = (&PeerId, &Neighbour)> {
        self.membership.active_view()
    }

    /// True while the tree has ids to announce to lazy neighbours or to
    /// pull: dissemination is not over even if no item is in flight.
    pub fn tree_busy(&self) -> bool {
        self.tree.is_busy()
    }

    /// Dials under way.
    pub fn dials_under_way(&self) -> usize {
        self.membership.dialing_len()
    }

    /// The backup addresses (the passive view).
    pub fn passive_view(&self) -> &[SocketAddr] {
        self.membership.passive_view()
    }

    /// What the dissemination tree did so far.
    pub fn tree_stats(&self) -> &TreeStats {
        self.tree.stats()
    }

    /// What the membership protocol did so far.
    pub fn membership_stats(&self) -> &MembershipStats {
        self.membership.stats()
    }

    /// Leaving the network for good (shutting down): every neighbour is
    /// told and dropped.
    pub fn leave(&mut self) {
        self.membership.leave(&mut self.out);
    }

    /// True when `peer` is a neighbour.
    pub fn is_neighbour(&self, peer: &PeerId) -> bool {
        self.membership.is_active(peer)
    }

    /// True when `peer` is banned at `now`.
    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.accounting.is_banned(peer, now)
    }

    /// True when the P2P address `addr` is banned at `now`.
    pub fn is_addr_banned(&self, addr: &SocketAddr, now: Instant) -> bool {
        self.accounting.is_addr_banned(addr, now)
    }

    /// Number of items waiting for local verdicts.
    pub fn pending_validations(&self) -> usize {
        self.validation.len()
    }

    /// False while the validation window is full: the driver should stop
    /// taking items from peers (their connections then push back through TCP)
    /// until local verdicts, departures or deadlines make room.
    pub fn wants_items(&self) -> bool {
        self.validation.len() < self.max_pending
    }

    /// With Plumtree: None when a local announcement may be taken now;
    /// otherwise when it may. A new item in a full cache pushes out the item
    /// spread longest ago; while that one was spread less than the tree's
    /// pull window ago, lazy neighbours may still be about to pull it, so the
    /// driver holds back this host's own announcements (the source of new
    /// load) instead of letting them make the pull fail. Items from peers are
    /// taken regardless (see [`Core::wants_items`]). Always None with
    /// flooding, which pushes every item over every link.
    pub fn announcements_held_until(&self, now: Instant) -> Option<Instant> {
        let window = self.tree.pull_window()?;
        let until = self.broadcast.next_eviction_spread_at()? + window;
        (until > now).then_some(until)
    }

    /// Takes the next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop()
    }

    /// When [`Core::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&mut self) -> Instant {
        [self.validation.next_deadline(), self.tree.poll_timeout()]
            .into_iter()
            .flatten()
            .fold(self.next_tick, Instant::min)
    }

    /// Does the periodic and deadline work that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = self.validation.expire(now);
        self.stats.expired += expired.len() as u64;
        for item in expired {
            self.broadcast.remove(&item);
        }
        let membership = &self.membership;
        self.tree
            .on_timeout(now, |p| membership.is_active(p), &mut self.out);
        if now >= self.next_tick {
            self.next_tick = now + self.tick_interval;
            self.accounting.expire(now);
            self.membership.on_tick(now, &mut self.rng, &mut self.out);
            let membership = &self.membership;
            self.tree.retain(|p| membership.is_active(p));
            self.drop_silent_clients(now);
        }
    }

    /// While the validation window is full, disconnects the clients that hold
    /// it shut: they owe verdicts and gave none for `client_silence`.
    fn drop_silent_clients(&mut self, now: Instant) {
        if self.wants_items() || self.congested {
            return;
        }
        for client in self.validation.silent_clients(now, self.client_silence) {
            self.stats.slow_clients += 1;
            self.out.push(Action::DropClient { client });
            self.on_client_gone(client, now);
        }
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::PeerUp {
                peer,
                addr,
                dialed,
                high_priority,
            } => {
                let up = LinkUp {
                    peer,
                    addr,
                    dialed,
                    high_priority,
                };
                self.on_peer_up(up, now);
            }
            Event::PeerDown { peer } => {
                let eager = self.is_eager_neighbour(&peer);
                self.membership
                    .on_peer_down(&peer, now, &mut self.rng, &mut self.out);
                self.after_departure(&peer, eager, now);
            }
            Event::DialFailed { addr } => {
                self.membership
                    .on_dial_failed(addr, now, &mut self.rng, &mut self.out)
            }
            Event::Misbehaved { peer, what } => self.on_misbehaved(peer, what, now),
            Event::Received { from, msg } => self.on_message(from, msg, now),
            Event::Announce {
                ttl,
                data_type,
                data,
            } => {
                let hlc = self.clock.tick(self.wall_ms(now));
                let seq = self.next_seq;
                self.next_seq += 1;
                let item = Item::signed(&*self.auth, seq, hlc, ttl, data_type, data);
                self.on_announce(item, now);
            }
            Event::Notified { item, clients } => {
                if !clients.is_empty() {
                    self.stats.delivered += 1;
                }
                let verdict = self.validation.on_notified(item, clients, now);
                self.on_verdict(verdict, now);
            }
            Event::Validation {
                client,
                msg_id,
                valid,
            } => {
                let verdict = self.validation.on_validation(client, msg_id, valid, now);
                self.on_verdict(verdict, now);
            }
            Event::ClientGone { client } => self.on_client_gone(client, now),
            Event::Congestion { congested } => self.congested = congested,
            Event::PeerBackedUp { peer, backed_up } => {
                if self.membership.is_active(&peer) {
                    self.tree.on_backed_up(peer, backed_up);
                }
            }
        }
    }

    fn on_peer_up(&mut self, up: LinkUp, now: Instant) {
        if self.refuse_banned(up, now) {
            return;
        }
        let known = self.membership.is_active(&up.peer);
        self.membership
            .on_peer_up(up, now, &mut self.rng, &mut self.out);
        if !known && self.membership.is_active(&up.peer) {
            self.offer_cache(up.peer, now);
        }
    }

    /// True when `peer` is a neighbour that gets items in full.
    fn is_eager_neighbour(&self, peer: &PeerId) -> bool {
        self.membership.is_active(peer) && self.tree.is_eager(peer)
    }

    /// `peer`, an eager neighbour before when `was_eager`, may have left:
    /// if so, this host's branch of the tree is broken and it repairs.
    fn after_departure(&mut self, peer: &PeerId, was_eager: bool, now: Instant) {
        if was_eager && !self.membership.is_active(peer) {
            self.tree.on_eager_lost(now);
        }
    }

    /// Refuses a connection from a banned peer, or to or from a banned
    /// address (unless it is a second connection of a neighbour that is not
    /// banned itself); true when it did. The ban was logged when it began,
    /// so a refusal is only a `Disconnect`.
    fn refuse_banned(&mut self, up: LinkUp, now: Instant) -> bool {
        let by_id = self.accounting.peer_banned_until(&up.peer, now);
        let until = by_id.or_else(|| {
            if self.membership.is_active(&up.peer) {
                return None;
            }
            [Some(up.addr), up.dialed]
                .into_iter()
                .flatten()
                .find_map(|a| self.accounting.addr_banned_until(&a, now))
        });
        let Some(until) = until else {
            return false;
        };
        if let Some(dialed) = up.dialed {
            // This host dialed `dialed` and reached a banned peer: the
            // address is proven to be its own, so it is banned too.
            if by_id.is_some() {
                self.accounting.ban_addr(dialed, until);
            }
            self.membership.forget(dialed, until);
        }
        self.stats.refused_banned += 1;
        self.out.push(Action::Disconnect(up.peer));
        true
    }

    fn on_message(&mut self, from: PeerId, msg: Message, now: Instant) {
        if self.accounting.is_banned(&from, now) || !self.admit(from, &msg, now) {
            return;
        }
        if !self.membership.is_active(&from) {
            // A refused host's referral arrives from a peer that is not a
            // neighbour; anything else from a non-neighbour is ignored (it
            // may have crossed our refusal on the wire: no violation).
            if let Message::Peers(addrs) = msg {
                self.on_peers(addrs, now);
            }
            return;
        }
        self.membership.on_heard(&from, now);
        if matches!(msg, Message::GetPeers | Message::Item(_)) {
            // The link is confirmed: a host that refuses us (after our side of
            // the handshake completed) sends at most a referral and a
            // Disconnect, never these.
            self.send_unsent(now);
        }
        let (rng, out) = (&mut self.rng, &mut self.out);
        let violation = match msg {
            Message::GetPeers => {
                self.on_get_peers(from, now);
                None
            }
            Message::Peers(addrs) => {
                self.on_peers(addrs, now);
                None
            }
            Message::Item(item) => {
                self.on_item(from, item, now);
                None
            }
            Message::Join => self.membership.on_join(from, out).err(),
            Message::ForwardJoin { joiner, addr, ttl } => {
                if !self.accounting.is_addr_banned(&addr, now) {
                    let walk = (joiner, addr, ttl);
                    self.membership.on_forward_join(from, walk, now, rng, out);
                }
                None
            }
            Message::Shuffle(mut shuffle) => {
                shuffle
                    .sample
                    .retain(|a| !self.accounting.is_addr_banned(a, now));
                self.membership.on_shuffle(from, shuffle, rng, out).err()
            }
            Message::ShuffleReply(mut reply) => {
                reply
                    .sample
                    .retain(|a| !self.accounting.is_addr_banned(a, now));
                self.membership.on_shuffle_reply(from, reply, rng, out);
                None
            }
            Message::Disconnect { alive } => {
                let eager = self.tree.is_eager(&from);
                self.membership.on_disconnect(from, alive, now, rng, out);
                self.after_departure(&from, eager, now);
                None
            }
            Message::KeepAlive => None,
            Message::IHave(ids) => {
                let broadcast = &self.broadcast;
                let unseen = |id: &ItemId| !broadcast.is_known(id);
                self.tree.on_ihave(from, &ids, unseen, now);
                None
            }
            Message::Graft(ids) => {
                self.on_graft(from, &ids, now);
                None
            }
            Message::Prune => {
                self.tree.on_prune(from);
                None
            }
        };
        if let Some(v) = violation {
            self.on_misbehaved(from, Misbehaviour::ProtocolViolation(v), now);
        }
    }

    /// Charges a message to its sender's rate limits: false when it is to be
    /// dropped unread (and bans a flooder).
    fn admit(&mut self, from: PeerId, msg: &Message, now: Instant) -> bool {
        match self
            .accounting
            .on_message(from, wire::encoded_len(msg), now)
        {
            Admission::Accept => true,
            Admission::Drop => {
                self.stats.dropped_over_rate += 1;
                false
            }
            Admission::Ban(reason) => {
                self.stats.dropped_over_rate += 1;
                self.ban(from, reason, now);
                false
            }
        }
    }

    /// A neighbour asks for addresses: answered within its allowance,
    /// otherwise ignored and counted as a protocol violation.
    /// The first GetPeers of each link is free (every new link starts with
    /// one, and links come and go with membership's churn: counting them
    /// would ban honest peers whose links were churned).
    fn on_get_peers(&mut self, from: PeerId, now: Instant) {
        if self.membership.first_peer_request(&from) || self.accounting.on_peer_request(from, now) {
            self.membership
                .on_get_peers(from, &mut self.rng, &mut self.out);
        } else {
            let what = Misbehaviour::ProtocolViolation(Violation::TooManyPeerRequests);
            self.on_misbehaved(from, what, now);
        }
    }

    /// Addresses from a peer; banned ones are never learned (so never dialed).
    fn on_peers(&mut self, mut addrs: Vec<SocketAddr>, now: Instant) {
        addrs.retain(|a| !self.accounting.is_addr_banned(a, now));
        self.membership.on_peers(&addrs, &mut self.rng);
    }

    /// Counts a misbehaviour of `peer` and bans it past the threshold.
    /// Reports about a peer already banned are ignored.
    fn on_misbehaved(&mut self, peer: PeerId, what: Misbehaviour, now: Instant) {
        if self.accounting.is_banned(&peer, now) {
            return;
        }
        self.stats.misbehaviours += 1;
        if let Some(reason) = self.accounting.report(peer, what, now) {
            self.ban(peer, reason, now);
        }
    }

    /// Bans `peer`: it leaves the neighbours at once; when this host dialed
    /// it, its address is banned too (and forgotten by membership).
    fn ban(&mut self, peer: PeerId, reason: BanReason, now: Instant) {
        let addr = self
            .membership
            .remove(&peer)
            .filter(|n| n.outbound)
            .map(|n| n.addr);
        self.tree.on_neighbour_gone(&peer);
        let until = self.accounting.ban(peer, addr, now);
        if let Some(a) = addr {
            self.membership.forget(a, until);
        }
        self.stats.peers_banned += 1;
        self.out.push(Action::Ban {
            peer,
            addr,
            reason,
            until,
        });
    }

    fn on_announce(&mut self, item: Item, now: Instant) {
        let id = item.id;
        self.stats.announced += 1;
        if let Offered::New { evicted } = self.broadcast.on_item(None, item) {
            self.on_evicted(evicted);
            if self.membership.active_peers().next().is_none() {
                // No neighbour yet (joining, or cut off): keep it for the first.
                self.unsent.push_back(id);
                if self.unsent.len() > self.cache_size {
                    self.unsent.pop_front();
                }
            } else {
                self.forward(&id, now);
            }
        }
    }

    /// Sends the items announced while this host had no neighbour, once a
    /// neighbour has shown it really took us (see [`Core::on_message`]).
    fn send_unsent(&mut self, now: Instant) {
        if self.membership.active_peers().next().is_none() {
            return;
        }
        while let Some(id) = self.unsent.pop_front() {
            self.forward(&id, now);
        }
    }

    /// The wall clock at `now`, as the hybrid logical clock reads it.
    fn wall_ms(&self, now: Instant) -> u64 {
        let (at, wall) = self.started;
        wall + now.saturating_duration_since(at).as_millis() as u64
    }

    fn on_item(&mut self, from: PeerId, item: Item, now: Instant) {
        let (id, data_type, data) = (item.id, item.data_type, item.data.clone());
        let (origin, seq, hlc) = (item.proof.origin, item.seq, item.hlc);
        if origin == self.auth.origin() {
            // This host's own item come back: a duplicate even after the
            // seen-set forgot it (its clients must never get it).
            self.stats.duplicates += 1;
            return;
        }
        if !self.broadcast.is_known(&id) {
            // Once per item: a duplicate is dropped above without a check.
            self.stats.verified += 1;
            let signed = item.signed_bytes();
            if !self.auth.verify(&origin, &signed, &item.proof.signature) {
                self.stats.bad_signatures += 1;
                let what = Misbehaviour::ProtocolViolation(Violation::BadSignature);
                self.on_misbehaved(from, what, now);
                return;
            }
        }
        match self.broadcast.on_item(Some(from), item) {
            Offered::Duplicate => {
                self.stats.duplicates += 1;
                self.tree.on_duplicate(from, &mut self.out);
            }
            Offered::New { evicted } => {
                self.stats.received += 1;
                self.tree.on_new_item(Some(from), &id);
                self.on_evicted(evicted);
                let (msg_id, given_up) = self.validation.begin(id, from, now);
                if let Some(old) = given_up {
                    self.stats.expired += 1;
                    self.broadcast.remove(&old);
                }
                let wall = self.wall_ms(now);
                if !self.clock.observe(hlc, wall) {
                    self.stats.clock_ahead += 1;
                }
                self.out.push(Action::Deliver {
                    item: id,
                    origin,
                    seq,
                    hlc,
                    msg_id,
                    data_type,
                    data,
                });
            }
        }
    }

    fn on_verdict(&mut self, verdict: Verdict, now: Instant) {
        match verdict {
            Verdict::Waiting => {}
            Verdict::Valid { item } => {
                self.stats.valid += 1;
                self.forward(&item, now);
            }
            Verdict::Invalid { item, from } => {
                self.stats.invalid += 1;
                self.broadcast.remove(&item);
                self.on_misbehaved(from, Misbehaviour::InvalidItem, now);
            }
        }
    }

    fn on_client_gone(&mut self, client: ClientId, now: Instant) {
        for item in self.validation.on_client_gone(client) {
            self.on_verdict(Verdict::Valid { item }, now);
        }
    }

    fn on_evicted(&mut self, evicted: Option<ItemId>) {
        if let Some(old) = evicted
            && self.validation.cancel(old)
        {
            self.stats.evicted_unspread += 1;
        }
    }

    /// Spreads a cached item: in full to the eager neighbours, by id to the
    /// lazy ones (see [`super::tree`]).
    fn forward(&mut self, id: &ItemId, now: Instant) {
        let Some(from) = self.broadcast.sender(id) else {
            return;
        };
        let eager = if self.broadcast.stops_here(id) {
            Vec::new()
        } else {
            self.tree
                .spread(*id, self.membership.active_peers(), from, now)
        };
        let sent = self.broadcast.forward(id, eager.iter(), now, &mut self.out);
        self.stats.relayed += sent as u64;
    }

    /// A neighbour asks for items (and joins this host's tree).
    fn on_graft(&mut self, from: PeerId, ids: &[ItemId], now: Instant) {
        self.tree.on_graft(from);
        let Some(since) = self.membership.link_since(&from) else {
            return;
        };
        let mut sent = 0;
        for id in ids {
            if let Some(item) = self.broadcast.pull(id, from, since, now) {
                self.out.push(Action::Send {
                    to: from,
                    msg: Message::Item(item),
                });
                sent += 1;
            }
        }
        self.tree.count_pulled_out(sent, ids.len());
    }

    /// A new link starts eager or lazy (see [`Tree::on_link_up`]) and with
    /// the ids of what this host can still spread, so a host that was cut
    /// off pulls what it missed.
    fn offer_cache(&mut self, peer: PeerId, now: Instant) {
        let tree = &self.tree;
        let eager = (self.membership.active_peers())
            .filter(|p| **p != peer && tree.is_eager(p))
            .count();
        self.tree.on_link_up(peer, eager, now, &mut self.out);
        let ids = self.broadcast.recent_spreadable(MAX_IDS_PER_MESSAGE);
        self.tree.announce(peer, ids, now);
    }
}
