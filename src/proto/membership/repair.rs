//! The periodic and repair work of membership: keep-alives and their
//! deadline, filling free slots from the passive view, escalation, probes
//! of lost neighbours, refreshes, and making room for a neighbour that must
//! be taken.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use super::{BOOTSTRAP_RETRY, Lost, Membership, Purpose, Timer};

/// Dials a host with no neighbour keeps under way at most.
const ISOLATED_DIALS: usize = 2;

use crate::proto::Outbox;
use crate::proto::types::{Action, Message, PeerId};
use crate::wire::MAX_PEERS_PER_MESSAGE;

impl Membership {
    /// Periodic work: keep-alives and their deadline, shuffles, probes of
    /// lost neighbours, and filling free slots from the passive view.
    pub fn on_tick<R: Rng>(&mut self, now: Instant, rng: &mut R, out: &mut Outbox) {
        self.backoff.retain(|_, until| *until > now);
        self.banned_until.retain(|_, until| *until > now);
        self.check_keepalives(now, rng, out);
        let interval = self.config.shuffle_interval;
        if self.due(Timer::Shuffle, interval, now, rng) {
            self.start_shuffle(rng, out);
        }
        if self.due(Timer::Probe, self.config.probe_interval, now, rng) {
            self.probe(rng, out);
        }
        if self.due(Timer::Refresh, self.config.refresh_interval, now, rng) {
            self.refresh(rng, out);
        }
        self.fill(now, rng, out);
    }

