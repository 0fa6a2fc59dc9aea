//! Measurements that run the simulation: healing time after a failure,
//! delivery reliability of a batch of items, and the hops its deliveries
//! took.

use std::collections::HashMap;
use std::time::Duration;

use super::engine::Sim;
use super::ids::ItemIx;
use super::metrics::components;
use crate::proto::Ttl;

/// How often the healing conditions are looked at: every 100 ms of
/// simulated time.
pub const HEALING_STEP: Duration = Duration::from_millis(100);

/// How long the overlay took to heal after a failure, each time counted
/// from the failure and found by looking every [`HEALING_STEP`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Healing {
    /// Until the largest component held every running node again; None if
    /// not within the time watched.
    pub connected: Option<Duration>,
    /// Until every running node had `degree` neighbours again (or all the
    /// others, in a network of at most `degree` nodes); None if not within
    /// the time watched.
    pub full_degree: Option<Duration>,
    /// Until the share of running nodes at full degree was back to what it
    /// was before the failure ([`Healing::baseline`]): a membership that
    /// keeps a few nodes below degree in its steady state never reaches
    /// `full_degree`, but does get back to its steady state.
    pub degree_restored: Option<Duration>,
    /// Share of the running nodes at full degree before the failure.
    pub baseline: f64,
    /// How long after the failure it was watched.
    pub watched: Duration,
}

/// Watches the overlay heal after a failure at simulated time `since`.
#[derive(Clone, Debug)]
pub struct HealingWatch {
    since: Duration,
    result: Healing,
}

impl HealingWatch {
    /// Starts watching a failure that happened at `since`; `baseline` is
    /// the [`full_degree_share`] before it.
    pub fn new(since: Duration, baseline: f64) -> HealingWatch {
        HealingWatch {
            since,
            result: Healing {
                baseline,
                ..Healing::default()
            },
        }
    }

    /// Looks at the overlay now; the first time a condition holds is kept.
    pub fn observe(&mut self, sim: &Sim) {
        let elapsed = sim.now().saturating_sub(self.since);
        let r = &mut self.result;
        r.watched = elapsed;
        let share = full_degree_share(sim);
        if r.full_degree.is_none() && share >= 1.0 {
            r.full_degree = Some(elapsed);
        }
        if r.degree_restored.is_none() && share >= r.baseline {
            r.degree_restored = Some(elapsed);
        }
        if r.connected.is_none() && components(&sim.snapshot()).len() <= 1 {
            r.connected = Some(elapsed);
        }
    }

    /// True once the overlay is one component again and its degrees are
    /// back (to full degree, or to the level before the failure).
    pub fn is_healed(&self) -> bool {
        let r = &self.result;
        r.connected.is_some() && (r.full_degree.is_some() || r.degree_restored.is_some())
    }

    /// What was seen so far.
    pub fn result(&self) -> Healing {
        self.result
    }

    /// Runs `sim` until healed ([`HealingWatch::is_healed`]) or `limit` has
    /// passed since the failure, looking every [`HEALING_STEP`].
    pub fn run(&mut self, sim: &mut Sim, limit: Duration) -> Healing {
        self.observe(sim);
        while !self.is_healed() && sim.now() < self.since + limit {
            sim.run_for(HEALING_STEP);
            self.observe(sim);
        }
        self.result
    }
}

/// Share of the running nodes that have as many neighbours as they can:
/// the degree, or every other node in a smaller network (1 without nodes).
pub fn full_degree_share(sim: &Sim) -> f64 {
    let live = sim.live_nodes();
    if live.is_empty() {
        return 1.0;
    }
    let target = sim.config().degree().min(live.len() - 1);
    let full = live.iter().filter(|&&n| sim.neighbours(n).len() >= target);
    full.count() as f64 / live.len() as f64
}

/// Runs `sim` in steps of [`HEALING_STEP`] until no item is in flight or
/// waiting for a verdict (at least one step, at most `limit`), showing each
/// step to `watch` if given. Returns how long it ran, or None if it was not
/// quiet within `limit`.
pub fn run_until_quiet(
    sim: &mut Sim,
    limit: Duration,
    mut watch: Option<&mut HealingWatch>,
) -> Option<Duration> {
    let start = sim.now();
    loop {
        sim.run_for(HEALING_STEP);
        if let Some(w) = watch.as_deref_mut() {
            w.observe(sim);
        }
        let ran = sim.now() - start;
        if sim.is_quiet() {
            return Some(ran);
        }
        if ran >= limit {
            return None;
        }
    }
}

/// Runs `sim` in steps of [`HEALING_STEP`] (at least one, at most
/// `limit`) until the dissemination of `items` is over: no item is in
/// flight or waiting for a verdict, and either every node that should get
/// them has them ([`reliability`]) or no tree has ids to announce or pull
/// ([`Sim::is_quiet`]). Returns how long it ran, or None if not over within
/// `limit`.
///
/// In a large network some tree is nearly always busy with the digest of a
/// link the membership just opened, so waiting for [`Sim::is_quiet`] alone
/// would run to the limit although nothing of the batch moves any more;
/// once every node has every item and none is in flight, no copy of them
/// can come (no tree misses them).
pub fn run_until_delivered(sim: &mut Sim, items: &[ItemIx], limit: Duration) -> Option<Duration> {
    let start = sim.now();
    loop {
        sim.run_for(HEALING_STEP);
        let ran = sim.now() - start;
        if sim.is_quiet() || (sim.is_settled() && reliability(sim, items).share() >= 1.0) {
            return Some(ran);
        }
        if ran >= limit {
            return None;
        }
    }
}

