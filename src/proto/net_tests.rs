//! Many [`Core`]s in one process under simulated time: the seed of the
//! simulator.
//!
//! [`TestNet`] stands in for the node threads and the sockets. A queue of
//! timed inputs replaces the clock; every message and every dial takes one
//! fixed latency. A connection is a link that each end holds and closes on
//! its own, as with TCP: what an end sent before it closed still arrives,
//! what the other end sends after that is lost, and the other end learns of
//! the close one latency later. Every node has one local client that
//! subscribes to everything and calls every item valid after a short delay.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{
    Action, ClientId, Core, DataType, Event, ItemId, Message, MsgId, PeerId, ProtoConfig, Stats,
    Ttl,
};

/// Index of a node in a [`TestNet`].
type NodeIx = usize;

/// The one local client of every node.
const CLIENT: ClientId = ClientId(1);

/// The data type every announced item has.
const DATA_TYPE: DataType = DataType(1);

/// An item handed to a node's client.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Delivery {
    item: ItemId,
    data: Arc<[u8]>,
    /// Simulated time since the start of the run.
    at: Duration,
}

/// Something due at one node at one simulated time.
#[derive(Debug)]
enum Input {
    /// An event for the core, as is.
    Core(Event),
    /// This node's dial of `addr` completes (or fails).
    Dial {
        addr: SocketAddr,
        high_priority: bool,
    },
    /// `from` sent `msg` over link `link`.
    Message {
        from: NodeIx,
        link: u64,
        msg: Message,
    },
    /// `from` closed its end of link `link`.
    Closed { from: NodeIx, link: u64 },
    /// The timer set for this instant fires (stale unless it is the newest).
    Timer(Instant),
}

/// One simulated host.
struct Node {
    core: Core<StdRng>,
    addr: SocketAddr,
    alive: bool,
    /// The newest timer scheduled; the queue's older timers are stale.
    timer: Option<Instant>,
    deliveries: Vec<Delivery>,
    /// Ban actions it emitted.
    bans: usize,
}

/// A network of cores under simulated time. See the module docs.
struct TestNet {
    config: ProtoConfig,
    latency: Duration,
    verdict_delay: Duration,
    rng: StdRng,
    start: Instant,
    now: Instant,
    nodes: Vec<Node>,
    by_addr: BTreeMap<SocketAddr, NodeIx>,
    /// `(a, b)` → the id of the link node `a` holds open to node `b`.
    links: BTreeMap<(NodeIx, NodeIx), u64>,
    next_link: u64,
    /// Inputs by (due time, sequence number): equal times keep their order.
    queue: BTreeMap<(Instant, u64), (NodeIx, Input)>,
    next_seq: u64,
}

/// The identity of node `ix`.
fn peer_of(ix: NodeIx) -> PeerId {
    PeerId::from_u64(ix as u64 + 1)
}

/// The node whose identity is `peer`.
fn ix_of(peer: &PeerId) -> NodeIx {
    let mut n = [0u8; 8];
    n.copy_from_slice(&peer.0[24..]);
    u64::from_be_bytes(n) as usize - 1
}

/// The P2P address of node `ix`: 10.0.x.y:7000 with x.y = ix + 1.
fn addr_of(ix: NodeIx) -> SocketAddr {
    let [.., hi, lo] = (ix as u32 + 1).to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, 0, hi, lo), 7000))
}

