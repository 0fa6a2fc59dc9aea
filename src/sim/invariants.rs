//! Invariants of the overlay, checked on the live network.
//!
//! Always, for every running node A:
//!
//! - A's active view holds at most `degree` nodes;
//! - A does not list itself.
//!
//! Once the network is quiet *for a pair* — no input concerning both A and
//! B is queued or held: no message or close on a link between them, no
//! step of a dial by one of the other (the dial, the acceptance, the
//! answer) — then if A lists B:
//!
//! - B runs (A was told of B's death);
//! - A holds an open link to B and it is the one A sends to B on;
//! - B lists A: links are symmetric.
//!
//! While something between the two is in flight, A listing B alone is
//! normal: B may not have heard of the dial yet, or A not of B's refusal.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use super::engine::Sim;
use super::ids::NodeIx;

/// Most violations an [`InvariantError`] describes; the rest are counted.
const MAX_LISTED: usize = 20;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// `node`'s active view is larger than the degree.
    OverDegree {
        /// The node.
        node: NodeIx,
        /// Its view's size.
        size: usize,
        /// The degree.
        degree: usize,
    },
    /// `node` lists itself.
    ListsItself {
        /// The node.
        node: NodeIx,
    },
    /// `node` lists `peer`, which was killed, and nothing about it is in
    /// flight.
    ListsDeadNode {
        /// The node.
        node: NodeIx,
        /// The dead neighbour.
        peer: NodeIx,
    },
    /// `node` lists `peer` but holds no open link it sends to it on.
    NoLink {
        /// The node.
        node: NodeIx,
        /// The neighbour.
        peer: NodeIx,
    },
    /// `node` lists `peer`, which does not list it, and nothing between
    /// them is in flight.
    OneWay {
        /// The node.
        node: NodeIx,
        /// The neighbour.
        peer: NodeIx,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::OverDegree { node, size, degree } => {
                write!(f, "node {node} has {size} neighbours (degree {degree})")
            }
            Violation::ListsItself { node } => write!(f, "node {node} lists itself"),
            Violation::ListsDeadNode { node, peer } => {
                write!(f, "node {node} still lists dead node {peer}")
            }
            Violation::NoLink { node, peer } => {
                write!(f, "node {node} lists {peer} without a link to it")
            }
            Violation::OneWay { node, peer } => {
                write!(f, "node {node} lists {peer}, which does not list it")
            }
        }
    }
}

/// The invariants a check found broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantError {
    /// Simulated time of the check.
    pub at: Duration,
    /// The first violations found (at most 20), by node.
    pub violations: Vec<Violation>,
    /// How many were found in all.
    pub total: usize,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.as_secs_f64();
        write!(f, "{} invariant violation(s) at {at:.3} s: ", self.total)?;
        for (n, v) in self.violations.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        if self.total > self.violations.len() {
            write!(f, "; and {} more", self.total - self.violations.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for InvariantError {}

impl Sim {
    /// Checks the invariants of the [module docs](self) on every running
    /// node now.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let busy = self.busy_pairs();
        let degree = self.config.degree();
        let mut live: Vec<NodeIx> = self.live_nodes().to_vec();
        live.sort_unstable();
        let mut views = vec![Vec::new(); self.len()];
        for &node in &live {
            views[node] = self.neighbours(node);
        }
        let mut found = Vec::new();
        for &node in &live {
            let view = &views[node];
            if view.len() > degree {
                let size = view.len();
                found.push(Violation::OverDegree { node, size, degree });
            }
            for &peer in view {
                if peer == node {
                    found.push(Violation::ListsItself { node });
                } else if !busy.contains(&(node.min(peer), node.max(peer))) {
                    found.extend(self.check_settled(node, peer, &views));
                }
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let total = found.len();
        found.truncate(MAX_LISTED);
        Err(InvariantError {
            at: self.now,
            violations: found,
            total,
        })
    }

    /// What is wrong with `node` listing `peer` while nothing between them
    /// is in flight; `views` holds every node's active view.
    fn check_settled(
        &self,
        node: NodeIx,
        peer: NodeIx,
        views: &[Vec<NodeIx>],
    ) -> Option<Violation> {
        if !self.is_alive(peer) {
            return Some(Violation::ListsDeadNode { node, peer });
        }
        let link = self.links.current(node, peer);
        if !link.is_some_and(|l| self.links.is_open_at(l, node)) {
            return Some(Violation::NoLink { node, peer });
        }
        if !views.get(peer).is_some_and(|v| v.contains(&node)) {
            return Some(Violation::OneWay { node, peer });
        }
        None
    }

    /// The pairs with something between them queued or held.
    fn busy_pairs(&self) -> HashSet<(NodeIx, NodeIx)> {
        let pair = |a: NodeIx, b: NodeIx| (a.min(b), a.max(b));
        let queued = (self.queue.iter()).filter_map(|s| Some(pair(s.node, s.input.peer()?)));
        let held = self.live_nodes().iter().flat_map(|&n| {
            let held = self.nodes[n].held.iter();
            held.filter_map(move |i| Some(pair(n, i.peer()?)))
        });
        queued.chain(held).collect()
    }
}
