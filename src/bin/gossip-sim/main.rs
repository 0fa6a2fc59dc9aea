//! gossip-sim: the protocol core of thousands of nodes in one process,
//! under simulated time ([`gossipd::sim`]), through scenarios: joins,
//! failures, churn, partitions, the acceptance set
//! (`standard`), and flooding against Plumtree (`dissemination`). Prints aligned tables saying what was measured and how,
//! or one JSON document with `--json`. Runs are deterministic for a seed.
//!
//! Exit status: 0 after a run, 2 for a bad command line, 1 when an
//! invariant check (`--check-invariants`) failed.

mod churn;
mod dissemination;
mod fail;
mod join;
#[path = "../gossip-bench/json.rs"]
mod json;
mod network;
mod options;
mod partition;
mod report;
mod standard;
mod table;

use std::process::ExitCode;
use std::time::Instant;

use crate::json::Json;
use crate::options::{Command, Opts, Scenario};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match options::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", options::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(opts)) => opts,
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let wall_start = Instant::now();
    match run(&opts, wall_start) {
        Ok(report) => {
            let wall = wall_start.elapsed().as_secs_f64();
            let rss = peak_rss_kib();
            let extra = Json::obj().with("wall_s", wall).with("peak_rss_kib", rss);
            report.print(&opts, extra);
            if !opts.json {
                let rss = rss.map_or("unknown".into(), |k| {
                    format!("{:.0} MiB", k as f64 / 1024.0)
                });
                println!("  whole run: {wall:.1} s wall, peak RSS {rss}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(opts: &Opts, wall_start: Instant) -> Result<report::Report, String> {
    match opts.scenario {
        Scenario::Join => join::run(opts, wall_start),
        Scenario::Fail => fail::run(opts, wall_start),
        Scenario::Churn => churn::run(opts, wall_start),
        Scenario::Partition => partition::run(opts, wall_start),
        Scenario::Standard => standard::run(opts, wall_start),
        Scenario::Dissemination => dissemination::run(opts, wall_start),
    }
}

/// The process's peak resident set size (VmHWM), where /proc tells it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
