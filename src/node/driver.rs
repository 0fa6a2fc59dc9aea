//! The node thread: owns the protocol core, feeds it events, carries out its
//! actions.
//!
//! It is the only thread that reads the clock for the core and the only owner
//! of the core and of the connection table, so neither needs a lock. It never
//! blocks on anything but its own queues: sends to peers and clients use
//! `try_send`.
//!
//! Flow control: the node takes items from peers whenever its validation
//! window has room, and its own clients' announcements only while no peer
//! outbox is backed up (at half of `peer_queue` or 1 MiB), so load is held
//! back at its source. A message that finds an outbox full waits in that
//! peer's deferred backlog (at most 16 MiB) and is skipped, counted, beyond
//! it. A peer whose writer makes no progress for [`STUCK_PEER_TIMEOUT`] is
//! dropped as too slow. Items from peers never wait for another host to
//! read, so hosts backed up towards each other cannot deadlock. See
//! [`super::inbox`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam_channel::{TrySendError, never, select};
use log::{debug, info, warn};
use rand::rngs::StdRng;

use super::inbox::Inbox;
use super::{NeighbourInfo, NodeEvent, NodeStats, NodeStatus};
use crate::client::Notification;
use crate::net::{ConnContext, ConnId, NetEvent, OUTBOX_HIGH_WATER_BYTES, PeerLink, spawn_dial};
use crate::proto::{Action, BanReason, ClientId, Core, Event, Message, Misbehaviour, PeerId};
use crate::subscriptions::Subscriptions;
use crate::transport::TransportError;
use crate::wire::{self, Hello};

/// A peer whose outbox holds messages but whose writer completed no write
/// for this long is dropped as too slow (a guess: far beyond a healthy
/// stall on a LAN or across continents, and well beyond the 2 s for which a
/// healthy peer may stop reading while its validation window waits for a
/// silent client to be cut off; short enough that this host's own
/// announcements, held back meanwhile, do not wait long behind a stuck host).
pub const STUCK_PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// An outbox holding this many encoded bytes takes no more messages (they
/// are skipped; see [`Driver::send`]).
const OUTBOX_MAX_BYTES: usize = 4 * OUTBOX_HIGH_WATER_BYTES;

/// Most backlog waiting for one peer beyond its outbox, in encoded bytes;
/// more is skipped (a guess: a validation window of large items).
const DEFER_MAX_BYTES: usize = 16 * 1024 * 1024;

/// A backed-up outbox whose writer made no progress for this long is
/// stalled rather than congested (see [`Driver::check_outboxes`]).
const CONGESTION_STALL: Duration = Duration::from_millis(250);

/// While backed up, the node looks at the outboxes again this often.
const CONGESTION_POLL: Duration = Duration::from_millis(1);

/// How long a host shutting down waits for its goodbyes to be written
/// (SPEC §2: exit within 2 s).
const LEAVE_LINGER: Duration = Duration::from_millis(300);

/// The connection currently used for one peer.
struct PeerConn {
    conn: ConnId,
    outbound: bool,
    /// The P2P listen address the peer advertised (for logs).
    addr: SocketAddr,
    link: PeerLink,
    /// The writer's write count when last seen changing (or the outbox
    /// empty), and when.
    progress: (u64, Instant),
    /// Messages that found the outbox full, waiting to be moved into it,
    /// with their encoded size in bytes (at most [`DEFER_MAX_BYTES`]).
    deferred: VecDeque<Message>,
    deferred_bytes: usize,
    /// The outbox was at its high-water mark at the last check (the core
    /// was told: it sends this peer ids instead of items meanwhile).
    backed_up: bool,
}

impl PeerConn {
    /// Moves deferred messages into the outbox while it has room.
    fn refill(&mut self) {
        while let Some(msg) = self.deferred.pop_front() {
            let len = wire::encoded_len(&msg);
            match self.link.try_send(msg) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => self.deferred_bytes -= len,
                Err(TrySendError::Full(msg)) => {
                    self.deferred.push_front(msg);
                    return;
                }
            }
        }
    }
}

