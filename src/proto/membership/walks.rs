//! The random walks of membership: joins announced by forward-join walks,
//! and shuffles that exchange samples of the views at the end of a walk.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use super::{Membership, PendingShuffle, Purpose, usable};
use crate::proto::Outbox;
use crate::proto::types::{Action, Message, PeerId, Shuffle, ShuffleReply, Violation};
use crate::wire::{MAX_SHUFFLE_SAMPLE, MAX_WALK_PATH};

impl Membership {
    /// A neighbour joins the network through this host: forward-join walks
    /// through every other neighbour.
    pub fn on_join(&mut self, from: PeerId, out: &mut Outbox) -> Result<(), Violation> {
        let Some(n) = self.active.get_mut(&from) else {
            return Ok(());
        };
        if n.joined {
            return Err(Violation::RepeatedJoin);
        }
        n.joined = true;
        let addr = n.addr;
        for peer in self.active.keys().filter(|p| **p != from) {
            out.push(Action::Send {
                to: *peer,
                msg: Message::ForwardJoin {
                    joiner: from,
                    addr,
                    ttl: self.config.active_walk,
                },
            });
        }
        Ok(())
    }

    /// A forward-join walk reached this host from neighbour `from`.
    pub fn on_forward_join<R: Rng>(
        &mut self,
        from: PeerId,
        (joiner, addr, ttl): (PeerId, SocketAddr, u8),
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if !self.take_join_token(&from, now) {
            self.stats.joins_dropped += 1;
            return;
        }
        if joiner == self.me || !usable(&addr) {
            return;
        }
        let ttl = ttl.min(self.config.active_walk);
        let next = self.random_neighbour(&[from, joiner], rng);
        if ttl == 0 || self.active.len() <= 1 || next.is_none() {
            // The walk ends here: this host links to the joiner, a full
            // host too (it makes room once the link is up, as HyParView
            // does). Keeping the joiner only as a backup at full hosts let
            // a burst of joins into a small network leave two groups of
            // full hosts, each closed on itself. A full host with a single
            // neighbour (degree 1) keeps it: giving up its only link for
            // the joiner would cut it and its neighbour's side apart.
            if self.active.contains_key(&joiner) {
                return;
            }
            let room = self.active.len() + self.dialing.len() < self.config.degree;
            let may_evict = self.active.len() >= 2 && self.dialing.len() < self.config.degree;
            if (room || may_evict) && self.dialable(&addr) {
                self.dial(addr, Purpose::ForwardJoin, false, out);
            } else {
                self.insert_passive(addr, &[], rng);
            }
            return;
        }
        if ttl == self.config.passive_walk {
            self.insert_passive(addr, &[], rng);
        }
        if let Some(next) = next {
            out.push(Action::Send {
                to: next,
                msg: Message::ForwardJoin {
                    joiner,
                    addr,
                    ttl: ttl - 1,
                },
            });
        }
    }

    /// A shuffle walk reached this host from neighbour `from`: pass it on,
    /// or answer it and merge its sample.
    pub fn on_shuffle<R: Rng>(
        &mut self,
        from: PeerId,
        shuffle: Shuffle,
        rng: &mut R,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let Shuffle {
            id,
            ttl,
            mut path,
            sample,
        } = shuffle;
        if path.last() != Some(&from) || path.len() > usize::from(self.config.active_walk) + 1 {
            return Err(Violation::BadWalk);
        }
        let ttl = ttl.min(self.config.active_walk);
        let mut avoid = path.clone();
        avoid.push(from);
        if ttl > 0 && path.len() < MAX_WALK_PATH {
            let next = self
                .random_neighbour(&avoid, rng)
                .or_else(|| self.random_neighbour(&[from], rng));
            if let Some(next) = next {
                path.push(self.me);
                out.push(Action::Send {
                    to: next,
                    msg: Message::Shuffle(Shuffle {
                        id,
                        ttl: ttl - 1,
                        path,
                        sample,
                    }),
                });
                return Ok(());
            }
        }
        let reply = self.passive.sample(sample.len(), &sample, rng);
        path.pop();
        out.push(Action::Send {
            to: from,
            msg: Message::ShuffleReply(ShuffleReply {
                id,
                route: path,
                sample: reply.clone(),
            }),
        });
        self.merge(&sample, &reply, rng);
        Ok(())
    }

    /// A shuffle reply reached this host from neighbour `from`: pass it
    /// back along its route, or merge it if it answers this host's shuffle.
    pub fn on_shuffle_reply<R: Rng>(
        &mut self,
        from: PeerId,
        reply: ShuffleReply,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let ShuffleReply {
            id,
            mut route,
            sample,
        } = reply;
        if let Some(next) = route.pop() {
            if next != from && self.active.contains_key(&next) {
                out.push(Action::Send {
                    to: next,
                    msg: Message::ShuffleReply(ShuffleReply { id, route, sample }),
                });
            }
            return;
        }
        match self.shuffle.take() {
            Some(pending) if pending.id == id && pending.to == from => {
                self.stats.shuffle_replies += 1;
                self.merge(&sample, &pending.sent, rng);
            }
            other => self.shuffle = other,
        }
    }

    pub(super) fn start_shuffle<R: Rng>(&mut self, rng: &mut R, out: &mut Outbox) {
        let Some(to) = self.random_neighbour(&[], rng) else {
            return;
        };
        let mut sample = vec![self.my_addr];
        let others: Vec<SocketAddr> = self
            .active
            .iter()
            .filter(|(p, _)| **p != to)
            .map(|(_, n)| n.addr)
            .collect();
        sample.extend(others.sample(rng, self.config.shuffle_active).copied());
        sample.extend(
            self.passive
                .sample(self.config.shuffle_passive, &sample, rng),
        );
        sample.truncate(MAX_SHUFFLE_SAMPLE);
        let id = rng.random();
        self.stats.shuffles += 1;
        self.shuffle = Some(PendingShuffle {
            id,
            to,
            sent: sample.clone(),
        });
        out.push(Action::Send {
            to,
            msg: Message::Shuffle(Shuffle {
                id,
                ttl: self.config.shuffle_walk,
                path: vec![self.me],
                sample,
            }),
        });
    }

    /// Takes at most `max_from_one` usable addresses of `addrs` as backups,
    /// making room with those in `sent` first.
    pub(super) fn merge<R: Rng>(&mut self, addrs: &[SocketAddr], sent: &[SocketAddr], rng: &mut R) {
        let mut placed = 0;
        for addr in addrs {
            if placed >= self.config.max_from_one {
                break;
            }
            if self.insert_passive(*addr, sent, rng) {
                placed += 1;
            }
        }
    }

    /// Spends one of `from`'s forward-join tokens; false when it has none.
    pub(super) fn take_join_token(&mut self, from: &PeerId, now: Instant) -> bool {
        let Some(n) = self.active.get_mut(from) else {
            return false;
        };
        let refill = self.config.join_refill.max(Duration::from_millis(1));
        let earned = now.saturating_duration_since(n.tokens_at).as_nanos() / refill.as_nanos();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            n.join_tokens = n
                .join_tokens
                .saturating_add(earned)
                .min(self.config.join_burst);
            n.tokens_at = now;
        }
        if n.join_tokens == 0 {
            return false;
        }
        n.join_tokens -= 1;
        true
    }
}
