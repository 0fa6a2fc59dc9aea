//! The engine's bookkeeping of deliveries: who sent the copy that first
//! delivered an item, how many hops it had crossed, and how many copies of
//! each item were received (payload RMR).

use std::collections::VecDeque;
use std::time::Duration;

use super::*;
use crate::proto::{Dissemination, Ttl};

const MS: Duration = Duration::from_millis(1);
const LATENCY: Duration = Duration::from_millis(10);

/// Degree `degree`, every link 10 ms, verdicts after 1 ms, in `mode`.
fn config(degree: usize, seed: u64, mode: Dissemination) -> SimConfig {
    let mut c = SimConfig {
        latency: Latency::fixed(LATENCY),
        ..SimConfig::new(degree, seed)
    };
    c.proto.tree.mode = mode;
    c
}

/// `n` nodes joining 5 ms apart through random nodes, then 5 s to settle.
fn joined(n: usize, config: SimConfig) -> Sim {
    let mut sim = Sim::new(config);
    for _ in 0..n {
        sim.join();
        sim.run_for(5 * MS);
    }
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.check_invariants(), Ok(()));
    sim
}

/// Hops from `origin` to every node over the overlay (None: unreachable).
fn distances(sim: &Sim, origin: NodeIx) -> Vec<Option<u32>> {
    let g = sim.snapshot();
    let adj = g.undirected();
    let mut dist = vec![None; sim.len()];
    let start = (0..g.len()).find(|&p| g.node(p) == origin).unwrap();
    let mut pos_dist = vec![u32::MAX; g.len()];
    pos_dist[start] = 0;
    let mut todo = VecDeque::from([start]);
    while let Some(p) = todo.pop_front() {
        dist[g.node(p)] = Some(pos_dist[p]);
        for &q in &adj[p] {
            if pos_dist[q as usize] == u32::MAX {
                pos_dist[q as usize] = pos_dist[p] + 1;
                todo.push_back(q as usize);
            }
        }
    }
    dist
}

#[test]
fn with_equal_latencies_a_flooded_item_takes_the_shortest_path_everywhere() {
    let mut sim = joined(40, config(3, 21, Dissemination::Flood));
    let origin = sim.live_nodes()[7];
    let dist = distances(&sim, origin);
    let item = sim.announce(origin, Ttl(0)).unwrap();
    let at = sim.items()[item].at;
    run_until_quiet(&mut sim, Duration::from_secs(5), None).expect("quiet");
    assert_eq!(sim.hops(origin, item), Some(0));
    assert!(sim.deliveries(origin).is_empty(), "the origin's own client");
    let mut deepest = 0;
    for &n in sim.live_nodes().iter().filter(|&&n| n != origin) {
        let d = sim.deliveries(n)[0];
        let hops = d.hops.expect("known");
        // The first copy crossed the fewest links: each costs the same
        // 10 ms, plus 1 ms for the verdict at every relay.
        assert_eq!(Some(hops), dist[n], "node {n}");
        assert_eq!(d.at - at, hops * LATENCY + (hops - 1) * MS, "node {n}");
        let from = d.from.expect("a peer sent it");
        assert!(sim.neighbours(n).contains(&from), "node {n} from {from}");
        assert_eq!(sim.hops(from, item), Some(hops - 1), "node {n} from {from}");
        deepest = deepest.max(hops);
    }
    assert!(deepest >= 3, "a network of degree 3 has depth: {deepest}");
    let h = hops(&sim, &[item]);
    assert_eq!(h.last, vec![Some(deepest)]);
    assert_eq!((h.last_max(), h.unknown), (Some(deepest), 0));
    assert_eq!(h.deliveries, 39);
    let total: u32 = (sim.live_nodes().iter()).filter_map(|&n| dist[n]).sum();
    assert_eq!(h.total, u64::from(total));
    assert_eq!(h.mean(), Some(f64::from(total) / 39.0));
}

#[test]
fn every_first_delivery_is_one_hop_beyond_its_sender_under_plumtree_and_failures() {
    let mut config = config(4, 22, Dissemination::Plumtree);
    config.latency = Latency {
        min: 10 * MS,
        max: 50 * MS,
    };
    let mut sim = joined(80, config);
    let mut items = announce_batch(&mut sim, 5, 20 * MS);
    // Kill some nodes while the next items spread: copies they sent are
    // still in flight and must keep their hop counts.
    for _ in 0..8 {
        let victim = sim.random_live_node().unwrap();
        sim.kill(victim);
    }
    items.extend(announce_batch(&mut sim, 5, 20 * MS));
    run_until_quiet(&mut sim, Duration::from_secs(10), None).expect("quiet");
    let announced = sim.items().to_vec();
    for &n in sim.live_nodes() {
        for d in sim.deliveries(n) {
            let from = d.from.expect("a peer sent it");
            let hops = d.hops.expect("known");
            assert!(hops >= 1);
            if from == announced[d.item].origin {
                assert_eq!(hops, 1);
            } else if sim.is_alive(from) {
                assert_eq!(sim.hops(from, d.item), Some(hops - 1));
            }
        }
    }
    let h = hops(&sim, &items);
    assert_eq!(h.unknown, 0);
    assert_eq!(h.deliveries as usize + items.len(), {
        let r = reliability(&sim, &items);
        assert_eq!(r.share(), 1.0, "{r:?}");
        // Origins that survived deliver nothing to themselves.
        r.delivered
            + (items.iter())
                .filter(|&&i| !sim.is_alive(announced[i].origin))
                .count()
    });
    let mean = h.mean().unwrap();
    assert!(
        mean >= 1.0 && mean <= f64::from(h.last_max().unwrap()),
        "{h:?}"
    );
}

#[test]
fn copies_count_every_payload_received_and_plumtree_prunes_them() {
    // Five nodes of degree 4: everyone is everyone's neighbour.
    for (mode, second_rmr) in [(Dissemination::Flood, 3.0), (Dissemination::Plumtree, 0.0)] {
        let mut sim = joined(5, config(4, 23, mode));
        for n in 0..5 {
            assert_eq!(sim.neighbours(n).len(), 4, "{mode:?}");
        }
        let first = sim.announce(0, Ttl(0)).unwrap();
        sim.run_for(Duration::from_secs(1));
        let second = sim.announce(0, Ttl(0)).unwrap();
        run_until_quiet(&mut sim, Duration::from_secs(5), None).expect("quiet");
        // The first item: each of the 4 others gets it from the origin, then
        // from the 3 others (who do not send it back to the origin).
        let a = sim.items()[first];
        assert_eq!(
            (a.copies, a.first_copies, a.rmr()),
            (16, 4, 3.0),
            "{mode:?}"
        );
        // The second: flooding again; Plumtree pruned all but the origin's links.
        assert_eq!(sim.items()[second].rmr(), second_rmr, "{mode:?}");
        assert_eq!(copies(&sim, &[first, second]).1, 8, "{mode:?}");
        let h = hops(&sim, &[first, second]);
        assert_eq!(h.last, vec![Some(1), Some(1)], "{mode:?}");
    }
}

#[test]
fn hop_summaries_skip_items_nobody_got() {
    let h = Hops {
        last: vec![Some(4), None, Some(7)],
        deliveries: 10,
        total: 35,
        unknown: 0,
    };
    assert_eq!(h.last_max(), Some(7));
    assert_eq!(h.last_mean(), Some(5.5));
    assert_eq!(h.mean(), Some(3.5));
    let none = Hops::default();
    assert_eq!(
        (none.last_max(), none.last_mean(), none.mean()),
        (None, None, None)
    );
}