/// What [`Driver::check_outboxes`] found.
struct Outboxes {
    /// Some backed-up outbox's writer is making progress: the network is
    /// the bottleneck, so the core must not blame a silent client for a
    /// full validation window (see [`Event::Congestion`]). A stalled writer
    /// does not count: its peer may itself be waiting for a silent client
    /// to be cut off, and two such hosts would otherwise wait on each other
    /// until one is dropped as stuck.
    congested: bool,
    /// Some outbox is at its high-water mark (stalled or not): this host's
    /// own announcements wait, rather than pile up in the peer's backlog.
    backed_up: bool,
}

/// The state of the node thread.
pub(super) struct Driver {
    core: Core<StdRng>,
    inbox: Inbox,
    ctx: ConnContext,
    /// An outbox holding this many messages is backed up.
    high_water: usize,
    subscriptions: Subscriptions,
    /// One connection per neighbour.
    peers: HashMap<PeerId, PeerConn>,
    /// Which peer each live connection belongs to (also connections being
    /// closed, until they end).
    conns: HashMap<ConnId, PeerId>,
    /// Peers logged as "peer up" and not yet as "peer down".
    logged_up: HashSet<PeerId>,
    /// Whether the core was last told that an outbox is congested.
    congested: bool,
    /// Whether some outbox was backed up at the last check (local
    /// announcements are held back meanwhile).
    backed_up: bool,
    /// The node thread's own counters (the core's are in the core).
    counters: NodeStats,
    /// Where the P2P listener is bound (for status reports).
    p2p_addr: SocketAddr,
    /// When the node started (for status reports).
    started: Instant,
}

impl Driver {
    pub(super) fn new(
        core: Core<StdRng>,
        inbox: Inbox,
        ctx: ConnContext,
        subscriptions: Subscriptions,
        p2p_addr: SocketAddr,
    ) -> Driver {
        Driver {
            core,
            inbox,
            high_water: (ctx.peer_queue / 2).max(1),
            ctx,
            subscriptions,
            peers: HashMap::new(),
            conns: HashMap::new(),
            logged_up: HashSet::new(),
            congested: false,
            backed_up: false,
            counters: NodeStats::default(),
            p2p_addr,
            started: Instant::now(),
        }
    }

    /// Runs until [`NodeEvent::Shutdown`] or until every sender is gone.
    pub(super) fn run(mut self) {
        self.execute_actions();
        let closed = never();
        loop {
            let now = Instant::now();
            // Timers are due even while events keep coming.
            if now >= self.core.poll_timeout() {
                self.core.handle_timeout(now);
                self.execute_actions();
            }
            let Outboxes {
                congested,
                backed_up,
            } = self.check_outboxes(now);
            if backed_up != self.backed_up {
                debug!("outboxes {}", if backed_up { "backed up" } else { "clear" });
                self.backed_up = backed_up;
            }
            if congested != self.congested {
                for (peer, p) in &self.peers {
                    debug!(
                        "outbox to {peer}: {} messages, {} bytes, {} writes",
                        p.link.queued(),
                        p.link.queued_bytes(),
                        p.link.writes()
                    );
                }
                debug!(
                    "outboxes {}; validation window {}/{}",
                    if congested { "congested" } else { "clear" },
                    self.core.pending_validations(),
                    if self.core.wants_items() {
                        "open"
                    } else {
                        "full"
                    }
                );
                self.congested = congested;
                self.core.handle(Event::Congestion { congested }, now);
                self.execute_actions();
            }
            // A backed-up outbox holds back only this host's own
            // announcements (the source of new load); items from peers are
            // taken whenever the validation window has room, so hosts backed
            // up towards each other never wait on each other.
            // So does a cache that would push out an item lazy neighbours
            // may still pull (Plumtree; see Core::announcements_held_until).
            let held = self.core.announcements_held_until(now);
            let take_local = !backed_up && held.is_none();
            let take_net = self.core.wants_items();
            let mut deadline = self.core.poll_timeout();
            if backed_up {
                deadline = deadline.min(now + CONGESTION_POLL);
            }
            if let Some(until) = held {
                deadline = deadline.min(until);
            }
            let local = if take_local {
                &self.inbox.local
            } else {
                &closed
            };
            let net = if take_net { &self.inbox.net } else { &closed };
            let event = select! {
                recv(self.inbox.control) -> e => e,
                recv(local) -> e => e,
                recv(net) -> e => e,
                default(deadline.saturating_duration_since(now)) => {
                    self.core.handle_timeout(Instant::now());
                    self.execute_actions();
                    continue;
                }
            };
            match event {
                Ok(NodeEvent::Shutdown) | Err(_) => break,
                Ok(event) => self.on_event(event),
            }
            self.execute_actions();
        }
        info!("stats: {}", self.stats());
        self.leave();
        self.close_all();
    }

