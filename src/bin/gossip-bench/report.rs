//! Turning results into the table on stdout and the JSON files.

use crate::floor::Floor;
use crate::json::Json;
use crate::run::{Deliveries, RunResult, RunSpec};

const MIB: f64 = 1024.0 * 1024.0;

/// The headline figures of one run, derived once for table and JSON.
pub struct Figures {
    /// Delivery counts and distributions.
    pub d: Deliveries,
    /// Delivered ÷ expected.
    pub ratio: f64,
    /// Items that reached every receiver, per second of the span.
    pub items_per_s: f64,
    /// Deliveries per second of the span.
    pub deliveries_per_s: f64,
    /// P2P bytes written by all nodes ÷ payload bytes delivered.
    pub overhead: f64,
    /// Node CPU µs per delivery.
    pub cpu_us_per_delivery: f64,
    /// The same less the idle nodes' CPU over the measured run.
    pub busy_cpu_us_per_delivery: f64,
    /// Largest peak RSS of a node, MiB.
    pub rss_max_mib: f64,
    /// Mean peak RSS of the nodes, MiB.
    pub rss_mean_mib: f64,
    /// Largest thread count of a node.
    pub threads_max: u64,
}

impl Figures {
    /// Derives the figures of `r`.
    pub fn of(r: &RunResult) -> Figures {
        let d = r.deliveries();
        let per = |x: f64, n: f64| if n > 0.0 { x / n } else { f64::NAN };
        let rss: Vec<f64> = r
            .rss_hwm_kib
            .iter()
            .flatten()
            .map(|&k| k as f64 / 1024.0)
            .collect();
        let payload = d.delivered as f64 * r.spec.size as f64;
        Figures {
            ratio: per(d.delivered as f64, d.expected as f64),
            items_per_s: per(d.items_covered as f64, d.span_s),
            deliveries_per_s: per(d.delivered as f64, d.span_s),
            overhead: per(r.node_stat("p2p_bytes_out").unwrap_or(0) as f64, payload),
            cpu_us_per_delivery: per(r.node_cpu_s * 1e6, d.delivered as f64),
            busy_cpu_us_per_delivery: per(
                (r.node_cpu_s - r.setup.idle_cpu_per_s * r.measured_s).max(0.0) * 1e6,
                d.delivered as f64,
            ),
            rss_max_mib: rss.iter().copied().fold(f64::NAN, f64::max),
            rss_mean_mib: per(rss.iter().sum(), rss.len() as f64),
            threads_max: r.threads_max.iter().copied().max().unwrap_or(0),
            d,
        }
    }
}

/// `x` to `decimals` places, or `-` when it is not a number.
fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}

fn ms(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| num(v, 3))
}

/// The one-line description of a run's parameters.
pub fn header(r: &RunResult) -> String {
    let s = &r.spec;
    let rate = match s.rate {
        0 => "as fast as possible".to_string(),
        r => format!("{r} items/s"),
    };
    format!(
        "{}: N={} nodes, S={} B, R={rate}, M={} items, degree={}, cache_size={}, dissemination={}",
        s.name,
        s.cluster.nodes,
        s.size,
        s.items,
        s.cluster.degree,
        s.cluster.cache_size,
        s.cluster.dissemination
    )
}

/// Prints the floor's figures.
pub fn print_floor(f: &Floor) {
    println!(
        "== floor: one loopback TCP hop between two processes, {} B messages (+4 B length prefix) ==",
        f.size
    );
    println!(
        "one-way latency  p50 {} ms  p99 {} ms  (round trip / 2 over {} ping-pongs)",
        ms(f.one_way.ms(50.0)),
        ms(f.one_way.ms(99.0)),
        f.one_way.len()
    );
    println!(
        "stream           {} messages/s, {} µs CPU per message (both processes, {} messages; ping-pong: {} µs)",
        num(f.stream_msgs_per_s, 0),
        num(f.stream_cpu_us_per_msg, 2),
        f.stream_count,
        num(f.ping_cpu_us_per_msg, 2)
    );
    println!();
}

/// The floor as JSON.
pub fn floor_json(f: &Floor) -> Json {
    Json::obj()
        .with("size", f.size)
        .with(
            "method",
            "two processes, one loopback TCP connection, blocking sockets, TCP_NODELAY; \
             one write per message, reads through a 64 KiB buffer",
        )
        .with("one_way_latency", f.one_way.to_json())
        .with("ping_cpu_us_per_msg", f.ping_cpu_us_per_msg)
        .with("stream_count", f.stream_count)
        .with("stream_msgs_per_s", f.stream_msgs_per_s)
        .with("stream_cpu_us_per_msg", f.stream_cpu_us_per_msg)
}

