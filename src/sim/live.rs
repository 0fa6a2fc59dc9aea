//! The set of running nodes, with O(1) insert, removal and random pick.

use rand::{Rng, RngExt};

use super::ids::NodeIx;

/// Marks a node that is not in the set.
const ABSENT: usize = usize::MAX;

/// Running nodes. The order of [`LiveSet::as_slice`] depends only on the
/// sequence of inserts and removals (a removal moves the last node into the
/// hole), so seeded picks stay deterministic.
#[derive(Debug, Default)]
pub struct LiveSet {
    list: Vec<NodeIx>,
    /// Node → its position in `list`, or [`ABSENT`].
    pos: Vec<usize>,
}

impl LiveSet {
    /// Adds `node`; nothing if it is already in.
    pub fn insert(&mut self, node: NodeIx) {
        if self.pos.len() <= node {
            self.pos.resize(node + 1, ABSENT);
        }
        if self.pos[node] == ABSENT {
            self.pos[node] = self.list.len();
            self.list.push(node);
        }
    }

    /// Removes `node`; false when it was not in.
    pub fn remove(&mut self, node: NodeIx) -> bool {
        let Some(&at) = self.pos.get(node).filter(|p| **p != ABSENT) else {
            return false;
        };
        self.list.swap_remove(at);
        if let Some(&moved) = self.list.get(at) {
            self.pos[moved] = at;
        }
        self.pos[node] = ABSENT;
        true
    }

    /// True when `node` is in.
    pub fn contains(&self, node: NodeIx) -> bool {
        self.pos.get(node).is_some_and(|p| *p != ABSENT)
    }

    /// A member chosen by `rng`; None when empty.
    pub fn pick<R: Rng>(&self, rng: &mut R) -> Option<NodeIx> {
        if self.list.is_empty() {
            return None;
        }
        Some(self.list[rng.random_range(0..self.list.len())])
    }

    /// The members, in the set's own order.
    pub fn as_slice(&self) -> &[NodeIx] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn removal_keeps_the_others() {
        let mut set = LiveSet::default();
        for n in [3, 0, 7, 5] {
            set.insert(n);
        }
        set.insert(7);
        assert_eq!(set.as_slice().len(), 4);
        assert!(set.remove(3));
        assert!(!set.remove(3));
        assert!(!set.remove(100));
        assert_eq!(set.as_slice(), &[5, 0, 7]);
        assert!(set.contains(5) && !set.contains(3));
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            let n = set.pick(&mut rng).unwrap();
            assert!([0, 5, 7].contains(&n));
        }
        for n in [0, 5, 7] {
            set.remove(n);
        }
        assert!(set.as_slice().is_empty() && set.pick(&mut rng).is_none());
    }
}
