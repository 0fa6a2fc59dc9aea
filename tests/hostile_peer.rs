//! A hostile *peer* flooding at full speed cannot stop items of others from
//! reaching everybody (SPEC §6, issue 4), with real `gossipd` processes.
//!
//! `tests/security.rs` floods a node through its API; here the flood comes
//! from a raw peer-to-peer peer built in this test process with the public
//! library API (an identity with its proof of work, the Noise handshake of
//! `gossipd::transport::establish`, then `Item` frames written as fast as
//! node 0 reads them). The network is a hub: node 0 has room for three
//! leaves and the hostile peer; each leaf keeps node 0 as its only
//! neighbour, so every honest item between leaves passes through the
//! flooded node, behind the flood in its outboxes.
//!
//! Log phrases relied on (src/node.rs, src/node/driver.rs): `peer id HEX`
//! (all 64 digits) at start; `peer up: ID`, `peer down: ID` and `banned
//! peer ID (ADDR) for N s: REASON`, with ID the first 16 digits; and at
//! shutdown `stats: ... received=N ...`.

mod common;

use common::{Client, Network, Node, NodeConfig, Notification, Process, Subscribers, after};
use gossipd::identity::{HostAuth, Identity};
use gossipd::proto::{DataType, Hlc, Item, ItemAuth, Message, Ttl};
use gossipd::transport::{self, FrameReader, FrameWriter, Local};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The data type the honest items have and the subscribers subscribe to.
const T: u16 = 4711;
/// The flood's data type: nobody subscribes, so every node relays it
/// without waiting for a verdict, the most load per item.
const F: u16 = 4712;
/// Proof of work the harness's nodes require and show (`NodeConfig` sets
/// `pow_difficulty = 8`); the hostile identity is made with as much.
const POW_DIFFICULTY: u32 = 8;
/// Deadline for a step of setting up (a handshake, a log line, the warm-up).
const DEADLINE: Duration = Duration::from_secs(20);
/// Leaves around node 0.
const LEAVES: usize = 3;

/// How long the flood lasts at most.
const FLOOD_TIME: Duration = Duration::from_secs(10);
/// Most items the flood writes.
const FLOOD_MAX: u64 = 2_000_000;
/// Items per write (one flush): about 44 KiB of frames.
const FLOOD_BATCH: u64 = 500;
/// Data bytes per flood item.
const FLOOD_SIZE: usize = 64;
/// Hops a flood item may travel (node 0 and the leaves: two are enough).
const FLOOD_TTL: u8 = 3;
/// A flood write that makes no progress for this long ends the flood, so a
/// node that stops reading cannot hold the thread.
const FLOOD_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Items the flood writes before the honest items start, so that they meet
/// queues full of it: about a second of flood here, and few enough (1.7 MiB
/// of frames) for the socket buffers alone to take them if node 0 is slow.
const WARMUP: u64 = 20_000;
/// New items node 0 must have taken from its peers for the flood to count
/// as having landed (the honest items and the harness's probes are a few
/// dozen).
const FLOOD_LANDED: u64 = 1_000;

/// Items the honest client announces.
const HONEST_ITEMS: usize = 50;
/// Time between two of them (20 items/s).
const HONEST_INTERVAL: Duration = Duration::from_millis(50);
/// Deadline for every subscriber to have every honest item.
const DELIVERY: Duration = Duration::from_secs(60);