    /// Moves deferred messages into the outboxes, drops stuck peers (no
    /// progress for [`STUCK_PEER_TIMEOUT`]) and says whether some outbox is
    /// backed up (at its high-water mark) and whether one of those is
    /// congested (its writer made progress within [`CONGESTION_STALL`]).
    fn check_outboxes(&mut self, now: Instant) -> Outboxes {
        let mut congested = false;
        let mut backed_up = false;
        let mut stuck = Vec::new();
        let mut changed = Vec::new();
        for (peer, p) in &mut self.peers {
            p.refill();
            let queued = p.link.queued() + p.deferred.len();
            let writes = p.link.writes();
            if queued == 0 || writes != p.progress.0 {
                p.progress = (writes, now);
            } else if now.duration_since(p.progress.1) >= STUCK_PEER_TIMEOUT {
                stuck.push(*peer);
            }
            let full =
                queued >= self.high_water || p.link.queued_bytes() >= OUTBOX_HIGH_WATER_BYTES;
            backed_up |= full;
            congested |= full && now.duration_since(p.progress.1) < CONGESTION_STALL;
            if full != p.backed_up {
                p.backed_up = full;
                changed.push((*peer, full));
            }
        }
        for (peer, backed_up) in changed {
            debug!(
                "peer {peer}: outbox {}",
                if backed_up {
                    "backed up: ids only"
                } else {
                    "clear"
                }
            );
            self.core
                .handle(Event::PeerBackedUp { peer, backed_up }, now);
        }
        for peer in stuck {
            warn!(
                "peer {peer} too slow: no progress writing to it for {STUCK_PEER_TIMEOUT:?}; disconnecting"
            );
            self.drop_slow_peer(peer, now);
        }
        Outboxes {
            congested,
            backed_up,
        }
    }

    fn drop_slow_peer(&mut self, peer: PeerId, now: Instant) {
        self.counters.slow_peers_dropped += 1;
        if let Some(p) = self.peers.remove(&peer) {
            p.link.close_now();
        }
        self.logged_up.remove(&peer);
        self.core.handle(Event::PeerDown { peer }, now);
    }

    fn on_event(&mut self, event: NodeEvent) {
        let now = Instant::now();
        match event {
            NodeEvent::Net(net) => self.on_net(net, now),
            NodeEvent::Client(event) => self.core.handle(event, now),
            NodeEvent::Neighbours(reply) => {
                let _ = reply.try_send(self.neighbours(now));
            }
            NodeEvent::Stats(reply) => {
                let _ = reply.try_send(self.stats());
            }
            NodeEvent::Status(reply) => {
                let _ = reply.try_send(self.status(now));
            }
            NodeEvent::Shutdown => {}
        }
    }

    fn on_net(&mut self, event: NetEvent, now: Instant) {
        match event {
            NetEvent::Up {
                conn,
                remote,
                dialed,
                link,
            } => self.on_up(conn, remote, dialed, link, now),
            NetEvent::Message { conn, msg } => {
                self.ctx.inbound.release(wire::encoded_len(&msg));
                if let Some(&from) = self.conns.get(&conn) {
                    self.core.handle(Event::Received { from, msg }, now);
                }
            }
            NetEvent::Down { conn, error } => self.on_down(conn, &error, now),
            NetEvent::DialFailed { addr, error } => {
                if matches!(
                    error,
                    TransportError::Handshake(_) | TransportError::BadProof(_)
                ) {
                    info!("dial {addr} failed: {error}");
                } else {
                    debug!("dial {addr} failed: {error}");
                }
                self.core.handle(Event::DialFailed { addr }, now);
            }
        }
    }

