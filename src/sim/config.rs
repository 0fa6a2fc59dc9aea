//! Settings of a simulation: the protocol config every node runs, the
//! network's latency and loss, the local client's answer time, the seed.

use std::time::Duration;

use crate::proto::ProtoConfig;

/// Items each simulated node keeps for spreading: 64, small so that 10,000
/// nodes fit in tens of MB (the daemon's default is 1,000).
pub const SIM_CACHE_SIZE: usize = 64;

/// Item ids each simulated node remembers: 4,096. The seen-set only grows
/// with the items a node sees, so this bounds memory in long runs; it must
/// exceed the items of any one experiment, or old copies would be taken for
/// new ones.
pub const SIM_SEEN_CAPACITY: usize = 4_096;

/// The peer-accounting window of a simulated node: 5 s instead of the
/// daemon's 60 s.
///
/// Peer accounting only ever acts against misbehaving peers, and simulated
/// peers do not misbehave; but every peer a host heard from keeps a record
/// until a window has passed. Measured at 1,000 nodes with the daemon's
/// window, those records were 58 % of the heap (about 12 KiB per node,
/// 125 MB at 10,000) and their expiry, walked on every 200 ms tick, a
/// third of the CPU. A shorter window changes nothing for honest peers
/// (the same rate limits, per-window limits reached sooner by none).
pub const SIM_ACCOUNTING_WINDOW: Duration = Duration::from_secs(5);

/// The tick of a simulated node: 1 s instead of the daemon's 200 ms.
///
/// Every repair that matters (a lost neighbour replaced, a refusal answered)
/// runs at once on the event; the tick only paces retries and periodic work.
/// At 10,000 nodes the 200 ms tick was a quarter of the CPU (perf, `gossip-sim
/// join --nodes 3000 --rounds 30`).
pub const SIM_TICK: Duration = Duration::from_secs(1);

/// The keep-alive deadline of a simulated node: an hour instead of the
/// daemon's 10 s. Keep-alives catch hosts that hang with their connections
/// open; the simulator's failures close links at once (a killed process's
/// kernel resets them), so keep-alives never decide anything here, and at
/// the daemon's rate they were more than half of all simulated messages
/// (a quarter at a 60 s deadline). `tests/hung_peer.rs` covers them.
pub const SIM_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The simulated length of one shuffle round for nodes running `config`:
/// the membership's shuffle interval (10 s by default). The one place that
/// says what a round is.
pub fn shuffle_round(config: &ProtoConfig) -> Duration {
    config.shuffle_interval
}

/// The protocol config of a simulated node: `degree` neighbours, a cache
/// of [`SIM_CACHE_SIZE`] items, a seen-set of [`SIM_SEEN_CAPACITY`] ids, an
/// accounting window of [`SIM_ACCOUNTING_WINDOW`], a tick of [`SIM_TICK`],
/// a keep-alive deadline of [`SIM_KEEPALIVE_TIMEOUT`], defaults elsewhere
/// ([`ProtoConfig::new`]).
pub fn sim_proto_config(degree: usize) -> ProtoConfig {
    let mut config = ProtoConfig::new(degree, SIM_CACHE_SIZE);
    config.seen_capacity = SIM_SEEN_CAPACITY;
    config.accounting.window = SIM_ACCOUNTING_WINDOW;
    config.tick_interval = SIM_TICK;
    config.keepalive_timeout = SIM_KEEPALIVE_TIMEOUT;
    config
}

/// One-way latencies of links: each link draws its own uniformly from
/// `min..=max` (microsecond steps) when it is dialed and keeps it for its
/// life, in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// Shortest one-way latency.
    pub min: Duration,
    /// Longest one-way latency (at least `min`).
    pub max: Duration,
}

impl Latency {
    /// The same latency on every link.
    pub fn fixed(d: Duration) -> Latency {
        Latency { min: d, max: d }
    }
}

/// Everything a [`super::Sim`] needs to start.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// What every node runs (its bootstrapper is set per node).
    pub proto: ProtoConfig,
    /// Every random choice of the run derives from this.
    pub seed: u64,
    /// Per-link one-way latency.
    pub latency: Latency,
    /// Probability that a message breaks its link (see the
    /// [module docs](super#loss)); 0 for none.
    pub loss: f64,
    /// How long a node's client takes to call a notified item valid.
    pub verdict_delay: Duration,
    /// How long a dial to an address nobody answers at (a partitioned or
    /// unknown host) takes to fail: the daemon's TCP connect timeout, 3 s.
    pub dial_timeout: Duration,
}

impl SimConfig {
    /// Nodes of `degree` with [`sim_proto_config`], links of 10–50 ms, no
    /// loss, a client that answers in 1 ms, dials to silent hosts failing
    /// after 3 s.
    pub fn new(degree: usize, seed: u64) -> SimConfig {
        SimConfig {
            proto: sim_proto_config(degree),
            seed,
            latency: Latency {
                min: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
            loss: 0.0,
            verdict_delay: Duration::from_millis(1),
            dial_timeout: Duration::from_secs(3),
        }
    }

    /// Neighbours each node keeps.
    pub fn degree(&self) -> usize {
        self.proto.degree
    }
}