/// A hostile peer connected to node 0 writes 64-byte items of a type nobody
/// subscribes to as fast as node 0 reads them (for 10 s), while it reads
/// and discards whatever node 0 sends it. Meanwhile a client on leaf 3
/// announces 50 items at 20 per second; subscribers on node 0 and on leaves
/// 1 and 2 (which hear of them only through node 0) validate everything,
/// and each gets every honest item within 60 s. After the flood one more
/// item from leaf 3 flushes the queues it used, and then each subscriber
/// must have had every item exactly once, byte-exact. Node 0 may ban the
/// flooder (over the rate limits) but no node may ban an honest node, and
/// node 0 must have taken a part of the flood.
#[test]
fn a_flooding_peer_does_not_keep_other_items_from_anybody() {
    let mut net = hub();
    let ids: Vec<String> = net.nodes.iter().map(|node| short_id(node)).collect();
    let mut clients: Vec<Client> = (0..LEAVES).map(|i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    let mut subscribers = Subscribers::spawn(clients, true);

    let peer = HostilePeer::connect(net.nodes[0].p2p_addr());
    let up = format!("peer up: {}", peer.id);
    net.nodes[0]
        .wait_for_log(after(DEADLINE), |l| l.contains(&up))
        .expect("node 0 takes the hostile peer as a neighbour");
    let flooder = peer.id.clone();
    let flood = peer.flood();
    let warmed_up = flood.wait_written(WARMUP, after(DEADLINE));
    assert!(
        warmed_up >= WARMUP,
        "the flood wrote only {warmed_up} items"
    );

    let first_sent = Instant::now();
    let sent = announce_paced(&net, LEAVES);
    let last_sent = Instant::now();
    let flooding_at_last = !flood.writer_done();
    let all_arrived = subscribers.wait_until(after(DELIVERY), |received| {
        received
            .iter()
            .all(|notes| sent.iter().all(|d| notes.iter().any(|n| n.data == *d)))
    });
    let (after_first, after_last) = (first_sent.elapsed(), last_sent.elapsed());
    let (written, read) = flood.finish();

    // A second copy of an item could still be queued behind the flood and
    // arrive late. One more item from node 3 travels every path the honest
    // items took, in order (node 0's net queue, its outboxes to the leaves,
    // each leaf's queue), behind whatever the flood left in them: once every
    // subscriber has it, nothing sent before it is on its way any more.
    let drain_start = Instant::now();
    let last = common::unique("last");
    net.client(LEAVES, &[]).announce(0, T, &last);
    let drained = subscribers.wait_all_got(&last, after(DELIVERY));
    let drain_time = drain_start.elapsed();

    // What the nodes logged while running (stopping them logs `peer down`
    // for every link), then their counters.
    let bans = lines_naming(&net, "banned peer ", std::slice::from_ref(&flooder));
    let honest_bans = lines_naming(&net, "banned peer ", &ids);
    let lost = lines_naming(&net, "peer down: ", &ids);
    let warnings = lines_with(&net, |l| {
        let ban = l.contains(&format!("banned peer {flooder}"));
        l.contains(" WARN ") && !ban && !l.contains("no hostkey configured")
    });
    let stats = stop_and_read_stats(&mut net);

    println!(
        "flood: {} items of {FLOOD_SIZE} B written in {:.2} s = {:.0} items/s into node 0, \
         ended: {}; still flooding when the last honest item was announced: {flooding_at_last}",
        written.items,
        written.time.as_secs_f64(),
        written.items as f64 / written.time.as_secs_f64(),
        written.why
    );
    let closer = if read.closed_by_node {
        "node 0"
    } else {
        "the test"
    };
    println!(
        "hostile peer read {} messages from node 0; connection closed by {closer}: {}",
        read.messages, read.end
    );
    println!(
        "{HONEST_ITEMS} honest items from node {LEAVES} at all {LEAVES} subscribers \
         {:.2} s after the first and {:.2} s after the last was announced; \
         queues drained (one more item at all of them) {:.2} s after the flood ended",
        after_first.as_secs_f64(),
        after_last.as_secs_f64(),
        drain_time.as_secs_f64()
    );
    if bans.is_empty() {
        println!("nobody banned the flooder");
    }
    for (i, line) in &bans {
        println!("node{i} banned the flooder: {line}");
    }
    for (i, line) in warnings {
        println!("node{i} warned: {line}");
    }
    for (i, line) in stats.iter().enumerate() {
        println!("node{i} {}", line.split("] ").last().unwrap_or(line));
    }

    let mut every = sent.clone();
    every.push(last);
    for (i, notes) in subscribers.received().iter().enumerate() {
        assert_exactly_once(i, notes, &every);
    }
    assert!(all_arrived, "not every honest item arrived");
    assert!(drained, "the last item did not arrive");
    assert!(
        honest_bans.is_empty(),
        "honest nodes banned: {honest_bans:?}"
    );
    // Dropping an honest link (e.g. as too slow) is another way to keep
    // items from a host; here it would also break the hub's shape.
    assert!(lost.is_empty(), "honest links went down: {lost:?}");
    let landed = stat(&stats[0], "received");
    assert!(
        landed >= FLOOD_LANDED,
        "node 0 took only {landed} new items from its peers: the flood did not land"
    );
}

/// Starts node 0 (degree 4: three leaves and the hostile peer) and three
/// leaves of degree 1 that join through it, so node 0 is every leaf's only
/// neighbour; waits until a probe from node 0 reaches every leaf.
fn hub() -> Network {
    let centre = Node::start("node0", &NodeConfig::new().degree(LEAVES + 1));
    let via = centre.p2p_addr();
    let mut nodes = vec![centre];
    for i in 1..=LEAVES {
        let config = NodeConfig::new().degree(1).bootstrapper(via);
        nodes.push(Node::start(&format!("node{i}"), &config));
    }
    let net = Network::from_nodes(nodes);
    net.wait_connected(DEADLINE);
    net
}

/// The first 16 hex digits of the peer id `process` logged at start: how
/// its log lines (and other nodes') name it.
fn short_id(process: &Process) -> String {
    let marker = "] peer id ";
    let line = process
        .wait_for_log(after(DEADLINE), |l| l.contains(marker))
        .expect("a node logs its peer id at start");
    let (_, hex) = line.split_once(marker).expect("the marker is there");
    hex.trim()[..16].to_string()
}

/// Announces [`HONEST_ITEMS`] distinct items of type T at node `i`, one
/// every [`HONEST_INTERVAL`] on a fixed schedule (a late one does not
/// delay the rest); returns their data.
fn announce_paced(net: &Network, i: usize) -> Vec<Vec<u8>> {
    let mut source = net.client(i, &[]);
    let start = Instant::now();
    let mut sent = Vec::with_capacity(HONEST_ITEMS);
    for n in 0..HONEST_ITEMS {
        let due = start + HONEST_INTERVAL * n as u32;
        thread::sleep(due.saturating_duration_since(Instant::now()));
        let data = common::unique("honest");
        source.announce(0, T, &data);
        sent.push(data);
    }
    sent
}

/// Asserts that subscriber `i` got each of `sent` exactly once, with its
/// type and data intact (anything else it got is listed in the message).
fn assert_exactly_once(i: usize, notes: &[Notification], sent: &[Vec<u8>]) {
    for data in sent {
        let copies: Vec<&Notification> = notes.iter().filter(|n| n.data == *data).collect();
        assert!(
            copies.len() == 1 && copies[0].data_type == T,
            "subscriber on node{i}: {} copies of {:?} ({:?}); it got {} items: {:?}",
            copies.len(),
            String::from_utf8_lossy(data),
            copies,
            notes.len(),
            common::summary(notes)
        );
    }
}

/// The lines any node logged (with its index) that contain `phrase`
/// followed by the short id of one of `ids`.
fn lines_naming(net: &Network, phrase: &str, ids: &[String]) -> Vec<(usize, String)> {
    let needles: Vec<String> = ids.iter().map(|id| format!("{phrase}{id}")).collect();
    lines_with(net, |line| {
        needles.iter().any(|needle| line.contains(needle.as_str()))
    })
}

/// The lines any node logged that satisfy `pred`, with the node's index.
fn lines_with(net: &Network, pred: impl Fn(&str) -> bool) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, node) in net.nodes.iter().enumerate() {
        found.extend(node.logs().into_iter().filter(|l| pred(l)).map(|l| (i, l)));
    }
    found
}

