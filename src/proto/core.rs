//! [`Core`]: the three layers composed behind one event/action interface.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::Outbox;
use super::broadcast::{Broadcast, Offered};
use super::membership::{LinkUp, Membership, MembershipConfig, Neighbour};
use super::types::{Action, ClientId, Event, Item, ItemId, Message, Misbehaviour, PeerId};
use super::validation::{self, Validation, Verdict};

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
    /// Where to join; None for the first host of a network.
    pub bootstrapper: Option<SocketAddr>,
}

impl ProtoConfig {
    /// Settings with the given degree and cache size and defaults elsewhere:
    /// a seen-set of 64 × cache_size ids but at least 65,536 (a guess: many
    /// times the items one host sees while a copy can still be in flight),
    /// a 5 s validation deadline (SPEC §4), a validation window of half the
    /// cache (the other half keeps spread items; waiting items are then never
    /// evicted), a client silence of 2 s (a guess: far beyond a healthy
    /// module's answer time, short enough that a stuck module holds up the
    /// others only briefly) and a 200 ms tick (a guess: fast joins,
    /// negligible cost).
    pub fn new(degree: usize, cache_size: usize) -> ProtoConfig {
        let max_pending = (cache_size / 2).clamp(1, validation::MAX_PENDING);
        ProtoConfig {
            degree,
            cache_size,
            seen_capacity: (cache_size.saturating_mul(64)).max(1 << 16),
            validation_timeout: Duration::from_secs(5),
            max_pending,
            client_silence: Duration::from_secs(2),
            tick_interval: Duration::from_millis(200),
            bootstrapper: None,
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
}

/// The protocol state machine of one host. See the [module docs](super).
pub struct Core<R> {
    me: PeerId,
    rng: R,
    tick_interval: Duration,
    next_tick: Instant,
    membership: Membership,
    broadcast: Broadcast,
    validation: Validation,
    out: Outbox,
    stats: Stats,
    cache_size: usize,
    max_pending: usize,
    client_silence: Duration,
    /// Items announced here while there was no neighbour to send them to
    /// (at most `cache_size`; items that left the cache are skipped).
    unsent: VecDeque<ItemId>,
}

impl<R: Rng> Core<R> {
    /// A host with identity `me` whose P2P listener is `my_addr`. Joining
    /// starts at once: the first actions dial the bootstrapper.
    pub fn new(config: ProtoConfig, me: PeerId, my_addr: SocketAddr, rng: R, now: Instant) -> Self {
        let membership_config = MembershipConfig::with_degree(config.degree);
        let mut core = Core {
            me,
            rng,
            tick_interval: config.tick_interval,
            next_tick: now + config.tick_interval,
            membership: Membership::new(membership_config, me, my_addr, config.bootstrapper),
            broadcast: Broadcast::new(config.cache_size, config.seen_capacity),
            validation: Validation::new(config.validation_timeout),
            out: Outbox::default(),
            stats: Stats::default(),
            cache_size: config.cache_size.max(1),
            max_pending: config.max_pending.max(1),
            client_silence: config.client_silence,
            unsent: VecDeque::new(),
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

    /// True when `peer` is a neighbour.
    pub fn is_neighbour(&self, peer: &PeerId) -> bool {
        self.membership.is_active(peer)
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

    /// Takes the next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop()
    }

    /// When [`Core::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&mut self) -> Instant {
        match self.validation.next_deadline() {
            Some(d) if d < self.next_tick => d,
            _ => self.next_tick,
        }
    }

    /// Does the periodic and deadline work that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = self.validation.expire(now);
        self.stats.expired += expired.len() as u64;
        for item in expired {
            self.broadcast.remove(&item);
        }
        if now >= self.next_tick {
            self.next_tick = now + self.tick_interval;
            self.membership.on_tick(now, &mut self.rng, &mut self.out);
            self.drop_silent_clients(now);
        }
    }

    /// While the validation window is full, disconnects the clients that hold
    /// it shut: they owe verdicts and gave none for `client_silence`.
    fn drop_silent_clients(&mut self, now: Instant) {
        if self.wants_items() {
            return;
        }
        for client in self.validation.silent_clients(now, self.client_silence) {
            self.stats.slow_clients += 1;
            self.out.push(Action::DropClient { client });
            self.on_client_gone(client);
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
                self.membership
                    .on_peer_up(up, now, &mut self.rng, &mut self.out);
                self.send_unsent();
            }
            Event::PeerDown { peer } => self.membership.on_peer_down(&peer, now, &mut self.rng),
            Event::DialFailed { addr } => self.membership.on_dial_failed(addr, now, &mut self.rng),
            Event::Received { from, msg } => self.on_message(from, msg, now),
            Event::Announce {
                ttl,
                data_type,
                data,
            } => {
                let id = ItemId::random(&mut self.rng);
                let item = Item {
                    id,
                    ttl,
                    data_type,
                    data,
                };
                self.on_announce(item);
            }
            Event::Notified { item, clients } => {
                if !clients.is_empty() {
                    self.stats.delivered += 1;
                }
                let verdict = self.validation.on_notified(item, clients, now);
                self.on_verdict(verdict);
            }
            Event::Validation {
                client,
                msg_id,
                valid,
            } => {
                let verdict = self.validation.on_validation(client, msg_id, valid, now);
                self.on_verdict(verdict);
            }
            Event::ClientGone { client } => self.on_client_gone(client),
        }
    }

    fn on_message(&mut self, from: PeerId, msg: Message, now: Instant) {
        if !self.membership.is_active(&from) {
            // A refused host's referral arrives from a peer that is not a
            // neighbour; anything else from a non-neighbour is ignored.
            if let Message::Peers(addrs) = msg {
                self.membership.on_peers(&addrs, &mut self.rng);
            }
            return;
        }
        match msg {
            Message::GetPeers => self
                .membership
                .on_get_peers(from, &mut self.rng, &mut self.out),
            Message::Peers(addrs) => self.membership.on_peers(&addrs, &mut self.rng),
            Message::Item(item) => self.on_item(from, item, now),
        }
    }

    fn on_announce(&mut self, item: Item) {
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
                self.forward(&id);
            }
        }
    }

    /// Sends the items announced while this host had no neighbour, once it has one.
    fn send_unsent(&mut self) {
        if self.membership.active_peers().next().is_none() {
            return;
        }
        while let Some(id) = self.unsent.pop_front() {
            self.forward(&id);
        }
    }

    fn on_item(&mut self, from: PeerId, item: Item, now: Instant) {
        let (id, data_type, data) = (item.id, item.data_type, item.data.clone());
        match self.broadcast.on_item(Some(from), item) {
            Offered::Duplicate => self.stats.duplicates += 1,
            Offered::New { evicted } => {
                self.stats.received += 1;
                self.on_evicted(evicted);
                let (msg_id, given_up) = self.validation.begin(id, from, now);
                if let Some(old) = given_up {
                    self.stats.expired += 1;
                    self.broadcast.remove(&old);
                }
                self.out.push(Action::Deliver {
                    item: id,
                    msg_id,
                    data_type,
                    data,
                });
            }
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Waiting => {}
            Verdict::Valid { item } => {
                self.stats.valid += 1;
                self.forward(&item);
            }
            Verdict::Invalid { item, from } => {
                self.stats.invalid += 1;
                self.broadcast.remove(&item);
                self.out.push(Action::Penalize {
                    peer: from,
                    reason: Misbehaviour::InvalidItem,
                });
            }
        }
    }

    fn on_client_gone(&mut self, client: ClientId) {
        for item in self.validation.on_client_gone(client) {
            self.on_verdict(Verdict::Valid { item });
        }
    }

    fn on_evicted(&mut self, evicted: Option<ItemId>) {
        if let Some(old) = evicted
            && self.validation.cancel(old)
        {
            self.stats.evicted_unspread += 1;
        }
    }

    fn forward(&mut self, id: &ItemId) {
        let sent = self
            .broadcast
            .forward(id, self.membership.active_peers(), &mut self.out);
        self.stats.relayed += sent as u64;
    }
}
