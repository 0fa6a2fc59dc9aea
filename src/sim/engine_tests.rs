//! The engine's behaviours on small networks: dials, kills, partitions,
//! loss, flow control, invariant checks and determinism.

use std::time::Duration;

use super::*;
use crate::proto::{Event, Ttl};

const MS: Duration = Duration::from_millis(1);
const LATENCY: Duration = Duration::from_millis(10);

/// Degree 4, every link 10 ms, verdicts after 1 ms.
fn config(seed: u64) -> SimConfig {
    SimConfig {
        latency: Latency::fixed(LATENCY),
        ..SimConfig::new(4, seed)
    }
}

/// `n` nodes, each joining 20 ms after the previous one through node 0,
/// run until 5 s.
fn star_joined(n: usize, config: SimConfig) -> Sim {
    let mut sim = Sim::new(config);
    sim.add_node(None);
    for _ in 1..n {
        sim.run_for(20 * MS);
        sim.add_node(Some(0));
    }
    sim.run_until(Duration::from_secs(5));
    sim
}

#[test]
fn two_nodes_become_neighbours_over_one_link() {
    let sim = star_joined(2, config(1));
    assert_eq!(sim.neighbours(0), vec![1]);
    assert_eq!(sim.neighbours(1), vec![0]);
    assert_eq!(sim.counters().links_opened, 1);
    assert_eq!(sim.open_links(), 1);
    assert_eq!(sim.check_invariants(), Ok(()));
}

#[test]
fn a_dial_to_a_dead_node_fails_after_a_round_trip() {
    let mut sim = Sim::new(config(2));
    sim.add_node(None);
    sim.kill(0);
    sim.add_node(Some(0));
    sim.run_until(2 * LATENCY - MS);
    assert_eq!(sim.counters().dials, 1);
    assert_eq!(sim.counters().dials_failed, 0);
    sim.run_until(2 * LATENCY);
    assert_eq!(sim.counters().dials_failed, 1);
    assert_eq!(sim.counters().links_opened, 0);
}

#[test]
fn killed_nodes_are_forgotten_one_latency_later() {
    let mut sim = star_joined(3, config(3));
    assert_eq!(sim.neighbours(0), vec![1, 2]);
    sim.kill(2);
    assert!(!sim.is_alive(2) && sim.neighbours(2).is_empty());
    sim.run_for(LATENCY - MS);
    assert_eq!(sim.neighbours(0), vec![1, 2], "not known yet");
    assert_eq!(sim.neighbours(1), vec![0, 2]);
    assert!(sim.check_invariants().is_ok(), "the close is in flight");
    sim.run_for(MS);
    assert_eq!(sim.neighbours(0), vec![1]);
    assert_eq!(sim.neighbours(1), vec![0]);
    assert_eq!(sim.check_invariants(), Ok(()));
}

#[test]
fn a_partition_breaks_the_links_across_until_repaired() {
    let mut sim = star_joined(2, config(4));
    sim.partition(&[1]);
    sim.run_for(LATENCY - MS);
    assert_eq!(sim.neighbours(0), vec![1], "not known yet");
    sim.run_for(MS);
    assert!(sim.neighbours(0).is_empty() && sim.neighbours(1).is_empty());
    assert_eq!(sim.counters().links_broken, 1);
    sim.run_for(Duration::from_secs(20));
    assert!(sim.neighbours(0).is_empty(), "still apart");
    assert!(sim.counters().dials_failed > 0, "they tried");
    sim.repair();
    sim.run_for(Duration::from_secs(20));
    assert_eq!(sim.neighbours(0), vec![1], "together again after repair");
    assert_eq!(sim.neighbours(1), vec![0]);
}

#[test]
fn a_dial_across_a_partition_fails_at_the_dial_timeout() {
    let mut sim = Sim::new(config(4));
    sim.add_node(None);
    sim.partition(&[0]);
    sim.run_for(Duration::from_secs(1));
    sim.add_node(Some(0));
    sim.run_until(Duration::from_secs(4) - MS);
    assert_eq!(sim.counters().dials, 1);
    assert_eq!(sim.counters().dials_failed, 0);
    sim.run_until(Duration::from_secs(4));
    assert_eq!(sim.counters().dials_failed, 1);
}

