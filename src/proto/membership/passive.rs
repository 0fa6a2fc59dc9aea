//! The passive view: a bounded set of addresses of hosts believed alive,
//! kept as backups for the active view.

use std::net::SocketAddr;

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

/// At most `capacity` distinct addresses, in no particular order.
#[derive(Clone, Debug)]
pub struct PassiveView {
    capacity: usize,
    addrs: Vec<SocketAddr>,
}

impl PassiveView {
    /// An empty view of at most `capacity` addresses (at least one).
    pub fn new(capacity: usize) -> PassiveView {
        PassiveView {
            capacity: capacity.max(1),
            addrs: Vec::new(),
        }
    }

    /// The addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True when it holds no address.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// True when `addr` is in the view.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.addrs.contains(addr)
    }

    /// Removes `addr`; true when it was there.
    pub fn remove(&mut self, addr: &SocketAddr) -> bool {
        match self.addrs.iter().position(|a| a == addr) {
            Some(i) => {
                self.addrs.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Adds `addr` (the caller checked that it is usable: not this host, not
    /// a neighbour). When full, an address from `prefer_evict` makes room if
    /// one is there (HyParView: the ones just sent away in a shuffle),
    /// otherwise a random one. False when it was already there.
    pub fn insert<R: Rng>(
        &mut self,
        addr: SocketAddr,
        prefer_evict: &[SocketAddr],
        rng: &mut R,
    ) -> bool {
        if self.addrs.contains(&addr) {
            return false;
        }
        if self.addrs.len() >= self.capacity {
            let slot = self
                .addrs
                .iter()
                .position(|a| prefer_evict.contains(a))
                .unwrap_or_else(|| rng.random_range(0..self.addrs.len()));
            self.addrs[slot] = addr;
        } else {
            self.addrs.push(addr);
        }
        true
    }

    /// Up to `n` distinct random addresses, none of them in `except`.
    pub fn sample<R: Rng>(&self, n: usize, except: &[SocketAddr], rng: &mut R) -> Vec<SocketAddr> {
        let pool: Vec<SocketAddr> = self
            .addrs
            .iter()
            .filter(|a| !except.contains(a))
            .copied()
            .collect();
        pool.sample(rng, n).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn stays_bounded_and_distinct() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut view = PassiveView::new(4);
        for port in 0..100 {
            view.insert(addr(port % 10), &[], &mut rng);
            assert!(view.len() <= 4);
        }
        let mut addrs = view.addrs().to_vec();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), view.len());
        assert!(!view.insert(view.addrs()[0], &[], &mut rng));
    }

    #[test]
    fn a_full_view_evicts_what_was_sent_away_first() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut view = PassiveView::new(3);
        for port in 1..=3 {
            view.insert(addr(port), &[], &mut rng);
        }
        view.insert(addr(9), &[addr(2)], &mut rng);
        assert!(view.contains(&addr(9)));
        assert!(!view.contains(&addr(2)));
        assert!(view.contains(&addr(1)) && view.contains(&addr(3)));
    }

    #[test]
    fn samples_are_distinct_and_skip_the_exceptions() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut view = PassiveView::new(10);
        for port in 1..=10 {
            view.insert(addr(port), &[], &mut rng);
        }
        let sample = view.sample(20, &[addr(1), addr(2)], &mut rng);
        assert_eq!(sample.len(), 8);
        assert!(!sample.contains(&addr(1)) && !sample.contains(&addr(2)));
        assert!(view.remove(&addr(5)));
        assert!(!view.remove(&addr(5)));
    }
}
