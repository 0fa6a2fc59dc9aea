//! Who this host's neighbours are: HyParView (Leitão, Pereira, Rodrigues,
//! DSN 2007) over authenticated TCP links.
//!
//! A host keeps an **active view** of at most `degree` neighbours, each a
//! live connection that carries items, and a larger **passive view** of
//! addresses kept as backups ([`PassiveView`]). The views are the
//! peer-sampling service of the seeds: *view selection* is HyParView's
//! (symmetric active links, random replacement), *view propagation* is by
//! forward-join walks and periodic shuffles (Cyclon-style exchanges of small
//! random samples at the end of a random walk), *peer selection* is a random
//! pick from the passive view whenever the active view lost a member.
//!
//! - **Join.** A new host dials its bootstrapper and sends [`Message::Join`].
//!   The contact takes it (dropping a random neighbour if full) and starts a
//!   forward-join walk of `active_walk` hops through each other neighbour;
//!   where a walk ends the host dials the joiner (or, when full, keeps it as
//!   a backup), and at hop `passive_walk` the joiner's address enters a
//!   passive view. So joins spread over the
//!   network instead of piling on the bootstrapper.
//! - **Links.** A dialer with no neighbour asks with high priority (a flag
//!   of its handshake): the dialed host takes it even when full, dropping a
//!   random neighbour with [`Message::Disconnect`] `alive`, which keeps the
//!   dropped host's address as a backup. A low-priority dial is taken only
//!   below `degree`; otherwise it is refused with a referral (a sample of
//!   addresses) and a `Disconnect`.
//! - **Failures.** A connection that breaks, or a neighbour silent for
//!   `keepalive_timeout` (neighbours send [`Message::KeepAlive`] every third
//!   of it), is dropped without being kept as a backup; a backup that
//!   cannot be dialed leaves the passive view. The free slot is filled at
//!   once from the passive view (with high priority by a host left with no
//!   neighbour; from the bootstrapper when nothing else is left).
//! - **Shuffles.** Every `shuffle_interval` (jittered) a host sends its own
//!   address, `shuffle_active` neighbours and `shuffle_passive` backups on a
//!   random walk; the host where it ends answers with as many of its
//!   backups, along the walk back, and both merge what they got.
//! - **Leave.** A host shutting down sends `Disconnect` without `alive`:
//!   its neighbours drop it at once and keep no backup of it.
//! - **Refresh.** Every `refresh_interval` (jittered) a full host dials a
//!   random backup with high priority and drops a random neighbour for it:
//!   the overlay keeps being rewired at random, so a group of full hosts
//!   that closed on itself opens up again.
//! - **Partitions.** Neighbours lost to failures are remembered for a while
//!   and probed with high priority every few shuffle periods: one link
//!   across a healed partition is enough to merge the overlays again.
//!
//! Defences against eclipse: one message (shuffle, reply, referral) places
//! at most `max_from_one` addresses in the passive view; each neighbour may
//! forward at most `join_burst` joins and then one per `join_refill`; walks
//! are at most `active_walk` hops whatever the ttl a peer sends.

mod passive;
mod repair;
mod walks;

pub use self::passive::PassiveView;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use super::Outbox;
use super::types::{Action, Message, PeerId};
use crate::wire::MAX_PEERS_PER_MESSAGE;

