//! [`Node`]: a running gossip node, the library's entry point.
//!
//! Starting a node binds its P2P listener and starts the node thread, which
//! owns the protocol core and carries out its actions (the private `driver` module). Local
//! modules use the node through [`Client`]s; the API server gives one to each
//! TCP connection.

mod driver;
mod inbox;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};
use log::{info, warn};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::client::{Client, ClientError, announce_event};
use crate::config::{Config, Endpoint};
use crate::identity::{HostAuth, Identity, KeyError};
use crate::net::{ConnContext, Listener, NetEvent, PaceConfig};
use crate::proto::membership::MembershipStats;
use crate::proto::{ClientId, Core, DataType, Event, PeerId, ProtoConfig, Stats, TreeStats, Ttl};
use crate::subscriptions::{KickHook, Subscriptions};
use crate::transport::Local;

pub use inbox::{NODE_QUEUE, NodeTx};

/// Everything the node thread is told, from connection threads, clients and
/// the [`Node`] handle.
#[derive(Debug)]
pub enum NodeEvent {
    /// From a connection thread.
    Net(NetEvent),
    /// From a local client: an announcement, a verdict or its departure
    /// ([`Event::Announce`], [`Event::Validation`], [`Event::ClientGone`]),
    /// handed to the core as is.
    Client(Event),
    /// Asks for the current neighbours.
    Neighbours(Sender<Vec<NeighbourInfo>>),
    /// Asks for the counters.
    Stats(Sender<NodeStats>),
    /// Asks for the counters and both views at one moment.
    Status(Sender<NodeStatus>),
    /// Stop: close every connection and end the node thread.
    Shutdown,
}

/// One current neighbour, as [`Node::neighbours`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighbourInfo {
    /// Its identity.
    pub peer_id: PeerId,
    /// Its P2P listener.
    pub addr: SocketAddr,
    /// True when this host dialed it.
    pub outbound: bool,
    /// How long the link has been up.
    pub age: Duration,
}

/// A node's state at one moment, as [`Node::status`] reports it (the API's
/// STATUS REPLY is built from it; see [`crate::api::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// This host's identity.
    pub peer_id: PeerId,
    /// Where its P2P listener is bound.
    pub p2p_addr: SocketAddr,
    /// Time since the node started.
    pub uptime: Duration,
    /// The counters.
    pub stats: NodeStats,
    /// The current neighbours (the active view).
    pub neighbours: Vec<NeighbourInfo>,
    /// The backup addresses (the passive view); their peer ids are unknown.
    pub passive: Vec<SocketAddr>,
}

/// What a node did so far: the core's counters and the node thread's own.
///
/// Its `Display` is the `stats:` line gossipd logs at shutdown: `key=value`
/// pairs, always the same keys in the same order.
///
/// ```rust
/// use gossipd::NodeStats;
///
/// let stats = NodeStats::default();
/// let line = stats.to_string();
/// assert!(line.starts_with("neighbours=0 announced=0 received=0 "));
/// assert!(line.contains(" p2p_bytes_out=0 "));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// The protocol core's counters.
    pub core: Stats,
    /// Bytes written to peers (frames and length prefixes).
    pub p2p_bytes_out: u64,
    /// Bytes read from peers (frames and length prefixes).
    pub p2p_bytes_in: u64,
    /// The membership protocol's counters.
    pub membership: MembershipStats,
    /// The dissemination tree's counters.
    pub tree: TreeStats,
    /// Current neighbours.
    pub neighbours: usize,
    /// Current backup addresses (the passive view).
    pub passive: usize,
    /// Peers dropped because writing to them made no progress.
    pub slow_peers_dropped: u64,
    /// Messages not queued because the peer's outbox was full.
    pub skipped_full_outbox: u64,
    /// Clients disconnected as too slow: their notification queue was full,
    /// or they held the full validation window without giving verdicts.
    pub slow_clients_kicked: u64,
}

