//! `fail`: after the joins and rounds, a fraction of the nodes fails at
//! once. The overlay before and after, the healing time, and the delivery
//! of items announced right after the failure and after healing.

use std::time::Instant;

use gossipd::sim::{HealingWatch, full_degree_share};

use crate::network::Net;
use crate::options::Opts;
use crate::report::{
    Report, degree_table, healing_table, metrics_table, reliability_table, traffic_table,
};

/// Runs the scenario.
pub fn run(opts: &Opts, wall_start: Instant) -> Result<Report, String> {
    let mut net = Net::new(opts, wall_start);
    net.join_all(opts.nodes);
    net.run_rounds(opts.rounds, |_, _| {});
    let mut snaps = vec![net.snapshot("before the failure")];
    let intact = net.delivery("intact network", None);
    let pct = opts.fraction * 100.0;
    let (failed_at, before) = (net.sim.now(), full_degree_share(&net.sim));
    let killed = net.fail(opts.fraction);
    let mut watch = HealingWatch::new(failed_at, before);
    let right_after = net.delivery("right after the failure", Some(&mut watch));
    snaps.push(net.snapshot("failure, items at rest"));
    net.heal(&mut watch);
    let healing = watch.result();
    snaps.push(net.snapshot("after healing"));
    let healed = net.delivery("after healing", None);
    net.check()?;
    let mut report = Report::new();
    report.tables.push(metrics_table(
        &format!("Overlay before and after {killed} nodes ({pct:.0} %) fail at once"),
        &snaps,
    ));
    report.tables.push(healing_table(
        "Healing",
        &[(format!("{pct:.0} % fail"), healing)],
    ));
    report.tables.push(reliability_table(
        "Delivery",
        &[intact, right_after.clone(), healed.clone()],
    ));
    report
        .tables
        .push(degree_table("Degrees after healing", &snaps[2].2));
    report
        .tables
        .push(traffic_table("Traffic", net.sim.counters()));
    report.summary.push(format!(
        "{killed} of {} nodes failed at t = {:.1} s; one component again after {}; full degree after {}; degrees back to their level before after {}",
        opts.nodes,
        failed_at.as_secs_f64(),
        secs(healing.connected),
        secs(healing.full_degree),
        secs(healing.degree_restored),
    ));
    report.summary.push(format!(
        "delivery: {:.2} % right after the failure, {:.2} % after healing",
        right_after.1.share() * 100.0,
        healed.1.share() * 100.0,
    ));
    Ok(report)
}

/// "12.3 s", or "not within the limit".
pub fn secs(d: Option<std::time::Duration>) -> String {
    d.map_or("not within the limit".into(), |d| {
        format!("{:.1} s", d.as_secs_f64())
    })
}