impl TestNet {
    /// An empty network whose nodes use `config` (its bootstrapper is set
    /// per node) and whose randomness all derives from `seed`.
    fn new(config: ProtoConfig, seed: u64) -> TestNet {
        // Tests need some base instant; only offsets from it matter.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        TestNet {
            config,
            latency: Duration::from_millis(1),
            verdict_delay: Duration::from_millis(1),
            rng: StdRng::seed_from_u64(seed),
            start,
            now: start,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            links: BTreeMap::new(),
            next_link: 0,
            queue: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Starts a node now, joining through node `bootstrap` if given.
    fn add_node(&mut self, bootstrap: Option<NodeIx>) -> NodeIx {
        let ix = self.nodes.len();
        let addr = addr_of(ix);
        let mut config = self.config.clone();
        config.bootstrapper = bootstrap.map(addr_of);
        let rng = StdRng::seed_from_u64(self.rng.random());
        let core = Core::new(config, peer_of(ix), addr, rng, self.now);
        self.nodes.push(Node {
            core,
            addr,
            alive: true,
            timer: None,
            deliveries: Vec::new(),
            bans: 0,
        });
        self.by_addr.insert(addr, ix);
        self.execute(ix);
        ix
    }

    /// Stops a node at once: its links close, dials to it fail.
    fn kill(&mut self, node: NodeIx) {
        self.nodes[node].alive = false;
        let range = (node, 0)..(node + 1, 0);
        let ends: Vec<NodeIx> = self.links.range(range).map(|(&(_, b), _)| b).collect();
        for other in ends {
            self.close(node, other);
        }
    }

    /// Has `node`'s client announce `data` with `ttl`, now.
    fn announce(&mut self, node: NodeIx, ttl: Ttl, data: &[u8]) {
        let event = Event::Announce {
            ttl,
            data_type: DATA_TYPE,
            data: Arc::from(data),
        };
        self.handle(node, event);
    }

    /// Runs every input due up to `t` after the start.
    fn run_until(&mut self, t: Duration) {
        let end = self.start + t;
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > end {
                break;
            }
            let ((at, _), (node, input)) = entry.remove_entry();
            self.now = at;
            self.dispatch(node, input);
        }
        self.now = self.now.max(end);
    }

    /// Runs for `d` from now.
    fn run_for(&mut self, d: Duration) {
        self.run_until(self.elapsed() + d);
    }

    /// Simulated time since the start.
    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Number of nodes ever added.
    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// A live node chosen by the network's seeded randomness.
    fn random_live_node(&mut self) -> NodeIx {
        let live: Vec<NodeIx> = (0..self.len()).filter(|&n| self.is_alive(n)).collect();
        live[self.rng.random_range(0..live.len())]
    }

    /// True while `node` runs.
    fn is_alive(&self, node: NodeIx) -> bool {
        self.nodes[node].alive
    }

    /// `node`'s neighbours, as its core sees them.
    fn neighbours(&self, node: NodeIx) -> Vec<NodeIx> {
        self.nodes[node]
            .core
            .neighbours()
            .map(|(p, _)| ix_of(p))
            .collect()
    }

    /// What `node`'s client received, in order.
    fn deliveries(&self, node: NodeIx) -> &[Delivery] {
        &self.nodes[node].deliveries
    }

    /// `node`'s counters.
    fn stats(&self, node: NodeIx) -> &Stats {
        self.nodes[node].core.stats()
    }

    /// How many Ban actions `node` emitted.
    fn bans(&self, node: NodeIx) -> usize {
        self.nodes[node].bans
    }

    fn push(&mut self, at: Instant, node: NodeIx, input: Input) {
        self.queue.insert((at, self.next_seq), (node, input));
        self.next_seq += 1;
    }

    fn dispatch(&mut self, node: NodeIx, input: Input) {
        if !self.nodes[node].alive {
            return;
        }
        match input {
            Input::Core(event) => self.handle(node, event),
            Input::Dial {
                addr,
                high_priority,
            } => self.on_dial(node, addr, high_priority),
            Input::Message { from, link, msg } => {
                if self.links.get(&(node, from)) == Some(&link) {
                    let from = peer_of(from);
                    self.handle(node, Event::Received { from, msg });
                }
            }
            Input::Closed { from, link } => {
                if self.links.get(&(node, from)) == Some(&link) {
                    self.links.remove(&(node, from));
                    self.handle(
                        node,
                        Event::PeerDown {
                            peer: peer_of(from),
                        },
                    );
                }
            }
            Input::Timer(at) => {
                if self.nodes[node].timer == Some(at) {
                    self.nodes[node].timer = None;
                    self.nodes[node].core.handle_timeout(self.now);
                    self.execute(node);
                }
            }
        }
    }

    fn handle(&mut self, node: NodeIx, event: Event) {
        self.nodes[node].core.handle(event, self.now);
        self.execute(node);
    }

    /// Carries out every queued action of `node`, then sets its timer.
    fn execute(&mut self, node: NodeIx) {
        while let Some(action) = self.nodes[node].core.poll_action() {
            match action {
                Action::Send { to, msg } => self.send(node, ix_of(&to), msg),
                Action::Connect {
                    addr,
                    high_priority,
                } => {
                    let dial = Input::Dial {
                        addr,
                        high_priority,
                    };
                    self.push(self.now + self.latency, node, dial);
                }
                Action::Disconnect(peer) => self.close(node, ix_of(&peer)),
                Action::Deliver {
                    item, msg_id, data, ..
                } => self.deliver(node, item, msg_id, data),
                Action::Ban { .. } => self.nodes[node].bans += 1,
                Action::DropClient { client } => {
                    panic!("node {node}: fake client {client:?} dropped as too slow")
                }
            }
        }
        let due = self.nodes[node].core.poll_timeout().max(self.now);
        if self.nodes[node].timer != Some(due) {
            self.nodes[node].timer = Some(due);
            self.push(due, node, Input::Timer(due));
        }
    }

