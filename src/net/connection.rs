//! One peer connection: handshake, then a reader thread and a writer thread.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use log::{debug, info, warn};

use super::{ConnContext, ConnId, NetEvent, Pacer, SlotGuard, Traffic};
use crate::node::NodeEvent;
use crate::proto::Message;
use crate::transport::{
    self, COALESCE_LIMIT, Established, FrameReader, FrameWriter, TransportError,
};
use crate::wire::{self, Hello};

/// How long a dial may take to connect (a guess: generous for a LAN or a
/// continent, short enough that a dead address does not hold a dial slot).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long each side of the handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// An outbox holding this many encoded bytes is congested (a guess: enough
/// to keep a fast link busy, small enough to bound the memory one slow peer
/// pins).
pub const OUTBOX_HIGH_WATER_BYTES: usize = 1024 * 1024;

/// How long the reader of a gracefully closed connection keeps reading what
/// the peer still sends (a guess: ample for a peer to drain and close).
pub const CLOSE_LINGER: Duration = Duration::from_secs(10);

/// The node thread's handle on one connection.
///
/// Dropping it closes the connection gracefully: the writer sends what is
/// queued, then shuts down its half; the reader ends when the peer closes
/// its half too.
#[derive(Debug)]
pub struct PeerLink {
    outbox: Sender<Message>,
    stream: TcpStream,
    /// Writes completed by the writer thread: lets the node tell a peer that
    /// is slow from one that makes no progress at all.
    writes: Arc<AtomicU64>,
    /// Encoded bytes of the messages in the outbox.
    queued_bytes: Arc<AtomicUsize>,
}

impl PeerLink {
    /// Queues a message without blocking. When the outbox is full the message
    /// is handed back: the caller decides what to do with a slow peer.
    pub fn try_send(&self, msg: Message) -> Result<(), TrySendError<Message>> {
        let len = wire::encoded_len(&msg);
        // Counted before the message is visible to the writer, which
        // subtracts it: the other order could make the count wrap below zero.
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        self.outbox.try_send(msg).inspect_err(|_| {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        })
    }