/// Prints one run's table.
pub fn print_run(r: &RunResult, fig: &Figures, floor: &Floor) {
    let (d, s) = (&fig.d, &r.spec);
    let receivers = s.cluster.nodes - 1;
    println!("== {} ==", header(r));
    println!(
        "   one gossipd process per node on 127.0.0.1, one API subscriber per node (validates at once), \
         publisher at node 0, {receivers} receivers"
    );
    print_setup(r);
    println!(
        "end              {} after {:.2} s",
        r.end_reason, r.measured_s
    );
    println!(
        "delivery         ratio {:.4} ({} of {}), duplicates {}, at the publisher's node {}, unparsable {}",
        fig.ratio, d.delivered, d.expected, d.duplicates, d.at_publisher, d.strays
    );
    println!(
        "latency          p50 {}  p90 {}  p99 {}  max {} ms  (announce to notification; p50 = {}x floor one-way)",
        ms(d.latency.ms(50.0)),
        ms(d.latency.ms(90.0)),
        ms(d.latency.ms(99.0)),
        ms(d.latency.max_ms()),
        num(ratio(d.latency.ms(50.0), floor.one_way.ms(50.0)), 1)
    );
    println!(
        "coverage         p50 {}  p99 {}  max {} ms  (announce to the last of {receivers} receivers; {} items reached all)",
        ms(d.coverage.ms(50.0)),
        ms(d.coverage.ms(99.0)),
        ms(d.coverage.max_ms()),
        d.items_covered
    );
    print_throughput(r, fig, floor);
    print_costs(r, fig, floor);
    println!();
}

fn ratio(a: Option<f64>, b: Option<f64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => a / b,
        _ => f64::NAN,
    }
}

fn print_setup(r: &RunResult) {
    let n = &r.setup.neighbours;
    let mean = n.iter().sum::<i64>() as f64 / n.len().max(1) as f64;
    println!(
        "setup            {:.1} s (not measured): neighbours min/mean/max {}/{:.1}/{} (target {} {}), {} probe(s)",
        r.setup.seconds,
        n.iter().min().unwrap_or(&0),
        mean,
        n.iter().max().unwrap_or(&0),
        r.spec.cluster.degree.min(r.spec.cluster.nodes - 1),
        if r.setup.target_reached {
            "reached"
        } else {
            "not reached; counts were stable"
        },
        r.setup.probes
    );
}

fn print_throughput(r: &RunResult, fig: &Figures, floor: &Floor) {
    let offered = match r.spec.rate {
        0 => format!(
            "offered as fast as node 0 takes them: {} items/s",
            num(publish_rate(r), 0)
        ),
        rate => format!(
            "offered {rate}/s, publisher at most {:.1} ms behind schedule",
            r.published.max_behind_ns as f64 / 1e6
        ),
    };
    println!(
        "throughput       {} items/s to all receivers, {} deliveries/s over {:.2} s  ({offered}; {}x floor msgs/s)",
        num(fig.items_per_s, 1),
        num(fig.deliveries_per_s, 0),
        fig.d.span_s,
        num(fig.items_per_s / floor.stream_msgs_per_s, 4)
    );
    if let Some(e) = &r.published.error {
        println!("publisher        stopped: {e}");
    }
}

/// Items per second the publisher got node 0 to take.
fn publish_rate(r: &RunResult) -> f64 {
    match (r.published.first_ns, r.published.last_ns) {
        (Some(a), Some(b)) if b > a => (r.published.sent - 1) as f64 / ((b - a) as f64 / 1e9),
        _ => f64::NAN,
    }
}

fn print_costs(r: &RunResult, fig: &Figures, floor: &Floor) {
    let bytes_out = r.node_stat("p2p_bytes_out").unwrap_or(0);
    println!(
        "wire             {:.2} MiB P2P bytes written by all nodes = {} per delivered payload byte \
         (includes joining, membership and {} probes of 16 B; {} of {} nodes reported)",
        bytes_out as f64 / MIB,
        num(fig.overhead, 2),
        r.setup.probes,
        r.nodes_with_stats,
        r.spec.cluster.nodes
    );
    println!(
        "cpu              nodes {:.2} s = {} µs per delivery ({}x floor µs/msg); benchmark process {:.2} s",
        r.node_cpu_s,
        num(fig.cpu_us_per_delivery, 1),
        num(fig.cpu_us_per_delivery / floor.stream_cpu_us_per_msg, 1),
        r.bench_cpu_s
    );
    println!(
        "                 idle nodes use {:.3} CPU s/s together; less that: {} µs per delivery",
        r.setup.idle_cpu_per_s,
        num(fig.busy_cpu_us_per_delivery, 1)
    );
    println!(
        "memory           peak RSS per node max {} MiB, mean {} MiB; threads per node max {}",
        num(fig.rss_max_mib, 1),
        num(fig.rss_mean_mib, 1),
        fig.threads_max
    );
    let dup = r.node_stat("duplicates").unwrap_or(0);
    let recv = r.node_stat("received").unwrap_or(0);
    println!("node counters    received={recv} duplicates={dup} (P2P item copies, sum over nodes)");
    println!(
        "warnings         {} WARN/ERROR lines in the node logs",
        r.warnings.count
    );
    for line in r
        .warnings
        .first
        .iter()
        .chain(&r.problems)
        .chain(&fig.d.client_errors)
    {
        println!("                 {line}");
    }
    if let Some(dir) = &r.kept_logs {
        println!("logs             kept in {dir}");
    }
}