    /// A dial reaches its target: a link with PeerUp at both ends, or a
    /// DialFailed when no live node listens there.
    fn on_dial(&mut self, node: NodeIx, addr: SocketAddr, high_priority: bool) {
        let target = self.by_addr.get(&addr).copied();
        let Some(other) = target.filter(|&t| t != node && self.nodes[t].alive) else {
            self.handle(node, Event::DialFailed { addr });
            return;
        };
        let current = self.links.get(&(node, other));
        if current.is_none() || current != self.links.get(&(other, node)) {
            self.links.insert((node, other), self.next_link);
            self.links.insert((other, node), self.next_link);
            self.next_link += 1;
        }
        let dialer_up = Event::PeerUp {
            peer: peer_of(other),
            addr: self.nodes[other].addr,
            dialed: Some(addr),
            high_priority: false,
        };
        let accepter_up = Event::PeerUp {
            peer: peer_of(node),
            addr: self.nodes[node].addr,
            dialed: None,
            high_priority,
        };
        self.handle(node, dialer_up);
        self.handle(other, accepter_up);
    }

    fn send(&mut self, from: NodeIx, to: NodeIx, msg: Message) {
        if let Some(&link) = self.links.get(&(from, to)) {
            self.push(
                self.now + self.latency,
                to,
                Input::Message { from, link, msg },
            );
        }
    }

    fn close(&mut self, from: NodeIx, to: NodeIx) {
        if let Some(link) = self.links.remove(&(from, to)) {
            self.push(self.now + self.latency, to, Input::Closed { from, link });
        }
    }

    /// The client gets the item; its verdict (valid) follows shortly.
    fn deliver(&mut self, node: NodeIx, item: ItemId, msg_id: MsgId, data: Arc<[u8]>) {
        let at = self.elapsed();
        self.nodes[node]
            .deliveries
            .push(Delivery { item, data, at });
        let notified = Event::Notified {
            item,
            clients: vec![CLIENT],
        };
        self.nodes[node].core.handle(notified, self.now);
        let verdict = Event::Validation {
            client: CLIENT,
            msg_id,
            valid: true,
        };
        self.push(self.now + self.verdict_delay, node, Input::Core(verdict));
    }
}

const DEGREE: usize = 4;
const NODES: usize = 50;

/// The settings of every test network: degree 4, room for 200 items.
fn config() -> ProtoConfig {
    ProtoConfig::new(DEGREE, 200)
}

/// How the nodes of a test network join.
#[derive(Clone, Copy)]
enum Join {
    /// All at time 0, all through node 0.
    AtOnceThroughNodeZero,
    /// 20 ms apart, all through node 0.
    InTurnThroughNodeZero,
    /// 20 ms apart, each through a random earlier node.
    InTurnThroughRandomNodes,
}

/// 50 nodes that joined as `join` says, run until 10 s after the first.
fn joined(seed: u64, join: Join) -> TestNet {
    let mut net = TestNet::new(config(), seed);
    net.add_node(None);
    for _ in 1..NODES {
        let bootstrap = match join {
            Join::AtOnceThroughNodeZero => 0,
            Join::InTurnThroughNodeZero => {
                net.run_for(Duration::from_millis(20));
                0
            }
            Join::InTurnThroughRandomNodes => {
                net.run_for(Duration::from_millis(20));
                net.random_live_node()
            }
        };
        net.add_node(Some(bootstrap));
    }
    net.run_until(Duration::from_secs(10));
    net
}

