//! The API server: a listener thread, and per client a reader thread and a
//! writer thread.
//!
//! Each TCP connection gets one library [`Client`]. The reader decodes
//! messages with the strict [`codec`] and turns them into client calls; the
//! writer drains the client's bounded notification queue, encoding everything
//! queued into one write. A malformed message closes only its connection.
//! A STATUS QUERY (the [`super::status`] extension) is answered by the
//! reader, which asks the node thread for a snapshot and hands the encoded
//! reply to the writer, so replies and notifications never interleave.
//! A client that is too slow (its queue overflows, or it holds the full
//! validation window without giving verdicts) is kicked by the node thread:
//! the kick hook shuts its socket down, which ends both threads.

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded, never, select};
use log::{debug, info, warn};
use parking_lot::Mutex;

use super::codec::{self, ApiMessage, ReadError};
use super::status::{self, Request, StatusQuery, StatusReply};
use crate::client::{Client, Notification};
use crate::config::Endpoint;
use crate::net::Threads;
use crate::node::{Node, StartError, bind};
use crate::proto::{DataType, MsgId, Ttl};

/// Notifications gathered into one write, in bytes (as for peers: batches
/// of small items in one syscall, a bounded buffer).
const COALESCE_LIMIT: usize = 64 * 1024;

/// Status replies waiting for a connection's writer; a client that asks
/// faster than it reads waits (its reader blocks) instead of growing this.
const REPLY_QUEUE: usize = 4;

/// Open client sockets, so shutdown can close them all. A lock because both
/// the listener thread (insert) and client threads (remove) touch it; held
/// only for the map operation.
type OpenSockets = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A running API server. Dropping it stops it.
pub struct ApiServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
    sockets: OpenSockets,
    threads: Threads,
}

impl ApiServer {
    /// Binds `addr` and serves clients of `node`.
    pub fn start(node: &Node, addr: &Endpoint) -> Result<ApiServer, StartError> {
        ApiServer::bind(addr)?.serve(node)
    }

    /// Binds `addr` without serving yet, so a daemon can fail on a busy
    /// address before it spends time starting its node.
    pub fn bind(addr: &Endpoint) -> Result<BoundApi, StartError> {
        let listener = bind(addr, "API")?;
        let local = listener.local_addr().map_err(|error| StartError::Bind {
            what: "API",
            addr: addr.clone(),
            error,
        })?;
        Ok(BoundApi { listener, local })
    }
}

/// A bound API listener, not serving yet ([`ApiServer::bind`]).
pub struct BoundApi {
    listener: TcpListener,
    local: SocketAddr,
}