impl fmt::Display for NodeStats {
    /// One line of `key=value` pairs, for logs and scripts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.core;
        write!(
            f,
            "neighbours={} announced={} received={} duplicates={} delivered={} relayed={} \
             valid={} invalid={} expired={} evicted_unspread={} p2p_bytes_out={} \
             p2p_bytes_in={} slow_peers_dropped={} skipped_full_outbox={} \
             slow_clients_kicked={} misbehaviours={} dropped_over_rate={} peers_banned={} \
             refused_banned={} passive={} shuffles={} keepalive_timeouts={} evictions={} \
             joins_dropped={} prunes={} grafts={} pulled_out={} ids_announced={} \
             pulls_refused={} missing_dropped={}",
            self.neighbours,
            c.announced,
            c.received,
            c.duplicates,
            c.delivered,
            c.relayed,
            c.valid,
            c.invalid,
            c.expired,
            c.evicted_unspread,
            self.p2p_bytes_out,
            self.p2p_bytes_in,
            self.slow_peers_dropped,
            self.skipped_full_outbox,
            self.slow_clients_kicked,
            c.misbehaviours,
            c.dropped_over_rate,
            c.peers_banned,
            c.refused_banned,
            self.passive,
            self.membership.shuffles,
            self.membership.keepalive_timeouts,
            self.membership.evictions,
            self.membership.joins_dropped,
            self.tree.prunes,
            self.tree.grafts,
            self.tree.pulled_out,
            self.tree.ids_announced,
            self.tree.pulls_refused,
            self.tree.missing_dropped
        )
    }
}

/// Why a node could not start.
///
/// Each variant displays as one line naming what failed, as `gossipd` prints
/// it before exiting with status 1.
///
/// ```rust
/// use gossipd::config::Endpoint;
/// use gossipd::{Config, Node, StartError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config {
///     p2p_address: "127.0.0.1:0".parse()?,
///     pow_difficulty: 8,
///     ..Config::default()
/// };
/// let first = Node::start(&config)?;
/// // A second node on the first one's port cannot bind it.
/// let taken = Config {
///     p2p_address: Endpoint::from(first.p2p_address()),
///     ..config
/// };
/// match Node::start(&taken) {
///     Err(error @ StartError::Bind { .. }) => println!("{error}"),
///     Err(other) => panic!("unexpected error: {other}"),
///     Ok(_) => panic!("two listeners on one port"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub enum StartError {
    /// An address did not resolve.
    Resolve {
        /// Which setting.
        what: &'static str,
        /// The address as configured.
        addr: Endpoint,
        /// Why.
        error: io::Error,
    },
    /// A listener could not bind.
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address as configured.
        addr: Endpoint,
        /// Why.
        error: io::Error,
    },
    /// The configured host key cannot be used.
    HostKey {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: KeyError,
    },
    /// The transport could not be set up.
    Transport(String),
    /// A thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Resolve { what, addr, error } => {
                write!(f, "cannot resolve {what} {addr}: {error}")
            }
            StartError::Bind { what, addr, error } => {
                write!(f, "cannot listen for {what} on {addr}: {error}")
            }
            StartError::HostKey { path, error } => {
                write!(f, "cannot use hostkey {}: {error}", path.display())
            }
            StartError::Transport(why) => write!(f, "cannot set up the transport: {why}"),
            StartError::Thread(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running node. Dropping it shuts it down.
///
/// Start one with [`Node::start`]; talk to it through [`Client`]s
/// ([`Node::client`], [`Node::subscribe`]) or directly ([`Node::announce`]).
/// The crate-level example shows two nodes passing an item.
///
/// ```rust
/// use gossipd::{Config, DataType, Node, Ttl};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config {
///     // Port 0: the system picks a free port, `p2p_address()` tells which.
///     p2p_address: "127.0.0.1:0".parse()?,
///     // A light proof of work for the temporary identity (no `hostkey`).
///     pow_difficulty: 8,
///     ..Config::default()
/// };
/// let node = Node::start(&config)?;
/// println!("peer {} listening on {}", node.peer_id(), node.p2p_address());
/// assert_ne!(node.p2p_address().port(), 0);
///
/// // No bootstrapper: the first host of a new network, alone for now. An
/// // item announced now is kept and goes to the first neighbour.
/// assert!(node.neighbours().is_empty());
/// node.announce(Ttl(0), DataType(1), b"for whoever joins")?;
/// let stats = node.stats().expect("the node is running");
/// assert_eq!(stats.neighbours, 0);
/// node.shutdown();
/// # Ok(())
/// # }
/// ```
pub struct Node {
    peer_id: PeerId,
    p2p_addr: SocketAddr,
    handle: NodeHandle,
    listener: Option<Listener>,
    thread: Option<JoinHandle<()>>,
    ctx: ConnContext,
}

/// A cheap, cloneable way to reach a running node from other threads (the
/// API server holds one). Calls fail or come back empty once the node stopped.
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
/// let handle = node.handle();
/// let worker = std::thread::spawn(move || {
///     handle.announce(Ttl(2), DataType(3), b"from another thread")?;
///     Ok::<_, ClientError>(handle)
/// });
/// let handle = worker.join().expect("the worker does not panic")?;
/// assert!(handle.stats().is_some());
///
/// node.shutdown();
/// assert_eq!(handle.stats(), None);
/// assert_eq!(
///     handle.announce(Ttl(0), DataType(3), b"too late"),
///     Err(ClientError::NodeStopped)
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NodeHandle {
    node_tx: NodeTx,
    subscriptions: Subscriptions,
    client_queue: usize,
    next_client: Arc<AtomicU64>,
}

impl NodeHandle {
    /// A new local client.
    pub fn client(&self) -> Client {
        self.client_with_kick(None)
    }

    /// A new local client whose `kick` hook runs if the node disconnects it
    /// for letting its notification queue overflow.
    pub fn client_with_kick(&self, kick: Option<KickHook>) -> Client {
        let id = ClientId(self.next_client.fetch_add(1, Ordering::Relaxed));
        Client::new(
            id,
            self.node_tx.clone(),
            self.subscriptions.clone(),
            self.client_queue,
            kick,
        )
    }

    /// Spreads an item on behalf of no particular client.
    pub fn announce(&self, ttl: Ttl, data_type: DataType, data: &[u8]) -> Result<(), ClientError> {
        let event = announce_event(ttl, data_type, data)?;
        self.node_tx
            .send(event)
            .map_err(|_| ClientError::NodeStopped)
    }

    /// The current neighbours (empty once the node stopped).
    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        self.ask(NodeEvent::Neighbours).unwrap_or_default()
    }

    /// The node's counters (None once the node stopped).
    pub fn stats(&self) -> Option<NodeStats> {
        self.ask(NodeEvent::Stats)
    }

    /// The node's identity, uptime, counters and views, taken at one moment
    /// (None once the node stopped).
    pub fn status(&self) -> Option<NodeStatus> {
        self.ask(NodeEvent::Status)
    }

    /// Sends a question to the node thread and waits (up to 2 s) for the answer.
    fn ask<T>(&self, question: impl FnOnce(Sender<T>) -> NodeEvent) -> Option<T> {
        let (tx, rx) = bounded(1);
        self.node_tx.send(question(tx)).ok()?;
        rx.recv_timeout(Duration::from_secs(2)).ok()
    }
}

