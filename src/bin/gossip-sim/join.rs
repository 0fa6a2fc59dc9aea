//! `join`: N nodes join one after another through random running nodes,
//! then R shuffle rounds run; the overlay after the joins and as the
//! rounds go by.

use std::time::Instant;

use crate::network::Net;
use crate::options::Opts;
use crate::report::{Report, degree_table, metrics_table, traffic_table};

/// Runs the scenario.
pub fn run(opts: &Opts, wall_start: Instant) -> Result<Report, String> {
    let mut net = Net::new(opts, wall_start);
    let join_wall = net.join_all(opts.nodes);
    let mut snaps = vec![net.snapshot("1 s after the joins")];
    let every = (opts.rounds / 10).max(1);
    let rounds_wall = net.run_rounds(opts.rounds, |net, r| {
        if r % every == 0 || r == opts.rounds {
            snaps.push(net.snapshot(format!("round {r}")));
        }
    });
    net.check()?;
    let joined = &snaps[0].2;
    let last = &snaps[snaps.len() - 1].2;
    let mut report = Report::new();
    report.tables.push(metrics_table(
        "Overlay after the joins and as shuffle rounds go by",
        &snaps,
    ));
    report
        .tables
        .push(degree_table("Degrees after the last round", last));
    report
        .tables
        .push(traffic_table("Traffic", net.sim.counters()));
    report.summary.push(format!(
        "{} nodes joined {} ms apart in {:.1} s wall; after the joins: {} component(s), {} isolated",
        opts.nodes,
        opts.join_interval.as_millis(),
        join_wall.as_secs_f64(),
        joined.components.len(),
        joined.isolated,
    ));
    report.summary.push(format!(
        "{} shuffle rounds ({:.1} s simulated each) in {:.1} s wall; after them: {} component(s), mean degree {:.2}",
        opts.rounds,
        net.round().as_secs_f64(),
        rounds_wall.as_secs_f64(),
        last.components.len(),
        last.out_degree.mean(),
    ));
    Ok(report)
}
