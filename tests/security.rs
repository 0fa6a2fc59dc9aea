//! Security against hostile peers and bad key files (SPEC §6, issue 4), with
//! real `gossipd` processes:
//!
//! - a man in the middle who flips one bit of the encrypted stream gets the
//!   connection dropped, and the item in that chunk is lost, not delivered;
//! - a host with another network key cannot join a private network;
//! - a peer whose items a neighbour's module keeps calling invalid is banned,
//!   and refused when it comes back;
//! - a client flooding one node at full speed does not keep other items from
//!   reaching every subscriber;
//! - `gossipd --generate-key` makes the node's identity, and unusable key
//!   files stop the node with one line saying why;
//! - an identity with too little proof of work is refused at the handshake.
//!
//! Log phrases relied on (src/node/driver.rs, src/transport.rs,
//! src/transport/handshake.rs, src/proto/accounting.rs, src/node.rs,
//! src/identity.rs): `peer up: ID`, `peer down: ID (REASON)`, `a chunk failed
//! authentication`, `banned peer ID (ADDR) for N s: REASON`, `stats: ...
//! peers_banned=N refused_banned=N`, and at `debug` `inbound P2P connection
//! failed before it was up: ...` and `dial ADDR failed: ...`. Log lines name
//! peers by the first 16 hex digits of their id; the start-up line `peer id
//! HEX` gives all 64.

mod common;

use common::client::announce_msg;
use common::{
    Client, HANDSHAKE_LOG, Network, Node, NodeConfig, Notification, Process, Proxy, Recv, Shape,
    Subscribers, TempDir, VerboseNode, after, run_to_exit, summary, unique,
};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The data type the tests announce and subscribe to.
const T: u16 = 4711;
/// The flood's data type: nobody subscribes, so nodes relay it unvalidated.
const F: u16 = 4712;
/// Deadline for a log line or a delivery the test waits for.
const DEADLINE: Duration = Duration::from_secs(20);
/// Deadline for two nodes to find each other again after a dropped link
/// (their back-off is 2.5 to 7.5 s) and pass one item.
const RECONNECT: Duration = Duration::from_secs(40);

/// A private network's key (64 hex digits).
const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// Another private network's key.
const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// The first 16 hex digits of the full peer id a process logged at start
/// (`peer id HEX`): how other log lines name it.
fn short_id(process: &Process) -> String {
    let line = process
        .wait_for_log(after(DEADLINE), |l| l.contains("] peer id "))
        .expect("node logs its peer id");
    let hex = line.split("] peer id ").nth(1).expect("marker").trim();
    hex[..16].to_string()
}

/// True when `line` is a `peer up` line for `peer` (short id).
fn is_peer_up(line: &str, peer: &str) -> bool {
    line.contains(&format!("peer up: {peer}"))
}

/// True when `line` is a `peer down` line for `peer` (short id).
fn is_peer_down(line: &str, peer: &str) -> bool {
    line.contains(&format!("peer down: {peer}"))
}

/// The kept lines `process` wrote after its first `mark` lines.
fn lines_since(process: &Process, mark: usize) -> Vec<String> {
    let mut lines = Vec::new();
    // One look (the deadline is now) that collects instead of matching.
    process.wait_for_log_since(mark, Instant::now(), |line| {
        lines.push(line.to_string());
        false
    });
    lines
}

