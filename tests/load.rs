//! Load: many items, from one node or from all at once, through a network
//! without loss or duplicates; and a client that stops reading, which must
//! not grow gossipd's memory, stall the other clients or hold back spreading
//! (SPEC §4 "Bad input", §5).

mod common;

use common::{Client, Network, Node, NodeConfig, Notification, Shape, Subscribers, after, unique};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The data type the tests announce.
const T: u16 = 4711;

/// Data of item `seq`: the sequence number, then `len - 4` bytes derived
/// from it, so every item is distinct and checkable.
fn payload(seq: usize, len: usize) -> Vec<u8> {
    let mut data = (seq as u32).to_be_bytes().to_vec();
    data.extend((0..len - 4).map(|i| (seq.wrapping_mul(31) + i) as u8));
    data
}

/// Asserts that each subscriber got items 0..items of length `len` exactly
/// once each, byte-exact, and the marker, and nothing else.
fn assert_each_once(received: &[Vec<Notification>], items: usize, len: usize, marker: &[u8]) {
    for (i, notes) in received.iter().enumerate() {
        let mut seen = vec![0usize; items];
        for note in notes.iter().filter(|n| n.data != marker) {
            assert_eq!(note.data_type, T, "subscriber {i}: wrong type");
            let seq = u32::from_be_bytes(note.data[..4].try_into().expect("4 bytes")) as usize;
            assert!(seq < items, "subscriber {i}: unknown item {seq}");
            assert!(
                note.data == payload(seq, len),
                "subscriber {i}: item {seq} altered"
            );
            seen[seq] += 1;
        }
        let lost: Vec<usize> = (0..items).filter(|&s| seen[s] == 0).collect();
        let doubled: Vec<usize> = (0..items).filter(|&s| seen[s] > 1).collect();
        assert!(
            lost.is_empty(),
            "subscriber {i} lost {} items, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(10)]
        );
        assert!(
            doubled.is_empty(),
            "subscriber {i} got duplicates of {doubled:?}"
        );
    }
}

/// Synced clients of nodes `on`, subscribed to `T`, read by threads that
/// validate every item.
fn subscribers(net: &Network, on: &[usize]) -> Subscribers {
    let mut clients: Vec<Client> = on.iter().map(|&i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    Subscribers::spawn(clients, true)
}

/// Announces items 0..items of `len` bytes at node 0 as fast as gossip takes
/// them, then waits until every subscriber has as many; returns the time
/// from the first announce.
fn flood(net: &Network, subs: &mut Subscribers, items: usize, len: usize) -> Duration {
    let mut source = net.client(0, &[]);
    let start = Instant::now();
    for seq in 0..items {
        source.announce(0, T, &payload(seq, len));
    }
    let announced = start.elapsed();
    let done = subs.wait_until(after(Duration::from_secs(60)), |received| {
        received.iter().all(|notes| notes.len() >= items)
    });
    let took = start.elapsed();
    let counts: Vec<usize> = subs.received().iter().map(Vec::len).collect();
    eprintln!("{items} items of {len} bytes: announced in {announced:?}, delivered in {took:?}");
    assert!(done, "not all delivered after {took:?}: counts {counts:?}");
    let marker = unique("marker");
    source.announce(0, T, &marker);
    assert!(
        subs.wait_all_got(&marker, after(Duration::from_secs(10))),
        "marker lost"
    );
    assert_each_once(subs.received(), items, len, &marker);
    took
}

/// Asserts that subscriber `node` got each item of the other nodes' sources
/// (`per_node` items each, item `node * per_node + k` from node `node`)
/// exactly once, byte-exact, and none of its own node's.
fn assert_all_but_own(received: &[Vec<Notification>], per_node: usize, len: usize, marker: &[u8]) {
    for (node, notes) in received.iter().enumerate() {
        let mut seen = vec![0usize; received.len() * per_node];
        for note in notes.iter().filter(|n| n.data != marker) {
            let seq = u32::from_be_bytes(note.data[..4].try_into().expect("4 bytes")) as usize;
            assert!(
                note.data == payload(seq, len),
                "node{node}: item {seq} altered"
            );
            seen[seq] += 1;
        }
        let wrong: Vec<usize> = (0..seen.len())
            .filter(|&seq| seen[seq] != usize::from(seq / per_node != node))
            .collect();
        assert!(
            wrong.is_empty(),
            "node{node}: lost, echoed or doubled items {wrong:?}"
        );
    }
}

#[test]
fn items_announced_at_every_node_at_once_reach_all_others() {
    const NODES: usize = 10;
    const PER_NODE: usize = 100;
    let net = Network::start(NODES, 3, Shape::Random(0xa11));
    let mut subs = subscribers(&net, &(0..NODES).collect::<Vec<_>>());
    let start = Instant::now();
    thread::scope(|scope| {
        for node in 0..NODES {
            let mut source = net.client(node, &[]);
            scope.spawn(move || {
                for k in 0..PER_NODE {
                    source.announce(0, T, &payload(node * PER_NODE + k, 200));
                }
            });
        }
    });
    let expected = (NODES - 1) * PER_NODE;
    let done = subs.wait_until(after(Duration::from_secs(60)), |received| {
        received.iter().all(|notes| notes.len() >= expected)
    });
    let counts: Vec<usize> = subs.received().iter().map(Vec::len).collect();
    eprintln!(
        "{NODES} sources x {PER_NODE} items: delivered in {:?}",
        start.elapsed()
    );
    assert!(done, "not all delivered: counts {counts:?}");
    let marker = unique("marker");
    let mut source = net.client(0, &[]);
    source.announce(0, T, &marker);
    let marked = subs.wait_until(after(Duration::from_secs(10)), |received| {
        received[1..]
            .iter()
            .all(|notes| notes.iter().any(|n| n.data == marker))
    });
    assert!(marked, "marker lost");
    assert_all_but_own(subs.received(), PER_NODE, 200, &marker);
}

#[test]
fn twenty_nodes_deliver_1000_items_without_loss_or_duplicates() {
    let net = Network::start(20, 4, Shape::Random(0x10ad));
    let mut subs = subscribers(&net, &(1..20).collect::<Vec<_>>());
    let took = flood(&net, &mut subs, 1000, 300);
    eprintln!("load: 1000 items reached 19 subscribers in {took:?}");
}

#[test]
fn twenty_nodes_with_plumtree_deliver_1000_items_without_loss_or_duplicates() {
    let config = NodeConfig::new().degree(4).key("dissemination", "plumtree");
    let net = Network::start_with(20, &config, Shape::Random(0x7eee));
    let mut subs = subscribers(&net, &(1..20).collect::<Vec<_>>());
    let took = flood(&net, &mut subs, 1000, 300);
    eprintln!("load (plumtree): 1000 items reached 19 subscribers in {took:?}");
}

/// Samples a process's RSS every 20 ms on a thread until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, usize)>,
}

