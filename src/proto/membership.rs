//! Who this host's neighbours are: a simple peer exchange.
//!
//! A host keeps at most `degree` neighbours (its active view, to use the name
//! of HyParView, Leitão et al., DSN 2007) and a bounded list of known P2P
//! addresses. It joins through its bootstrapper, asks every new neighbour for
//! the addresses it knows ([`Message::GetPeers`] / [`Message::Peers`]), and on
//! each tick dials known addresses until it has `degree` neighbours.
//!
//! A full host refuses an inbound connection after referring the dialer to
//! its own neighbours, so joins spread out instead of piling on the
//! bootstrapper. The one exception is borrowed from HyParView: a dialer with
//! no neighbour at all asks with high priority, and a full host then drops a
//! random neighbour to take it, so no host stays isolated while others are
//! full. Addresses that refused or dropped us wait out a back-off before they
//! are dialed again.
//!
//! This is a stand-in: the membership work replaces it with HyParView's
//! active/passive views, shuffles and failure detection.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use super::Outbox;
use super::types::{Action, Message, PeerId};
use crate::wire::MAX_PEERS_PER_MESSAGE;

/// Tunables of the peer exchange.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// Most neighbours kept.
    pub degree: usize,
    /// Most known addresses kept; a new one replaces a random old one beyond.
    pub max_known: usize,
    /// How long an address that refused, dropped or failed us is not dialed.
    pub backoff: Duration,
    /// How often a host below `degree` asks a neighbour for more addresses.
    pub exchange_interval: Duration,
    /// A host that has neighbours but has stayed below `degree` this long
    /// without gaining one dials with high priority (once per period), so a
    /// group of full hosts cannot keep it out forever.
    pub escalate_after: Duration,
}

