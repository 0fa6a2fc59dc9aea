//! The command line: a scenario and its options.

use std::time::Duration;

use getopts::{Matches, Options};

/// Usage text for `--help`.
pub const USAGE: &str = "\
Usage:
  gossip-sim SCENARIO [options]
  gossip-sim help | --help

Scenarios:
  join       N nodes join one after another (--join-interval apart), each
             through a random running node, then R shuffle rounds run
  fail       joins and rounds as above, then a fraction f fails at once:
             metrics before and after, healing time, delivery of items
             announced right after the failure and after healing
  churn      joins and rounds, then every --interval one random node leaves
             and a new one joins, for --duration rounds; metrics per round
  partition  joins and rounds, then two random halves cannot reach each
             other for --duration rounds; repaired, then healing time
  standard   the acceptance set: 10,000 nodes of degree 8 join; 100 rounds
             (timed); 50 % fail; a fresh network of the same seed, 80 % fail
  dissemination
             the same network (seed, size) built twice, with flooding and
             with Plumtree; R rounds, then K items from one sender, K from
             random senders, and K from random senders with a fraction f
             killed after the first 5: delivery, duplicates, payload RMR,
             lazy ids, grafts, latency percentiles, side by side

Options (defaults in brackets):
  --nodes N            nodes [1000; standard: 10000]
  --degree D           neighbours per node [8]
  --seed S             seed of every random choice [1]
  --rounds R           shuffle rounds after the joins
                       [10; standard: 100; dissemination: 3]
  --fraction F         share of nodes that fail [0.5; dissemination: 0.2]
  --latency-min MS     shortest one-way link latency [10]
  --latency-max MS     longest one-way link latency [50]
  --loss P             probability that a message is lost, breaking its link [0]
  --items K            items per delivery measurement [20; dissemination: 50]
  --join-interval MS   time between two joins [10]
  --duration R         rounds of churn or partition [churn: 10, partition: 3]
  --interval MS        time between two churn steps [1000]
  --heal-limit S       longest wait for healing, in seconds [300]
  --check-invariants   check the overlay's invariants while running
  --check-every MS     how often, with --check-invariants [100]
  --json               print one JSON document instead of tables

A shuffle round is the membership's shuffle interval of simulated time
(gossipd::sim::shuffle_round; 10 s by default).
";

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Joins, then rounds.
    Join,
    /// A fraction fails at once.
    Fail,
    /// Continuous leaves and joins.
    Churn,
    /// Two halves apart for a while.
    Partition,
    /// The acceptance set.
    Standard,
    /// Flooding against Plumtree on the same network.
    Dissemination,
}

impl Scenario {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Join => "join",
            Scenario::Fail => "fail",
            Scenario::Churn => "churn",
            Scenario::Partition => "partition",
            Scenario::Standard => "standard",
            Scenario::Dissemination => "dissemination",
        }
    }
}

/// The parsed options.
#[derive(Clone, Debug)]
pub struct Opts {
    /// The scenario.
    pub scenario: Scenario,
    /// Nodes that join.
    pub nodes: usize,
    /// Neighbours per node.
    pub degree: usize,
    /// Seed.
    pub seed: u64,
    /// Shuffle rounds after the joins.
    pub rounds: u32,
    /// Share of nodes that fail.
    pub fraction: f64,
    /// Shortest one-way latency.
    pub latency_min: Duration,
    /// Longest one-way latency.
    pub latency_max: Duration,
    /// Loss probability per message.
    pub loss: f64,
    /// Items per delivery measurement.
    pub items: usize,
    /// Time between two joins.
    pub join_interval: Duration,
    /// Rounds of churn or partition.
    pub duration: u32,
    /// Time between two churn steps.
    pub interval: Duration,
    /// Longest wait for healing.
    pub heal_limit: Duration,
    /// Invariant checks this often, if asked for.
    pub checks: Option<Duration>,
    /// JSON instead of tables.
    pub json: bool,
}