/// Tunables of the membership protocol.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// Most neighbours (the active view).
    pub degree: usize,
    /// Most backup addresses (the passive view).
    pub passive_size: usize,
    /// Hops of a forward-join or shuffle walk (HyParView's ARWL).
    pub active_walk: u8,
    /// The hop of a forward-join walk that adds the joiner to a passive view
    /// (HyParView's PRWL).
    pub passive_walk: u8,
    /// Hops of a shuffle walk this host starts (the reply travels the walk
    /// back, so each hop costs two messages).
    pub shuffle_walk: u8,
    /// Neighbours' addresses in a shuffle sample.
    pub shuffle_active: usize,
    /// Backups in a shuffle sample.
    pub shuffle_passive: usize,
    /// Time between two shuffles (jittered over 50–150 %).
    pub shuffle_interval: Duration,
    /// How long an address that refused, dropped or failed us is not dialed.
    pub backoff: Duration,
    /// A neighbour silent this long is dropped; keep-alives go out every
    /// third of it.
    pub keepalive_timeout: Duration,
    /// Most backup addresses one message may place.
    pub max_from_one: usize,
    /// Forward-joins a neighbour may send at once.
    pub join_burst: u32,
    /// One more forward-join allowed per this much time.
    pub join_refill: Duration,
    /// How often a host probes one neighbour it lost to a failure.
    pub probe_interval: Duration,
    /// Lost neighbours remembered for probing.
    pub max_lost: usize,
    /// A host that has neighbours but has stayed below `degree` this long
    /// without gaining one promotes a backup with high priority (once per
    /// period): refusals by full hosts must not keep a group of hosts apart
    /// from the rest for ever.
    pub escalate_after: Duration,
    /// A host at `degree` replaces a random neighbour with a random backup
    /// this often (jittered): the overlay keeps being rewired at random, so
    /// that a group of full hosts that closed on itself (a burst of joins
    /// can leave one) opens up again, and no neighbour keeps a slot for ever.
    pub refresh_interval: Duration,
}

impl MembershipConfig {
    /// Defaults for a given degree: a passive view of 6 × degree (HyParView
    /// used 30 for 5 active), forward-join walks of 6 and 3 hops (the
    /// paper's), shuffle walks of 3 hops (a walk of 3 on a random graph of
    /// degree 8 already reaches hundreds of hosts, and shuffles repeat), samples of
    /// 3 neighbours and 4 backups, a shuffle every 10 s, a 5 s back-off, a
    /// 10 s keep-alive deadline, at most a sixth of the passive view from one
    /// message, 16 forward-joins per neighbour and one per second beyond,
    /// a probe every 30 s, 2 × degree lost neighbours remembered, escalation
    /// after 30 s below degree, a refresh every 10 minutes (all guesses
    /// for networks of up to tens of thousands of hosts).
    pub fn with_degree(degree: usize) -> MembershipConfig {
        let degree = degree.max(1);
        let passive_size = (6 * degree).clamp(16, 512);
        MembershipConfig {
            degree,
            passive_size,
            active_walk: 6,
            passive_walk: 3,
            shuffle_walk: 3,
            shuffle_active: 3,
            shuffle_passive: 4,
            shuffle_interval: Duration::from_secs(10),
            backoff: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(10),
            max_from_one: (passive_size / 6).max(1),
            join_burst: 16,
            join_refill: Duration::from_secs(1),
            probe_interval: Duration::from_secs(30),
            max_lost: 2 * degree,
            escalate_after: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(600),
        }
    }
}

/// A completed handshake, as membership sees it (the fields of
/// [`super::Event::PeerUp`]).
#[derive(Clone, Copy, Debug)]
pub struct LinkUp {
    /// Who.
    pub peer: PeerId,
    /// Its P2P listener.
    pub addr: SocketAddr,
    /// The address this host dialed, if it dialed.
    pub dialed: Option<SocketAddr>,
    /// The dialer asks to be taken even by a full host.
    pub high_priority: bool,
}

/// One neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// Its P2P listener.
    pub addr: SocketAddr,
    /// True when this host dialed it.
    pub outbound: bool,
    /// When the link came up.
    pub since: Instant,
    /// When it last sent anything.
    pub last_heard: Instant,
    /// It joined the network through this host on this link.
    joined: bool,
    /// It asked for addresses on this link already.
    asked_peers: bool,
    /// Forward-joins it may still send, as of `tokens_at`.
    join_tokens: u32,
    tokens_at: Instant,
}

/// Why this host dials an address; decides what happens when the link comes
/// up while the active view is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// Joining through the bootstrapper: take the link, send `Join`.
    Join,
    /// A forward-join walk ended here: take the joiner (if still below
    /// `degree`).
    ForwardJoin,
    /// Promoting a backup to fill a free slot.
    Promote,
    /// Probing a neighbour lost to a failure: take it even if full.
    Probe,
    /// Replacing a random neighbour with a backup: take it even if full.
    Refresh,
}

