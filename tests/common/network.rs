//! Networks of nodes on loopback, and the probes that tell when they are
//! connected and when clients' subscriptions are in effect.

use super::client::{Client, Recv};
use super::process::{Node, NodeConfig};
use super::subscribers::Subscribers;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Data type of the connectivity probes; tests use other types.
pub const PROBE_TYPE: u16 = 65000;
/// Data type of the subscription sync items; tests use other types.
pub const SYNC_TYPE: u16 = 65001;
/// How often a new probe is announced while waiting for connectivity.
const PROBE_INTERVAL: Duration = Duration::from_millis(300);
/// How often a new sync item is announced while syncing subscriptions.
const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Data that no other item of this test process has: `TAG-PID-N`.
pub fn unique(tag: &str) -> Vec<u8> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}", std::process::id()).into_bytes()
}

/// `timeout` from now.
pub fn after(timeout: Duration) -> Instant {
    Instant::now() + timeout
}

/// Which earlier node each new node bootstraps through.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Always node 0.
    Star,
    /// A pseudo-random earlier node, from this seed.
    Random(u64),
}

/// Nodes on loopback; dropping it kills them all.
pub struct Network {
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
}

impl Network {
    /// Starts `n` nodes of this degree, node 0 without bootstrapper, and waits
    /// until an item from node 0 reaches all of them.
    pub fn start(n: usize, degree: usize, shape: Shape) -> Network {
        Network::start_with(n, &NodeConfig::new().degree(degree), shape)
    }

    /// Like `start`, every node with `config` plus its bootstrapper.
    pub fn start_with(n: usize, config: &NodeConfig, shape: Shape) -> Network {
        let mut rng = match shape {
            Shape::Star => 0,
            Shape::Random(seed) => seed | 1,
        };
        let mut nodes: Vec<Node> = Vec::with_capacity(n);
        for i in 0..n {
            let mut config = config.clone();
            if i > 0 {
                let via = match shape {
                    Shape::Star => 0,
                    Shape::Random(_) => (xorshift(&mut rng) % i as u64) as usize,
                };
                config = config.bootstrapper(nodes[via].p2p_addr());
            }
            nodes.push(Node::start(&format!("node{i}"), &config));
        }
        let network = Network { nodes };
        network.wait_connected(connect_timeout(n));
        network
    }

    /// A network of nodes started by the caller (not yet known connected).
    pub fn from_nodes(nodes: Vec<Node>) -> Network {
        Network { nodes }
    }

    /// A new client of node `i`, subscribed to `types`.
    pub fn client(&self, i: usize, types: &[u16]) -> Client {
        let mut client = Client::connect(self.nodes[i].api_addr());
        for &data_type in types {
            client.notify(data_type);
        }
        client
    }

    /// Announces a fresh probe at node 0 every 300 ms until one probe reached
    /// a subscriber on every other node; panics at the deadline.
    pub fn wait_connected(&self, timeout: Duration) {
        let n = self.nodes.len();
        if n < 2 {
            return;
        }
        let clients = (1..n).map(|i| self.client(i, &[PROBE_TYPE])).collect();
        let mut probes = Subscribers::spawn(clients, true);
        let mut source = self.client(0, &[]);
        let deadline = after(timeout);
        let mut sent: Vec<Vec<u8>> = Vec::new();
        while Instant::now() < deadline {
            let probe = unique("probe");
            source.announce(0, PROBE_TYPE, &probe);
            sent.push(probe);
            let round_end = after(PROBE_INTERVAL).min(deadline);
            let reached = probes.wait_until(round_end, |received| {
                sent.iter().any(|probe| {
                    received
                        .iter()
                        .all(|notes| notes.iter().any(|note| note.data == *probe))
                })
            });
            if reached {
                return;
            }
        }
        let got: Vec<usize> = probes.received().iter().map(Vec::len).collect();
        panic!(
            "network of {n} not connected after {timeout:?}: {} probes from node0, \
             probes received by node1.. = {got:?}",
            sent.len()
        );
    }

    /// Makes sure the subscriptions the `clients` sent are in effect: each
    /// client also subscribes to a sync type (after its other NOTIFYs, on the
    /// same connection) and waits for a sync item, announced in turn at every
    /// node. Later sync items are skipped by the clients' `recv`.
    pub fn sync(&self, clients: &mut [&mut Client]) {
        for client in clients.iter_mut() {
            client.notify(SYNC_TYPE);
        }
        let mut sources: Vec<Client> = (0..self.nodes.len()).map(|i| self.client(i, &[])).collect();
        let mut synced = vec![false; clients.len()];
        let deadline = after(Duration::from_secs(10));
        for round in 0.. {
            if synced.iter().all(|&s| s) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "subscriptions not in effect: synced = {synced:?}"
            );
            let n = sources.len();
            sources[round % n].announce(0, SYNC_TYPE, &unique("sync"));
            let round_end = after(SYNC_INTERVAL);
            while Instant::now() < round_end && !synced.iter().all(|&s| s) {
                for (client, done) in clients.iter_mut().zip(synced.iter_mut()) {
                    *done = *done || poll_sync(client, after(Duration::from_millis(2)));
                }
            }
        }
        for client in clients.iter_mut() {
            client.ignore(SYNC_TYPE);
        }
    }
}

/// Reads `client` until a sync item arrives (validated; true) or the deadline
/// (false). Other notifications are kept for the client's later `recv`.
fn poll_sync(client: &mut Client, deadline: Instant) -> bool {
    let mut others = Vec::new();
    let found = loop {
        match client.recv_any(deadline) {
            Recv::Note(note) if note.data_type == SYNC_TYPE => {
                client.validate(note.msg_id, true);
                break true;
            }
            Recv::Note(note) => others.push(note),
            Recv::Timeout => break false,
            Recv::Closed => panic!("gossip closed a client while syncing subscriptions"),
        }
    };
    for note in others {
        client.push_back(note);
    }
    found
}

/// A generous deadline for `n` nodes to form a connected network.
fn connect_timeout(n: usize) -> Duration {
    Duration::from_secs(10 + n as u64)
}

/// A tiny deterministic PRNG (xorshift64), so shapes are reproducible.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