/// One run as JSON.
pub fn run_json(r: &RunResult, fig: &Figures, floor: &Floor) -> Json {
    let s = &r.spec;
    let params = Json::obj()
        .with("nodes", s.cluster.nodes)
        .with("size", s.size)
        .with("rate", s.rate)
        .with("items", s.items)
        .with("degree", s.cluster.degree)
        .with("cache_size", s.cluster.cache_size)
        .with("dissemination", s.cluster.dissemination.as_str())
        .with("idle_timeout_s", s.idle_timeout.as_secs_f64())
        .with("max_time_s", s.max_time.as_secs_f64());
    Json::obj()
        .with("name", s.name.as_str())
        .with("description", header(r))
        .with("params", params)
        .with("setup", setup_json(r))
        .with("end_reason", r.end_reason.as_str())
        .with("measured_s", r.measured_s)
        .with("delivery", delivery_json(fig))
        .with("latency", fig.d.latency.to_json())
        .with("coverage", fig.d.coverage.to_json())
        .with("throughput", throughput_json(r, fig))
        .with("wire", wire_json(r, fig))
        .with("cpu", cpu_json(r, fig))
        .with("memory", memory_json(r, fig))
        .with("vs_floor", vs_floor_json(fig, floor))
        .with("node_stats_sum", stats_json(&r.node_stats))
        .with("warnings", warnings_json(r))
        .with("kept_logs", r.kept_logs.clone())
}

fn setup_json(r: &RunResult) -> Json {
    Json::obj()
        .with("seconds", r.setup.seconds)
        .with("neighbours", r.setup.neighbours.clone())
        .with("target_reached", r.setup.target_reached)
        .with("probes", r.setup.probes)
}

fn delivery_json(fig: &Figures) -> Json {
    let d = &fig.d;
    Json::obj()
        .with("expected", d.expected)
        .with("delivered", d.delivered)
        .with("ratio", fig.ratio)
        .with("duplicates", d.duplicates)
        .with("at_publisher", d.at_publisher)
        .with("unparsable", d.strays)
        .with("items_covered", d.items_covered)
        .with("client_errors", d.client_errors.clone())
}

fn throughput_json(r: &RunResult, fig: &Figures) -> Json {
    Json::obj()
        .with("span_s", fig.d.span_s)
        .with("items_per_s", fig.items_per_s)
        .with("deliveries_per_s", fig.deliveries_per_s)
        .with("published", r.published.sent)
        .with("publish_rate", publish_rate(r))
        .with(
            "publisher_max_behind_ms",
            r.published.max_behind_ns as f64 / 1e6,
        )
        .with("publisher_error", r.published.error.clone())
}

fn wire_json(r: &RunResult, fig: &Figures) -> Json {
    Json::obj()
        .with("p2p_bytes_out", r.node_stat("p2p_bytes_out"))
        .with("p2p_bytes_in", r.node_stat("p2p_bytes_in"))
        .with(
            "payload_bytes_delivered",
            fig.d.delivered * r.spec.size as u64,
        )
        .with("overhead", fig.overhead)
        .with("nodes_reporting", r.nodes_with_stats)
        .with(
            "note",
            format!(
                "P2P bytes over each node's whole life, so they include joining, membership \
                 and {} probe items of 16 bytes",
                r.setup.probes
            ),
        )
}

fn cpu_json(r: &RunResult, fig: &Figures) -> Json {
    Json::obj()
        .with("node_cpu_s", r.node_cpu_s)
        .with("cpu_us_per_delivery", fig.cpu_us_per_delivery)
        .with("idle_cpu_s_per_s", r.setup.idle_cpu_per_s)
        .with("busy_cpu_us_per_delivery", fig.busy_cpu_us_per_delivery)
        .with("bench_cpu_s", r.bench_cpu_s)
}

