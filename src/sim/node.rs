//! One simulated host: its protocol core, its local client's record, and
//! the engine's bookkeeping for it.

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;

use super::ids::{ItemIx, NodeIx};
use super::input::NetInput;
use crate::proto::Core;

/// An item handed to a node's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Which item.
    pub item: ItemIx,
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// The node whose copy delivered it (the first copy this node
    /// received); None if the engine did not see it arrive.
    pub from: Option<NodeIx>,
    /// Hops that copy travelled from the item's origin: the sender's own
    /// hop count for the item, plus one (the origin's is 0). None when the
    /// sender's is not known (its client never got the item).
    pub hops: Option<u32>,
}

/// An item announced through [`super::Sim::announce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced {
    /// The node whose client announced it.
    pub origin: NodeIx,
    /// When (simulated time since the start).
    pub at: Duration,
    /// Item messages carrying it that were handed to a core, first copies
    /// and duplicates alike, at every node (killed ones included).
    pub copies: u64,
    /// Of those, the copies that were new to their node (one per node that
    /// received it from a peer).
    pub first_copies: u64,
}

impl Announced {
    /// Its payload relative message redundancy: copies received per node
    /// that received it from a peer, minus one (0 when none did).
    pub fn rmr(&self) -> f64 {
        if self.first_copies == 0 {
            0.0
        } else {
            self.copies as f64 / self.first_copies as f64 - 1.0
        }
    }
}

/// One simulated host.
pub struct SimNode {
    /// The protocol core; None once the node was killed (its memory is
    /// given back at once).
    pub core: Option<Core<StdRng>>,
    /// The newest timer set (simulated time); queued older ones are stale.
    pub timer: Option<Duration>,
    /// The node's side of a partition: nodes on different sides cannot
    /// reach each other.
    pub side: u8,
    /// Network inputs waiting while the validation window is full, in
    /// arrival order (the daemon stops reading its `net` queue then).
    pub held: VecDeque<NetInput>,
    /// The core dropped the client as too slow: later items are delivered
    /// to nobody.
    pub client_gone: bool,
    /// What the client received, in order.
    pub deliveries: Vec<Delivery>,
    /// When the node started.
    pub started: Duration,
}

impl SimNode {
    /// A node that starts at `started` with `core`.
    pub fn new(core: Core<StdRng>, started: Duration) -> SimNode {
        SimNode {
            core: Some(core),
            timer: None,
            side: 0,
            held: VecDeque::new(),
            client_gone: false,
            deliveries: Vec::new(),
            started,
        }
    }
}
