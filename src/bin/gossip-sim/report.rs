//! The tables every scenario shares (overlay metrics, degrees, healing,
//! delivery, traffic) and the report that collects them.

use std::time::Duration;

use gossipd::sim::{Counters, Healing, Metrics, Reliability};

use crate::json::Json;
use crate::options::Opts;
use crate::table::{Cell, Table};

/// Everything a scenario found, in the order it was found.
pub struct Report {
    /// The tables.
    pub tables: Vec<Table>,
    /// Headline results, one line each.
    pub summary: Vec<String>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Report {
        Report {
            tables: Vec::new(),
            summary: Vec::new(),
        }
    }

    /// Prints the report as text, or as one JSON document with `opts` and
    /// `extra` fields.
    pub fn print(&self, opts: &Opts, extra: Json) {
        if opts.json {
            let tables: Vec<Json> = self.tables.iter().map(Table::json).collect();
            let doc = Json::obj()
                .with("scenario", opts.scenario.name())
                .with("options", options_json(opts))
                .with("summary", self.summary.clone())
                .with("tables", tables)
                .with("run", extra);
            print!("{}", doc.render());
            return;
        }
        for table in &self.tables {
            println!("{}", table.render());
        }
        if !self.summary.is_empty() {
            println!("Summary");
            for line in &self.summary {
                println!("  {line}");
            }
        }
    }
}

fn options_json(o: &Opts) -> Json {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Json::obj()
        .with("nodes", o.nodes)
        .with("degree", o.degree)
        .with("seed", o.seed)
        .with("rounds", u64::from(o.rounds))
        .with("fraction", o.fraction)
        .with("latency_min_ms", ms(o.latency_min))
        .with("latency_max_ms", ms(o.latency_max))
        .with("loss", o.loss)
        .with("items", o.items)
        .with("join_interval_ms", ms(o.join_interval))
        .with("duration_rounds", u64::from(o.duration))
        .with("interval_ms", ms(o.interval))
        .with("heal_limit_s", o.heal_limit.as_secs_f64())
        .with("check_every_ms", o.checks.map(ms))
}

/// Overlay metrics, one row per snapshot: (label, simulated time, metrics).
pub fn metrics_table(title: &str, rows: &[(String, Duration, Metrics)]) -> Table {
    let mut t = Table::new(
        title,
        &[
            ("snapshot", "snapshot"),
            ("t (s)", "t_s"),
            ("live", "live"),
            ("comps", "components"),
            ("largest %", "largest_share"),
            ("isolated", "isolated"),
            ("out min", "out_min"),
            ("out mean", "out_mean"),
            ("out max", "out_max"),
            ("in min", "in_min"),
            ("in max", "in_max"),
            ("one-way %", "asymmetric_share"),
            ("clustering", "clustering"),
            ("avg path", "average_path"),
            ("stale", "stale_entries"),
        ],
    )
    .note("snapshot of every live node's active view; links undirected for components, clustering, paths")
    .note("out = own view size, in = how many list it; one-way % = linked pairs listed by one side only")
    .note("clustering = mean local coefficient; avg path = hops, BFS from all nodes or 100 random ones")
    .note("stale = view entries naming dead nodes");
    for (label, at, m) in rows {
        t.row(vec![
            label.as_str().into(),
            Cell::Secs(Some(*at)),
            m.live.into(),
            m.components.len().into(),
            Cell::Pct(m.largest_share),
            m.isolated.into(),
            m.out_degree.min().into(),
            Cell::Num(m.out_degree.mean(), 2),
            m.out_degree.max().into(),
            m.in_degree.min().into(),
            m.in_degree.max().into(),
            Cell::Pct(m.asymmetric),
            Cell::Num(m.clustering, 4),
            m.average_path
                .map_or(Cell::Text("-".into()), |p| Cell::Num(p, 2)),
            m.dangling.into(),
        ]);
    }
    t
}

/// Degree distributions of one snapshot: nodes per out- and in-degree.
pub fn degree_table(title: &str, m: &Metrics) -> Table {
    let mut t = Table::new(
        title,
        &[
            ("degree", "degree"),
            ("out", "out_nodes"),
            ("in", "in_nodes"),
        ],
    )
    .note("nodes whose active view holds k entries (out) and nodes listed by k others (in)");
    let top = m.out_degree.max().max(m.in_degree.max());
    for k in 0..=top {
        t.row(vec![
            k.into(),
            m.out_degree.count(k).into(),
            m.in_degree.count(k).into(),
        ]);
    }
    t
}

/// Healing after failures: (label, healing) per row.
pub fn healing_table(title: &str, rows: &[(String, Healing)]) -> Table {
    let mut t = Table::new(
        title,
        &[
            ("event", "event"),
            ("one component (s)", "connected_s"),
            ("full degree (s)", "full_degree_s"),
            ("full before %", "full_before_share"),
            ("back to it (s)", "degree_restored_s"),
            ("watched (s)", "watched_s"),
        ],
    )
    .note("simulated time from the failure until the largest component holds every live node, until every")
    .note("live node has `degree` neighbours, and until the share of nodes at full degree is back to its")
    .note("level before the failure; looked at every 100 ms until one component and degrees back (or the")
    .note("heal limit); '-' = not seen within the time watched");
    for (label, h) in rows {
        t.row(vec![
            label.as_str().into(),
            Cell::Secs(h.connected),
            Cell::Secs(h.full_degree),
            Cell::Pct(h.baseline),
            Cell::Secs(h.degree_restored),
            Cell::Secs(Some(h.watched)),
        ]);
    }
    t
}

/// Delivery of item batches: (label, reliability, time until quiet).
pub fn reliability_table(title: &str, rows: &[(String, Reliability, Option<Duration>)]) -> Table {
    let mut t = Table::new(
        title,
        &[
            ("batch", "batch"),
            ("items", "items"),
            ("pairs", "pairs"),
            ("delivered", "delivered"),
            ("delivered %", "share"),
            ("dups", "duplicates"),
            ("last (s)", "last_delivery_s"),
            ("quiet after (s)", "quiet_after_s"),
        ],
    )
    .note("K items announced 10 ms apart at random live nodes, then run until no item is in flight;")
    .note("pairs = (item, node) with the node live now and already running at the announcement;")
    .note("delivered = its client got the item (or announced it); dups = second copies handed to a client");
    for (label, r, quiet) in rows {
        t.row(vec![
            label.as_str().into(),
            r.items.into(),
            r.pairs.into(),
            r.delivered.into(),
            Cell::Pct(r.share()),
            r.duplicates.into(),
            Cell::Secs(r.last_delivery),
            Cell::Secs(*quiet),
        ]);
    }
    t
}

/// What the network carried: messages by kind and the engine's counters.
pub fn traffic_table(title: &str, c: &Counters) -> Table {
    let mut t = Table::new(title, &[("what", "what"), ("count", "count")])
        .note("messages sent by kind (the Message variant), then dials, links and losses");
    for (kind, n) in c.sent.iter() {
        t.row(vec![format!("sent {kind}").into(), n.into()]);
    }
    for (what, n) in [
        ("messages delivered", c.delivered),
        ("messages lost (broke link)", c.lost),
        ("messages without a link", c.unsendable),
        ("messages dropped on arrival", c.dropped),
        ("dials", c.dials),
        ("dials failed", c.dials_failed),
        ("links opened", c.links_opened),
        ("links broken", c.links_broken),
        ("bans", c.bans),
        ("clients dropped", c.dropped_clients),
    ] {
        t.row(vec![what.into(), n.into()]);
    }
    t
}
