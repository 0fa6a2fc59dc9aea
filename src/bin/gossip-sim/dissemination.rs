//! `dissemination`: flooding against Plumtree on the same network. The
//! network of `--nodes` and `--seed` is built twice, once with every node
//! flooding ([`Dissemination::Flood`]) and once with Plumtree
//! ([`Dissemination::Plumtree`]); after the joins and `--rounds` shuffle
//! rounds, four batches of `--items` items are measured on each:
//!
//! 1. one sender, cold: every item announced at the same live node, the
//!    first items the network ever carries (Plumtree's tree forms from
//!    them: every link starts eager, so the first item floods);
//! 2. one sender, warm: the same again on the tree the first batch left
//!    (a stable network);
//! 3. many senders: each item at a random live node;
//! 4. failures during dissemination: items at random live nodes, and after
//!    the first [`KILL_AFTER`] a share `--fraction` of the nodes (20 % by
//!    default) is killed at once, while those items are still spreading.
//!
//! For each: delivery to the nodes that should get the items (in batch 4
//! the survivors: [`reliability`] only counts nodes running at the end),
//! duplicate deliveries, the payload relative message redundancy (RMR),
//! lazy id announcements, grafts, Item messages sent, the latency from
//! announcement to delivery and the hop counts of the first deliveries
//! ([`hops`]: per item the last-delivery hop, the largest hop count at
//! which a host first got it, and the mean over every host). The counts
//! come from the cores' [`Stats`] and [`TreeStats`], taken before and after
//! each batch; the RMR of the items after the first [`WARMUP`] (the
//! steady state, once the tree has pruned) from the engine's count of the
//! copies of each item ([`copies`]).
//!
//! Runtime at 10,000 nodes (release build, one core): about 150 s of wall
//! time, 0.9 GB peak RSS. Building each network (joins and 3 rounds) takes about
//! 10 s; the rest is the batches, above all flooding's (3 million Item
//! messages per batch). A batch runs until every item reached every host
//! and none is in flight ([`run_until_delivered`]), about 1 s of simulated
//! time: waiting for every tree to fall idle ran each batch into the 60 s
//! limit, as some new link's digest is nearly always queued somewhere.
//!
//! [`Stats`]: gossipd::proto::Stats
//! [`TreeStats`]: gossipd::proto::TreeStats

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gossipd::proto::{Dissemination, Ttl};
use gossipd::sim::{
    Hops, ItemIx, NodeIx, Reliability, Sim, copies, hops, reliability, run_until_delivered,
};

use crate::network::Net;
use crate::options::Opts;
use crate::report::{Report, traffic_table};
use crate::table::{Cell, Table};

/// Time between two announcements of a batch.
pub const SPACING: Duration = Duration::from_millis(20);

/// Items announced in batch 4 before the nodes are killed.
pub const KILL_AFTER: usize = 5;

/// Longest wait for a batch to come to rest.
const QUIET_LIMIT: Duration = Duration::from_secs(60);

/// The first items of a batch, left out of its steady-state RMR: while the
/// first items spread, links that are not on the tree yet carry copies
/// until their prunes arrive.
pub const WARMUP: usize = 10;

/// The two modes compared, with their names in the tables.
const MODES: [(Dissemination, &str); 2] = [
    (Dissemination::Flood, "flood"),
    (Dissemination::Plumtree, "plumtree"),
];

/// Where a batch's items are announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Senders {
    /// All at this node.
    One(NodeIx),
    /// Each at a random live node.
    Random,
}

/// What one batch of items did in one mode.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Which batch.
    pub label: String,
    /// Delivery to the nodes running at the end.
    pub reliability: Reliability,
    /// How long it took until every item had reached every host and none
    /// was in flight, or until no tree had ids to announce or pull (None:
    /// not within the limit).
    pub quiet: Option<Duration>,
    /// Running nodes whose tree still had ids to announce or pull at the
    /// end (what kept a batch from coming to rest).
    pub tree_busy: usize,
    /// Nodes killed during the batch.
    pub killed: usize,
    /// Nodes running at the end (the hosts counted).
    pub hosts: usize,
    /// Item copies received by those hosts from peers, new or not
    /// (`Stats::received + Stats::duplicates`).
    pub copies: u64,
    /// Of those, copies new to their host (`Stats::received`): one per
    /// (item, host that got it from a peer).
    pub first_copies: u64,
    /// Ids announced to lazy neighbours by those hosts.
    pub ids_announced: u64,
    /// Items asked for with Graft by those hosts.
    pub grafts: u64,
    /// Item messages the network carried during the batch (every node).
    pub item_messages: u64,
    /// Messages of every kind the network carried during the batch.
    pub messages: u64,
    /// Announcement-to-delivery times of every delivered (item, host)
    /// pair, the origin excluded, sorted.
    pub latencies: Vec<Duration>,
    /// Hop counts of the first deliveries to those hosts.
    pub hops: Hops,
    /// Per item, in announcement order: Item copies received and first
    /// copies, by every node (the engine's count, killed nodes included).
    pub item_copies: Vec<(u64, u64)>,
    /// IHave messages the network carried during the batch (every node).
    pub ihave_messages: u64,
}

