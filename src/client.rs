//! [`Client`]: one local module's session with the node, the library's
//! equivalent of one API connection.

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};

use crate::node::{NodeEvent, NodeTx};
use crate::proto::{ClientId, DataType, Event, MsgId, Ttl};
use crate::subscriptions::{KickHook, Subscriptions};
use crate::wire::MAX_ITEM_DATA;

/// An item that arrived from another host, as a subscribed client sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    /// Names the item on this host until it is validated or given up; every
    /// subscriber of the item sees the same id.
    pub msg_id: MsgId,
    /// The item's data type.
    pub data_type: DataType,
    /// The item's data, shared with the node's cache.
    pub data: Arc<[u8]>,
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("msg_id", &self.msg_id.0)
            .field("data_type", &self.data_type.0)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The node has shut down.
    NodeStopped,
    /// The data is longer than [`MAX_ITEM_DATA`] bytes.
    TooLarge(usize),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NodeStopped => f.write_str("the node has stopped"),
            ClientError::TooLarge(n) => {
                write!(
                    f,
                    "item data of {n} bytes exceeds the limit of {MAX_ITEM_DATA}"
                )
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// One local module's session: it announces items, subscribes to data
/// types, receives notifications and judges them.
///
/// Notifications wait in a bounded queue ([`Client::notifications`]); a client
/// that lets it fill up is disconnected by the node (its queue's sender is
/// dropped, so the receiver reports disconnection once drained). Dropping the
/// client ends its subscriptions; the verdicts it owed are no longer awaited.
pub struct Client {
    id: ClientId,
    node_tx: NodeTx,
    subscriptions: Subscriptions,
    rx: Receiver<Notification>,
}

impl Client {
    pub(crate) fn new(
        id: ClientId,
        node_tx: NodeTx,
        subscriptions: Subscriptions,
        queue: usize,
        kick: Option<KickHook>,
    ) -> Client {
        let (tx, rx) = bounded(queue);
        subscriptions.register(id, tx, kick);
        Client {
            id,
            node_tx,
            subscriptions,
            rx,
        }
    }

    /// This client's id on this node.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Subscribes to items of `data_type` (GOSSIP NOTIFY); twice changes nothing.
    pub fn subscribe(&self, data_type: DataType) {
        self.subscriptions.subscribe(self.id, data_type);
    }

    /// Spreads an item (GOSSIP ANNOUNCE). `ttl` 0 means no hop limit. Blocks
    /// while the node's queue is full.
    pub fn announce(&self, ttl: Ttl, data_type: DataType, data: &[u8]) -> Result<(), ClientError> {
        let event = announce_event(ttl, data_type, data)?;
        self.node_tx
            .send(event)
            .map_err(|_| ClientError::NodeStopped)
    }

    /// Judges the item notified as `msg_id` (GOSSIP VALIDATION). Unknown or
    /// expired ids are ignored by the node.
    pub fn validate(&self, msg_id: MsgId, valid: bool) -> Result<(), ClientError> {
        let event = NodeEvent::Client(Event::Validation {
            client: self.id,
            msg_id,
            valid,
        });
        self.node_tx
            .send(event)
            .map_err(|_| ClientError::NodeStopped)
    }

    /// The queue of notifications for this client.
    pub fn notifications(&self) -> &Receiver<Notification> {
        &self.rx
    }
}

/// The node event for an announcement, after checking the data size.
pub(crate) fn announce_event(
    ttl: Ttl,
    data_type: DataType,
    data: &[u8],
) -> Result<NodeEvent, ClientError> {
    if data.len() > MAX_ITEM_DATA {
        return Err(ClientError::TooLarge(data.len()));
    }
    Ok(NodeEvent::Client(Event::Announce {
        ttl,
        data_type,
        data: Arc::from(data),
    }))
}

impl Drop for Client {
    fn drop(&mut self) {
        self.subscriptions.unregister(self.id);
        // The node may already be gone; then nobody waits for our verdicts.
        let _ = self
            .node_tx
            .send(NodeEvent::Client(Event::ClientGone { client: self.id }));
    }
}
