//! Connections between simulated nodes: links whose two ends are held and
//! closed separately, as with TCP.
//!
//! Each node holds, per peer, at most one *current* link: the one its
//! driver sends on (the daemon's "current connection" of a peer). It may
//! also hold other open ends for a while, e.g. an old link it replaced
//! whose close has not reached the other end yet. A link is forgotten once
//! both of its ends are closed; what is still in flight on it is then
//! dropped on arrival.
//!
//! The table is only ever looked up by id, never iterated, so that the
//! order of a run cannot depend on hashing; what must be iterated (a node's
//! open ends) is kept in vectors in the order the ends were opened.

use std::collections::HashMap;
use std::time::Duration;

use super::ids::NodeIx;

/// Names one link for its whole life; never reused.
pub type LinkId = u64;

/// One connection between two nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The dialer and the acceptor.
    pub ends: [NodeIx; 2],
    /// Whether each end is still held open.
    pub open: [bool; 2],
    /// One-way latency, both directions, for the link's life.
    pub latency: Duration,
    /// Broken by loss or a partition: nothing more is sent on it, and both
    /// ends are told it is gone.
    pub broken: bool,
}

impl Link {
    fn side(&self, node: NodeIx) -> usize {
        usize::from(self.ends[0] != node)
    }

    /// The node at the other end from `node`.
    pub fn other(&self, node: NodeIx) -> NodeIx {
        self.ends[1 - self.side(node)]
    }

    /// True when `node` holds its end open.
    pub fn is_open_at(&self, node: NodeIx) -> bool {
        self.ends.contains(&node) && self.open[self.side(node)]
    }
}

/// What closing one end of a link found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The node at the other end.
    pub other: NodeIx,
    /// The link's latency (when the other end hears of the close).
    pub latency: Duration,
    /// The other end is still open: it must be told.
    pub other_open: bool,
    /// It was the closing node's current link to `other`.
    pub was_current: bool,
}

/// The ends one node holds.
#[derive(Debug, Default)]
struct Ends {
    /// Peer → the link this node sends to it on.
    current: Vec<(NodeIx, LinkId)>,
    /// Every link whose end this node holds open, oldest first.
    open: Vec<LinkId>,
}

/// Every link of a simulation.
#[derive(Debug, Default)]
pub struct Links {
    links: HashMap<LinkId, Link>,
    next: LinkId,
    ends: Vec<Ends>,
}

impl Links {
    /// Opens a link between `dialer` and `acceptor`, both ends held.
    pub fn open(&mut self, dialer: NodeIx, acceptor: NodeIx, latency: Duration) -> LinkId {
        let id = self.next;
        self.next += 1;
        let link = Link {
            ends: [dialer, acceptor],
            open: [true, true],
            latency,
            broken: false,
        };
        self.links.insert(id, link);
        self.ends_mut(dialer).open.push(id);
        self.ends_mut(acceptor).open.push(id);
        id
    }

    /// The link `id`, while one of its ends is open.
    pub fn get(&self, id: LinkId) -> Option<&Link> {
        self.links.get(&id)
    }

    /// True when `node` holds its end of `id` open.
    pub fn is_open_at(&self, id: LinkId, node: NodeIx) -> bool {
        self.get(id).is_some_and(|l| l.is_open_at(node))
    }