impl MembershipConfig {
    /// Defaults for a given degree. The numbers are guesses sized for small
    /// networks: 128 known addresses, 5 s back-off, an exchange every 2 s,
    /// escalation after 5 s below degree.
    pub fn with_degree(degree: usize) -> MembershipConfig {
        MembershipConfig {
            degree: degree.max(1),
            max_known: 128,
            backoff: Duration::from_secs(5),
            exchange_interval: Duration::from_secs(2),
            escalate_after: Duration::from_secs(5),
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
    /// The dialer has no other neighbour.
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
    known: Vec<SocketAddr>,
    dialing: BTreeSet<SocketAddr>,
    backoff: BTreeMap<SocketAddr, Instant>,
    next_exchange: Option<Instant>,
    /// Since when this host has been below `degree` without gaining a
    /// neighbour (None at degree).
    below_since: Option<Instant>,
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
            config,
            me,
            my_addr,
            bootstrapper,
            active: BTreeMap::new(),
            known: Vec::new(),
            dialing: BTreeSet::new(),
            backoff: BTreeMap::new(),
            next_exchange: None,
            below_since: None,
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

    /// Drops `peer` from the neighbours at once (it was banned: its
    /// connection is closed without a referral, and its address, when it
    /// is to be avoided, is handed to [`Membership::forget`]).
    pub fn remove(&mut self, peer: &PeerId) -> Option<Neighbour> {
        self.active.remove(peer)
    }

    /// Forgets `addr` and does not dial it (not even as the bootstrapper)
    /// before `until`: it belongs to a banned peer. A dial of it that ended
    /// in a refusal is no longer under way.
    pub fn forget(&mut self, addr: SocketAddr, until: Instant) {
        self.dialing.remove(&addr);
        self.known.retain(|a| *a != addr);
        let backoff = self.backoff.entry(addr).or_insert(until);
        *backoff = (*backoff).max(until);
    }

    /// Number of known addresses.
    pub fn known_len(&self) -> usize {
        self.known.len()
    }

    /// Number of dials under way.
    pub fn dialing_len(&self) -> usize {
        self.dialing.len()
    }

    /// A connection came up (see [`super::Event::PeerUp`]).
    pub fn on_peer_up<R: Rng>(&mut self, up: LinkUp, now: Instant, rng: &mut R, out: &mut Outbox) {
        let LinkUp {
            peer,
            addr,
            dialed,
            high_priority,
        } = up;
        if let Some(d) = dialed {
            self.dialing.remove(&d);
        }
        if peer == self.me || self.active.contains_key(&peer) {
            return;
        }
        self.remember(addr, rng);
        if self.active.len() >= self.config.degree {
            if dialed.is_none() && high_priority {
                self.drop_random_neighbour(rng, out);
            } else {
                self.refuse(peer, addr, rng, out);
                return;
            }
        }
        let outbound = dialed.is_some();
        let neighbour = Neighbour {
            addr,
            outbound,
            since: now,
        };
        self.active.insert(peer, neighbour);
        self.below_since = (self.active.len() < self.config.degree).then_some(now);
        out.push(Action::Send {
            to: peer,
            msg: Message::GetPeers,
        });
    }

    /// The connection to `peer` is gone. Its address waits out the back-off
    /// before it is dialed again.
    pub fn on_peer_down<R: Rng>(&mut self, peer: &PeerId, now: Instant, rng: &mut R) {
        if let Some(n) = self.active.remove(peer) {
            let until = now + self.jittered_backoff(rng);
            self.extend_backoff(n.addr, until);
        }
    }

    /// A dial failed: the address is forgotten (the bootstrapper is kept but
    /// waits out the back-off).
    pub fn on_dial_failed<R: Rng>(&mut self, addr: SocketAddr, now: Instant, rng: &mut R) {
        self.dialing.remove(&addr);
        self.known.retain(|a| *a != addr);
        let until = now + self.jittered_backoff(rng);
        self.extend_backoff(addr, until);
    }

    /// Backs `addr` off until `until`, never shortening a longer back-off
    /// (a ban's, say; found by fuzzing).
    fn extend_backoff(&mut self, addr: SocketAddr, until: Instant) {
        let entry = self.backoff.entry(addr).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// The back-off, spread over 50–150 % so that hosts dropped together do
    /// not all come back at the same moment.
    fn jittered_backoff<R: Rng>(&self, rng: &mut R) -> Duration {
        self.config.backoff.mul_f64(rng.random_range(0.5..1.5))
    }

    /// A neighbour asks for addresses: answer with a random sample of the
    /// neighbours' and known addresses.
    pub fn on_get_peers<R: Rng>(&mut self, from: PeerId, rng: &mut R, out: &mut Outbox) {
        if !self.active.contains_key(&from) {
            return;
        }
        let sample = self.sample_addresses(Some(from), rng);
        out.push(Action::Send {
            to: from,
            msg: Message::Peers(sample),
        });
    }

    /// A neighbour (or a host that refused us) sent addresses.
    pub fn on_peers<R: Rng>(&mut self, addrs: &[SocketAddr], rng: &mut R) {
        for addr in addrs.iter().take(MAX_PEERS_PER_MESSAGE) {
            self.remember(*addr, rng);
        }
    }

    /// Periodic work: dial known addresses while below `degree`, ask a
    /// neighbour for more addresses now and then.
    pub fn on_tick<R: Rng>(&mut self, now: Instant, rng: &mut R, out: &mut Outbox) {
        self.backoff.retain(|_, until| *until > now);
        if self.active.len() >= self.config.degree {
            self.below_since = None;
            return;
        }
        let below_since = *self.below_since.get_or_insert(now);
        if self.active.len() + self.dialing.len() < self.config.degree {
            if !self.active.is_empty()
                && now.duration_since(below_since) >= self.config.escalate_after
            {
                self.below_since = Some(now);
                self.escalate(rng, out);
            } else {
                self.dial_more(rng, out);
            }
        }
        if !self.active.is_empty() && self.next_exchange.is_none_or(|t| t <= now) {
            self.next_exchange = Some(now + self.config.exchange_interval);
            let peers: Vec<PeerId> = self.active.keys().copied().collect();
            if let Some(peer) = peers.choose(rng) {
                out.push(Action::Send {
                    to: *peer,
                    msg: Message::GetPeers,
                });
            }
        }
    }

    /// Dials known addresses to fill the free slots; an isolated host dials
    /// one at a time with high priority, falling back to its bootstrapper.
    fn dial_more<R: Rng>(&mut self, rng: &mut R, out: &mut Outbox) {
        let isolated = self.active.is_empty();
        let wanted = if isolated {
            usize::from(self.dialing.is_empty())
        } else {
            self.config.degree - self.active.len() - self.dialing.len()
        };
        let mut candidates = self.dial_candidates(false);
        if candidates.is_empty() && isolated && self.dialing.is_empty() {
            candidates.extend(self.bootstrapper.filter(|b| !self.backoff.contains_key(b)));
        }
        for addr in candidates.sample(rng, wanted).copied().collect::<Vec<_>>() {
            self.dial(addr, isolated, out);
        }
    }

    /// Stuck below degree: one high-priority dial, even to an address that
    /// refused us before (a full host then makes room).
    fn escalate<R: Rng>(&mut self, rng: &mut R, out: &mut Outbox) {
        if let Some(&addr) = self.dial_candidates(true).choose(rng) {
            self.dial(addr, true, out);
        }
    }

    /// Joining: dial the bootstrapper, if there is one.
    pub fn start(&mut self, out: &mut Outbox) {
        if let Some(b) = self.bootstrapper {
            self.dial(b, true, out);
        }
    }

    fn dial(&mut self, addr: SocketAddr, high_priority: bool, out: &mut Outbox) {
        if self.dialing.len() >= self.config.degree || !self.dialing.insert(addr) {
            return;
        }
        out.push(Action::Connect {
            addr,
            high_priority,
        });
    }

    /// Known addresses that are not neighbours and not being dialed; backed
    /// off ones only if `ignore_backoff`.
    fn dial_candidates(&self, ignore_backoff: bool) -> Vec<SocketAddr> {
        self.known
            .iter()
            .filter(|a| {
                !self.dialing.contains(a)
                    && (ignore_backoff || !self.backoff.contains_key(a))
                    && !self.active.values().any(|n| n.addr == **a)
            })
            .copied()
            .collect()
    }

    fn refuse<R: Rng>(&mut self, peer: PeerId, addr: SocketAddr, rng: &mut R, out: &mut Outbox) {
        let referral: Vec<SocketAddr> = self
            .sample_addresses(None, rng)
            .into_iter()
            .filter(|a| *a != addr)
            .collect();
        out.push(Action::Send {
            to: peer,
            msg: Message::Peers(referral),
        });
        out.push(Action::Disconnect(peer));
    }

    /// Makes room for a high-priority joiner. The dropped neighbour gets a
    /// referral first, so it knows where else to go even if it joined here.
    fn drop_random_neighbour<R: Rng>(&mut self, rng: &mut R, out: &mut Outbox) {
        let peers: Vec<PeerId> = self.active.keys().copied().collect();
        if let Some(&victim) = peers.choose(rng) {
            let addr = self.active[&victim].addr;
            self.active.remove(&victim);
            self.refuse(victim, addr, rng, out);
        }
    }

    fn sample_addresses<R: Rng>(&self, except: Option<PeerId>, rng: &mut R) -> Vec<SocketAddr> {
        let mut pool: Vec<SocketAddr> = self
            .active
            .iter()
            .filter(|(p, _)| Some(**p) != except)
            .map(|(_, n)| n.addr)
            .collect();
        for a in &self.known {
            if !pool.contains(a) {
                pool.push(*a);
            }
        }
        let except_addr = except.and_then(|p| self.active.get(&p)).map(|n| n.addr);
        pool.retain(|a| Some(*a) != except_addr);
        pool.sample(rng, MAX_PEERS_PER_MESSAGE / 4)
            .copied()
            .collect()
    }

    fn remember<R: Rng>(&mut self, addr: SocketAddr, rng: &mut R) {
        if addr == self.my_addr
            || addr.port() == 0
            || addr.ip().is_unspecified()
            || self.known.contains(&addr)
        {
            return;
        }
        if self.known.len() < self.config.max_known {
            self.known.push(addr);
        } else {
            let slot = rng.random_range(0..self.known.len());
            self.known[slot] = addr;
        }
    }
}