/// Announces `count` items (no hop limit) at running nodes picked at
/// random, `spacing` of simulated time apart (the simulation runs in
/// between). Returns their indices.
pub fn announce_batch(sim: &mut Sim, count: usize, spacing: Duration) -> Vec<ItemIx> {
    let mut items = Vec::with_capacity(count);
    for n in 0..count {
        if n > 0 {
            sim.run_for(spacing);
        }
        let Some(origin) = sim.random_live_node() else {
            break;
        };
        items.extend(sim.announce(origin, Ttl(0)));
    }
    items
}

/// How many of the items reached how many of the nodes that should get
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reliability {
    /// Items measured.
    pub items: usize,
    /// (item, node) pairs that should be delivered: every node running now
    /// that was already running when the item was announced.
    pub pairs: usize,
    /// Those pairs where the node's client got the item (or announced it).
    pub delivered: usize,
    /// Deliveries of an item a node's client had already got: the
    /// at-most-once rule broken.
    pub duplicates: usize,
    /// Longest time from an item's announcement to one of its deliveries.
    pub last_delivery: Option<Duration>,
}

impl Reliability {
    /// Share of the pairs delivered (1 when there is nothing to deliver).
    pub fn share(&self) -> f64 {
        if self.pairs == 0 {
            1.0
        } else {
            self.delivered as f64 / self.pairs as f64
        }
    }
}

/// Delivery of `items` to the nodes running now, as recorded so far.
pub fn reliability(sim: &Sim, items: &[ItemIx]) -> Reliability {
    let slot: HashMap<ItemIx, usize> = items.iter().enumerate().map(|(s, i)| (*i, s)).collect();
    let announced = sim.items();
    let mut r = Reliability {
        items: items.len(),
        ..Reliability::default()
    };
    let mut got = vec![0u32; items.len()];
    for &node in sim.live_nodes() {
        got.fill(0);
        for d in sim.deliveries(node) {
            if let Some(&s) = slot.get(&d.item) {
                got[s] += 1;
                let took = d.at.saturating_sub(announced[d.item].at);
                r.last_delivery = r.last_delivery.max(Some(took));
            }
        }
        let started = sim.started(node).unwrap_or_default();
        for (s, &item) in items.iter().enumerate() {
            let a = announced[item];
            if started > a.at {
                continue;
            }
            r.pairs += 1;
            if got[s] > 0 || a.origin == node {
                r.delivered += 1;
            }
            r.duplicates += got[s].saturating_sub(1) as usize;
        }
    }
    r
}

/// The hop counts of the first deliveries of a batch of items: how many
/// links the copy that first reached each host had crossed since the
/// item's origin (the engine's bookkeeping: a host's count is that of the
/// node whose copy delivered the item there, plus one; see
/// [`super::Delivery::hops`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hops {
    /// Per item, in the order given: the largest hop count of a first
    /// delivery to a counted host (None: no counted host got it from a
    /// peer).
    pub last: Vec<Option<u32>>,
    /// First deliveries to counted hosts whose hop count is known.
    pub deliveries: u64,
    /// The sum of their hop counts.
    pub total: u64,
    /// First deliveries whose hop count is not known (their sender's
    /// client never got the item; none in a run without dropped clients).
    pub unknown: u64,
}

impl Hops {
    /// Mean hop count of a first delivery (None without deliveries).
    pub fn mean(&self) -> Option<f64> {
        (self.deliveries > 0).then(|| self.total as f64 / self.deliveries as f64)
    }

    /// The largest last-delivery hop count of any item.
    pub fn last_max(&self) -> Option<u32> {
        self.last.iter().flatten().max().copied()
    }

    /// The mean over items of their last-delivery hop count (None when no
    /// item was delivered to a peer).
    pub fn last_mean(&self) -> Option<f64> {
        let known: Vec<u32> = self.last.iter().flatten().copied().collect();
        let sum: u64 = known.iter().map(|&h| u64::from(h)).sum();
        (!known.is_empty()).then(|| sum as f64 / known.len() as f64)
    }
}

/// The hop counts of `items`' first deliveries to the nodes running now
/// that were running when each was announced (the hosts [`reliability`]
/// counts).
pub fn hops(sim: &Sim, items: &[ItemIx]) -> Hops {
    let slot: HashMap<ItemIx, usize> = items.iter().enumerate().map(|(s, i)| (*i, s)).collect();
    let announced = sim.items();
    let mut h = Hops {
        last: vec![None; items.len()],
        ..Hops::default()
    };
    let mut seen = vec![false; items.len()];
    for &node in sim.live_nodes() {
        seen.fill(false);
        let started = sim.started(node).unwrap_or_default();
        for d in sim.deliveries(node) {
            let Some(&s) = slot.get(&d.item) else {
                continue;
            };
            if started > announced[d.item].at || std::mem::replace(&mut seen[s], true) {
                continue;
            }
            match d.hops {
                Some(hops) => {
                    h.deliveries += 1;
                    h.total += u64::from(hops);
                    h.last[s] = h.last[s].max(Some(hops));
                }
                None => h.unknown += 1,
            }
        }
    }
    h
}

/// Item copies received and first copies (see [`super::Announced`]) of
/// `items`, summed: every node that handled them counts, killed ones too.
pub fn copies(sim: &Sim, items: &[ItemIx]) -> (u64, u64) {
    let announced = sim.items();
    (items.iter().filter_map(|&i| announced.get(i)))
        .fold((0, 0), |(c, f), a| (c + a.copies, f + a.first_copies))
}
