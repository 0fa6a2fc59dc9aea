//! `churn`: after the joins and rounds, every `--interval` one random node
//! leaves (killed) and a new one joins, for `--duration` rounds; the
//! overlay and the delivery of a batch of items per round.

use std::time::Instant;

use gossipd::sim::{Reliability, reliability};

use crate::network::{Delivery, Net};
use crate::options::Opts;
use crate::report::{Report, metrics_table, reliability_table, traffic_table};

/// Runs the scenario.
pub fn run(opts: &Opts, wall_start: Instant) -> Result<Report, String> {
    let mut net = Net::new(opts, wall_start);
    net.join_all(opts.nodes);
    net.run_rounds(opts.rounds, |_, _| {});
    let mut snaps = vec![net.snapshot("before churn")];
    let mut deliveries: Vec<Delivery> = Vec::new();
    let steps = (net.round().as_secs_f64() / opts.interval.as_secs_f64()).ceil() as u32;
    let mut replaced = 0;
    for r in 1..=opts.duration {
        let items = net.announce();
        for _ in 0..steps {
            if let Some(victim) = net.sim.random_live_node() {
                net.sim.kill(victim);
            }
            net.sim.join();
            replaced += 1;
            net.sim.run_for(opts.interval);
        }
        snaps.push(net.snapshot(format!("churn round {r}")));
        let r_items: Reliability = reliability(&net.sim, &items);
        deliveries.push((format!("churn round {r}"), r_items, None));
    }
    net.progress(&format!("{replaced} nodes replaced"));
    net.check()?;
    let last = &snaps[snaps.len() - 1].2;
    let worst = deliveries
        .iter()
        .map(|d| d.1.share())
        .fold(1.0f64, f64::min);
    let mut report = Report::new();
    report.tables.push(metrics_table(
        &format!(
            "Overlay under churn: one node replaced every {} ms",
            opts.interval.as_millis()
        ),
        &snaps,
    ));
    report.tables.push(
        reliability_table("Delivery under churn", &deliveries)
            .note("each round's batch is announced at the round's start and counted at its end"),
    );
    report
        .tables
        .push(traffic_table("Traffic", net.sim.counters()));
    report.summary.push(format!(
        "{replaced} nodes replaced over {} rounds; at the end: {} component(s), {} isolated, mean degree {:.2}",
        opts.duration,
        last.components.len(),
        last.isolated,
        last.out_degree.mean(),
    ));
    report
        .summary
        .push(format!("worst round's delivery: {:.2} %", worst * 100.0));
    Ok(report)
}