/// The shuffle this host started and awaits the reply of.
#[derive(Clone, Debug)]
struct PendingShuffle {
    id: u64,
    /// The neighbour the walk started with (the reply's last hop).
    to: PeerId,
    /// What was sent: evicted first when the reply's addresses come in.
    sent: Vec<SocketAddr>,
}

/// The periodic tasks of [`Membership::on_tick`].
#[derive(Clone, Copy, Debug)]
enum Timer {
    KeepAlive,
    Shuffle,
    Probe,
    Refresh,
}

/// A neighbour lost to a failure, probed now and then.
#[derive(Clone, Copy, Debug)]
struct Lost {
    addr: SocketAddr,
    probes: u32,
}

/// A link this host dialed that is closed `alive` within this time was a
/// refusal.
const REFUSAL_WINDOW: Duration = Duration::from_secs(2);

/// After a refused promotion, the next waits this long, doubled per refusal
/// in a row (up to [`MAX_PROMOTE_PAUSE`]).
const PROMOTE_PAUSE: Duration = Duration::from_millis(500);

/// The longest pause between refused promotions.
const MAX_PROMOTE_PAUSE: Duration = Duration::from_secs(16);

/// A host with no neighbour and no backup dials its bootstrapper at most
/// this often.
const BOOTSTRAP_RETRY: Duration = Duration::from_secs(1);

/// Probes of one lost neighbour before it is forgotten.
const MAX_PROBES: u32 = 5;

/// Counters of the membership protocol, for logs, status and the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipStats {
    /// Shuffles started.
    pub shuffles: u64,
    /// Shuffle replies merged.
    pub shuffle_replies: u64,
    /// Neighbours dropped for missing the keep-alive deadline.
    pub keepalive_timeouts: u64,
    /// Forward-joins ignored because their sender was over its allowance.
    pub joins_dropped: u64,
    /// Neighbours dropped to make room for a new one.
    pub evictions: u64,
    /// Lost neighbours probed.
    pub probes: u64,
    /// Refreshes started (a backup dialed to replace a neighbour).
    pub refreshes: u64,
}

/// The membership state of one host.
#[derive(Debug)]
pub struct Membership {
    config: MembershipConfig,
    me: PeerId,
    my_addr: SocketAddr,
    bootstrapper: Option<SocketAddr>,
    /// The neighbours; a BTreeMap so iteration is deterministic.
    active: BTreeMap<PeerId, Neighbour>,
    passive: PassiveView,
    dialing: BTreeMap<SocketAddr, Purpose>,
    backoff: BTreeMap<SocketAddr, Instant>,
    /// Addresses of banned peers, until when: never dialed, not even as the
    /// bootstrapper.
    banned_until: BTreeMap<SocketAddr, Instant>,
    next_bootstrap: Option<Instant>,
    /// Since when this host has been below `degree` without gaining a
    /// neighbour (None at degree).
    below_since: Option<Instant>,
    /// Low-priority promotions refused in a row, and when the next may go:
    /// a host below `degree` among full hosts backs off exponentially
    /// instead of opening a link that is refused every tick.
    refusals: u32,
    next_promote: Option<Instant>,
    lost: Vec<Lost>,
    shuffle: Option<PendingShuffle>,
    next_shuffle: Option<Instant>,
    next_keepalive: Option<Instant>,
    next_probe: Option<Instant>,
    next_refresh: Option<Instant>,
    stats: MembershipStats,
}

impl Membership {
    /// A host with no neighbours yet.
    pub fn new(
        config: MembershipConfig,
        me: PeerId,
        my_addr: SocketAddr,
        bootstrapper: Option<SocketAddr>,
    ) -> Membership {
        Membership {
            passive: PassiveView::new(config.passive_size),
            config,
            me,
            my_addr,
            bootstrapper,
            active: BTreeMap::new(),
            dialing: BTreeMap::new(),
            backoff: BTreeMap::new(),
            banned_until: BTreeMap::new(),
            next_bootstrap: None,
            below_since: None,
            refusals: 0,
            next_promote: None,
            lost: Vec::new(),
            shuffle: None,
            next_shuffle: None,
            next_keepalive: None,
            next_probe: None,
            next_refresh: None,
            stats: MembershipStats::default(),
        }
    }