#[test]
fn a_lost_message_breaks_its_link() {
    let mut config = config(5);
    config.loss = 1.0;
    let mut sim = star_joined(2, config);
    assert!(sim.counters().lost >= 1);
    assert!(sim.counters().links_broken >= 1);
    assert_eq!(sim.counters().delivered, 0, "nothing gets through");
    sim.config.loss = 0.0;
    sim.run_for(Duration::from_secs(20));
    assert_eq!(sim.neighbours(0), vec![1], "without loss they reconnect");
}

#[test]
fn a_full_validation_window_holds_items_back() {
    let mut config = config(6);
    config.proto.max_pending = 2;
    config.verdict_delay = Duration::from_secs(1);
    let mut sim = star_joined(2, config);
    let items: Vec<ItemIx> = (0..5).filter_map(|_| sim.announce(0, Ttl(0))).collect();
    sim.run_for(Duration::from_millis(500));
    assert_eq!(sim.deliveries(1).len(), 2, "the window holds two");
    assert!(!sim.is_quiet());
    sim.run_for(Duration::from_secs(5));
    let got: Vec<ItemIx> = sim.deliveries(1).iter().map(|d| d.item).collect();
    assert_eq!(got, items, "all of them, in order");
    assert!(sim.is_quiet());
}

#[test]
fn a_node_listing_a_peer_without_a_link_breaks_the_invariants() {
    let mut sim = star_joined(2, config(7));
    let link = sim.links.current(0, 1).unwrap();
    sim.links.close_end(link, 0);
    let err = sim.check_invariants().unwrap_err();
    assert_eq!(err.violations, vec![Violation::NoLink { node: 0, peer: 1 }]);
    assert!(
        err.to_string().contains("node 0 lists 1 without a link"),
        "{err}"
    );
}

#[test]
fn a_one_way_link_breaks_the_invariants_once_settled() {
    let mut sim = star_joined(2, config(8));
    let now = sim.instant();
    let down = Event::PeerDown { peer: sim.peer(0) };
    sim.nodes[1].core.as_mut().unwrap().handle(down, now);
    let err = sim.check_invariants().unwrap_err();
    assert_eq!(err.violations, vec![Violation::OneWay { node: 0, peer: 1 }]);
    assert_eq!(err.total, 1);
}

#[test]
fn a_node_listing_a_peer_dead_unannounced_breaks_the_invariants() {
    let mut sim = star_joined(3, config(10));
    sim.live.remove(2);
    let err = sim.check_invariants().unwrap_err();
    let expected = [0, 1].map(|node| Violation::ListsDeadNode { node, peer: 2 });
    assert_eq!(err.violations, expected);
}

#[test]
fn periodic_checks_keep_the_first_violation() {
    let mut sim = star_joined(2, config(9));
    sim.set_checks(Some(Duration::from_millis(100)));
    sim.run_for(Duration::from_secs(1));
    assert!(sim.violation().is_none());
    let link = sim.links.current(1, 0).unwrap();
    sim.links.close_end(link, 1);
    sim.run_for(Duration::from_secs(1));
    let err = sim.violation().expect("found");
    assert_eq!(err.violations[0], Violation::NoLink { node: 1, peer: 0 });
}

/// Every node's neighbours and deliveries.
type Outcome = Vec<(Vec<NodeIx>, Vec<Delivery>)>;

/// Everything observable about a run.
fn outcome(sim: &Sim) -> Outcome {
    (0..sim.len())
        .map(|n| (sim.neighbours(n), sim.deliveries(n).to_vec()))
        .collect()
}

/// 60 nodes with random latencies and some loss, joining through random
/// nodes, 3 kills, 10 items.
fn busy_run(seed: u64) -> (Outcome, u64, u64) {
    let mut config = SimConfig::new(4, seed);
    config.loss = 0.001;
    let mut sim = Sim::new(config);
    for _ in 0..60 {
        sim.join();
        sim.run_for(5 * MS);
    }
    sim.run_for(Duration::from_secs(5));
    for _ in 0..3 {
        let victim = sim.random_live_node().unwrap();
        sim.kill(victim);
    }
    announce_batch(&mut sim, 10, 10 * MS);
    sim.run_for(Duration::from_secs(5));
    let c = sim.counters();
    (outcome(&sim), c.sent.total(), c.lost)
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let first = busy_run(11);
    assert_eq!(first, busy_run(11));
    assert_ne!(first, busy_run(12), "the seed matters");
}