    /// Encoded bytes waiting in the outbox.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Messages waiting in the outbox.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// Writes the writer thread completed so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Closes the connection now, dropping whatever is queued.
    pub fn close_now(&self) {
        // Fails only if already closed, which is what we want.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Dials `addr` on a new thread; that thread then becomes the connection's
/// reader. The node hears exactly one `Up` or `DialFailed` for it.
pub fn spawn_dial(ctx: &ConnContext, addr: SocketAddr, high_priority: bool) {
    let ctx2 = ctx.clone();
    let spawned = ctx.threads.spawn(format!("peer-dial-{addr}"), move || {
        let Some(slot) = ctx2.acquire_slot() else {
            let error = TransportError::Io(std::io::Error::other("too many connections"));
            let _ = ctx2
                .node_tx
                .send(NodeEvent::Net(NetEvent::DialFailed { addr, error }));
            return;
        };
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => run(stream, Some(addr), high_priority, &ctx2, slot),
            Err(e) => {
                let error = TransportError::Io(e);
                let _ = ctx2
                    .node_tx
                    .send(NodeEvent::Net(NetEvent::DialFailed { addr, error }));
            }
        }
    });
    if let Err(e) = spawned {
        warn!("cannot start a thread to dial {addr}: {e}");
        let error = TransportError::Io(e);
        // The node thread is the caller; its queue may be full, so don't block.
        let _ = ctx
            .node_tx
            .try_send(NodeEvent::Net(NetEvent::DialFailed { addr, error }));
    }
}

/// Runs an accepted connection on a new thread (called by the listener).
pub(super) fn spawn_inbound(ctx: &ConnContext, stream: TcpStream, remote: SocketAddr) {
    let Some(slot) = ctx.acquire_slot() else {
        warn!("refusing P2P connection from {remote}: too many connections");
        return;
    };
    let ctx2 = ctx.clone();
    let spawned = ctx.threads.spawn(format!("peer-in-{remote}"), move || {
        run(stream, None, false, &ctx2, slot)
    });
    if let Err(e) = spawned {
        warn!("cannot start a thread for P2P connection from {remote}: {e}");
    }
}

/// Handshake, start the writer, report `Up`, then read until the end.
fn run(
    stream: TcpStream,
    dialed: Option<SocketAddr>,
    high_priority: bool,
    ctx: &ConnContext,
    _slot: SlotGuard,
) {
    let started = stream
        .try_clone()
        .map_err(TransportError::Io)
        .and_then(|s| {
            let initiator = dialed.is_some();
            transport::establish(s, &ctx.local, initiator, high_priority, HANDSHAKE_TIMEOUT)
        })
        .and_then(|established| start_writer(established, &stream, ctx));
    let Started {
        conn,
        remote,
        link,
        reader,
        writer,
    } = match started {
        Ok(started) => started,
        Err(error) => {
            let _ = stream.shutdown(Shutdown::Both);
            match dialed {
                Some(addr) => {
                    let failed = NetEvent::DialFailed { addr, error };
                    let _ = ctx.node_tx.send(NodeEvent::Net(failed));
                }
                // A refused handshake is worth a line: it is how an operator
                // sees a wrong network key or too little proof of work.
                None if matches!(
                    error,
                    TransportError::Handshake(_) | TransportError::BadProof(_)
                ) =>
                {
                    info!("refused an inbound P2P connection: {error}")
                }
                None => debug!("inbound P2P connection failed before it was up: {error}"),
            }
            return;
        }
    };
    let up = NetEvent::Up {
        conn,
        remote,
        dialed,
        link,
    };
    let mut clean_close = false;
    if ctx.node_tx.send(NodeEvent::Net(up)).is_ok() {
        let error = read_loop(conn, reader, ctx);
        clean_close = matches!(error, TransportError::Closed);
        let _ = ctx
            .node_tx
            .send(NodeEvent::Net(NetEvent::Down { conn, error }));
    }
    if !clean_close {
        let _ = stream.shutdown(Shutdown::Both);
    }
    // After a clean close by the peer the writer still sends what is queued;
    // it ends when the node drops the link on `Down`.
    let _ = writer.join();
}

/// An established connection with its writer thread running.
struct Started {
    conn: ConnId,
    remote: Hello,
    link: PeerLink,
    reader: FrameReader,
    writer: JoinHandle<()>,
}

/// Gives the connection an id, an outbox and a writer thread.
fn start_writer(
    established: Established,
    stream: &TcpStream,
    ctx: &ConnContext,
) -> Result<Started, TransportError> {
    let conn = ctx.next_conn_id();
    let (outbox, outbox_rx) = bounded(ctx.peer_queue);
    let writes = Arc::new(AtomicU64::new(0));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let link = PeerLink {
        outbox,
        stream: stream.try_clone()?,
        writes: writes.clone(),
        queued_bytes: queued_bytes.clone(),
    };
    let writer = established.writer;
    let writer = std::thread::Builder::new()
        .name(format!("peer-w-{conn}"))
        .spawn({
            let traffic = ctx.traffic.clone();
            let counters = WriterCounters {
                traffic,
                writes,
                queued_bytes,
            };
            move || write_loop(writer, outbox_rx, &counters)
        })?;
    Ok(Started {
        conn,
        remote: established.remote,
        link,
        reader: established.reader,
        writer,
    })
}

/// Decodes frames into events until the connection ends; returns why.
fn read_loop(conn: ConnId, mut reader: FrameReader, ctx: &ConnContext) -> TransportError {
    let mut counted = 0;
    let mut pacer = Pacer::new(ctx.pace, Instant::now());
    loop {
        let msg = reader.read_message();
        let bytes = reader.bytes();
        ctx.traffic
            .bytes_in
            .fetch_add(bytes - counted, Ordering::Relaxed);
        counted = bytes;
        match msg {
            Ok(msg) => {
                let len = wire::encoded_len(&msg);
                // Over the pace: wait, and let TCP hold the peer back.
                let wait = pacer.take(len, Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                // Released by the node thread when it takes the message.
                if !ctx.inbound.acquire(len) {
                    return TransportError::Closed;
                }
                let event = NodeEvent::Net(NetEvent::Message { conn, msg });
                if ctx.node_tx.send(event).is_err() {
                    return TransportError::Closed;
                }
            }
            Err(e) => return e,
        }
    }
}

/// What a writer thread reports about itself.
struct WriterCounters {
    traffic: Arc<Traffic>,
    writes: Arc<AtomicU64>,
    queued_bytes: Arc<AtomicUsize>,
}

/// Writes what the outbox holds, everything queued at once, until the node
/// drops the link or the socket fails.
///
/// When the node dropped the link (a graceful close) only the write half is
/// shut: the peer reads everything we sent, and our reader keeps reading what
/// the peer had already sent until it closes its side too (or
/// [`CLOSE_LINGER`] passes). So a connection closed as a duplicate of another
/// loses no item in flight. A failed write shuts both halves.
fn write_loop(mut writer: FrameWriter, outbox: Receiver<Message>, counters: &WriterCounters) {
    let mut failed = false;
    while let Ok(first) = outbox.recv() {
        let mut taken = writer.push(&first);
        while writer.pending() < COALESCE_LIMIT {
            match outbox.try_recv() {
                Ok(msg) => taken += writer.push(&msg),
                Err(_) => break,
            }
        }
        counters.queued_bytes.fetch_sub(taken, Ordering::Relaxed);
        match writer.flush() {
            Ok(n) => {
                let traffic = &counters.traffic;
                traffic.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                counters.writes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                debug!("P2P write failed: {e}");
                failed = true;
                break;
            }
        }
    }
    if failed {
        writer.shutdown();
    } else {
        writer.finish(CLOSE_LINGER);
    }
}
