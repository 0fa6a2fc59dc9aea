//! [`Sim`]: the network of simulated nodes and what a scenario can do to it
//! (start, kill, partition, announce, run). How inputs are handled is in
//! `dispatch` and `actions`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::config::SimConfig;
use super::counters::Counters;
use super::ids::{ItemIx, NodeIx, addr_of, node_of, peer_of};
use super::input::{Input, Scheduled};
use super::invariants::InvariantError;
use super::links::Links;
use super::live::LiveSet;
use super::node::{Announced, Delivery, SimNode};
use super::queue::Queue;
use crate::proto::{ClientId, Core, DataType, Event, PeerId, ProtoConfig, Stats, Ttl};

/// The one local client of every node.
pub(super) const CLIENT: ClientId = ClientId(1);

/// The data type of every announced item (the client subscribes to all).
pub(super) const DATA_TYPE: DataType = DataType(1);

/// Many protocol cores in one process under simulated time. See the
/// [module docs](super).
pub struct Sim {
    pub(super) config: SimConfig,
    /// The engine's own randomness: latencies, loss, picks of live nodes,
    /// and the seed of every node's core.
    pub(super) rng: StdRng,
    /// The instant simulated time 0 maps to; only offsets from it matter.
    base: Instant,
    /// Simulated time since the start.
    pub(super) now: Duration,
    pub(super) nodes: Vec<SimNode>,
    pub(super) live: LiveSet,
    pub(super) links: Links,
    pub(super) queue: Queue<Scheduled>,
    pub(super) items: Vec<Announced>,
    pub(super) counters: Counters,
    /// Item messages queued or held, not yet handled or dropped.
    pub(super) items_in_flight: usize,
    /// Verdicts queued, not yet given.
    pub(super) verdicts_pending: usize,
    /// While a core handles an arriving Item message: its sender and the
    /// sender's hop count for the item (what a delivery then records).
    pub(super) receiving: Option<(NodeIx, Option<u32>)>,
    /// Invariants are checked every this often while running.
    checks: Option<Duration>,
    next_check: Duration,
    violation: Option<InvariantError>,
}