/// Waits until `process` logged, after `mark`, lines matching each of
/// `steps` in that order; returns them, or panics naming the step missing.
fn wait_for_sequence(
    process: &Process,
    mark: usize,
    steps: &[&dyn Fn(&str) -> bool],
    deadline: Instant,
) -> Vec<String> {
    loop {
        let lines = lines_since(process, mark);
        let mut found = Vec::new();
        let mut rest = lines.iter();
        for step in steps {
            match rest.find(|l| step(l)) {
                Some(line) => found.push(line.clone()),
                None => break,
            }
        }
        if found.len() == steps.len() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "step {} of {} not logged in time; got {found:?}",
            found.len() + 1,
            steps.len()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// A man in the middle
// ---------------------------------------------------------------------------

/// The proxy tampers with the first chunk at least this long: only the
/// 4 KiB item X makes one (membership messages and the harness's sync items
/// are a few hundred bytes at most, one chunk per write batch).
const TAMPER_MIN: usize = 2048;

/// A flips one bit of the chunk that carries item X to B (through a proxy B
/// bootstraps through): B's reader fails to open it and drops the
/// connection, so the tampered bytes are never delivered. The nodes connect
/// again; the new link starts with a digest of A's cache, so B pulls X and
/// gets it intact, exactly once, and a later item Y arrives too.
#[test]
fn a_flipped_bit_drops_the_connection_and_only_the_intact_item_is_delivered() {
    let a = Node::start("A", &NodeConfig::new().degree(1));
    let proxy = Proxy::start(a.p2p_addr(), Some(TAMPER_MIN));
    let b = Node::start("B", &NodeConfig::new().degree(1).bootstrapper(proxy.addr()));
    let (a_id, b_id) = (short_id(&a), short_id(&b));
    a.wait_for_log(after(DEADLINE), |l| is_peer_up(l, &b_id))
        .expect("A: peer up B");
    b.wait_for_log(after(DEADLINE), |l| is_peer_up(l, &a_id))
        .expect("B: peer up A");
    let net = Network::from_nodes(vec![a, b]);
    let mut subscriber = net.client(1, &[T]);
    net.sync(&mut [&mut subscriber]);
    let (mark_a, mark_b) = (net.nodes[0].log_mark(), net.nodes[1].log_mark());
    let x = [unique("X"), vec![b'x'; 4096]].concat();
    net.client(0, &[]).announce(0, T, &x);

    let down = net.nodes[1]
        .wait_for_log_since(mark_b, after(DEADLINE), |l| is_peer_down(l, &a_id))
        .expect("B drops the tampered connection");
    assert!(down.contains("a chunk failed authentication"), "{down}");
    let report = wait_for_tampered_close(&proxy, after(DEADLINE));
    assert_eq!(proxy.reports().iter().filter(|r| r.tampered).count(), 1);
    net.nodes[0]
        .wait_for_log_since(mark_a, after(DEADLINE), |l| is_peer_down(l, &b_id))
        .expect("A sees the connection end");

    let y = unique("Y");
    net.client(0, &[]).announce(0, T, &y);
    let mut got = subscriber.until_marker(&y, after(RECONNECT));
    if !got.iter().any(|note| note.data == x) {
        // X comes by catch-up on the new link, after Y or before it.
        got.extend(subscriber.recv_notification(after(DEADLINE)));
    }
    // A tampered copy would have X's length (a bit flipped, not cut).
    let copies = got.iter().filter(|note| note.data.len() == x.len()).count();
    let intact = got.iter().filter(|note| note.data == x).count();
    assert_eq!(
        (copies, intact),
        (1, 1),
        "X must arrive once, intact: {:?}",
        summary(&got)
    );
    println!("tampered connection: {report:?}");
}

/// Waits until the proxy's tampered connection ended in both directions.
fn wait_for_tampered_close(proxy: &Proxy, deadline: Instant) -> common::ConnReport {
    loop {
        let reports = proxy.reports();
        if let Some(report) = reports.iter().find(|r| r.tampered && r.closed()) {
            return report.clone();
        }
        assert!(
            Instant::now() < deadline,
            "tampered connection not closed on both sides: {reports:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Private networks
// ---------------------------------------------------------------------------

/// A private network (key K1) of A and C; B has key K2 and bootstraps
/// through A. A refuses B's handshake (the Noise psk does not match), and
/// says it may be the network key; neither logs B as a peer, and items
/// from A reach C but not B.
///
/// The refusal is on A's side: with XXpsk0 the first handshake message is
/// B's, and A fails to decrypt it; B only sees A close the connection. Both
/// are logged at `debug`, hence the [`VerboseNode`]s.
#[test]
fn a_host_with_another_network_key_cannot_join() {
    let keyed = |key: &str| NodeConfig::new().key("network_key", key);
    let a = VerboseNode::start("A", &keyed(K1), None, HANDSHAKE_LOG);
    let b_config = keyed(K2).bootstrapper(a.p2p_addr());
    let b = VerboseNode::start("B", &b_config, None, HANDSHAKE_LOG);
    let c_config = keyed(K1).bootstrapper(a.p2p_addr());
    let c = VerboseNode::start("C", &c_config, None, HANDSHAKE_LOG);
    let mut on_b = Client::connect(b.api_addr());
    on_b.notify(T);
    let mut on_c = Client::connect(c.api_addr());
    on_c.notify(T);

    let refusal = a
        .wait_for_log_since(0, after(DEADLINE), |l| l.contains("handshake failed"))
        .expect("A refuses B's handshake");
    assert!(refusal.contains("network key"), "{refusal}");
    let dial = format!("dial {} failed", a.p2p_addr());
    b.wait_for_log_since(0, after(DEADLINE), |l| l.contains(&dial))
        .expect("B's dial of A fails");

    // Positive control: the same key connects and delivers.
    let sent = announce_until_received(&a, &mut on_c, after(DEADLINE));
    // Absence can only be watched for a while. C, one hop from A like B,
    // already got an item; B gets 2 s more, far beyond a hop on loopback.
    match on_b.recv(after(Duration::from_secs(2))) {
        Recv::Timeout => {}
        other => panic!(
            "B, outside the network, got {other:?} ({} sent)",
            sent.len()
        ),
    }
    let b_up: Vec<String> = b
        .lines_since(0)
        .into_iter()
        .filter(|l| l.contains("peer up"))
        .collect();
    assert!(b_up.is_empty(), "B logged {b_up:?}");
    let b_id = b.short_id();
    assert!(
        a.lines_since(0).iter().all(|l| !is_peer_up(l, b_id)),
        "A took B as a peer"
    );
    a.wait_for_log_since(0, after(DEADLINE), |l| is_peer_up(l, c.short_id()))
        .expect("A: peer up C");
}

/// Announces a fresh item at `node` every 300 ms until `client` gets one of
/// them; returns every item announced. Panics at the deadline.
fn announce_until_received(
    node: &VerboseNode,
    client: &mut Client,
    deadline: Instant,
) -> Vec<Vec<u8>> {
    let mut source = Client::connect(node.api_addr());
    let mut sent = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "none of {} items arrived",
            sent.len()
        );
        let item = unique("private");
        source.announce(0, T, &item);
        sent.push(item);
        if let Recv::Note(note) = client.recv(after(Duration::from_millis(300)).min(deadline)) {
            assert!(sent.contains(&note.data), "unexpected {note:?}");
            return sent;
        }
    }
}

// ---------------------------------------------------------------------------
// Bans
// ---------------------------------------------------------------------------

/// B's module calls every item from A invalid. After the tenth within the
/// 60 s window B bans A (logged with the reason and the ban time), the
/// connection drops, and when A dials B again B refuses it: A's handshake
/// completes (A logs `peer up` and at once `peer down`), but B never takes
/// A back and counts the refusal (`refused_banned` in its `stats:` line).
#[test]
fn a_peer_whose_items_keep_being_invalidated_is_banned_and_refused() {
    let a = Node::start("A", &NodeConfig::new().degree(1));
    let b_config = NodeConfig::new()
        .degree(1)
        .bootstrapper(a.p2p_addr())
        .key("ban_time_s", 600);
    let b = Node::start("B", &b_config);
    let (a_id, b_id) = (short_id(&a), short_id(&b));
    let mut net = Network::from_nodes(vec![a, b]);
    net.wait_connected(DEADLINE);
    let mut judge = net.client(1, &[T]);
    net.sync(&mut [&mut judge]);
    let (mark_a, mark_b) = (net.nodes[0].log_mark(), net.nodes[1].log_mark());
    let mut source = net.client(0, &[]);
    for _ in 0..12 {
        source.announce(0, T, &unique("bad"));
    }

    let ban = judge_until_ban(&mut judge, &net.nodes[1], mark_b);
    for part in [
        format!("banned peer {a_id}"),
        "for 600 s".to_string(),
        "sent 10 items local clients judged invalid within 60 s".to_string(),
    ] {
        assert!(ban.contains(&part), "{ban:?} lacks {part:?}");
    }
    // A is dropped, dials B again (after its back-off), gets through the
    // handshake and is disconnected at once.
    let up = |l: &str| is_peer_up(l, &b_id);
    let down = |l: &str| is_peer_down(l, &b_id);
    let steps: [&dyn Fn(&str) -> bool; 3] = [&down, &up, &down];
    let retry = wait_for_sequence(&net.nodes[0], mark_a, &steps, after(RECONNECT));
    assert!(retry[1].contains("(outbound)"), "A dialed B: {retry:?}");
    let taken_back: Vec<String> = lines_since(&net.nodes[1], mark_b)
        .into_iter()
        .filter(|l| is_peer_up(l, &a_id))
        .collect();
    assert!(taken_back.is_empty(), "B took A back: {taken_back:?}");

    let stats = stop_and_read_stats(&mut net.nodes[1]);
    assert_eq!(stat(&stats, "peers_banned"), 1, "{stats}");
    assert!(stat(&stats, "refused_banned") >= 1, "{stats}");
}

/// Answers every notification `client` gets (type T) as invalid until
/// `node` logs, after `mark`, a ban; returns that line.
fn judge_until_ban(client: &mut Client, node: &Node, mark: usize) -> String {
    let deadline = after(DEADLINE);
    let mut judged = 0;
    loop {
        let now = Instant::now();
        if let Some(line) = node.wait_for_log_since(mark, now, |l| l.contains("banned peer")) {
            return line;
        }
        assert!(now < deadline, "no ban after {judged} invalid verdicts");
        match client.recv(after(Duration::from_millis(50))) {
            Recv::Note(note) => {
                client.validate(note.msg_id, false);
                judged += 1;
            }
            Recv::Timeout => {}
            Recv::Closed => panic!("B closed the judge's connection"),
        }
    }
}

/// Sends SIGTERM, waits for the exit and returns the `stats:` line.
fn stop_and_read_stats(node: &mut Node) -> String {
    node.signal("TERM");
    await_stats(node)
}

/// Waits for a node that was sent SIGTERM to exit; returns its `stats:` line.
fn await_stats(node: &mut Node) -> String {
    node.wait_exit(after(DEADLINE))
        .expect("exits after SIGTERM");
    node.wait_output_closed(after(Duration::from_secs(5)));
    node.logs()
        .into_iter()
        .find(|l| l.contains("stats: "))
        .expect("a stats line at shutdown")
}

/// The value of `key=N` in a `stats:` line.
fn stat(line: &str, key: &str) -> u64 {
    let prefix = format!("{key}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .expect("a number")
}

// ---------------------------------------------------------------------------
// Flooding
// ---------------------------------------------------------------------------

/// How long the flood lasts.
const FLOOD_TIME: Duration = Duration::from_secs(3);
/// Most items the flood sends.
const FLOOD_MAX: u64 = 200_000;
/// Items per write of the flooding client.
const FLOOD_BATCH: u64 = 100;
/// Items the honest client announces.
const HONEST_ITEMS: usize = 50;
/// Time between two of them (20 items/s).
const HONEST_INTERVAL: Duration = Duration::from_millis(50);

/// While a client on node 0 announces 64-byte items as fast as node 0 takes
/// them, a client on node 3 announces 50 items at 20 per second; every
/// subscriber on nodes 0, 1 and 2 gets each of the 50 exactly once. The
/// flood's items are of a type nobody subscribes to, so every node relays
/// them without waiting for a verdict: the most load one client can cause.
#[test]
fn a_flooding_client_does_not_keep_other_items_from_anybody() {
    let net = Network::start(4, 3, Shape::Star);
    let mut clients: Vec<Client> = (0..3).map(|i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    let mut subscribers = Subscribers::spawn(clients, true);

    let (started_tx, started_rx) = mpsc::channel();
    let flood = flood(net.nodes[0].api_addr(), started_tx);
    started_rx.recv_timeout(DEADLINE).expect("the flood starts");
    let sent = announce_paced(&net, 3);
    let last_sent = Instant::now();
    let (flooded, flood_time) = flood.join().expect("flood thread");

    let all_arrived = subscribers.wait_until(after(Duration::from_secs(60)), |received| {
        received
            .iter()
            .all(|notes| sent.iter().all(|d| notes.iter().any(|n| n.data == *d)))
    });
    let took = last_sent.elapsed();
    for (i, notes) in subscribers.received().iter().enumerate() {
        check_exactly_once(i, notes, &sent);
    }
    assert!(all_arrived, "not every item arrived");
    println!(
        "flood: {flooded} items of 64 B in {:.2} s = {:.0} items/s into node 0; \
         {HONEST_ITEMS} items from node 3 at all 3 subscribers {:.2} s after the last was announced",
        flood_time.as_secs_f64(),
        flooded as f64 / flood_time.as_secs_f64(),
        took.as_secs_f64()
    );
    // Node 0 only relays its client's items: nobody may take it for a
    // flooding peer and cut it off.
    for node in &net.nodes {
        let bans: Vec<String> = node
            .logs()
            .into_iter()
            .filter(|l| l.contains("banned peer"))
            .collect();
        assert!(bans.is_empty(), "{bans:?}");
    }
    print_received(net);
}

/// Stops every node and prints how many new items each received from its
/// peers (the `received` count of its `stats:` line): the flood's reach.
fn print_received(mut net: Network) {
    for node in &net.nodes {
        node.signal("TERM");
    }
    let received: Vec<u64> = net
        .nodes
        .iter_mut()
        .map(|node| stat(&await_stats(node), "received"))
        .collect();
    println!("items received from peers by nodes 0..3 (flood included): {received:?}");
}

/// Starts a thread that announces 64-byte items of type F at `api`, in
/// writes of [`FLOOD_BATCH`], as fast as the node reads them, for
/// [`FLOOD_TIME`] or [`FLOOD_MAX`] items; it signals `started` after its
/// first write and returns the items written and the time taken.
fn flood(api: SocketAddr, started: mpsc::Sender<()>) -> thread::JoinHandle<(u64, Duration)> {
    thread::spawn(move || {
        let mut client = Client::connect(api);
        // A node holding announcements back must not hold the thread forever.
        client
            .stream_handle()
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("write timeout");
        let begin = Instant::now();
        let mut sent = 0;
        let mut batch = Vec::new();
        while sent < FLOOD_MAX && begin.elapsed() < FLOOD_TIME {
            batch.clear();
            for n in sent..sent + FLOOD_BATCH {
                let mut data = [b'f'; 64];
                data[..8].copy_from_slice(&n.to_be_bytes());
                batch.extend_from_slice(&announce_msg(0, F, &data));
            }
            if client.send_raw(&batch).is_err() {
                break;
            }
            sent += FLOOD_BATCH;
            let _ = started.send(());
        }
        (sent, begin.elapsed())
    })
}

/// Announces [`HONEST_ITEMS`] items of type T at node `i`, one every
/// [`HONEST_INTERVAL`] on a fixed schedule; returns their data.
fn announce_paced(net: &Network, i: usize) -> Vec<Vec<u8>> {
    let mut source = net.client(i, &[]);
    let begin = Instant::now();
    (0..HONEST_ITEMS)
        .map(|n| {
            let due = begin + HONEST_INTERVAL * n as u32;
            thread::sleep(due.saturating_duration_since(Instant::now()));
            let data = unique("honest");
            source.announce(0, T, &data);
            data
        })
        .collect()
}

/// Asserts that subscriber `i` got each of `sent` exactly once.
fn check_exactly_once(i: usize, notes: &[Notification], sent: &[Vec<u8>]) {
    for data in sent {
        let copies = notes.iter().filter(|n| n.data == *data).count();
        assert_eq!(
            copies,
            1,
            "subscriber {i}: {copies} copies of {:?}; it got {} items",
            String::from_utf8_lossy(data),
            notes.len()
        );
    }
}

// ---------------------------------------------------------------------------
// Identity files
// ---------------------------------------------------------------------------

/// An RSA private key as `openssl genpkey -algorithm RSA -pkeyopt
/// rsa_keygen_bits:512` writes it (PKCS#8). Made for this test only, public
/// knowledge, never to be used.
const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA29XFRLnrWyrAxETC
W0oBEdp4mA0TmaYt469qJFatzPpLR+wyoohXWsS8skZrP+B3wOGHqhShjnypWxfq
4WaGmQIDAQABAkA/KaaqXnjfEuOcAN2O+S5hgNIRbgBprzOULbxjgHwjXmZJYhMJ
srYu7+N51/mRGIWcR4jQkWRIrniopj8zUO0BAiEA/iVKX7R0jDC3rgbjAC1OS7eq
vMGD3TLidIoWvVBTdikCIQDdcGR54jnA3SCu71FtEfHDxrCsZi76VIy6jVCTpXc6
8QIgVoUNb814S+2d6oHvr7S8zewmFQJwSNK042XLXgHFmBkCIQCSHVNvSWMqa77h
L3DfM3P/5t81Isfkzl19yzlb81bVQQIhAIRmc41L5dUkOTS1wBf2qqt0pmqGmWFA
WcKF5nMIKEcJ
-----END PRIVATE KEY-----
";

/// The same key in the traditional PKCS#1 form (`openssl rsa -traditional`).
const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIBOwIBAAJBANvVxUS561sqwMREwltKARHaeJgNE5mmLeOvaiRWrcz6S0fsMqKI
V1rEvLJGaz/gd8Dhh6oUoY58qVsX6uFmhpkCAwEAAQJAPymmql543xLjnADdjvku
YYDSEW4Aaa8zlC28Y4B8I15mSWITCbK2Lu/jedf5kRiFnEeI0JFkSK54qKY/M1Dt
AQIhAP4lSl+0dIwwt64G4wAtTku3qrzBg90y4nSKFr1QU3YpAiEA3XBkeeI5wN0g
ru9RbRHxw8awrGYu+lSMuo1Qk6V3OvECIFaFDW/NeEvtneqB76+0vM3sJhUCcEjS
tONly14BxZgZAiEAkh1Tb0ljKmu+4S9w3zNz/+bfNSLH5M5dfcs5W/NW1UECIQCE
ZnONS+XVJDk0tcAX9qqrdKZqhplhQFnCheZzCChHCQ==
-----END RSA PRIVATE KEY-----
";

/// A key file made by `gossipd --generate-key`.
struct KeyFile {
    path: PathBuf,
    /// The full peer id it printed.
    peer_id: String,
    /// The bits of proof of work it printed.
    bits: u32,
}

/// `gossipd --generate-key DIR/NAME --pow-difficulty DIFFICULTY`.
fn generate_key(dir: &TempDir, name: &str, difficulty: u32) -> KeyFile {
    let path = dir.path().join(name);
    let difficulty = difficulty.to_string();
    let args = [
        "--generate-key",
        utf8(&path),
        "--pow-difficulty",
        &difficulty,
    ];
    let (code, lines) = run_to_exit(&args);
    assert_eq!(code, Some(0), "{lines:?}");
    let field = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
            .to_string()
    };
    let peer_id = field("stdout: peer id: ");
    let bits = field("stdout: proof of work: ");
    let bits = bits
        .split_whitespace()
        .next()
        .expect("bits")
        .parse()
        .expect("a number");
    assert_eq!(peer_id.len(), 64, "{lines:?}");
    KeyFile {
        path,
        peer_id,
        bits,
    }
}

/// A path as text (the temp dirs are UTF-8).
fn utf8(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Writes `text` to `DIR/NAME` readable by its owner only, as key files are
/// kept (gossipd warns about others).
fn write_private(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.path().join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .expect("temp dir is writable");
    file.write_all(text.as_bytes()).expect("write key file");
    path
}

/// The key file `gossipd --generate-key` writes becomes the node's identity:
/// a node with `hostkey = FILE` logs the peer id the command printed.
#[test]
fn a_generated_key_file_is_the_nodes_identity() {
    let dir = TempDir::new("keygen");
    let key = generate_key(&dir, "host.pem", 8);
    assert!(key.bits >= 8, "{} bits", key.bits);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key.path)
            .expect("key file exists")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let node = VerboseNode::start("keyed", &NodeConfig::new(), Some(&key.path), "info");
    assert_eq!(node.peer_id(), key.peer_id);
    let loaded = format!(
        "identity {} from {}",
        &key.peer_id[..16],
        key.path.display()
    );
    node.wait_for_log_since(0, after(DEADLINE), |l| l.contains(&loaded))
        .expect("the node says where its identity comes from");
}

/// Starts a node with `hostkey = KEY` (and `config`), which must exit 1 with
/// one line; returns that line.
fn refused_key(dir: &TempDir, key: &Path, config: &NodeConfig) -> String {
    let text = format!("hostkey = {}\n{}", key.display(), config.render());
    let name = key.file_name().expect("a file name").to_string_lossy();
    let path = dir.write(&format!("{name}.ini"), &text);
    let (code, lines) = run_to_exit(&["-c", utf8(&path)]);
    assert_eq!(code, Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    assert!(lines[0].contains(utf8(key)), "names the file: {lines:?}");
    lines[0].clone()
}

/// A missing file, a file that is not PEM, RSA keys (PKCS#8 and PKCS#1) and
/// a key whose proof of work is below `pow_difficulty`: the node does not
/// start (exit 1) and says in one line what is wrong and what to do.
#[test]
fn unusable_key_files_stop_the_node_with_one_line() {
    let dir = TempDir::new("bad-keys");
    let plain = NodeConfig::new();
    let missing = dir.path().join("missing.pem");
    let line = refused_key(&dir, &missing, &plain);
    assert!(line.contains("cannot read key file"), "{line}");

    let how = "create one with `gossipd --generate-key FILE`";
    let garbage = write_private(&dir, "garbage.pem", "not a key at all\n");
    let line = refused_key(&dir, &garbage, &plain);
    assert!(
        line.contains("is not a PEM file") && line.contains(how),
        "{line}"
    );
    for (name, text) in [("rsa8.pem", RSA_PKCS8), ("rsa1.pem", RSA_PKCS1)] {
        let rsa = write_private(&dir, name, text);
        let line = refused_key(&dir, &rsa, &plain);
        assert!(line.contains("RSA host keys are not supported"), "{line}");
        assert!(line.contains(how), "{line}");
    }

    let weak = generate_key(&dir, "weak.pem", 8);
    let required = weak.bits + 1;
    let line = refused_key(&dir, &weak.path, &plain.key("pow_difficulty", required));
    let expected = format!(
        "proof of work has {} bits but {required} are required",
        weak.bits
    );
    assert!(line.contains(&expected), "{line}");
    assert!(
        line.contains("--generate-key FILE --pow-difficulty"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------
// Proof of work at the handshake
// ---------------------------------------------------------------------------

/// A key file whose proof of work has fewer than `below` bits (made at 8
/// bits; a key with more by chance, 1 in 2^(below - 8), is made again).
fn weak_key(dir: &TempDir, below: u32) -> KeyFile {
    for n in 0..8 {
        let key = generate_key(dir, &format!("weak{n}.pem"), 8);
        if key.bits < below {
            return key;
        }
    }
    panic!("eight keys made at 8 bits all had {below} or more");
}

/// A requires 16 bits of proof of work; B's identity has fewer and
/// bootstraps through A. A refuses B at the handshake, saying how many
/// bits B showed, and never takes it as a peer.
#[test]
fn too_little_proof_of_work_is_refused_at_the_handshake() {
    let dir = TempDir::new("weak-pow");
    let key = weak_key(&dir, 16);
    let strict = NodeConfig::new().key("pow_difficulty", 16);
    let a = VerboseNode::start("A", &strict, None, HANDSHAKE_LOG);
    // NodeConfig adds `pow_difficulty = 8`, which B's key meets.
    let b_config = NodeConfig::new().bootstrapper(a.p2p_addr());
    let b = VerboseNode::start("B", &b_config, Some(&key.path), HANDSHAKE_LOG);
    assert_eq!(b.peer_id(), key.peer_id);

    let refusal = a
        .wait_for_log_since(0, after(DEADLINE), |l| {
            l.contains("failed to prove its identity")
        })
        .expect("A refuses B");
    let expected = format!("proof of work of {} bits, 16 required", key.bits);
    assert!(refusal.contains(&expected), "{refusal}");
    // A checks B's proof before it could report B as up, so by now a
    // `peer up` for this connection would be in A's log.
    let up: Vec<String> = a
        .lines_since(0)
        .into_iter()
        .filter(|l| l.contains("peer up"))
        .collect();
    assert!(up.is_empty(), "A took a peer: {up:?}");
}
