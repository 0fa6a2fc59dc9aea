//! Small scenarios end to end: 200 nodes join through random nodes, half
//! of them fail at once, the rest heal and deliver every item again (the
//! invariants checked every 100 ms); and 60 nodes through joins, a failure
//! of a third and new joins with the invariants checked at every simulated
//! millisecond.

use std::time::Duration;

use super::*;

const NODES: usize = 200;
const DEGREE: usize = 8;

#[test]
fn two_hundred_nodes_join_lose_half_and_heal() {
    let mut sim = Sim::new(SimConfig::new(DEGREE, 42));
    sim.set_checks(Some(Duration::from_millis(100)));
    for _ in 0..NODES {
        sim.join();
        sim.run_for(Duration::from_millis(10));
    }
    sim.run_for(shuffle_round(sim.proto_config()));
    let joined = Metrics::of(&sim.snapshot(), sim.rng());
    assert_eq!(joined.live, NODES);
    assert_eq!(joined.components, vec![NODES], "one component after joins");
    assert_eq!(joined.isolated, 0);
    assert!(joined.out_degree.max() <= DEGREE);

    let before = announce_batch(&mut sim, 10, Duration::from_millis(10));
    run_until_quiet(&mut sim, Duration::from_secs(30), None).expect("quiet");
    assert_eq!(reliability(&sim, &before).share(), 1.0);

    let mut live = sim.live_nodes().to_vec();
    live.sort_unstable();
    let (failed_at, before) = (sim.now(), full_degree_share(&sim));
    for &n in live.iter().filter(|n| *n % 2 == 0) {
        sim.kill(n);
    }
    let mut watch = HealingWatch::new(failed_at, before);
    let healing = watch.run(&mut sim, Duration::from_secs(120));
    let connected = healing.connected.expect("one component again");
    assert!(connected < Duration::from_secs(60), "{healing:?}");
    assert!(healing.degree_restored.is_some(), "{healing:?}");

    let after = announce_batch(&mut sim, 10, Duration::from_millis(10));
    run_until_quiet(&mut sim, Duration::from_secs(30), None).expect("quiet");
    let r = reliability(&sim, &after);
    assert_eq!(r.pairs, 10 * NODES / 2);
    assert_eq!((r.share(), r.duplicates), (1.0, 0), "{r:?}");
    if let Some(v) = sim.violation() {
        panic!("{v}");
    }
}

#[test]
fn invariants_hold_at_every_simulated_millisecond_through_joins_failures_and_rejoins() {
    let mut sim = Sim::new(SimConfig::new(4, 7));
    sim.set_checks(Some(Duration::from_millis(1)));
    for _ in 0..60 {
        sim.join();
        sim.run_for(Duration::from_millis(5));
    }
    // A shuffle round, so that passive views hold more than the first
    // few addresses (a host whose every known address dies cannot rejoin).
    sim.run_for(shuffle_round(sim.proto_config()) + Duration::from_secs(5));
    let mut live = sim.live_nodes().to_vec();
    live.sort_unstable();
    for &n in live.iter().filter(|n| *n % 3 == 0) {
        sim.kill(n);
    }
    sim.run_for(Duration::from_secs(5));
    for _ in 0..10 {
        sim.join();
        sim.run_for(Duration::from_millis(50));
    }
    sim.run_for(Duration::from_secs(6));
    if let Some(v) = sim.violation() {
        panic!("{v}");
    }
    let m = Metrics::of(&sim.snapshot(), sim.rng());
    assert_eq!(m.components.len(), 1, "{:?}", m.components);
    assert_eq!(m.isolated, 0);
}