/// Checks the overlay of the live nodes: everyone has 1..=degree
/// neighbours, links are symmetric, and the graph is connected.
fn check_overlay(net: &TestNet) {
    let live: Vec<NodeIx> = (0..net.len()).filter(|&n| net.is_alive(n)).collect();
    for &n in &live {
        let ns = net.neighbours(n);
        assert!(!ns.is_empty(), "node {n} is isolated");
        assert!(ns.len() <= DEGREE, "node {n} has {} neighbours", ns.len());
        for m in ns {
            assert!(net.is_alive(m), "node {n} keeps dead node {m}");
            assert!(net.neighbours(m).contains(&n), "{n} → {m} is one-way");
        }
    }
    let mut reached = vec![false; net.len()];
    let mut todo = VecDeque::from([live[0]]);
    reached[live[0]] = true;
    while let Some(n) = todo.pop_front() {
        for m in net.neighbours(n) {
            if !std::mem::replace(&mut reached[m], true) {
                todo.push_back(m);
            }
        }
    }
    let cut_off: Vec<NodeIx> = live.iter().copied().filter(|&n| !reached[n]).collect();
    assert!(
        cut_off.is_empty(),
        "not reachable from {}: {cut_off:?}",
        live[0]
    );
}

/// Checks that every live node's client got each of `items` (by data)
/// exactly once, except the node that announced it.
fn check_each_delivered_once(net: &TestNet, items: &[(NodeIx, Vec<u8>)]) {
    for n in (0..net.len()).filter(|&n| net.is_alive(n)) {
        let got = net.deliveries(n);
        for (origin, data) in items {
            let copies = got.iter().filter(|d| *d.data == data[..]).count();
            let expected = usize::from(*origin != n);
            let name = String::from_utf8_lossy(data);
            assert_eq!(copies, expected, "node {n}, {name} from node {origin}");
        }
        assert_eq!(net.bans(n), 0);
        assert_eq!(net.stats(n).dropped_over_rate, 0);
    }
}

/// Announces `count` items at random live nodes, 10 ms apart, then lets them
/// spread for 2 s; returns (origin, data) of each.
fn announce_items(net: &mut TestNet, count: usize) -> Vec<(NodeIx, Vec<u8>)> {
    let mut items = Vec::new();
    for i in 0..count {
        let origin = net.random_live_node();
        let data = format!("item {i} at {:?}", net.elapsed()).into_bytes();
        net.announce(origin, Ttl(0), &data);
        items.push((origin, data));
        net.run_for(Duration::from_millis(10));
    }
    net.run_for(Duration::from_secs(2));
    items
}

#[test]
fn fifty_nodes_joining_through_one_form_a_connected_symmetric_overlay() {
    for seed in 0..3 {
        check_overlay(&joined(seed, Join::InTurnThroughNodeZero));
    }
}

#[test]
fn fifty_nodes_joining_through_random_nodes_form_a_connected_symmetric_overlay() {
    for seed in 0..3 {
        check_overlay(&joined(seed, Join::InTurnThroughRandomNodes));
    }
}

#[test]
fn fifty_nodes_joining_through_one_at_once_leave_no_one_isolated() {
    for seed in 0..60 {
        check_overlay(&joined(seed, Join::AtOnceThroughNodeZero));
    }
}

#[test]
fn one_item_reaches_every_other_node_once() {
    let mut net = joined(1, Join::InTurnThroughRandomNodes);
    let items = announce_items(&mut net, 1);
    check_each_delivered_once(&net, &items);
}

#[test]
fn a_hundred_items_reach_every_node_once() {
    let mut net = joined(2, Join::InTurnThroughNodeZero);
    let items = announce_items(&mut net, 100);
    check_each_delivered_once(&net, &items);
}

#[test]
fn the_overlay_heals_after_a_node_dies() {
    let mut net = joined(3, Join::InTurnThroughRandomNodes);
    net.kill(0);
    net.run_for(Duration::from_secs(10));
    check_overlay(&net);
    let items = announce_items(&mut net, 5);
    check_each_delivered_once(&net, &items);
}

#[test]
fn an_item_announced_before_the_first_neighbour_still_spreads() {
    let mut net = joined(4, Join::InTurnThroughRandomNodes);
    let late = net.add_node(Some(0));
    let data = b"announced while joining".to_vec();
    net.announce(late, Ttl(0), &data);
    net.run_for(Duration::from_secs(10));
    check_each_delivered_once(&net, &[(late, data)]);
}

/// Everything observable about a run: neighbours, deliveries, counters.
fn outcome(net: &TestNet) -> Vec<(Vec<NodeIx>, Vec<Delivery>, Stats)> {
    (0..net.len())
        .map(|n| {
            let deliveries = net.deliveries(n).to_vec();
            (net.neighbours(n), deliveries, net.stats(n).clone())
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut net = joined(seed, Join::InTurnThroughRandomNodes);
        announce_items(&mut net, 10);
        outcome(&net)
    };
    let first = run(5);
    assert_eq!(first, run(5));
    assert_ne!(first, run(6), "the seed matters");
}