fn memory_json(r: &RunResult, fig: &Figures) -> Json {
    Json::obj()
        .with("rss_hwm_kib", r.rss_hwm_kib.clone())
        .with("rss_max_mib", fig.rss_max_mib)
        .with("rss_mean_mib", fig.rss_mean_mib)
        .with("threads_max_per_node", r.threads_max.clone())
        .with("threads_max", fig.threads_max)
}

fn vs_floor_json(fig: &Figures, floor: &Floor) -> Json {
    let lat = &fig.d.latency;
    Json::obj()
        .with(
            "latency_p50_over_floor_p50",
            ratio(lat.ms(50.0), floor.one_way.ms(50.0)),
        )
        .with(
            "latency_p99_over_floor_p99",
            ratio(lat.ms(99.0), floor.one_way.ms(99.0)),
        )
        .with(
            "cpu_per_delivery_over_floor_cpu_per_msg",
            fig.cpu_us_per_delivery / floor.stream_cpu_us_per_msg,
        )
        .with(
            "items_per_s_over_floor_msgs_per_s",
            fig.items_per_s / floor.stream_msgs_per_s,
        )
}

fn stats_json(stats: &[(String, u64)]) -> Json {
    Json::Obj(
        stats
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(*v)))
            .collect(),
    )
}

fn warnings_json(r: &RunResult) -> Json {
    Json::obj()
        .with("count", r.warnings.count)
        .with("first", r.warnings.first.clone())
        .with("problems", r.problems.clone())
}

/// One row of the summary table: a finished run or a failed one.
pub enum Row {
    /// The run finished.
    Done {
        /// What was run.
        spec: RunSpec,
        /// What it measured.
        figures: Figures,
    },
    /// The run failed.
    Failed {
        /// What was run.
        spec: RunSpec,
        /// Why it failed.
        why: String,
    },
}

/// The summary table's columns: heading and width.
const COLUMNS: [(&str, usize); 20] = [
    ("run", 14),
    ("N", 3),
    ("R", 4),
    ("M", 6),
    ("ratio", 6),
    ("dup", 4),
    ("p50ms", 7),
    ("p90ms", 7),
    ("p99ms", 7),
    ("maxms", 7),
    ("cov50", 7),
    ("cov99", 7),
    ("items/s", 8),
    ("deliv/s", 8),
    ("B/B", 5),
    ("µs/del", 7),
    ("RSS", 5),
    ("thr", 4),
    ("p50/fl", 7),
    ("cpu/fl", 6),
];

/// One line of the summary: the first cell left-aligned, the rest right.
fn print_cells(cells: &[String]) {
    let mut line = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS).enumerate() {
        match i {
            0 => line.push_str(&format!("{cell:<width$}")),
            _ => line.push_str(&format!(" {cell:>width$}")),
        }
    }
    println!("{line}");
}

/// The summary cells of a finished run.
fn summary_cells(spec: &RunSpec, f: &Figures, floor: &Floor) -> Vec<String> {
    let (lat, cov) = (&f.d.latency, &f.d.coverage);
    vec![
        spec.name.clone(),
        spec.cluster.nodes.to_string(),
        spec.rate.to_string(),
        spec.items.to_string(),
        num(f.ratio, 4),
        f.d.duplicates.to_string(),
        ms(lat.ms(50.0)),
        ms(lat.ms(90.0)),
        ms(lat.ms(99.0)),
        ms(lat.max_ms()),
        ms(cov.ms(50.0)),
        ms(cov.ms(99.0)),
        num(f.items_per_s, 0),
        num(f.deliveries_per_s, 0),
        num(f.overhead, 2),
        num(f.cpu_us_per_delivery, 1),
        num(f.rss_max_mib, 1),
        f.threads_max.to_string(),
        num(ratio(lat.ms(50.0), floor.one_way.ms(50.0)), 1),
        num(f.cpu_us_per_delivery / floor.stream_cpu_us_per_msg, 1),
    ]
}

/// Prints the summary table, one row per run.
pub fn print_summary(rows: &[Row], floor: &Floor) {
    print_cells(&COLUMNS.map(|(heading, _)| heading.to_string()));
    for row in rows {
        match row {
            Row::Done { spec, figures } => print_cells(&summary_cells(spec, figures, floor)),
            Row::Failed { spec, why } => println!("{:<14} FAILED: {why}", spec.name),
        }
    }
    println!(
        "(ms: announce to notification; cov: to the last receiver; B/B: P2P bytes written per \
         delivered payload byte; µs/del: node CPU per delivery; RSS: max peak MiB per node; \
         thr: max threads per node; /fl: ratio to the floor: one-way p50 {} ms, {} µs CPU per message)",
        ms(floor.one_way.ms(50.0)),
        num(floor.stream_cpu_us_per_msg, 2)
    );
}
