//! `partition`: after the joins and rounds, two random halves cannot reach
//! each other for `--duration` rounds, then the partition is repaired; the
//! components during and after, and the healing time after the repair.

use std::time::Instant;

use gossipd::sim::{HealingWatch, NodeIx, full_degree_share};
use rand::seq::SliceRandom;

use crate::fail::secs;
use crate::network::Net;
use crate::options::Opts;
use crate::report::{Report, healing_table, metrics_table, reliability_table, traffic_table};

/// Runs the scenario.
pub fn run(opts: &Opts, wall_start: Instant) -> Result<Report, String> {
    let mut net = Net::new(opts, wall_start);
    net.join_all(opts.nodes);
    net.run_rounds(opts.rounds, |_, _| {});
    let mut snaps = vec![net.snapshot("before the partition")];
    let mut live: Vec<NodeIx> = net.sim.live_nodes().to_vec();
    live.shuffle(net.sim.rng());
    let half = &live[..live.len() / 2];
    let (cut_at, before) = (net.sim.now(), full_degree_share(&net.sim));
    net.sim.partition(half);
    net.progress(&format!(
        "partitioned: {} | {}",
        half.len(),
        live.len() - half.len()
    ));
    let during = net.delivery("during the partition", None);
    net.sim.run_until(cut_at + net.round() * opts.duration);
    snaps.push(net.snapshot("end of the partition"));
    net.sim.repair();
    let mut watch = HealingWatch::new(net.sim.now(), before);
    net.heal(&mut watch);
    let healing = watch.result();
    snaps.push(net.snapshot("after repair"));
    let after = net.delivery("after repair", None);
    net.check()?;
    let mut report = Report::new();
    report.tables.push(metrics_table(
        &format!(
            "Overlay before, during and after a partition into halves for {} rounds",
            opts.duration
        ),
        &snaps,
    ));
    report.tables.push(
        healing_table("Healing after the repair", &[("repair".into(), healing)])
            .note("counted from the repair, not from the cut"),
    );
    report.tables.push(
        reliability_table("Delivery", &[during.clone(), after.clone()])
            .note("during the partition an item can reach only its own half"),
    );
    report
        .tables
        .push(traffic_table("Traffic", net.sim.counters()));
    report.summary.push(format!(
        "during: {} component(s); after repair: one component after {}",
        snaps[1].2.components.len(),
        secs(healing.connected),
    ));
    report.summary.push(format!(
        "delivery: {:.2} % during the partition, {:.2} % after repair",
        during.1.share() * 100.0,
        after.1.share() * 100.0,
    ));
    Ok(report)
}