impl Batch {
    /// Payload RMR: copies received / hosts that received the item − 1,
    /// over all items (0 when nothing was received).
    pub fn rmr(&self) -> f64 {
        if self.first_copies == 0 {
            0.0
        } else {
            self.copies as f64 / self.first_copies as f64 - 1.0
        }
    }

    /// Payload RMR of the items after the first `skip` (the engine's
    /// count: copies / first copies - 1 over those items; None without
    /// such items).
    pub fn rmr_after(&self, skip: usize) -> Option<f64> {
        let rest = self.item_copies.get(skip..).filter(|r| !r.is_empty())?;
        let (c, f) = (rest.iter()).fold((0, 0), |(c, f), (ic, ifc)| (c + ic, f + ifc));
        Some(if f == 0 {
            0.0
        } else {
            c as f64 / f as f64 - 1.0
        })
    }

    /// Lazy id announcements per item per host.
    pub fn ids_per_item_host(&self) -> f64 {
        let per = (self.reliability.items * self.hosts) as f64;
        if per == 0.0 {
            0.0
        } else {
            self.ids_announced as f64 / per
        }
    }

    /// The `p` quantile (nearest rank) of the latencies, in ms.
    pub fn latency_ms(&self, p: f64) -> Option<f64> {
        let n = self.latencies.len();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        Some(self.latencies[rank - 1].as_secs_f64() * 1000.0)
    }
}

/// The batches of one mode, and its network's traffic at the end.
pub struct ModeRun {
    /// "flood" or "plumtree".
    pub mode: &'static str,
    /// The four batches, in order.
    pub batches: Vec<Batch>,
    /// The traffic table of the whole run.
    pub traffic: Table,
}