    /// The link `node` sends to `peer` on.
    pub fn current(&self, node: NodeIx, peer: NodeIx) -> Option<LinkId> {
        let ends = self.ends.get(node)?;
        ends.current
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, l)| *l)
    }

    /// The link both nodes use for each other, if it is whole (both ends
    /// open, not broken).
    pub fn shared(&self, a: NodeIx, b: NodeIx) -> Option<LinkId> {
        let id = self.current(a, b)?;
        let link = self.get(id)?;
        let whole = !link.broken && link.open == [true, true];
        (whole && self.current(b, a) == Some(id)).then_some(id)
    }

    /// Makes `id` the link `node` sends to `peer` on; returns the one it
    /// replaces, if another.
    pub fn set_current(&mut self, node: NodeIx, peer: NodeIx, id: LinkId) -> Option<LinkId> {
        let current = &mut self.ends_mut(node).current;
        match current.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, old)) => Some(std::mem::replace(old, id)).filter(|o| *o != id),
            None => {
                current.push((peer, id));
                None
            }
        }
    }

    /// Closes `node`'s end of `id`; None when it was not open.
    pub fn close_end(&mut self, id: LinkId, node: NodeIx) -> Option<Closed> {
        let link = self.links.get_mut(&id)?;
        if !link.is_open_at(node) {
            return None;
        }
        let side = link.side(node);
        link.open[side] = false;
        let closed = Closed {
            other: link.other(node),
            latency: link.latency,
            other_open: link.open[1 - side],
            was_current: false,
        };
        if !closed.other_open {
            self.links.remove(&id);
        }
        let ends = self.ends_mut(node);
        ends.open.retain(|l| *l != id);
        let before = ends.current.len();
        ends.current.retain(|(_, l)| *l != id);
        let was_current = ends.current.len() < before;
        Some(Closed {
            was_current,
            ..closed
        })
    }

    /// Marks `id` broken; false when it was gone or broken already.
    pub fn break_link(&mut self, id: LinkId) -> bool {
        match self.links.get_mut(&id) {
            Some(link) if !link.broken => {
                link.broken = true;
                true
            }
            _ => false,
        }
    }

    /// The links whose end `node` holds open, oldest first.
    pub fn open_ends(&self, node: NodeIx) -> &[LinkId] {
        self.ends.get(node).map_or(&[], |e| &e.open)
    }

    /// Number of links with at least one end open.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    fn ends_mut(&mut self, node: NodeIx) -> &mut Ends {
        if self.ends.len() <= node {
            self.ends.resize_with(node + 1, Ends::default);
        }
        &mut self.ends[node]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_link_lives_until_both_ends_close() {
        let mut links = Links::default();
        let id = links.open(0, 1, MS);
        links.set_current(0, 1, id);
        links.set_current(1, 0, id);
        assert_eq!(links.shared(0, 1), Some(id));
        let first = links.close_end(id, 0).unwrap();
        assert_eq!(
            first,
            Closed {
                other: 1,
                latency: MS,
                other_open: true,
                was_current: true
            }
        );
        assert_eq!(links.shared(0, 1), None);
        assert!(links.is_open_at(id, 1) && !links.is_open_at(id, 0));
        assert_eq!(links.close_end(id, 0), None, "closed once");
        let second = links.close_end(id, 1).unwrap();
        assert!(!second.other_open && second.was_current);
        assert!(links.get(id).is_none() && links.len() == 0);
        assert!(links.open_ends(0).is_empty() && links.open_ends(1).is_empty());
    }

    #[test]
    fn a_new_current_link_names_the_one_it_replaces() {
        let mut links = Links::default();
        let old = links.open(0, 1, MS);
        let new = links.open(1, 0, MS);
        assert_eq!(links.set_current(0, 1, old), None);
        assert_eq!(links.set_current(0, 1, old), None, "same link");
        assert_eq!(links.set_current(0, 1, new), Some(old));
        assert_eq!(links.current(0, 1), Some(new));
        assert_eq!(links.open_ends(0), &[old, new]);
        assert!(!links.close_end(old, 0).unwrap().was_current);
    }

    #[test]
    fn a_broken_link_is_not_shared() {
        let mut links = Links::default();
        let id = links.open(0, 1, MS);
        links.set_current(0, 1, id);
        links.set_current(1, 0, id);
        assert!(links.break_link(id));
        assert!(!links.break_link(id), "broken once");
        assert_eq!(links.shared(0, 1), None);
    }
}
