//! Many [`Core`](super::Core)s in one process under simulated time: small
//! networks run by the simulator ([`crate::sim`]), checked for the overlay
//! they form and for every item reaching every node once.
//!
//! Every link takes a fixed 1 ms; every node's client subscribes to
//! everything and calls every item valid after 1 ms.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sim::{ItemIx, Latency, NodeIx, Sim, SimConfig, announce_batch, metrics};

use super::{ProtoConfig, Stats, Ttl};

const DEGREE: usize = 4;
const NODES: usize = 50;

/// The settings of every test network: degree 4, room for 200 items, 1 ms
/// links, 1 ms verdicts.
fn config(seed: u64) -> SimConfig {
    SimConfig {
        proto: ProtoConfig::new(DEGREE, 200),
        latency: Latency::fixed(Duration::from_millis(1)),
        ..SimConfig::new(DEGREE, seed)
    }
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
fn joined(seed: u64, join: Join) -> Sim {
    let mut net = Sim::new(config(seed));
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
                net.random_live_node().expect("node 0 runs")
            }
        };
        net.add_node(Some(bootstrap));
    }
    net.run_until(Duration::from_secs(10));
    net
}

/// Checks the overlay of the live nodes: everyone has 1..=degree
/// neighbours, none of them dead, links are symmetric where nothing is in
/// flight (the simulator's invariants), and the graph is connected.
fn check_overlay(net: &Sim) {
    for &n in net.live_nodes() {
        assert!(!net.neighbours(n).is_empty(), "node {n} is isolated");
    }
    if let Err(e) = net.check_invariants() {
        panic!("{e}");
    }
    let components = metrics::components(&net.snapshot());
    assert_eq!(components.len(), 1, "components: {components:?}");
}

/// Checks that every live node's client got each of `items` exactly once,
/// except the node that announced it.
fn check_each_delivered_once(net: &Sim, items: &[ItemIx]) {
    for &n in net.live_nodes() {
        for &item in items {
            let copies = net.deliveries(n).iter().filter(|d| d.item == item).count();
            let origin = net.items()[item].origin;
            let expected = usize::from(origin != n);
            assert_eq!(copies, expected, "node {n}, item {item} from node {origin}");
        }
        assert_eq!(net.stats(n).map(|s| s.dropped_over_rate), Some(0));
    }
    assert_eq!(net.counters().bans, 0);
}

/// Announces `count` items at random live nodes, 10 ms apart, then lets them
/// spread for 2 s.
fn announce_items(net: &mut Sim, count: usize) -> Vec<ItemIx> {
    let items = announce_batch(net, count, Duration::from_millis(10));
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
    let item = net.announce(late, Ttl(0)).expect("it runs");
    net.run_for(Duration::from_secs(10));
    check_each_delivered_once(&net, &[item]);
}

/// What one node ended with: neighbours, (item, time) deliveries, counters.
type NodeOutcome = (Vec<NodeIx>, Vec<(ItemIx, Duration)>, Stats);

/// Everything observable about a run.
fn outcome(net: &Sim) -> BTreeMap<NodeIx, NodeOutcome> {
    (0..net.len())
        .map(|n| {
            let deliveries = net.deliveries(n).iter().map(|d| (d.item, d.at)).collect();
            let stats = net.stats(n).cloned().unwrap_or_default();
            (n, (net.neighbours(n), deliveries, stats))
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