impl Node {
    /// Binds the P2P listener, starts the node thread and begins joining
    /// through the bootstrapper. Does not start the local API server (see
    /// [`crate::api::ApiServer`]).
    pub fn start(config: &Config) -> Result<Node, StartError> {
        let listener = bind(&config.p2p_address, "P2P")?;
        let p2p_addr = listener.local_addr().map_err(|error| StartError::Bind {
            what: "P2P",
            addr: config.p2p_address.clone(),
            error,
        })?;
        let bootstrapper = match &config.bootstrapper {
            Some(b) => Some(resolve_first(b, "bootstrapper")?),
            None => None,
        };
        let mut rng: StdRng = rand::make_rng();
        let identity = Arc::new(identity(config)?);
        let peer_id = identity.peer_id();
        let (node_tx, inbox) = inbox::queues();
        let network_key = config.network_key.as_ref().map(|k| *k.as_bytes());
        let local = Local::new(
            identity.clone(),
            p2p_addr,
            network_key,
            config.pow_difficulty,
        )
        .map_err(|e| StartError::Transport(e.to_string()))?;
        let max_connections = 4 * config.degree + 16;
        let mut proto = ProtoConfig::new(config.degree, config.cache_size);
        let ctx = ConnContext::new(
            node_tx.clone(),
            Arc::new(local),
            config.peer_queue,
            max_connections,
            PaceConfig::below(&proto.accounting),
        );
        proto.validation_timeout = config.validation_timeout;
        proto.bootstrapper = bootstrapper;
        proto.ban_time = config.ban_time;
        proto.keepalive_timeout = config.keepalive_timeout;
        proto.tree.mode = config.dissemination;
        proto.auth = Some(HostAuth::for_identity(identity.clone()));
        proto.wall_clock_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let max_pending = proto.max_pending;
        let core_rng = StdRng::from_rng(&mut rng);
        let core = Core::new(proto, peer_id, p2p_addr, core_rng, Instant::now());
        let subscriptions = Subscriptions::default();
        let driver = driver::Driver::new(core, inbox, ctx.clone(), subscriptions.clone(), p2p_addr);
        let thread = std::thread::Builder::new()
            .name("node".into())
            .spawn(move || driver.run())
            .map_err(StartError::Thread)?;
        let listener = Listener::start(listener, ctx.clone()).map_err(StartError::Thread)?;
        info!("P2P listening on {p2p_addr}");
        info!("peer id {}", peer_id.to_hex());
        let handle = NodeHandle {
            node_tx,
            subscriptions,
            // A healthy client may be handed a whole validation window before
            // its first verdict; a stuck one is caught by the silence rule.
            client_queue: config.client_queue.max(max_pending),
            next_client: Arc::new(AtomicU64::new(1)),
        };
        Ok(Node {
            peer_id,
            p2p_addr,
            handle,
            listener: Some(listener),
            thread: Some(thread),
            ctx,
        })
    }

