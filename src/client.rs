//! [`Client`]: one local module's session with the node, the library's
//! equivalent of one API connection.

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};

use crate::node::{NodeEvent, NodeTx};
use crate::proto::{ClientId, DataType, Event, Hlc, MsgId, PeerId, Ttl};
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
    /// The host that announced the item (its peer id, as its handshake and
    /// logs show it); the item is signed with that host's key.
    pub origin: PeerId,
    /// The origin's sequence number of the item: one more for each item it
    /// announces (it jumps when the origin restarts).
    pub seq: u64,
    /// When the origin announced it, by its hybrid logical clock: an item
    /// announced after its origin received another has a larger timestamp,
    /// so sorting by `(hlc, origin)` orders deliveries causally.
    pub hlc: Hlc,
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("msg_id", &self.msg_id.0)
            .field("data_type", &self.data_type.0)
            .field("origin", &self.origin)
            .field("seq", &self.seq)
            .field("hlc", &self.hlc.0)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Why a client call failed.
///
/// ```rust
/// use gossipd::{ClientError, Config, DataType, Node, Ttl};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config {
///     p2p_address: "127.0.0.1:0".parse()?,
///     pow_difficulty: 8,
///     ..Config::default()
/// };
/// let node = Node::start(&config)?;
/// let client = node.client();
/// let too_big = vec![0u8; 65_528]; // the API's limit is 65 527 bytes
/// assert_eq!(
///     client.announce(Ttl(0), DataType(1), &too_big),
///     Err(ClientError::TooLarge(65_528))
/// );
/// node.shutdown();
/// assert_eq!(
///     client.announce(Ttl(0), DataType(1), b"after shutdown"),
///     Err(ClientError::NodeStopped)
/// );
/// # Ok(())
/// # }
/// ```
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
///
/// A module's whole session, with a second host to hear from: subscribe,
/// receive, judge. An item is spread on from the receiving host only once
/// every subscriber that was notified of it called it valid.
///
/// ```rust
/// use std::time::{Duration, Instant};
///
/// use gossipd::config::Endpoint;
/// use gossipd::{Config, DataType, Node, Ttl};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config {
///     p2p_address: "127.0.0.1:0".parse()?,
///     pow_difficulty: 8,
///     ..Config::default()
/// };
/// let here = Node::start(&config)?;
/// let there = Node::start(&Config {
///     bootstrapper: Some(Endpoint::from(here.p2p_address())),
///     ..config
/// })?;
///
/// let module = here.client();
/// module.subscribe(DataType(42));
/// module.subscribe(DataType(43)); // one session, any number of types
///
/// // Until `there` has joined, its items may reach nobody: repeat.
/// let deadline = Instant::now() + Duration::from_secs(20);
/// let notification = loop {
///     there.announce(Ttl(1), DataType(42), b"a claim to check")?;
///     match module.notifications().recv_timeout(Duration::from_millis(200)) {
///         Ok(notification) => break notification,
///         Err(e) if Instant::now() >= deadline => return Err(e.into()),
///         Err(_) => continue,
///     }
/// };
/// assert_eq!(notification.data_type, DataType(42));
/// let valid = notification.data.starts_with(b"a claim");
/// module.validate(notification.msg_id, valid)?;
///
/// // A client never hears its own host's announcements.
/// module.announce(Ttl(0), DataType(43), b"mine")?;
/// drop(module); // ends both subscriptions
/// there.shutdown();
/// here.shutdown();
/// # Ok(())
/// # }
/// ```
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