    /// Sends keep-alives when due and drops neighbours past the deadline.
    pub(super) fn check_keepalives<R: Rng>(&mut self, now: Instant, rng: &mut R, out: &mut Outbox) {
        let timeout = self.config.keepalive_timeout;
        let silent: Vec<PeerId> = self
            .active
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.last_heard) >= timeout)
            .map(|(p, _)| *p)
            .collect();
        for peer in silent {
            if let Some(n) = self.active.remove(&peer) {
                self.stats.keepalive_timeouts += 1;
                out.push(Action::Disconnect(peer));
                self.lose(n.addr, now, rng);
            }
        }
        if self.due(Timer::KeepAlive, timeout / 3, now, rng) {
            for peer in self.active.keys() {
                out.push(Action::Send {
                    to: *peer,
                    msg: Message::KeepAlive,
                });
            }
        }
    }

    /// True when the periodic task `timer` is due; it is then scheduled
    /// again one (jittered) `interval` later. The first call only schedules
    /// it. Keep-alives are not jittered: their deadline is exact.
    pub(super) fn due<R: Rng>(
        &mut self,
        timer: Timer,
        interval: Duration,
        now: Instant,
        rng: &mut R,
    ) -> bool {
        let next = match timer {
            Timer::KeepAlive => now + interval,
            _ => now + self.jittered(interval, rng),
        };
        let slot = match timer {
            Timer::KeepAlive => &mut self.next_keepalive,
            Timer::Shuffle => &mut self.next_shuffle,
            Timer::Probe => &mut self.next_probe,
            Timer::Refresh => &mut self.next_refresh,
        };
        match *slot {
            Some(t) if t > now => false,
            Some(_) => {
                *slot = Some(next);
                true
            }
            None => {
                *slot = Some(next);
                false
            }
        }
    }

    /// Dials one lost neighbour with high priority, so a healed partition
    /// gets a link across even where every host is full.
    pub(super) fn probe<R: Rng>(&mut self, rng: &mut R, out: &mut Outbox) {
        let candidates: Vec<SocketAddr> = self.dialable_lost();
        if let Some(&addr) = candidates.choose(rng) {
            self.stats.probes += 1;
            self.dial(addr, Purpose::Probe, true, out);
        }
    }

    /// At `degree`: dials a random backup with high priority; when it comes
    /// up it takes the place of a random neighbour.
    pub(super) fn refresh<R: Rng>(&mut self, rng: &mut R, out: &mut Outbox) {
        if self.active.len() < self.config.degree {
            return;
        }
        let candidates: Vec<SocketAddr> = self.dialable_backups();
        if let Some(&addr) = candidates.choose(rng) {
            self.stats.refreshes += 1;
            self.dial(addr, Purpose::Refresh, true, out);
        }
    }

    /// Dials backups to fill the free slots; a host with no neighbour dials
    /// one at a time with high priority, falling back to its bootstrapper
    /// (at most once per [`BOOTSTRAP_RETRY`], back-off or not: a host with
    /// no neighbour and no backup has nowhere else to go).
    pub(super) fn fill<R: Rng>(&mut self, now: Instant, rng: &mut R, out: &mut Outbox) {
        if self.active.len() >= self.config.degree {
            self.below_since = None;
            return;
        }
        let taken = self.active.len() + self.dialing.len();
        if taken >= self.config.degree {
            return;
        }
        let isolated = self.active.is_empty();
        // A host with no neighbour dials two backups at a time: a stopped
        // host accepts TCP but never answers, and must not hold the only
        // dial for the handshake timeout.
        if isolated && self.dialing.len() >= ISOLATED_DIALS.min(self.config.degree) {
            return;
        }
        let below_since = *self.below_since.get_or_insert(now);
        let escalate = !isolated && now.duration_since(below_since) >= self.config.escalate_after;
        let wanted = if isolated {
            ISOLATED_DIALS.min(self.config.degree) - self.dialing.len()
        } else {
            self.config.degree - taken
        };
        let mut candidates: Vec<SocketAddr> = self.dialable_backups();
        if candidates.is_empty() && isolated {
            // Back-off or not: a host with no neighbour asks with high
            // priority, which full hosts that refused it before grant.
            candidates = self.stubborn_candidates();
        }
        if candidates.is_empty() && isolated {
            // Nothing else known: the neighbours lost to failures, once
            // their back-off is over, without waiting for the next probe.
            let lost: Vec<SocketAddr> = self.dialable_lost();
            for addr in lost.sample(rng, wanted).copied().collect::<Vec<_>>() {
                // The bootstrapper is joined again, anyone else probed.
                let purpose = if Some(addr) == self.bootstrapper {
                    Purpose::Join
                } else {
                    self.stats.probes += 1;
                    Purpose::Probe
                };
                self.dial(addr, purpose, true, out);
            }
            if !self.dialing.is_empty() {
                return;
            }
        }
        if candidates.is_empty() && isolated {
            // A bootstrapper that just failed as a neighbour waits out its
            // back-off like any lost neighbour.
            let failed = self.bootstrapper.is_some_and(|b| {
                self.backoff.contains_key(&b) && self.lost.iter().any(|l| l.addr == b)
            });
            if let Some(b) = self.bootstrapper
                && b != self.my_addr
                && !failed
                && self.banned_until.get(&b).is_none_or(|until| *until <= now)
                && self.next_bootstrap.is_none_or(|t| t <= now)
            {
                self.next_bootstrap = Some(now + BOOTSTRAP_RETRY);
                self.dial(b, Purpose::Join, true, out);
            }
            return;
        }
        if escalate {
            // Back-off or not: the full hosts that refused us are exactly
            // the ones a high-priority request gets through to.
            if let Some(&addr) = self.stubborn_candidates().choose(rng) {
                self.below_since = Some(now);
                self.dial(addr, Purpose::Promote, true, out);
                return;
            }
        }
        if !isolated && self.next_promote.is_some_and(|t| t > now) {
            return;
        }
        for addr in candidates.sample(rng, wanted).copied().collect::<Vec<_>>() {
            self.dial(addr, Purpose::Promote, isolated, out);
        }
    }

    /// Backups that may be dialed now (see `dialable`).
    fn dialable_backups(&self) -> Vec<SocketAddr> {
        let backups = self.passive.addrs().iter();
        backups.filter(|a| self.dialable(a)).copied().collect()
    }

    /// Neighbours lost to failures that may be dialed now.
    fn dialable_lost(&self) -> Vec<SocketAddr> {
        let lost = self.lost.iter().map(|l| l.addr);
        lost.filter(|a| self.dialable(a)).collect()
    }

    /// Backups worth a high-priority dial whatever their back-off: not
    /// being dialed, not neighbours, not banned.
    fn stubborn_candidates(&self) -> Vec<SocketAddr> {
        self.passive
            .addrs()
            .iter()
            .filter(|a| {
                !self.dialing.contains_key(a)
                    && !self.is_neighbour_addr(a)
                    && !self.banned_until.contains_key(a)
            })
            .copied()
            .collect()
    }

    /// Makes room for `newcomer`, a neighbour that must be taken: a random
    /// one is told (with a referral that names the newcomer, likely not full
    /// yet; the victim keeps this host as a backup) and becomes a backup
    /// itself.
    pub(super) fn evict_random<R: Rng>(
        &mut self,
        newcomer: SocketAddr,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(victim) = self.random_neighbour(&[], rng) else {
            return;
        };
        let Some(n) = self.active.remove(&victim) else {
            return;
        };
        self.stats.evictions += 1;
        // A referral first: the victim may have no other neighbour.
        let mut referral = self.referral(None, rng);
        referral.retain(|a| *a != newcomer && *a != n.addr);
        referral.insert(0, newcomer);
        referral.truncate(MAX_PEERS_PER_MESSAGE / 4);
        Self::part_with(victim, referral, out);
        self.insert_passive(n.addr, &[], rng);
        let until = now + self.jittered(self.config.backoff, rng);
        self.extend_backoff(n.addr, until);
    }

    /// A failed neighbour: no backup of it, but it is probed now and then.
    pub(super) fn lose<R: Rng>(&mut self, addr: SocketAddr, now: Instant, rng: &mut R) {
        self.passive.remove(&addr);
        let until = now + self.jittered(self.config.backoff, rng);
        self.extend_backoff(addr, until);
        if self.lost.iter().any(|l| l.addr == addr) {
            return;
        }
        if self.lost.len() >= self.config.max_lost {
            let slot = rng.random_range(0..self.lost.len());
            self.lost.swap_remove(slot);
        }
        self.lost.push(Lost { addr, probes: 0 });
    }
}