    /// A handshake completed. Two connections to one peer (both dialed at
    /// once) are resolved the same way on both sides: the connection dialed
    /// by the smaller peer id survives. The other is closed gracefully, and
    /// what still arrives on it is handled until it ends, so nothing in
    /// flight is lost.
    fn on_up(
        &mut self,
        conn: ConnId,
        remote: Hello,
        dialed: Option<SocketAddr>,
        link: PeerLink,
        now: Instant,
    ) {
        let peer = remote.peer_id;
        let outbound = dialed.is_some();
        let me = self.core.me();
        let dialer = |outbound: bool| if outbound { me } else { peer };
        let keeper = me.min(peer);
        let keep_new = match self.peers.get(&peer) {
            None => true,
            Some(old) => dialer(outbound) == keeper && dialer(old.outbound) != keeper,
        };
        if keep_new {
            self.conns.insert(conn, peer);
            let new = PeerConn {
                conn,
                outbound,
                addr: remote.listen_addr,
                link,
                progress: (0, now),
                deferred: VecDeque::new(),
                deferred_bytes: 0,
                backed_up: false,
            };
            if self.peers.insert(peer, new).is_some() {
                debug!("peer {peer}: switched to connection {conn}");
            }
        }
        let event = Event::PeerUp {
            peer,
            addr: remote.listen_addr,
            dialed,
            high_priority: remote.high_priority,
        };
        self.core.handle(event, now);
        if self.core.is_neighbour(&peer) && self.logged_up.insert(peer) {
            let dir = if outbound { "outbound" } else { "inbound" };
            info!("peer up: {peer} at {} ({dir})", remote.listen_addr);
        }
    }

    fn on_down(&mut self, conn: ConnId, error: &TransportError, now: Instant) {
        let Some(peer) = self.conns.remove(&conn) else {
            return;
        };
        if error.is_misbehaviour() {
            // Peer accounting bans it (the ban is logged); this says what
            // exactly. The ban is carried out before the core hears of the
            // connection's end, while the driver still knows its address.
            info!("peer {peer} broke the protocol: {error}");
            let what = Misbehaviour::MalformedFrame;
            self.core.handle(Event::Misbehaved { peer, what }, now);
            self.execute_actions();
        }
        if self.peers.get(&peer).is_some_and(|p| p.conn == conn) {
            self.peers.remove(&peer);
            self.core.handle(Event::PeerDown { peer }, now);
            if self.logged_up.remove(&peer) {
                info!("peer down: {peer} ({error})");
            }
        }
    }