    /// This host's identity.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Where the P2P listener is bound.
    pub fn p2p_address(&self) -> SocketAddr {
        self.p2p_addr
    }

    /// A cloneable handle for other threads.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// A new local client.
    pub fn client(&self) -> Client {
        self.handle.client()
    }

    /// A new client subscribed to `data_type`: read its
    /// [`Client::notifications`] and answer each with [`Client::validate`].
    pub fn subscribe(&self, data_type: DataType) -> Client {
        let client = self.client();
        client.subscribe(data_type);
        client
    }

    /// Spreads an item on behalf of no particular client.
    pub fn announce(&self, ttl: Ttl, data_type: DataType, data: &[u8]) -> Result<(), ClientError> {
        self.handle.announce(ttl, data_type, data)
    }

    /// The current neighbours.
    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        self.handle.neighbours()
    }

    /// The node's counters (None once it stopped).
    pub fn stats(&self) -> Option<NodeStats> {
        self.handle.stats()
    }

    /// The node's identity, uptime, counters and views (None once it stopped).
    pub fn status(&self) -> Option<NodeStatus> {
        self.handle.status()
    }

    /// Stops accepting, closes every connection and waits (up to about a
    /// second) for the node's threads to end.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut l) = self.listener.take() {
            l.stop();
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        let _ = self.handle.node_tx.send(NodeEvent::Shutdown);
        let _ = thread.join();
        let left = self
            .ctx
            .threads
            .join_until(Instant::now() + Duration::from_millis(1000));
        if left > 0 {
            warn!("{left} connection threads still running at shutdown");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// This host's identity: the configured key file, which must be readable,
/// well-formed and carry enough proof of work; or, without `hostkey`, a
/// fresh temporary identity (with a warning: peers will not recognise this
/// host after a restart).
fn identity(config: &Config) -> Result<Identity, StartError> {
    let Some(path) = &config.hostkey else {
        let identity = Identity::generate(config.pow_difficulty);
        warn!(
            "no hostkey configured: running with a fresh temporary identity {} \
             (create a permanent one with `gossipd --generate-key FILE`)",
            identity.peer_id()
        );
        return Ok(identity);
    };
    let identity = Identity::load(path)
        .and_then(|id| id.check_difficulty(config.pow_difficulty).map(|()| id))
        .map_err(|error| StartError::HostKey {
            path: path.clone(),
            error,
        })?;
    info!("identity {} from {}", identity.peer_id(), path.display());
    Ok(identity)
}

fn resolve_first(addr: &Endpoint, what: &'static str) -> Result<SocketAddr, StartError> {
    let resolved = addr.resolve().map_err(|error| StartError::Resolve {
        what,
        addr: addr.clone(),
        error,
    })?;
    // `Endpoint::resolve` reports an empty result as an error.
    Ok(resolved[0])
}

/// Binds a listener on the first resolved address that accepts it.
pub(crate) fn bind(addr: &Endpoint, what: &'static str) -> Result<TcpListener, StartError> {
    let resolved = addr.resolve().map_err(|error| StartError::Resolve {
        what,
        addr: addr.clone(),
        error,
    })?;
    let mut last = io::Error::other("no address");
    for a in resolved {
        match TcpListener::bind(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(StartError::Bind {
        what,
        addr: addr.clone(),
        error: last,
    })
}
