//! A deterministic simulator: the same protocol core ([`crate::proto::Core`])
//! for thousands of nodes in one process, under simulated time, with
//! per-link latency, message loss, failures, partitions and seeded
//! randomness.
//!
//! [`Sim`] stands in for the node threads and the sockets of every host;
//! the cores run unchanged. What it models, and how:
//!
//! - **Time.** A queue of timed inputs (a binary heap keyed by due time and
//!   a sequence number, so inputs due at the same time keep the order they
//!   were queued in) replaces the clock. Simulated time is an offset from
//!   one base [`Instant`](std::time::Instant) taken when the `Sim` is made;
//!   nothing is ever decided by the wall clock, so a seed gives the same run
//!   on any machine at any speed.
//! - **Timers.** Each node has one timer input queued, for its core's
//!   [`poll_timeout`](crate::proto::Core::poll_timeout), reset after every
//!   event it handles; `handle_timeout` runs only when that comes due, so
//!   idle nodes cost one heap entry each.
//! - **Randomness.** The engine's `StdRng`, seeded from
//!   [`SimConfig::seed`], draws latencies, losses, random picks and the seed
//!   of every node's core. Node `i` is peer id `i + 1`
//!   ([`crate::proto::PeerId::from_u64`]) listening at 10.a.b.c:7000.
//! - **Links** are TCP connections: each end is held and closed on its own.
//!   What an end sent before it closed still arrives; the other end learns of
//!   the close one link latency later (and its core hears `PeerDown` if that
//!   was its current link to the peer); what arrives at an end already closed
//!   is lost. Each link draws its one-way latency uniformly from
//!   [`SimConfig::latency`] when it is dialed and keeps it for its life.
//!   A node sends to a peer on its *current* link to it; a newer link
//!   replaces it (the old one is closed, as the daemon closes a duplicate
//!   connection), and a dial between two nodes that already share a whole
//!   link folds into it.
//! - **Messages** pass through opaquely, whatever their kind: the engine
//!   only counts them by variant ([`MessageKinds`]) and tells items apart
//!   to know when dissemination has come to rest ([`Sim::is_quiet`]).
//! - **Dials.** A dial reaches its target after the link's latency. A
//!   running, reachable target takes it at once (its core hears `PeerUp`),
//!   and the dialer hears so one latency later. A dead target resets it: the
//!   dialer hears `DialFailed` after the round trip. An address nobody can
//!   answer at (across a partition, or unknown) fails at
//!   [`SimConfig::dial_timeout`] (the daemon's connect timeout). The
//!   handshake's own round trips are not modelled.
//! - **The client.** Every node has one local client that subscribes to
//!   every data type and calls every notified item valid after
//!   [`SimConfig::verdict_delay`]. Items are announced with
//!   [`Sim::announce`]; their data is their index, so every delivery is
//!   recorded by item.
//! - **Flow control.** While a core's validation window is full
//!   ([`wants_items`](crate::proto::Core::wants_items) false), the network
//!   inputs for it wait in its net queue, in order, as the daemon stops
//!   reading its `net` channel.
//! - **Kill** ([`Sim::kill`]) fails a node at once, like SIGKILL on a host
//!   whose kernel then resets its connections: its links close and each peer
//!   learns after one latency; what was in flight to it is lost. Its core is
//!   dropped, and its index is never reused.
//! - **Start and join** ([`Sim::add_node`], [`Sim::join`]): a new node with
//!   a given bootstrapper, or a random running one.
//! - **Partitions** ([`Sim::partition`], [`Sim::repair`]): one set of nodes
//!   cannot reach the rest. Links across break at once and both ends learn
//!   after one latency (as if each side's keep-alive or a router's reset
//!   told it: failure detection is instant here, so healing times measure
//!   the membership, not detection); messages across are dropped; dials
//!   across time out. Repair lifts it; links that broke stay broken.
//!
//! # Loss
//!
//! gossipd runs on TCP, which retransmits: a message is never lost while
//! its connection lives. What loses messages is a connection that breaks.
//! So a lost message (probability [`SimConfig::loss`] per message) is
//! dropped *and breaks its link*: nothing more is sent on it, and both ends
//! learn it is gone one latency later, as a TCP connection that gave up
//! retransmitting. Messages sent on it earlier still arrive. Plain dropping
//! with the connection kept would model a transport gossipd does not use,
//! and would make the simulated cores lose items on links they rightly
//! trust.
//!
//! # Memory
//!
//! Nodes run [`sim_proto_config`]: a cache of 64 items and a seen-set of
//! 4,096 ids. `Core::new` allocates nothing in proportion to those limits
//! (its maps and queues start empty and grow with use), so an idle core
//! costs a few KiB, mostly its peer table (up to 128 known addresses); each
//! item a node handles adds its id to the seen-set. A killed node's core is
//! dropped at once.
//!
//! # Measuring
//!
//! [`Graph`] is a snapshot of the live nodes' active views; [`metrics`]
//! measures it (largest component, degree distributions, asymmetric links,
//! clustering, average path, isolated nodes). [`HealingWatch`] times the
//! healing after a failure, [`reliability`] counts the deliveries of a batch
//! of items, [`hops`] the links their first copies crossed (the engine
//! records, per first delivery, the sender and its hop count plus one),
//! [`copies`] the item copies received (payload redundancy), and
//! [`Sim::check_invariants`] checks the overlay's invariants
//! ([`invariants`] defines them, and when links must be symmetric), also
//! periodically while running ([`Sim::set_checks`]).

mod actions;
pub mod config;
pub mod counters;
mod dispatch;
mod engine;
pub mod graph;
pub mod ids;
mod input;
pub mod invariants;
mod links;
mod live;
pub mod measure;
pub mod metrics;
mod node;
mod queue;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod hops_tests;
#[cfg(test)]
mod scenario_tests;

pub use self::config::{Latency, SimConfig, shuffle_round, sim_proto_config};
pub use self::counters::{Counters, MessageKinds};
pub use self::engine::Sim;
pub use self::graph::Graph;
pub use self::ids::{ItemIx, NodeIx};
pub use self::invariants::{InvariantError, Violation};
pub use self::measure::{
    Healing, HealingWatch, Hops, Reliability, announce_batch, copies, full_degree_share, hops,
    reliability, run_until_delivered, run_until_quiet,
};
pub use self::metrics::{Distribution, Metrics};
pub use self::node::{Announced, Delivery};