/// What the command line asks for.
pub enum Command {
    /// Print the usage.
    Help,
    /// Run a scenario.
    Run(Opts),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("no scenario given (try --help)".into());
    };
    let scenario = match first.as_str() {
        "help" | "--help" | "-h" => return Ok(Command::Help),
        "join" => Scenario::Join,
        "fail" => Scenario::Fail,
        "churn" => Scenario::Churn,
        "partition" => Scenario::Partition,
        "standard" => Scenario::Standard,
        "dissemination" => Scenario::Dissemination,
        other => return Err(format!("unknown scenario '{other}' (try --help)")),
    };
    let m = options()
        .parse(rest)
        .map_err(|e| format!("{e} (try --help)"))?;
    if let Some(extra) = m.free.first() {
        return Err(format!("unexpected argument '{extra}'"));
    }
    let standard = scenario == Scenario::Standard;
    let dissemination = scenario == Scenario::Dissemination;
    let default_rounds = match scenario {
        Scenario::Standard => 100,
        Scenario::Dissemination => 3,
        _ => 10,
    };
    let opts = Opts {
        scenario,
        nodes: number(&m, "nodes", if standard { 10_000 } else { 1_000 })?,
        degree: number(&m, "degree", 8)?,
        seed: number(&m, "seed", 1)?,
        rounds: number(&m, "rounds", default_rounds)?,
        fraction: number(&m, "fraction", if dissemination { 0.2 } else { 0.5 })?,
        latency_min: millis(number(&m, "latency-min", 10.0)?)?,
        latency_max: millis(number(&m, "latency-max", 50.0)?)?,
        loss: number(&m, "loss", 0.0)?,
        items: number(&m, "items", if dissemination { 50 } else { 20 })?,
        join_interval: millis(number(&m, "join-interval", 10.0)?)?,
        duration: number(&m, "duration", default_duration(scenario))?,
        interval: millis(number(&m, "interval", 1000.0)?)?,
        heal_limit: millis(number(&m, "heal-limit", 300.0)? * 1000.0)?,
        checks: match m.opt_present("check-invariants") {
            true => Some(millis(number(&m, "check-every", 100.0)?)?),
            false => None,
        },
        json: m.opt_present("json"),
    };
    check(&opts)?;
    Ok(Command::Run(opts))
}

fn options() -> Options {
    let mut opts = Options::new();
    for name in [
        "nodes",
        "degree",
        "seed",
        "rounds",
        "fraction",
        "latency-min",
        "latency-max",
        "loss",
        "items",
        "join-interval",
        "duration",
        "interval",
        "heal-limit",
        "check-every",
    ] {
        opts.optopt("", name, "", "VALUE");
    }
    opts.optflag("", "check-invariants", "");
    opts.optflag("", "json", "");
    opts
}

fn default_duration(scenario: Scenario) -> u32 {
    match scenario {
        Scenario::Partition => 3,
        _ => 10,
    }
}

fn check(o: &Opts) -> Result<(), String> {
    if o.nodes < 2 || o.degree == 0 {
        return Err("need --nodes >= 2 and --degree >= 1".into());
    }
    if !(0.0..=1.0).contains(&o.fraction) || !(0.0..=1.0).contains(&o.loss) {
        return Err("--fraction and --loss must be within 0..=1".into());
    }
    if o.latency_max < o.latency_min {
        return Err("--latency-max must be at least --latency-min".into());
    }
    if o.interval.is_zero() || o.checks.is_some_and(|c| c.is_zero()) {
        return Err("--interval and --check-every must be positive".into());
    }
    Ok(())
}

/// The value of `--name`, parsed, or `default`.
fn number<T: std::str::FromStr>(m: &Matches, name: &str, default: T) -> Result<T, String> {
    match m.opt_str(name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("--{name}: '{v}' is not a valid number")),
        None => Ok(default),
    }
}

/// Milliseconds as a duration; negative or non-finite values refused.
fn millis(ms: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| format!("bad duration: {ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn opts(line: &str) -> Opts {
        match parse(&args(line)) {
            Ok(Command::Run(o)) => o,
            Ok(Command::Help) => panic!("help"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let o = opts("fail --nodes 300 --loss 0.01 --latency-max 80 --check-invariants");
        assert_eq!(o.scenario, Scenario::Fail);
        assert_eq!((o.nodes, o.degree, o.rounds), (300, 8, 10));
        assert_eq!(o.latency_max, Duration::from_millis(80));
        assert_eq!(o.checks, Some(Duration::from_millis(100)));
        assert_eq!(o.loss, 0.01);
        let s = opts("standard");
        assert_eq!((s.nodes, s.rounds, s.json), (10_000, 100, false));
        assert_eq!(opts("partition --json").duration, 3);
        let d = opts("dissemination");
        assert_eq!((d.rounds, d.items, d.fraction), (3, 50, 0.2));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for line in [
            "",
            "bogus",
            "join --nodes x",
            "join --nodes 1",
            "fail --fraction 1.5",
            "join --latency-min 60 --latency-max 50",
            "join --latency-min -1",
            "join extra",
            "churn --interval 0",
        ] {
            assert!(parse(&args(line)).is_err(), "{line}");
        }
        assert!(matches!(parse(&args("--help")), Ok(Command::Help)));
    }
}
