//! The node thread's three input queues and the routing of events to them.
//!
//! | queue | carries | taken by the node thread |
//! | --- | --- | --- |
//! | `net` | everything from peer connections: `Up`, `Message`, `Down`, `DialFailed` (one queue, so each connection's events stay in order) | only while the validation window has room |
//! | `local` | client announcements | only while no peer outbox is congested |
//! | `control` | verdicts, departing clients, questions, shutdown | always |
//!
//! Each queue holds [`NODE_QUEUE`] events; senders block while it is full.
//! The node stops taking peers' items only while it cannot judge them (a
//! full validation window, which drains through local verdicts alone), and
//! its own clients' announcements while it cannot pass them on (a congested
//! outbox): a burst backs up through the readers' blocked sends, TCP flow
//! control and the API connection to the announcing module instead of being
//! dropped, and no two hosts ever wait on each other. Verdicts never wait
//! behind items, so the window always drains.

use std::fmt;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::NodeEvent;
use crate::proto::Event;

/// Capacity of each of the node thread's queues, in events (a guess: deep
/// enough to absorb bursts from many peers; the net queue is also bounded in
/// bytes by [`crate::net::NET_QUEUE_BYTES`]).
pub const NODE_QUEUE: usize = 1024;

/// The sending side of the node's queues; cheap to clone.
#[derive(Clone, Debug)]
pub struct NodeTx {
    net: Sender<NodeEvent>,
    local: Sender<NodeEvent>,
    control: Sender<NodeEvent>,
}

/// The receiving side, owned by the node thread.
pub(crate) struct Inbox {
    pub(crate) net: Receiver<NodeEvent>,
    pub(crate) local: Receiver<NodeEvent>,
    pub(crate) control: Receiver<NodeEvent>,
}

/// A fresh set of queues.
pub(crate) fn queues() -> (NodeTx, Inbox) {
    let (net, net_rx) = bounded(NODE_QUEUE);
    let (local, local_rx) = bounded(NODE_QUEUE);
    let (control, control_rx) = bounded(NODE_QUEUE);
    let tx = NodeTx {
        net,
        local,
        control,
    };
    let inbox = Inbox {
        net: net_rx,
        local: local_rx,
        control: control_rx,
    };
    (tx, inbox)
}

impl NodeTx {
    /// Sends an event to the queue it belongs in, blocking while that queue
    /// is full. Fails only when the node thread is gone.
    pub fn send(&self, event: NodeEvent) -> Result<(), NotTaken> {
        self.queue_for(&event).send(event).map_err(|_| NotTaken)
    }

    /// Like [`NodeTx::send`], without blocking: fails also when the queue is
    /// full (the event is dropped).
    pub fn try_send(&self, event: NodeEvent) -> Result<(), NotTaken> {
        self.queue_for(&event).try_send(event).map_err(|_| NotTaken)
    }

    fn queue_for(&self, event: &NodeEvent) -> &Sender<NodeEvent> {
        match event {
            NodeEvent::Net(_) => &self.net,
            NodeEvent::Client(Event::Announce { .. }) => &self.local,
            _ => &self.control,
        }
    }
}

/// An event the node did not take: it has stopped (or, for
/// [`NodeTx::try_send`], its queue was full). The event is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotTaken;

impl fmt::Display for NotTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the node did not take the event (stopped, or its queue is full)")
    }
}

impl std::error::Error for NotTaken {}