/// Sends SIGTERM to every node, waits for each to exit and returns their
/// `stats:` lines, in node order.
fn stop_and_read_stats(net: &mut Network) -> Vec<String> {
    for node in &net.nodes {
        node.signal("TERM");
    }
    net.nodes
        .iter_mut()
        .map(|node| {
            node.wait_exit(after(DEADLINE))
                .expect("a node exits after SIGTERM");
            node.wait_output_closed(after(Duration::from_secs(5)));
            node.logs()
                .into_iter()
                .find(|l| l.contains("stats: "))
                .expect("a stats line at shutdown")
        })
        .collect()
}

/// The value of `key=N` in a `stats:` line.
fn stat(line: &str, key: &str) -> u64 {
    let prefix = format!("{key}=");
    let value = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    value.parse().expect("a counter is a number")
}

/// A peer of node 0 made in this process: an identity with enough proof of
/// work, a completed handshake, and the two halves of the encrypted stream.
struct HostilePeer {
    /// The first 16 hex digits of its peer id, as node logs name it.
    id: String,
    /// Another handle on the socket, to set its write timeout and to shut
    /// it down.
    socket: TcpStream,
    reader: FrameReader,
    writer: FrameWriter,
    /// Signs its flood items (a flooder need not forge: it floods with
    /// items of its own).
    auth: Arc<dyn ItemAuth>,
    /// The listen address its Hello claims: bound, so nothing else takes
    /// the port, but never accepted on.
    _listener: TcpListener,
}