impl Sim {
    /// An empty network whose nodes will run `config.proto` (with their
    /// bootstrapper set per node).
    pub fn new(config: SimConfig) -> Sim {
        let rng = StdRng::seed_from_u64(config.seed);
        Sim {
            config,
            rng,
            // Some base instant is needed to talk to the cores; nothing is
            // ever decided by the clock, only by offsets from this.
            base: Instant::now(),
            now: Duration::ZERO,
            nodes: Vec::new(),
            live: LiveSet::default(),
            links: Links::default(),
            queue: Queue::default(),
            items: Vec::new(),
            counters: Counters::default(),
            items_in_flight: 0,
            verdicts_pending: 0,
            receiving: None,
            checks: None,
            next_check: Duration::ZERO,
            violation: None,
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The protocol settings every node runs.
    pub fn proto_config(&self) -> &ProtoConfig {
        &self.config.proto
    }

    /// Starts a node now, joining through `bootstrap` (none: the first node
    /// of a network). Returns its index.
    pub fn add_node(&mut self, bootstrap: Option<NodeIx>) -> NodeIx {
        let ix = self.nodes.len();
        let mut proto = self.config.proto.clone();
        proto.bootstrapper = bootstrap.map(addr_of);
        let rng = StdRng::seed_from_u64(self.rng.random());
        let core = Core::new(proto, peer_of(ix), addr_of(ix), rng, self.instant());
        self.nodes.push(SimNode::new(core, self.now));
        self.live.insert(ix);
        self.after_event(ix);
        ix
    }

    /// Starts a node now whose bootstrapper is a random live node (none when
    /// no node runs). Returns its index.
    pub fn join(&mut self) -> NodeIx {
        let bootstrap = self.random_live_node();
        self.add_node(bootstrap)
    }

    /// Stops `node` at once, as SIGKILL would: it says nothing more, its
    /// links break, and each peer learns of it one link latency later (its
    /// kernel resets the connections). Dials to it fail after a round trip.
    pub fn kill(&mut self, node: NodeIx) {
        if !self.live.remove(node) {
            return;
        }
        for link in self.links.open_ends(node).to_vec() {
            self.close_link_end(node, link);
        }
        let n = &mut self.nodes[node];
        let held_items = n.held.iter().filter(|i| i.carries_item()).count();
        self.items_in_flight -= held_items;
        n.core = None;
        n.timer = None;
        n.held.clear();
        n.deliveries = Vec::new();
    }

    /// Cuts `side` off from every other node: links across break (both
    /// ends learn one latency later), messages across are dropped, dials
    /// across go unanswered until [`SimConfig::dial_timeout`]. Replaces any
    /// earlier partition. Nodes started later are on the other side, with
    /// the nodes not in `side`.
    pub fn partition(&mut self, side: &[NodeIx]) {
        for n in &mut self.nodes {
            n.side = 0;
        }
        for &n in side {
            if let Some(node) = self.nodes.get_mut(n) {
                node.side = 1;
            }
        }
        for node in self.live.as_slice().to_vec() {
            for link in self.links.open_ends(node).to_vec() {
                let Some(l) = self.links.get(link) else {
                    continue;
                };
                if !self.reachable(node, l.other(node)) {
                    self.break_link(link);
                }
            }
        }
    }

    /// Lifts the partition: every node can reach every other again (links
    /// broken by it stay broken).
    pub fn repair(&mut self) {
        for n in &mut self.nodes {
            n.side = 0;
        }
    }

    /// True when `a` and `b` are on the same side of any partition (false
    /// for a node never started).
    pub fn reachable(&self, a: NodeIx, b: NodeIx) -> bool {
        match (self.nodes.get(a), self.nodes.get(b)) {
            (Some(a), Some(b)) => a.side == b.side,
            _ => false,
        }
    }

    /// Has `node`'s client announce a new item now (no hop limit when `ttl`
    /// is 0). Its data is the returned index, so deliveries name it. None
    /// when `node` does not run.
    pub fn announce(&mut self, node: NodeIx, ttl: Ttl) -> Option<ItemIx> {
        if !self.is_alive(node) {
            return None;
        }
        let ix = self.items.len();
        self.items.push(Announced {
            origin: node,
            at: self.now,
            copies: 0,
            first_copies: 0,
        });
        let data: Arc<[u8]> = Arc::from((ix as u64).to_be_bytes());
        let event = Event::Announce {
            ttl,
            data_type: DATA_TYPE,
            data,
        };
        self.handle(node, event);
        self.drain_held(node);
        Some(ix)
    }

    /// Checks the invariants every `every` of simulated time while running
    /// (None: never); the first violation is kept ([`Sim::violation`]).
    pub fn set_checks(&mut self, every: Option<Duration>) {
        self.checks = every;
        if let Some(every) = every {
            self.next_check = self.now + every;
        }
    }

    /// The first invariant violation a periodic check found.
    pub fn violation(&self) -> Option<&InvariantError> {
        self.violation.as_ref()
    }

    /// Runs every input due up to simulated time `t` (since the start),
    /// checking the invariants on the way if asked to.
    pub fn run_until(&mut self, t: Duration) {
        while let Some(every) = self.checks
            && self.next_check <= t
        {
            self.run_inputs(self.next_check);
            self.next_check += every;
            if self.violation.is_none()
                && let Err(e) = self.check_invariants()
            {
                self.violation = Some(e);
            }
        }
        self.run_inputs(t);
    }

    /// Runs for `d` of simulated time from now.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    fn run_inputs(&mut self, until: Duration) {
        while let Some((at, scheduled)) = self.queue.pop_due(until) {
            self.now = at;
            self.dispatch(scheduled);
        }
        self.now = self.now.max(until);
    }

    /// Simulated time since the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The instant a core sees for simulated time `now`.
    pub(super) fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// The simulated time of a core's instant (times before the start
    /// count as the start).
    pub(super) fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.base)
    }

    /// True when no item is in flight or held, no verdict is pending and no
    /// node has ids to announce or pull: dissemination has come to rest.
    pub fn is_quiet(&self) -> bool {
        self.items_in_flight == 0
            && self.verdicts_pending == 0
            && self
                .live_nodes()
                .iter()
                .all(|&n| self.core(n).is_none_or(|c| !c.tree_busy()))
    }

    /// True when no item is in flight or held and no verdict is pending;
    /// trees may still have ids to announce or pull (unlike
    /// [`Sim::is_quiet`]).
    pub fn is_settled(&self) -> bool {
        self.items_in_flight == 0 && self.verdicts_pending == 0
    }

    /// Inputs queued (timers included).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Number of nodes ever started.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node was ever started.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// True while `node` runs.
    pub fn is_alive(&self, node: NodeIx) -> bool {
        self.live.contains(node)
    }

    /// The running nodes, in no meaningful but a deterministic order.
    pub fn live_nodes(&self) -> &[NodeIx] {
        self.live.as_slice()
    }

    /// A running node picked by the engine's seeded randomness.
    pub fn random_live_node(&mut self) -> Option<NodeIx> {
        self.live.pick(&mut self.rng)
    }

    /// The engine's seeded randomness, for a scenario's own picks (they then
    /// belong to the same deterministic run).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// `node`'s core; None once it was killed.
    pub fn core(&self, node: NodeIx) -> Option<&Core<StdRng>> {
        self.nodes.get(node)?.core.as_ref()
    }

    /// `node`'s neighbours (its core's active view), in the core's order;
    /// empty for a node that does not run.
    pub fn neighbours(&self, node: NodeIx) -> Vec<NodeIx> {
        self.core(node).map_or_else(Vec::new, active_view)
    }

    /// `node`'s counters.
    pub fn stats(&self, node: NodeIx) -> Option<&Stats> {
        self.core(node).map(Core::stats)
    }

    /// What `node`'s client received, in order (nothing once it was killed).
    pub fn deliveries(&self, node: NodeIx) -> &[Delivery] {
        self.nodes.get(node).map_or(&[], |n| &n.deliveries)
    }

    /// Every item announced so far, by index.
    pub fn items(&self) -> &[Announced] {
        &self.items
    }

    /// `node`'s hop count for `item`: 0 at its origin, else the hops of
    /// the copy that first delivered it there; None when `node`'s client
    /// has not got it (or `node` was killed).
    pub fn hops(&self, node: NodeIx, item: ItemIx) -> Option<u32> {
        if self.items.get(item)?.origin == node {
            return Some(0);
        }
        // Newest first: a node forwards what it received last.
        let d = self
            .deliveries(node)
            .iter()
            .rev()
            .find(|d| d.item == item)?;
        d.hops
    }

    /// When `node` started.
    pub fn started(&self, node: NodeIx) -> Option<Duration> {
        self.nodes.get(node).map(|n| n.started)
    }

    /// What the network carried and lost so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Links with at least one end open.
    pub fn open_links(&self) -> usize {
        self.links.len()
    }

    /// The P2P address of `node`.
    pub fn addr(&self, node: NodeIx) -> SocketAddr {
        addr_of(node)
    }

    /// The identity of `node`.
    pub fn peer(&self, node: NodeIx) -> PeerId {
        peer_of(node)
    }

    /// Queues `input` for `node` at simulated time `at`.
    pub(super) fn push(&mut self, at: Duration, node: NodeIx, input: Input) {
        if input.carries_item() {
            self.items_in_flight += 1;
        }
        if matches!(input, Input::Verdict { .. }) {
            self.verdicts_pending += 1;
        }
        self.queue.push(at, Scheduled { node, input });
    }
}

/// A core's active view as node indices (ids the simulator never handed
/// out are skipped; there are none).
fn active_view(core: &Core<StdRng>) -> Vec<NodeIx> {
    core.neighbours().filter_map(|(p, _)| node_of(p)).collect()
}