    fn execute_actions(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Send { to, msg } => self.send(to, msg),
                Action::Connect {
                    addr,
                    high_priority,
                } => spawn_dial(&self.ctx, addr, high_priority),
                Action::Disconnect(peer) => {
                    // The connection stays in `conns` until it ends, so what
                    // the peer still sends is read (and ignored by the core).
                    if self.peers.remove(&peer).is_some() {
                        debug!("closing the connection to {peer}");
                    }
                    if self.logged_up.remove(&peer) {
                        info!("peer down: {peer} (dropped by this host)");
                    }
                }
                Action::Deliver {
                    item,
                    origin,
                    seq,
                    hlc,
                    msg_id,
                    data_type,
                    data,
                } => {
                    let n = Notification {
                        msg_id,
                        data_type,
                        data,
                        origin: origin.peer_id(),
                        seq,
                        hlc,
                    };
                    let clients = self.deliver(&n);
                    self.core
                        .handle(Event::Notified { item, clients }, Instant::now());
                }
                Action::DropClient { client } => {
                    self.counters.slow_clients_kicked += 1;
                    warn!(
                        "API client {} too slow: it gave no verdict for too long while the validation window is full; disconnecting",
                        client.0
                    );
                    self.subscriptions.kick(client);
                }
                Action::Ban {
                    peer,
                    addr,
                    reason,
                    until,
                } => self.ban(peer, addr, &reason, until),
            }
        }
    }

    /// Closes the banned peer's connection at once and logs the ban. The
    /// connection stays in `conns` until its reader ends; the core ignores
    /// what still arrives on it.
    fn ban(&mut self, peer: PeerId, addr: Option<SocketAddr>, reason: &BanReason, until: Instant) {
        let conn = self.peers.remove(&peer);
        if let Some(p) = &conn {
            p.link.close_now();
        }
        self.logged_up.remove(&peer);
        let target = match (addr, conn) {
            (Some(a), _) => a.to_string(),
            (None, Some(p)) => format!("{}, not banned: claimed by a peer that dialed in", p.addr),
            (None, None) => "not connected".to_string(),
        };
        let secs = until
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        warn!(
            "banned peer {peer} ({target}) for {} s: {reason}",
            secs.round()
        );
    }

    /// Queues `msg` for `to`. When the outbox is full the message waits in
    /// the peer's deferred list (refilled as the writer drains), so a burst
    /// released at once (a window of validated items) is not lost; only
    /// beyond [`DEFER_MAX_BYTES`] of backlog are messages skipped (counted).
    fn send(&mut self, to: PeerId, msg: Message) {
        let Some(p) = self.peers.get_mut(&to) else {
            return;
        };
        p.refill();
        if p.deferred.is_empty() && p.link.queued_bytes() < OUTBOX_MAX_BYTES {
            match p.link.try_send(msg) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(msg)) => return self.defer(to, msg),
            }
        }
        self.defer(to, msg);
    }

    fn defer(&mut self, to: PeerId, msg: Message) {
        let Some(p) = self.peers.get_mut(&to) else {
            return;
        };
        let len = wire::encoded_len(&msg);
        if p.deferred_bytes + len > DEFER_MAX_BYTES {
            self.counters.skipped_full_outbox += 1;
            return;
        }
        p.deferred_bytes += len;
        p.deferred.push_back(msg);
    }

    /// Hands a notification to the subscribed clients; returns those reached.
    fn deliver(&mut self, n: &Notification) -> Vec<ClientId> {
        let delivery = self.subscriptions.deliver(n);
        for client in delivery.overflowed {
            self.counters.slow_clients_kicked += 1;
            warn!(
                "API client {} too slow: notification queue overflow; disconnecting",
                client.0
            );
            self.core
                .handle(Event::ClientGone { client }, Instant::now());
        }
        delivery.notified
    }

    fn neighbours(&self, now: Instant) -> Vec<NeighbourInfo> {
        self.core
            .neighbours()
            .map(|(peer, n)| NeighbourInfo {
                peer_id: *peer,
                addr: n.addr,
                outbound: n.outbound,
                age: now.saturating_duration_since(n.since),
            })
            .collect()
    }

    fn status(&self, now: Instant) -> NodeStatus {
        NodeStatus {
            peer_id: self.core.me(),
            p2p_addr: self.p2p_addr,
            uptime: now.saturating_duration_since(self.started),
            stats: self.stats(),
            neighbours: self.neighbours(now),
            passive: self.core.passive_view().to_vec(),
        }
    }

    fn stats(&self) -> NodeStats {
        let (p2p_bytes_out, p2p_bytes_in) = self.ctx.traffic.totals();
        NodeStats {
            core: self.core.stats().clone(),
            p2p_bytes_out,
            p2p_bytes_in,
            membership: self.core.membership_stats().clone(),
            tree: self.core.tree_stats().clone(),
            neighbours: self.core.neighbours().count(),
            passive: self.core.passive_view().len(),
            ..self.counters.clone()
        }
    }

    /// Tells every neighbour that this host leaves ([`Core::leave`]) and
    /// gives the writers up to [`LEAVE_LINGER`] to send it; whatever is
    /// queued before the goodbye goes too, within that time.
    fn leave(&mut self) {
        self.core.leave();
        let mut leaving = Vec::new();
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Send { to, msg } => self.send(to, msg),
                Action::Disconnect(peer) => {
                    if let Some(mut p) = self.peers.remove(&peer) {
                        p.refill();
                        let writes = p.link.writes();
                        leaving.push((p, writes));
                    }
                }
                _ => {}
            }
        }
        let deadline = Instant::now() + LEAVE_LINGER;
        while Instant::now() < deadline {
            leaving.retain_mut(|(p, writes)| {
                p.refill();
                let sent = p.deferred.is_empty() && p.link.queued() == 0;
                !(sent && p.link.writes() != *writes)
            });
            if leaving.is_empty() {
                break;
            }
            std::thread::sleep(CONGESTION_POLL);
        }
        let goodbyes = leaving.len();
        if goodbyes > 0 {
            debug!("{goodbyes} goodbyes still queued after {LEAVE_LINGER:?}");
        }
        // Dropping the links closes them gracefully (see `net::connection`).
        drop(leaving);
    }

    fn close_all(&mut self) {
        // Readers waiting for room in the net queue must not wait forever.
        self.ctx.inbound.close();
        for (_, p) in self.peers.drain() {
            p.link.close_now();
        }
        self.conns.clear();
        info!("node stopped");
    }
}
