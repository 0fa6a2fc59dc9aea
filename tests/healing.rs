//! Peers that die are detected and the survivors repair their views without
//! an operator (SPEC §5): after nodes are killed (SIGKILL, no goodbye), items
//! again reach every surviving node.

mod common;

use common::{Network, Shape};
use std::time::{Duration, Instant};

/// How long the survivors may take to be connected again.
const HEAL: Duration = Duration::from_secs(30);

/// Kills the nodes at `victims` (indices into the current list, killed from
/// the highest down) and waits until probes from the new node 0 reach all
/// survivors; returns how long that took.
fn kill_and_heal(net: &mut Network, victims: &[usize]) -> Duration {
    let mut victims = victims.to_vec();
    victims.sort_unstable_by(|a, b| b.cmp(a));
    let killed: Vec<_> = victims.iter().map(|&i| net.nodes.remove(i)).collect();
    let start = Instant::now();
    drop(killed);
    net.wait_connected(HEAL);
    start.elapsed()
}

#[test]
fn a_random_network_heals_after_two_nodes_are_killed() {
    let mut net = Network::start(10, 3, Shape::Random(0x4ea1));
    let took = kill_and_heal(&mut net, &[3, 6]);
    eprintln!("healing: 8 survivors connected {took:?} after 2 of 10 were killed");
}

#[test]
fn a_star_network_heals_after_its_hub_is_killed() {
    let mut net = Network::start(8, 3, Shape::Star);
    let took = kill_and_heal(&mut net, &[0]);
    eprintln!("healing: 7 survivors connected {took:?} after the hub was killed");
}
