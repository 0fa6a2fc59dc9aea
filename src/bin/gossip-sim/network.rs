//! The steps scenarios are made of: build a network (joins, rounds), fail
//! nodes, measure the overlay and the delivery of a batch of items.

use std::time::{Duration, Instant};

use gossipd::sim::{
    HealingWatch, ItemIx, Latency, Metrics, NodeIx, Reliability, Sim, SimConfig, announce_batch,
    reliability, run_until_quiet, shuffle_round,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::options::Opts;

/// Longest wait for a batch of items to come to rest.
const QUIET_LIMIT: Duration = Duration::from_secs(60);

/// How long the last joiner gets before the overlay is looked at: 1 s,
/// ample for a dial and a join walk at 50 ms per hop.
const JOIN_SETTLE: Duration = Duration::from_secs(1);

/// Time between two announcements of a batch.
const ITEM_SPACING: Duration = Duration::from_millis(10);

/// A simulation and the scenario options it runs with.
pub struct Net {
    /// The simulation.
    pub sim: Sim,
    opts: Opts,
    /// Picks the sources of the average-path searches, apart from the
    /// simulation's own randomness so that measuring changes no run.
    metrics_rng: StdRng,
    /// When the program started, for progress lines.
    wall_start: Instant,
}

/// One metrics snapshot: label, simulated time, metrics.
pub type Snapshot = (String, Duration, Metrics);

/// One delivery measurement: label, result, time until quiet.
pub type Delivery = (String, Reliability, Option<Duration>);

impl Net {
    /// An empty network with the settings of `opts`.
    pub fn new(opts: &Opts, wall_start: Instant) -> Net {
        Net::configured(opts, wall_start, |_| {})
    }

    /// An empty network with the settings of `opts`, then changed by `edit`
    /// (say, the dissemination mode of every node).
    pub fn configured(opts: &Opts, wall_start: Instant, edit: impl FnOnce(&mut SimConfig)) -> Net {
        let mut config = SimConfig::new(opts.degree, opts.seed);
        config.latency = Latency {
            min: opts.latency_min,
            max: opts.latency_max,
        };
        config.loss = opts.loss;
        edit(&mut config);
        let mut sim = Sim::new(config);
        sim.set_checks(opts.checks);
        Net {
            sim,
            opts: opts.clone(),
            metrics_rng: StdRng::seed_from_u64(opts.seed ^ 0x6d65_7472_6963_7321),
            wall_start,
        }
    }

    /// One shuffle round of simulated time.
    pub fn round(&self) -> Duration {
        shuffle_round(self.sim.proto_config())
    }

    /// Prints a progress line on stderr: wall and simulated time.
    pub fn progress(&self, what: &str) {
        let wall = self.wall_start.elapsed().as_secs_f64();
        let t = self.sim.now().as_secs_f64();
        eprintln!("[{wall:7.1} s wall | t = {t:8.1} s] {what}");
    }

    /// `n` nodes join, `--join-interval` apart, each through a random live
    /// node; then 1 s passes for the last one. Returns the wall time it
    /// took.
    pub fn join_all(&mut self, n: usize) -> Duration {
        let wall = Instant::now();
        for _ in 0..n {
            self.sim.join();
            self.sim.run_for(self.opts.join_interval);
        }
        self.sim.run_for(JOIN_SETTLE);
        self.progress(&format!("{n} nodes joined"));
        wall.elapsed()
    }

    /// Runs `rounds` shuffle rounds, calling `each` after every one with
    /// its number (from 1). Returns the wall time it took.
    pub fn run_rounds(&mut self, rounds: u32, mut each: impl FnMut(&mut Net, u32)) -> Duration {
        let wall = Instant::now();
        for r in 1..=rounds {
            self.sim.run_for(self.round());
            each(self, r);
        }
        self.progress(&format!("{rounds} rounds run"));
        wall.elapsed()
    }

    /// The overlay's metrics now, labelled.
    pub fn snapshot(&mut self, label: impl Into<String>) -> Snapshot {
        let m = Metrics::of(&self.sim.snapshot(), &mut self.metrics_rng);
        (label.into(), self.sim.now(), m)
    }

    /// Kills `fraction` of the live nodes, picked at random, at once.
    /// Returns how many.
    pub fn fail(&mut self, fraction: f64) -> usize {
        let mut live: Vec<NodeIx> = self.sim.live_nodes().to_vec();
        let count = ((live.len() as f64) * fraction).round() as usize;
        let (victims, _) = live.partial_shuffle(self.sim.rng(), count);
        for &n in victims.iter() {
            self.sim.kill(n);
        }
        self.progress(&format!("{count} nodes failed"));
        count
    }

    /// Announces `--items` items at random live nodes and runs until they
    /// come to rest, showing each step to `watch`; their delivery,
    /// labelled.
    pub fn delivery(&mut self, label: &str, watch: Option<&mut HealingWatch>) -> Delivery {
        let items = self.announce();
        let quiet = run_until_quiet(&mut self.sim, QUIET_LIMIT, watch);
        let r = reliability(&self.sim, &items);
        self.progress(&format!("{label}: {:.2} % delivered", r.share() * 100.0));
        (label.to_string(), r, quiet)
    }

    /// Announces `--items` items at random live nodes, 10 ms apart.
    pub fn announce(&mut self) -> Vec<ItemIx> {
        announce_batch(&mut self.sim, self.opts.items, ITEM_SPACING)
    }

    /// Watches the healing after a failure at `since` until healed or
    /// `--heal-limit`.
    pub fn heal(&mut self, watch: &mut HealingWatch) {
        let healing = watch.run(&mut self.sim, self.opts.heal_limit);
        self.progress(&format!("healing: {healing:?}"));
    }

    /// Fails when a periodic invariant check found a violation.
    pub fn check(&self) -> Result<(), String> {
        match self.sim.violation() {
            Some(v) => Err(format!("invariant broken: {v}")),
            None => Ok(()),
        }
    }
}
