//! The inputs the engine schedules: what happens to one node at one
//! simulated time.

use std::net::SocketAddr;
use std::time::Duration;

use super::ids::{NodeIx, node_at};
use super::links::LinkId;
use crate::proto::{Message, MsgId};

/// One input for one node, as queued.
#[derive(Debug)]
pub struct Scheduled {
    /// Whom it is for.
    pub node: NodeIx,
    /// What happens.
    pub input: Input,
}

/// What happens to a node.
#[derive(Debug)]
pub enum Input {
    /// The node's timer, set for the time it fires at; stale unless it is
    /// the newest one set.
    Timer,
    /// The node's client calls the item with this message id valid.
    Verdict {
        /// The id it was notified with.
        msg_id: MsgId,
    },
    /// A dial this node started reaches `addr`; the engine decides there
    /// whether anybody answers. Queued for the dialer, whose death cancels
    /// it.
    DialArrives {
        /// Where.
        addr: SocketAddr,
        /// The dialer has no neighbour and asks to be taken anyway.
        high_priority: bool,
        /// The latency drawn for the dial, and for the link it makes.
        latency: Duration,
    },
    /// Something from the network, for the node's net queue.
    Net(NetInput),
}

/// What the network brings a node. These pass through the node's net
/// queue, which holds them while the core's validation window is full, as
/// the daemon's `net` channel does.
#[derive(Debug)]
pub enum NetInput {
    /// A dial by `dialer` reached this node over `link`.
    Accepted {
        /// Who dialed.
        dialer: NodeIx,
        /// Its high-priority flag.
        high_priority: bool,
        /// The link the dial made (or joined).
        link: LinkId,
    },
    /// This node's dial of `addr` was taken by `target` over `link`.
    DialDone {
        /// The address dialed.
        addr: SocketAddr,
        /// Who answered.
        target: NodeIx,
        /// The link.
        link: LinkId,
    },
    /// This node's dial of `addr` failed.
    DialFailed {
        /// The address dialed.
        addr: SocketAddr,
    },
    /// `from` sent `msg` over `link`.
    Message {
        /// The sender.
        from: NodeIx,
        /// The link it was sent on.
        link: LinkId,
        /// What was sent.
        msg: Message,
        /// For an item announced through [`super::Sim::announce`]: the
        /// sender's hop count for it when it sent it (0 at the origin;
        /// None when unknown or for other messages). Read at sending, so a
        /// copy from a node killed meanwhile still counts its hops.
        hops: Option<u32>,
    },
    /// `from`, at the other end of `link`, closed it, or the link broke.
    LinkDown {
        /// The other end.
        from: NodeIx,
        /// The link.
        link: LinkId,
    },
}

impl Input {
    /// The other node this input concerns, when it concerns a pair: the
    /// sender of a message or a close, the other side of a dial.
    pub fn peer(&self) -> Option<NodeIx> {
        match self {
            Input::Timer | Input::Verdict { .. } => None,
            Input::DialArrives { addr, .. } => node_at(addr),
            Input::Net(net) => net.peer(),
        }
    }

    /// True for an item in flight.
    pub fn carries_item(&self) -> bool {
        matches!(self, Input::Net(net) if net.carries_item())
    }
}

impl NetInput {
    /// The other node this input concerns, if any (see [`Input::peer`]).
    pub fn peer(&self) -> Option<NodeIx> {
        match self {
            NetInput::DialFailed { addr } => node_at(addr),
            NetInput::Accepted { dialer, .. } => Some(*dialer),
            NetInput::DialDone { target, .. } => Some(*target),
            NetInput::Message { from, .. } | NetInput::LinkDown { from, .. } => Some(*from),
        }
    }

    /// True for an item in flight.
    pub fn carries_item(&self) -> bool {
        matches!(
            self,
            NetInput::Message {
                msg: Message::Item(_),
                ..
            }
        )
    }
}