/// Runs the scenario.
pub fn run(opts: &Opts, wall_start: Instant) -> Result<Report, String> {
    let mut runs = Vec::new();
    for (mode, name) in MODES {
        runs.push(run_mode(opts, wall_start, mode, name)?);
    }
    let mut report = Report::new();
    report.tables.push(comparison_table(opts, &runs));
    for r in &runs {
        report.tables.push(r.traffic.clone());
    }
    for (b, _) in runs[0].batches.iter().enumerate() {
        let line = runs
            .iter()
            .map(|r| {
                let x = &r.batches[b];
                let ms = |p| x.latency_ms(p).map_or("-".into(), |ms| format!("{ms:.0}"));
                format!(
                    "{} {:.2} % delivered, RMR {:.3} (after the first {WARMUP} items {}), \
                     lazy ids per item and host {:.2}, latency p50/p90/p99/max {}/{}/{}/{} ms, \
                     last-delivery hop max {} (mean over items {}), mean hops {}",
                    r.mode,
                    x.reliability.share() * 100.0,
                    x.rmr(),
                    fmt_opt(x.rmr_after(WARMUP), 3),
                    x.ids_per_item_host(),
                    ms(0.5),
                    ms(0.9),
                    ms(0.99),
                    ms(1.0),
                    x.hops.last_max().map_or("-".into(), |h| h.to_string()),
                    fmt_opt(x.hops.last_mean(), 1),
                    fmt_opt(x.hops.mean(), 2),
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        report
            .summary
            .push(format!("{}: {line}", runs[0].batches[b].label));
    }
    if let [flood, plum, ..] = &runs[..] {
        let ratios: Vec<String> = (flood.batches.iter().zip(&plum.batches))
            .map(|(f, p)| {
                let ratio = match (f.hops.last_mean(), p.hops.last_mean()) {
                    (Some(f), Some(p)) if f > 0.0 => format!("{:.2}", p / f),
                    _ => "-".into(),
                };
                format!("{} {ratio}", f.label)
            })
            .collect();
        report.summary.push(format!(
            "last-delivery hop, {} / {} (mean over items): {}",
            plum.mode,
            flood.mode,
            ratios.join(", ")
        ));
    }
    Ok(report)
}

/// `x` with `decimals` decimals, or "-".
fn fmt_opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or("-".into(), |x| format!("{x:.decimals$}"))
}

/// Builds the network in `mode` and measures the four batches.
pub fn run_mode(
    opts: &Opts,
    wall_start: Instant,
    mode: Dissemination,
    name: &'static str,
) -> Result<ModeRun, String> {
    let mut net = Net::configured(opts, wall_start, |c| c.proto.tree.mode = mode);
    net.progress(&format!("building the network with {name}"));
    net.join_all(opts.nodes);
    net.run_rounds(opts.rounds, |_, _| {});
    let sender = *net.sim.live_nodes().first().ok_or("no live node")?;
    let batches = vec![
        batch(
            &mut net,
            opts,
            "one sender, cold",
            Senders::One(sender),
            None,
        ),
        batch(
            &mut net,
            opts,
            "one sender, warm",
            Senders::One(sender),
            None,
        ),
        batch(&mut net, opts, "many senders", Senders::Random, None),
        batch(
            &mut net,
            opts,
            "failures during",
            Senders::Random,
            Some(opts.fraction),
        ),
    ];
    net.check()?;
    let title = format!("Traffic with {name} (joins, rounds and batches)");
    let traffic = traffic_table(&title, net.sim.counters());
    Ok(ModeRun {
        mode: name,
        batches,
        traffic,
    })
}

/// Per node: copies received, new copies, ids announced, grafts so far.
type Tally = [u64; 4];

/// The tallies of every running node, by index (None for nodes not running).
fn tallies(sim: &Sim) -> Vec<Option<Tally>> {
    let mut all = vec![None; sim.len()];
    for &n in sim.live_nodes() {
        if let Some(core) = sim.core(n) {
            let (s, t) = (core.stats(), core.tree_stats());
            all[n] = Some([
                s.received + s.duplicates,
                s.received,
                t.ids_announced,
                t.grafts,
            ]);
        }
    }
    all
}

/// Announces `--items` items [`SPACING`] apart at `senders`, killing a
/// share `kill` of the nodes just before the item after the first
/// [`KILL_AFTER`], and runs until quiet; measures it.
fn batch(net: &mut Net, opts: &Opts, label: &str, senders: Senders, kill: Option<f64>) -> Batch {
    let before = tallies(&net.sim);
    let (items_before, ihaves_before, messages_before) = sent(&net.sim);
    let mut items: Vec<ItemIx> = Vec::with_capacity(opts.items);
    let mut killed = 0;
    for k in 0..opts.items {
        if k > 0 {
            net.sim.run_for(SPACING);
        }
        if let Some(share) = kill
            && k == KILL_AFTER.min(opts.items - 1)
        {
            killed = net.fail(share);
        }
        let origin = match senders {
            Senders::One(n) if net.sim.is_alive(n) => Some(n),
            _ => net.sim.random_live_node(),
        };
        if let Some(origin) = origin {
            items.extend(net.sim.announce(origin, Ttl(0)));
        }
    }
    let quiet = run_until_delivered(&mut net.sim, &items, QUIET_LIMIT);
    let r = reliability(&net.sim, &items);
    let tree_busy = (net.sim.live_nodes().iter())
        .filter(|&&n| net.sim.core(n).is_some_and(|c| c.tree_busy()))
        .count();
    let after = tallies(&net.sim);
    let mut delta = [0u64; 4];
    let mut hosts = 0;
    for (b, a) in before.iter().zip(&after) {
        if let (Some(b), Some(a)) = (b, a) {
            hosts += 1;
            for i in 0..4 {
                delta[i] += a[i] - b[i];
            }
        }
    }
    let (items_after, ihaves_after, messages_after) = sent(&net.sim);
    net.progress(&format!(
        "{label}: {:.2} % delivered, {killed} killed",
        r.share() * 100.0
    ));
    Batch {
        label: label.to_string(),
        reliability: r,
        quiet,
        tree_busy,
        killed,
        hosts,
        copies: delta[0],
        first_copies: delta[1],
        ids_announced: delta[2],
        grafts: delta[3],
        item_messages: items_after - items_before,
        messages: messages_after - messages_before,
        latencies: latencies(&net.sim, &items),
        hops: hops(&net.sim, &items),
        item_copies: items.iter().map(|i| copies(&net.sim, &[*i])).collect(),
        ihave_messages: ihaves_after - ihaves_before,
    }
}

/// Item messages, IHave messages and messages of every kind sent so far.
fn sent(sim: &Sim) -> (u64, u64, u64) {
    let kinds = &sim.counters().sent;
    (kinds.get("Item"), kinds.get("IHave"), kinds.total())
}

/// Announcement-to-delivery times of `items` at the running nodes that
/// were running when each was announced (first delivery of each pair),
/// sorted.
fn latencies(sim: &Sim, items: &[ItemIx]) -> Vec<Duration> {
    let wanted: HashMap<ItemIx, usize> = items.iter().enumerate().map(|(s, i)| (*i, s)).collect();
    let announced = sim.items();
    let mut out = Vec::new();
    let mut seen = vec![false; items.len()];
    for &node in sim.live_nodes() {
        seen.fill(false);
        let started = sim.started(node).unwrap_or_default();
        for d in sim.deliveries(node) {
            let Some(&s) = wanted.get(&d.item) else {
                continue;
            };
            let a = announced[d.item];
            if started > a.at || seen[s] {
                continue;
            }
            seen[s] = true;
            out.push(d.at.saturating_sub(a.at));
        }
    }
    out.sort_unstable();
    out
}

/// The heading of the steady-state RMR column.
const RMR_STEADY: &str = "RMR 11+";

/// A number with `decimals` decimals, or "-".
fn opt(x: Option<f64>, decimals: usize) -> Cell {
    x.map_or(Cell::Text("-".into()), |x| Cell::Num(x, decimals))
}

/// The batches of both modes side by side, one row per (batch, mode).
fn comparison_table(opts: &Opts, runs: &[ModeRun]) -> Table {
    let mut t = Table::new(
        format!(
            "Flooding against Plumtree: {} nodes, degree {}, seed {}, {} rounds, {} items per batch",
            opts.nodes, opts.degree, opts.seed, opts.rounds, opts.items
        ),
        &[
            ("batch", "batch"),
            ("mode", "mode"),
            ("killed", "killed"),
            ("hosts", "hosts"),
            ("pairs", "pairs"),
            ("delivered %", "share"),
            ("dups", "duplicates"),
            ("RMR", "rmr"),
            (RMR_STEADY, "rmr_after_warmup"),
            ("ids/item/host", "ids_per_item_host"),
            ("IHave msgs", "ihave_messages"),
            ("grafts", "grafts"),
            ("Item msgs", "item_messages"),
            ("all msgs", "messages"),
            ("p50 ms", "latency_p50_ms"),
            ("p90 ms", "latency_p90_ms"),
            ("p99 ms", "latency_p99_ms"),
            ("max ms", "latency_max_ms"),
            ("last hop", "last_hop_max"),
            ("last hop mean", "last_hop_mean"),
            ("mean hops", "mean_hops"),
            ("done (s)", "done_after_s"),
            ("tree busy", "tree_busy"),
        ],
    )
    .note(format!(
        "the same network (seed, size) built once per mode; K items {} ms apart, then run until no item is in flight",
        SPACING.as_millis()
    ))
    .note("one sender = every item at one fixed live node: cold = the first items the network carries (the")
    .note("      tree forms from them), warm = the same sender again afterwards; many senders = each item at a")
    .note("      random live node;")
    .note(format!(
        "failures during = random senders, and after the first {KILL_AFTER} items {:.0} % of the nodes are killed at once",
        opts.fraction * 100.0
    ))
    .note("hosts = nodes running before and after the batch (the survivors); every count below is over them")
    .note("pairs = (item, host running at the announcement); delivered = its client got it (or announced it)")
    .note("dups = second copies handed to a client (the at-most-once rule broken)")
    .note("RMR = sum over items of Item copies received from peers (Stats received + duplicates, deltas over")
    .note("      the batch) / sum over items of hosts that received it from a peer (Stats received) - 1;")
    .note("      0 = every host got exactly one copy; flooding of degree d gives about d - 1")
    .note(format!(
        "{RMR_STEADY} = the same over the items after the first {WARMUP} (the steady state, once the tree has"
    ))
    .note("      pruned), from the engine's count of each item's copies at every node (killed ones included)")
    .note("ids/item/host = ids announced to lazy neighbours (TreeStats ids_announced) / (items x hosts),")
    .note("      apart from the payload copies; IHave msgs = the messages carrying them, sent by every node")
    .note("grafts = items pulled with Graft (TreeStats grafts); Item msgs, all msgs = sent by every node")
    .note("latency = announcement to the client's first delivery, over every delivered (item, host) pair,")
    .note("      origin excluded; nearest-rank percentiles")
    .note("hops = links crossed by the copy that first reached a host (the origin's count is 0, a host's that")
    .note("      of the node that sent it that copy plus one; recorded by the simulator, not carried on the wire);")
    .note("      last hop = per item the largest hop count of a first delivery to a host: the largest over")
    .note("      items, and its mean over items; mean hops = over every delivered (item, host) pair")
    .note("done = time until every item had reached every host and none was in flight, or no tree had ids to")
    .note(format!(
        "      announce or pull ('-': neither within {} s);",
        QUIET_LIMIT.as_secs()
    ))
    .note("tree busy = hosts whose tree still had ids to announce or pull when the batch ended");
    for b in 0..runs.first().map_or(0, |r| r.batches.len()) {
        for r in runs {
            let x = &r.batches[b];
            let ms = |p: f64| {
                x.latency_ms(p)
                    .map_or(Cell::Text("-".into()), |v| Cell::Num(v, 1))
            };
            t.row(vec![
                x.label.as_str().into(),
                r.mode.into(),
                x.killed.into(),
                x.hosts.into(),
                x.reliability.pairs.into(),
                Cell::Pct(x.reliability.share()),
                x.reliability.duplicates.into(),
                Cell::Num(x.rmr(), 3),
                opt(x.rmr_after(WARMUP), 3),
                Cell::Num(x.ids_per_item_host(), 3),
                x.ihave_messages.into(),
                x.grafts.into(),
                x.item_messages.into(),
                x.messages.into(),
                ms(0.5),
                ms(0.9),
                ms(0.99),
                ms(1.0),
                (x.hops.last_max()).map_or(Cell::Text("-".into()), |h| u64::from(h).into()),
                opt(x.hops.last_mean(), 1),
                opt(x.hops.mean(), 2),
                Cell::Secs(x.quiet),
                x.tree_busy.into(),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Command, parse};

    fn opts(line: &str) -> Opts {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        match parse(&args) {
            Ok(Command::Run(o)) => o,
            _ => panic!("bad test command line"),
        }
    }

    #[test]
    fn plumtree_delivers_everything_with_less_redundancy() {
        let o = opts("dissemination --nodes 300 --items 20");
        let wall = Instant::now();
        let flood = run_mode(&o, wall, Dissemination::Flood, "flood").unwrap();
        let plum = run_mode(&o, wall, Dissemination::Plumtree, "plumtree").unwrap();
        for run in [&flood, &plum] {
            for b in &run.batches[..3] {
                let r = b.reliability;
                assert_eq!(r.delivered, r.pairs, "{} {}: {r:?}", run.mode, b.label);
                assert_eq!(r.duplicates, 0, "{} {}", run.mode, b.label);
                assert!(b.quiet.is_some(), "{} {}", run.mode, b.label);
            }
        }
        for b in 0..3 {
            let (f, p) = (&flood.batches[b], &plum.batches[b]);
            assert!(p.rmr() < f.rmr(), "{}: {} vs {}", f.label, p.rmr(), f.rmr());
        }
        // On the tree the cold batch left, one sender's items reach each
        // host about once (issue 6: RMR <= 0.1 on a stable network).
        let warm = &plum.batches[1];
        assert!(warm.rmr() <= 0.1, "{}: {}", warm.label, warm.rmr());
        for run in [&flood, &plum] {
            for b in &run.batches {
                let h = &b.hops;
                assert_eq!(h.unknown, 0, "{} {}", run.mode, b.label);
                assert_eq!(h.last.len(), 20, "{} {}", run.mode, b.label);
                assert!(h.last.iter().all(Option::is_some), "{h:?}");
                assert!(h.mean().unwrap() >= 1.0, "{h:?}");
                assert!(b.rmr_after(WARMUP).is_some());
            }
        }
        let (f, p) = (&flood.batches[3], &plum.batches[3]);
        assert_eq!(f.killed, 60);
        assert_eq!(f.reliability.delivered, f.reliability.pairs, "{f:?}");
        eprintln!(
            "failures during, 300 nodes: flooding {:.2} %, Plumtree {:.2} % to the survivors",
            f.reliability.share() * 100.0,
            p.reliability.share() * 100.0
        );
    }

    #[test]
    fn the_steady_state_column_names_the_items_it_counts() {
        assert_eq!(RMR_STEADY, format!("RMR {}+", WARMUP + 1));
    }
}