    /// The neighbours, in a stable order.
    pub fn active_view(&self) -> impl Iterator<Item = (&PeerId, &Neighbour)> {
        self.active.iter()
    }

    /// The neighbours' ids, in a stable order.
    pub fn active_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.active.keys()
    }

    /// True when `peer` is a neighbour.
    pub fn is_active(&self, peer: &PeerId) -> bool {
        self.active.contains_key(peer)
    }

    /// The backup addresses.
    pub fn passive_view(&self) -> &[SocketAddr] {
        self.passive.addrs()
    }

    /// Number of dials under way.
    pub fn dialing_len(&self) -> usize {
        self.dialing.len()
    }

    /// What the protocol did so far.
    pub fn stats(&self) -> &MembershipStats {
        &self.stats
    }

    /// Drops `peer` from the neighbours at once (it was banned: its
    /// connection is closed without a word, and its address, when it is to
    /// be avoided, is handed to [`Membership::forget`]).
    pub fn remove(&mut self, peer: &PeerId) -> Option<Neighbour> {
        self.active.remove(peer)
    }

    /// Forgets `addr` and does not dial it (not even as the bootstrapper)
    /// before `until`: it belongs to a banned peer. A dial of it that ended
    /// in a refusal is no longer under way.
    pub fn forget(&mut self, addr: SocketAddr, until: Instant) {
        self.dialing.remove(&addr);
        self.passive.remove(&addr);
        self.lost.retain(|l| l.addr != addr);
        self.extend_backoff(addr, until);
        let banned = self.banned_until.entry(addr).or_insert(until);
        *banned = (*banned).max(until);
    }

    /// Joining: dial the bootstrapper, if there is one.
    pub fn start(&mut self, out: &mut Outbox) {
        if let Some(b) = self.bootstrapper {
            self.dial(b, Purpose::Join, true, out);
        }
    }

    /// Leaving for good: every neighbour is told and dropped.
    pub fn leave(&mut self, out: &mut Outbox) {
        for peer in std::mem::take(&mut self.active).into_keys() {
            out.push(Action::Send {
                to: peer,
                msg: Message::Disconnect { alive: false },
            });
            out.push(Action::Disconnect(peer));
        }
    }

    /// A connection came up (see [`super::Event::PeerUp`]).
    pub fn on_peer_up<R: Rng>(&mut self, up: LinkUp, now: Instant, rng: &mut R, out: &mut Outbox) {
        let LinkUp {
            peer,
            addr,
            dialed,
            high_priority,
        } = up;
        let purpose = dialed.and_then(|d| self.dialing.remove(&d));
        if peer == self.me || self.active.contains_key(&peer) {
            return;
        }
        let full = self.active.len() >= self.config.degree;
        if full {
            let must_take = match purpose {
                Some(p) => matches!(p, Purpose::Probe | Purpose::Refresh | Purpose::ForwardJoin),
                None => dialed.is_none() && high_priority,
            };
            if must_take {
                self.evict_random(addr, now, rng, out);
            } else if dialed.is_some() {
                // Filled up while this dial was under way: keep it as a
                // backup, close the link politely.
                self.insert_passive(addr, &[], rng);
                out.push(Action::Send {
                    to: peer,
                    msg: Message::Disconnect { alive: true },
                });
                out.push(Action::Disconnect(peer));
                return;
            } else {
                self.refuse(peer, addr, rng, out);
                return;
            }
        }
        self.passive.remove(&addr);
        self.lost.retain(|l| l.addr != addr);
        self.active.insert(
            peer,
            Neighbour {
                addr,
                outbound: dialed.is_some(),
                since: now,
                last_heard: now,
                joined: false,
                asked_peers: false,
                join_tokens: self.config.join_burst,
                tokens_at: now,
            },
        );
        self.below_since = (self.active.len() < self.config.degree).then_some(now);
        if self.active.len() >= self.config.degree {
            self.refusals = 0;
            self.next_promote = None;
        }
        out.push(Action::Send {
            to: peer,
            msg: Message::GetPeers,
        });
        if purpose == Some(Purpose::Join) {
            out.push(Action::Send {
                to: peer,
                msg: Message::Join,
            });
        }
    }

    /// The connection to `peer` is gone without a [`Message::Disconnect`]:
    /// a failure. Its address waits out the back-off, is kept for probing,
    /// and the free slot is filled.
    pub fn on_peer_down<R: Rng>(
        &mut self,
        peer: &PeerId,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if let Some(n) = self.active.remove(peer) {
            self.lose(n.addr, now, rng);
            self.fill(now, rng, out);
        }
    }

    /// A dial failed: the address leaves the passive view (a lost
    /// neighbour's is probed again later, the bootstrapper kept) and waits
    /// out the back-off.
    pub fn on_dial_failed<R: Rng>(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let purpose = self.dialing.remove(&addr);
        self.passive.remove(&addr);
        let mut backoff = self.jittered(self.config.backoff, rng);
        if purpose == Some(Purpose::Probe)
            && let Some(i) = self.lost.iter().position(|l| l.addr == addr)
        {
            self.lost[i].probes += 1;
            if self.lost[i].probes >= MAX_PROBES {
                self.lost.swap_remove(i);
            } else {
                backoff *= 2u32.pow(self.lost[i].probes);
            }
        }
        self.extend_backoff(addr, now + backoff);
        self.fill(now, rng, out);
    }

    /// When the link to neighbour `peer` came up.
    pub fn link_since(&self, peer: &PeerId) -> Option<Instant> {
        self.active.get(peer).map(|n| n.since)
    }

    /// True for the first GetPeers of a neighbour on its current link.
    pub fn first_peer_request(&mut self, peer: &PeerId) -> bool {
        self.active
            .get_mut(peer)
            .is_some_and(|n| !std::mem::replace(&mut n.asked_peers, true))
    }

    /// `peer` sent something: it is alive.
    pub fn on_heard(&mut self, peer: &PeerId, now: Instant) {
        if let Some(n) = self.active.get_mut(peer) {
            n.last_heard = now;
        }
    }

    /// A neighbour asks for addresses: answer with a random sample of the
    /// neighbours' and backup addresses.
    pub fn on_get_peers<R: Rng>(&mut self, from: PeerId, rng: &mut R, out: &mut Outbox) {
        if !self.active.contains_key(&from) {
            return;
        }
        let sample = self.referral(Some(from), rng);
        out.push(Action::Send {
            to: from,
            msg: Message::Peers(sample),
        });
    }

    /// Addresses from a peer (an answer or a referral): at most
    /// `max_from_one` of them become backups.
    pub fn on_peers<R: Rng>(&mut self, addrs: &[SocketAddr], rng: &mut R) {
        self.merge(addrs, &[], rng);
    }

    /// A neighbour closes the link: kept as a backup if it stays alive.
    pub fn on_disconnect<R: Rng>(
        &mut self,
        from: PeerId,
        alive: bool,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(n) = self.active.remove(&from) else {
            return;
        };
        out.push(Action::Disconnect(from));
        if alive && n.outbound && now.saturating_duration_since(n.since) < REFUSAL_WINDOW {
            // Refused (or dropped at once) by a full host.
            self.refusals = self.refusals.saturating_add(1);
            let pause = PROMOTE_PAUSE.saturating_mul(1 << self.refusals.min(5));
            self.next_promote = Some(now + pause.min(MAX_PROMOTE_PAUSE));
        }
        if alive {
            self.insert_passive(n.addr, &[], rng);
            let until = now + self.jittered(self.config.backoff, rng);
            self.extend_backoff(n.addr, until);
        } else {
            self.passive.remove(&n.addr);
            self.lost.retain(|l| l.addr != n.addr);
        }
        self.fill(now, rng, out);
    }

    fn dial(&mut self, addr: SocketAddr, purpose: Purpose, high_priority: bool, out: &mut Outbox) {
        if self.dialing.len() >= self.config.degree || self.dialing.contains_key(&addr) {
            return;
        }
        self.dialing.insert(addr, purpose);
        out.push(Action::Connect {
            addr,
            high_priority,
        });
    }

    /// Not this host, not a neighbour, not being dialed, not backed off.
    fn dialable(&self, addr: &SocketAddr) -> bool {
        *addr != self.my_addr
            && !self.dialing.contains_key(addr)
            && !self.backoff.contains_key(addr)
            && !self.is_neighbour_addr(addr)
    }

    fn is_neighbour_addr(&self, addr: &SocketAddr) -> bool {
        self.active.values().any(|n| n.addr == *addr)
    }

    /// A random neighbour other than those in `except`.
    fn random_neighbour<R: Rng>(&self, except: &[PeerId], rng: &mut R) -> Option<PeerId> {
        let peers: Vec<PeerId> = self
            .active
            .keys()
            .filter(|p| !except.contains(p))
            .copied()
            .collect();
        peers.choose(rng).copied()
    }

    /// Refuses a low-priority dialer while full: a referral, then a polite
    /// close.
    fn refuse<R: Rng>(&mut self, peer: PeerId, addr: SocketAddr, rng: &mut R, out: &mut Outbox) {
        let referral: Vec<SocketAddr> = self
            .referral(None, rng)
            .into_iter()
            .filter(|a| *a != addr)
            .collect();
        Self::part_with(peer, referral, out);
    }

    /// Closes the link to `peer` politely: where else to go (a Peers
    /// referral), that this host stays alive, then the close.
    fn part_with(peer: PeerId, referral: Vec<SocketAddr>, out: &mut Outbox) {
        out.push(Action::Send {
            to: peer,
            msg: Message::Peers(referral),
        });
        out.push(Action::Send {
            to: peer,
            msg: Message::Disconnect { alive: true },
        });
        out.push(Action::Disconnect(peer));
    }

    /// A random sample of neighbours' and backup addresses (at most a
    /// quarter of a Peers message), `except`'s own left out.
    fn referral<R: Rng>(&self, except: Option<PeerId>, rng: &mut R) -> Vec<SocketAddr> {
        let mut pool: Vec<SocketAddr> = self
            .active
            .iter()
            .filter(|(p, _)| Some(**p) != except)
            .map(|(_, n)| n.addr)
            .collect();
        let except_addr = except.and_then(|p| self.active.get(&p)).map(|n| n.addr);
        pool.extend(
            self.passive
                .addrs()
                .iter()
                .filter(|a| Some(**a) != except_addr),
        );
        pool.sample(rng, MAX_PEERS_PER_MESSAGE / 4)
            .copied()
            .collect()
    }

    /// Adds a backup unless it is this host, a neighbour or unusable.
    fn insert_passive<R: Rng>(
        &mut self,
        addr: SocketAddr,
        sent: &[SocketAddr],
        rng: &mut R,
    ) -> bool {
        if addr == self.my_addr || !usable(&addr) || self.is_neighbour_addr(&addr) {
            return false;
        }
        self.passive.insert(addr, sent, rng)
    }

    /// Backs `addr` off until `until`, never shortening a longer back-off
    /// (a ban's, say; found by fuzzing).
    fn extend_backoff(&mut self, addr: SocketAddr, until: Instant) {
        let entry = self.backoff.entry(addr).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// `base` spread over 50–150 %, so that hosts that act together (dropped
    /// together, started together) do not keep acting together.
    fn jittered<R: Rng>(&self, base: Duration, rng: &mut R) -> Duration {
        base.mul_f64(rng.random_range(0.5..1.5))
    }
}

/// An address worth keeping: a port, a specified IP.
fn usable(addr: &SocketAddr) -> bool {
    addr.port() != 0 && !addr.ip().is_unspecified()
}
