//! Peer connections: the P2P listener, dialing, and per connection a reader
//! thread and a writer thread.
//!
//! Threads here only move bytes and events: a reader decodes frames and hands
//! them to the node thread as [`NetEvent`]s (blocking when the node's queue is
//! full, which pushes back on the peer through TCP flow control); a writer
//! takes messages from its bounded outbox and writes everything queued in one
//! syscall. What to send and whom to keep is decided by the node thread.

mod budget;
mod connection;
mod listener;
mod pace;
mod threads;

pub use self::budget::{ByteBudget, NET_QUEUE_BYTES};
pub use self::connection::{OUTBOX_HIGH_WATER_BYTES, PeerLink, spawn_dial};
pub use self::listener::{Listener, wake_accept};
pub use self::pace::{PaceConfig, Pacer};
pub use self::threads::Threads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::node::NodeTx;
use crate::proto::Message;
use crate::transport::{Local, TransportError};
use crate::wire::Hello;

/// Names one connection for the lifetime of the process.
pub type ConnId = u64;

/// What the connection threads tell the node thread.
#[derive(Debug)]
pub enum NetEvent {
    /// A handshake completed.
    Up {
        /// The connection.
        conn: ConnId,
        /// The peer's hello.
        remote: Hello,
        /// The address this host dialed; None for an inbound connection.
        dialed: Option<SocketAddr>,
        /// The way to send to the peer and to close the connection.
        link: PeerLink,
    },
    /// A dial failed before its handshake completed.
    DialFailed {
        /// The address dialed.
        addr: SocketAddr,
        /// Why.
        error: TransportError,
    },
    /// A message arrived.
    Message {
        /// The connection.
        conn: ConnId,
        /// The message.
        msg: Message,
    },
    /// The connection ended.
    Down {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: TransportError,
    },
}

/// What every connection thread needs: where to report, who we are, limits.
#[derive(Clone)]
pub struct ConnContext {
    /// The node thread's queue.
    pub node_tx: NodeTx,
    /// This host's side of every handshake.
    pub local: Arc<Local>,
    /// Capacity of each peer's outbox, in messages.
    pub peer_queue: usize,
    /// Most connections (handshaking or up) at once; beyond, new inbound
    /// connections are closed at once and dials fail.
    pub max_connections: usize,
    /// Live connection threads, for thread names and shutdown.
    pub threads: Threads,
    /// Bytes moved over all peer connections.
    pub traffic: Arc<Traffic>,
    /// Bounds the bytes of messages waiting in the node's net queue.
    pub inbound: Arc<ByteBudget>,
    /// What each connection's reader paces a peer to.
    pub pace: PaceConfig,
    next_conn: Arc<AtomicU64>,
    live: Arc<AtomicUsize>,
}

impl ConnContext {
    /// A context for a node whose queue is `node_tx`.
    pub fn new(
        node_tx: NodeTx,
        local: Arc<Local>,
        peer_queue: usize,
        max_connections: usize,
        pace: PaceConfig,
    ) -> ConnContext {
        ConnContext {
            node_tx,
            local,
            peer_queue,
            max_connections,
            threads: Threads::default(),
            traffic: Arc::default(),
            inbound: Arc::new(ByteBudget::new(NET_QUEUE_BYTES)),
            pace,
            next_conn: Arc::new(AtomicU64::new(1)),
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes a connection slot, or None when `max_connections` are in use.
    /// The slot is given back when the guard drops.
    fn acquire_slot(&self) -> Option<SlotGuard> {
        let prev = self.live.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max_connections {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(SlotGuard(self.live.clone()))
    }
}

/// Peer-to-peer bytes moved, frames and length prefixes included, summed
/// over all connections. Atomics because every connection thread adds to
/// them; read by the node thread for statistics.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Bytes written to peers.
    pub bytes_out: AtomicU64,
    /// Bytes read from peers.
    pub bytes_in: AtomicU64,
}

impl Traffic {
    /// (bytes out, bytes in) so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.bytes_out.load(Ordering::Relaxed),
            self.bytes_in.load(Ordering::Relaxed),
        )
    }
}

/// One taken connection slot.
struct SlotGuard(Arc<AtomicUsize>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