impl RssSampler {
    /// Starts sampling the process `pid`.
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                max = max.max(common::process::rss_kib(pid).unwrap_or(0));
                samples += 1;
                thread::sleep(Duration::from_millis(20));
            }
            (max, samples)
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling; returns the highest RSS seen (KiB) and the sample count.
    fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread")
    }
}

/// Items announced in the slow-client test, and their size.
const SLOW_ITEMS: usize = 2000;
const SLOW_LEN: usize = 32 * 1024;
/// The bound on B's RSS while a client of B does not read.
const RSS_LIMIT_KIB: u64 = 64 * 1024;

/// A (degree 2), B (degree 2, via A, client_queue 64, cache_size 100) and
/// C (degree 2, via A), connected.
fn slow_client_network() -> Network {
    let a = Node::start("A", &NodeConfig::new().degree(2));
    let b_config = NodeConfig::new()
        .degree(2)
        .bootstrapper(a.p2p_addr())
        .key("client_queue", 64)
        .key("cache_size", 100);
    let b = Node::start("B", &b_config);
    let c = Node::start("C", &NodeConfig::new().degree(2).bootstrapper(a.p2p_addr()));
    let net = Network::from_nodes(vec![a, b, c]);
    net.wait_connected(Duration::from_secs(15));
    net
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_memory_stays_bounded() {
    let net = slow_client_network();
    let b = &net.nodes[1];
    let mut slow = net.client(1, &[T]);
    net.sync(&mut [&mut slow]);
    let mut subs = subscribers(&net, &[1, 2]);
    let rss_start = b.rss_kib().unwrap_or(0);
    let sampler = RssSampler::start(b.pid());
    let took = flood(&net, &mut subs, SLOW_ITEMS, SLOW_LEN);
    let slow_line = b.wait_for_log(after(Duration::from_secs(10)), |line| {
        let line = line.to_lowercase();
        line.contains("slow") || line.contains("overflow")
    });
    let closed = slow.wait_closed(after(Duration::from_secs(20)));
    let (rss_max, samples) = sampler.finish();
    let rss_end = b.rss_kib().unwrap_or(0);
    eprintln!(
        "slow client: {SLOW_ITEMS} x {SLOW_LEN} B delivered in {took:?}; B RSS KiB: \
         start {rss_start}, max {rss_max} ({samples} samples), end {rss_end}; \
         limit {RSS_LIMIT_KIB}"
    );
    eprintln!("slow client: B logged {slow_line:?}");
    assert!(
        slow_line.is_some(),
        "B logged no line about the slow client"
    );
    assert!(closed, "B did not close the slow client's connection");
    assert!(rss_max < RSS_LIMIT_KIB, "B's RSS reached {rss_max} KiB");
    assert!(rss_end < RSS_LIMIT_KIB, "B's RSS ended at {rss_end} KiB");
}

#[test]
fn a_slow_client_does_not_hold_back_spreading() {
    let a = Node::start("A", &NodeConfig::new().degree(1));
    let b_config = NodeConfig::new()
        .degree(2)
        .bootstrapper(a.p2p_addr())
        .key("client_queue", 64)
        .key("validation_timeout_ms", 600_000);
    let b = Node::start("B", &b_config);
    let c = Node::start("C", &NodeConfig::new().degree(1).bootstrapper(b.p2p_addr()));
    let net = Network::from_nodes(vec![a, b, c]);
    net.wait_connected(Duration::from_secs(15));
    let mut slow = net.client(1, &[T]);
    net.sync(&mut [&mut slow]);
    // Everything C gets passes B, where `slow` never answers: only its
    // disconnect as too slow lets B spread the items it was notified of (B's
    // validation deadline is far away, so a slow machine cannot turn the
    // early items into expired ones).
    let mut subs = subscribers(&net, &[1, 2]);
    let took = flood(&net, &mut subs, 600, SLOW_LEN);
    eprintln!("slow client on the only path: 600 items reached C in {took:?}");
    assert!(
        slow.wait_closed(after(Duration::from_secs(20))),
        "slow client not cut off"
    );
}