impl BoundApi {
    /// Starts serving clients of `node`.
    pub fn serve(self, node: &Node) -> Result<ApiServer, StartError> {
        let BoundApi { listener, local } = self;
        let stopping = Arc::new(AtomicBool::new(false));
        let sockets = OpenSockets::default();
        let threads = Threads::default();
        let ctx = ServeCtx {
            node: node.handle(),
            api_addr: local,
            stopping: stopping.clone(),
            sockets: sockets.clone(),
            threads: threads.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("api-listener".into())
            .spawn(move || accept_loop(listener, ctx))
            .map_err(StartError::Thread)?;
        info!("API listening on {local}");
        Ok(ApiServer {
            addr: local,
            stopping,
            listener: Some(thread),
            sockets,
            threads,
        })
    }
}

impl ApiServer {
    /// Where the server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every client connection and waits briefly
    /// for the client threads.
    pub fn stop(&mut self) {
        let Some(thread) = self.listener.take() else {
            return;
        };
        self.stopping.store(true, Ordering::Release);
        crate::net::wake_accept(self.addr);
        let _ = thread.join();
        for (_, s) in self.sockets.lock().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        self.threads.join_until(deadline);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Clone)]
struct ServeCtx {
    node: crate::node::NodeHandle,
    /// Where this server listens (reported in status replies).
    api_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    sockets: OpenSockets,
    threads: Threads,
}

fn accept_loop(listener: TcpListener, ctx: ServeCtx) {
    let mut next_id = 0u64;
    for conn in listener.incoming() {
        if ctx.stopping.load(Ordering::Acquire) {
            break;
        }
        match conn {
            Ok(stream) => {
                next_id += 1;
                if let Err(e) = start_client(stream, next_id, &ctx) {
                    warn!("cannot serve API client: {e}");
                }
            }
            Err(e) => {
                warn!("API accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

fn start_client(stream: TcpStream, conn: u64, ctx: &ServeCtx) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_nodelay(true)?;
    let kick_stream = stream.try_clone()?;
    let kick = Box::new(move || {
        let _ = kick_stream.shutdown(Shutdown::Both);
    });
    let client = ctx.node.client_with_kick(Some(kick));
    info!("API client {} connected from {peer}", client.id().0);
    ctx.sockets.lock().insert(conn, stream.try_clone()?);
    let notifications = client.notifications().clone();
    let write_stream = stream.try_clone()?;
    let id = client.id().0;
    let (replies_tx, replies) = bounded(REPLY_QUEUE);
    ctx.threads.spawn(format!("api-w-{id}"), move || {
        write_loop(write_stream, notifications, replies)
    })?;
    let sockets = ctx.sockets.clone();
    let status = StatusSource {
        node: ctx.node.clone(),
        api_addr: ctx.api_addr,
        replies: replies_tx,
    };
    ctx.threads.spawn(format!("api-r-{id}"), move || {
        let reason = read_loop(&stream, &client, &status);
        match &reason {
            Ok(()) => info!("API client {id} disconnected"),
            Err(why) => warn!("API client {id} closed: {why}"),
        }
        let _ = stream.shutdown(Shutdown::Both);
        sockets.lock().remove(&conn);
        drop(client);
    })?;
    Ok(())
}

/// What a connection's reader needs to answer status queries.
struct StatusSource {
    node: crate::node::NodeHandle,
    api_addr: SocketAddr,
    /// To the connection's writer.
    replies: Sender<Vec<u8>>,
}

impl StatusSource {
    /// Builds the reply from a snapshot of the node and queues it for the
    /// writer; Err (the reason to log) when the node or the writer is gone.
    fn answer(&self, client: &Client, query: StatusQuery) -> Result<(), String> {
        debug!("API client {}: status query", client.id().0);
        let snapshot = self.node.status().ok_or("the node stopped")?;
        let reply = StatusReply::new(&query, &snapshot, self.api_addr);
        let mut bytes = Vec::new();
        status::encode_reply(&reply, &mut bytes);
        self.replies
            .send(bytes)
            .map_err(|_| "the connection's writer stopped".to_string())
    }
}

/// Reads and applies messages until the client closes (Ok) or breaks the
/// protocol or the connection fails (Err with the reason to log).
fn read_loop(stream: &TcpStream, client: &Client, status: &StatusSource) -> Result<(), String> {
    let mut reader = BufReader::new(stream);
    loop {
        let msg = match status::read_request(&mut reader) {
            Ok(Some(Request::Api(msg))) => msg,
            Ok(Some(Request::Status(query))) => {
                status.answer(client, query)?;
                continue;
            }
            Ok(None) => return Ok(()),
            Err(ReadError::Decode(e)) => return Err(format!("malformed message: {e}")),
            Err(ReadError::Io(e)) => return Err(format!("read failed: {e}")),
        };
        apply(client, msg)?;
    }
}

fn apply(client: &Client, msg: ApiMessage) -> Result<(), String> {
    let result = match msg {
        ApiMessage::Announce {
            ttl,
            data_type,
            data,
        } => client.announce(Ttl(ttl), DataType(data_type), &data),
        ApiMessage::Notify { data_type } => {
            client.subscribe(DataType(data_type));
            Ok(())
        }
        ApiMessage::Validation { msg_id, valid } => client.validate(MsgId(msg_id), valid),
        // The codec refuses NOTIFICATION from a module; kept total anyway.
        ApiMessage::Notification { .. } => return Err("NOTIFICATION sent to gossip".into()),
    };
    result.map_err(|e| e.to_string())
}

/// Writes notifications and status replies until the notification queue
/// closes or the socket fails.
fn write_loop(
    mut stream: TcpStream,
    notifications: Receiver<Notification>,
    replies: Receiver<Vec<u8>>,
) {
    let mut buf = Vec::with_capacity(COALESCE_LIMIT);
    // The reader drops its sender when it ends; notifications may still come.
    let mut replies = Some(replies);
    let closed = never();
    loop {
        select! {
            recv(notifications) -> n => match n {
                Ok(n) => push_notification(&n, &mut buf),
                Err(_) => break,
            },
            recv(replies.as_ref().unwrap_or(&closed)) -> reply => match reply {
                Ok(bytes) => buf.extend_from_slice(&bytes),
                Err(_) => {
                    replies = None;
                    continue;
                }
            },
        }
        while buf.len() < COALESCE_LIMIT {
            match notifications.try_recv() {
                Ok(n) => push_notification(&n, &mut buf),
                Err(_) => break,
            }
        }
        if stream.write_all(&buf).is_err() {
            break;
        }
        buf.clear();
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn push_notification(n: &Notification, buf: &mut Vec<u8>) {
    // Item data never exceeds the API's data limit (the wire and the API share
    // the same maximum), so encoding cannot fail.
    let encoded = codec::encode_notification(n.msg_id.0, n.data_type.0, &n.data, buf);
    debug_assert!(encoded.is_ok());
}