impl HostilePeer {
    /// Makes an identity and dials `node` (a P2P address); panics if the
    /// handshake fails.
    fn connect(node: SocketAddr) -> HostilePeer {
        let identity = Arc::new(Identity::generate(POW_DIFFICULTY));
        let id = identity.peer_id().short();
        let auth = HostAuth::for_identity(identity.clone());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let listen = listener.local_addr().expect("a bound address");
        let local = Local::new(identity, listen, None, POW_DIFFICULTY)
            .expect("a Noise key for the hostile peer");
        let stream = TcpStream::connect_timeout(&node, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to node 0 at {node}: {e}"));
        let socket = stream.try_clone().expect("clone the socket");
        let established = transport::establish(stream, &local, true, false, DEADLINE)
            .unwrap_or_else(|e| panic!("handshake with node 0: {e}"));
        // After the handshake, which set its own timeouts on this socket.
        socket
            .set_write_timeout(Some(FLOOD_WRITE_TIMEOUT))
            .expect("set the write timeout");
        HostilePeer {
            id,
            socket,
            reader: established.reader,
            writer: established.writer,
            auth,
            _listener: listener,
        }
    }

    /// Starts the flood: one thread writes [`flood_item`]s in batches of
    /// [`FLOOD_BATCH`] as fast as node 0 takes them, until [`FLOOD_TIME`],
    /// [`FLOOD_MAX`] items, a failed write or the test's stop; another
    /// reads and discards what node 0 sends until the connection ends.
    fn flood(self) -> Flood {
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let mut writer = self.writer;
        let auth = self.auth;
        let (count, halt) = (Arc::clone(&written), Arc::clone(&stop));
        let writing = thread::spawn(move || {
            let mut items = 0;
            let why = loop {
                if halt.load(Ordering::Relaxed) {
                    break "stopped by the test".to_string();
                }
                if items >= FLOOD_MAX {
                    break format!("{FLOOD_MAX} items written");
                }
                if start.elapsed() >= FLOOD_TIME {
                    break format!("{FLOOD_TIME:?} passed");
                }
                for n in items..items + FLOOD_BATCH {
                    writer.push(&flood_item(&*auth, n));
                }
                if let Err(e) = writer.flush() {
                    break format!("a write failed after {:.2?}: {e}", start.elapsed());
                }
                items += FLOOD_BATCH;
                count.store(items, Ordering::Relaxed);
            };
            Written {
                items,
                time: start.elapsed(),
                why,
            }
        });
        let mut reader = self.reader;
        let reading = thread::spawn(move || {
            let mut messages = 0;
            let end = loop {
                match reader.read_message() {
                    Ok(_) => messages += 1,
                    Err(e) => break format!("ended after {:.2?}: {e}", start.elapsed()),
                }
            };
            Read {
                messages,
                end,
                closed_by_node: false,
            }
        });
        Flood {
            written,
            stop,
            start,
            socket: self.socket,
            writing: Some(writing),
            reading: Some(reading),
        }
    }
}

/// The `n`th flood item, signed by the flooder (its sequence number `n`,
/// so its id is one nobody else uses), ttl [`FLOOD_TTL`], type F,
/// [`FLOOD_SIZE`] bytes starting with `n`.
fn flood_item(auth: &dyn ItemAuth, n: u64) -> Message {
    let mut data = [b'f'; FLOOD_SIZE];
    data[..8].copy_from_slice(&n.to_be_bytes());
    let (ttl, data_type) = (Ttl(FLOOD_TTL), DataType(F));
    Message::Item(Item::signed(
        auth,
        n,
        Hlc(n),
        ttl,
        data_type,
        Arc::from(&data[..]),
    ))
}

/// What the flood's writing thread did.
struct Written {
    /// Items in completed writes.
    items: u64,
    /// From the start of the flood to its end.
    time: Duration,
    /// Why it ended.
    why: String,
}

/// What the flood's reading thread did.
struct Read {
    /// Messages node 0 sent the hostile peer.
    messages: u64,
    /// When and how the connection ended.
    end: String,
    /// Whether it ended before the test closed it: node 0 closed it.
    closed_by_node: bool,
}

/// A running flood. [`Flood::finish`] joins its threads; dropping it
/// unfinished (a failing test) stops them and joins them within bounds.
struct Flood {
    written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    start: Instant,
    socket: TcpStream,
    writing: Option<JoinHandle<Written>>,
    reading: Option<JoinHandle<Read>>,
}

impl Flood {
    /// Waits until the flood wrote `items` items, its writer ended, or the
    /// deadline; returns the items written by then.
    fn wait_written(&self, items: u64, deadline: Instant) -> u64 {
        loop {
            let written = self.written.load(Ordering::Relaxed);
            if written >= items || self.writer_done() || Instant::now() >= deadline {
                return written;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// True once the writing thread has ended.
    fn writer_done(&self) -> bool {
        self.writing.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the writer to end by itself (it must within
    /// [`FLOOD_TIME`] and one write timeout), then closes the connection
    /// and waits for the reader; panics if either thread outlives its bound.
    fn finish(mut self) -> (Written, Read) {
        let bound = self.start + FLOOD_TIME + FLOOD_WRITE_TIMEOUT + Duration::from_secs(5);
        let writing = self.writing.take().expect("not finished yet");
        let written = join_by(writing, bound)
            .expect("the flood stops by itself")
            .expect("the writing thread does not panic");
        let reading = self.reading.take().expect("not finished yet");
        let closed_by_node = reading.is_finished();
        let _ = self.socket.shutdown(Shutdown::Both);
        let read = join_by(reading, after(Duration::from_secs(5)))
            .expect("the reader ends with the connection")
            .expect("the reading thread does not panic");
        let read = Read {
            closed_by_node,
            ..read
        };
        (written, read)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.socket.shutdown(Shutdown::Both);
        let bound = after(FLOOD_WRITE_TIMEOUT + Duration::from_secs(3));
        if let Some(writing) = self.writing.take() {
            let _ = join_by(writing, bound);
        }
        if let Some(reading) = self.reading.take() {
            let _ = join_by(reading, bound);
        }
    }
}

/// Joins `thread` if it ends by `deadline` (what `join` returns); `None`,
/// leaving it detached, if it is still running then.
fn join_by<R>(thread: JoinHandle<R>, deadline: Instant) -> Option<thread::Result<R>> {
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
    Some(thread.join())
}
