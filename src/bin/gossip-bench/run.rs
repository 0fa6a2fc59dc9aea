//! One measured cluster run: set up, publish, watch, tear down, sum up.
//!
//! Setup (start the nodes, wait for neighbours, subscribe, probe) is not
//! measured. The measured run starts right before the publisher's first
//! ANNOUNCE and ends when every receiver has every item, or when nothing was
//! delivered for the idle timeout, or at the run's time cap.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::cluster::{Cluster, ClusterSpec, Warnings};
use crate::procfs::Proc;
use crate::stats::Distribution;
use crate::workload::{
    self, Announcer, ITEM_TYPE, MISSING, PROBE_TYPE, Progress, Published, Record, STAMP_LEN,
    Subscriber, now_ns,
};
use crate::{Result, check_interrupted, fail};

/// How long the nodes get to find their neighbours.
const NEIGHBOUR_DEADLINE: Duration = Duration::from_secs(30);
/// Neighbour counts unchanged this long count as settled.
const NEIGHBOURS_STABLE: Duration = Duration::from_secs(1);
/// How long the probes get to reach every node.
const PROBE_DEADLINE: Duration = Duration::from_secs(15);
/// How often the watcher samples the nodes' thread counts.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How long the idle cluster's CPU use is measured before the run.
const IDLE_SAMPLE: Duration = Duration::from_secs(1);

/// What to run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Names the run in reports and file names.
    pub name: String,
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Payload bytes per item (at least 16).
    pub size: usize,
    /// Items per second; 0 = as fast as node 0 takes them.
    pub rate: u32,
    /// Items to announce.
    pub items: u64,
    /// The run ends when nothing was delivered for this long.
    pub idle_timeout: Duration,
    /// The run ends at this age whatever happens.
    pub max_time: Duration,
}

/// How the setup went.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Seconds from starting the first node to the end of probing.
    pub seconds: f64,
    /// Neighbour count per node when the wait ended.
    pub neighbours: Vec<i64>,
    /// True when every node had min(degree, N − 1) neighbours.
    pub target_reached: bool,
    /// Probe items (16 bytes, their own data type) announced.
    pub probes: u64,
    /// CPU seconds per second of all nodes, idle (no items), just before
    /// the measured run.
    pub idle_cpu_per_s: f64,
}

/// Everything a run measured.
#[derive(Debug)]
pub struct RunResult {
    /// What was run.
    pub spec: RunSpec,
    /// How the setup went.
    pub setup: Setup,
    /// Why the measured run ended.
    pub end_reason: String,
    /// What the publisher did.
    pub published: Published,
    /// Each subscriber's record, node order.
    pub records: Vec<Record>,
    /// Seconds of the measured run.
    pub measured_s: f64,
    /// CPU seconds of all nodes during the measured run.
    pub node_cpu_s: f64,
    /// CPU seconds of the benchmark process during the measured run.
    pub bench_cpu_s: f64,
    /// Peak RSS (VmHWM, KiB) per node, read at the end of the measured run.
    pub rss_hwm_kib: Vec<Option<u64>>,
    /// Largest thread count per node seen during the measured run.
    pub threads_max: Vec<u64>,
    /// Sums over the nodes of the numeric fields of their `stats:` lines.
    pub node_stats: Vec<(String, u64)>,
    /// Nodes that logged a stats line.
    pub nodes_with_stats: usize,
    /// Warnings logged by the nodes (whole life).
    pub warnings: Warnings,
    /// Nodes that did not stop cleanly.
    pub problems: Vec<String>,
    /// Where the node logs were kept, if they were.
    pub kept_logs: Option<String>,
}

/// The clients of a run: a subscriber per node, the publisher's connection.
struct Clients {
    epoch: Instant,
    progress: Arc<Progress>,
    subscribers: Vec<Subscriber>,
    announcer: Announcer,
    probes: u64,
}

/// The publisher thread; dropping it stops and joins it.
struct PublisherThread {
    progress: Arc<Progress>,
    thread: Option<JoinHandle<Published>>,
}

impl PublisherThread {
    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn stop(mut self) -> Published {
        self.progress.stop.store(true, Ordering::Relaxed);
        let joined = self.thread.take().map(JoinHandle::join);
        match joined {
            Some(Ok(published)) => published,
            _ => Published {
                error: Some("the publisher thread panicked".into()),
                ..Published::default()
            },
        }
    }
}

impl Drop for PublisherThread {
    fn drop(&mut self) {
        self.progress.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `spec` on a fresh cluster of `gossipd` processes.
pub fn execute(spec: &RunSpec, gossipd: &Path, ticks_per_s: u64) -> Result<RunResult> {
    let setup_start = Instant::now();
    let mut cluster = Cluster::start(&spec.cluster, gossipd)?;
    let target = spec.cluster.degree.min(spec.cluster.nodes - 1) as i64;
    let (neighbours, target_reached) =
        cluster.wait_neighbours(target, NEIGHBOURS_STABLE, NEIGHBOUR_DEADLINE)?;
    let clients = match connect_and_probe(&mut cluster, spec) {
        Ok(clients) => clients,
        Err(e) => {
            cluster.keep_files();
            return Err(e);
        }
    };
    let idle_cpu_per_s = idle_cpu(&cluster, ticks_per_s)?;
    let setup = Setup {
        seconds: setup_start.elapsed().as_secs_f64(),
        neighbours,
        target_reached,
        probes: clients.probes,
        idle_cpu_per_s,
    };
    measure(spec, cluster, clients, setup, ticks_per_s)
}

/// CPU seconds per second the idle nodes use, over [`IDLE_SAMPLE`].
fn idle_cpu(cluster: &Cluster, ticks_per_s: u64) -> Result<f64> {
    check_interrupted()?;
    let before = cluster.cpu_ticks();
    let start = Instant::now();
    thread::sleep(IDLE_SAMPLE);
    let ticks = cluster.cpu_ticks().saturating_sub(before);
    Ok(ticks as f64 / ticks_per_s as f64 / start.elapsed().as_secs_f64())
}

/// Connects a subscriber to every node and probes until all are reached.
fn connect_and_probe(cluster: &mut Cluster, spec: &RunSpec) -> Result<Clients> {
    let apis = cluster.api_addresses()?;
    let epoch = Instant::now();
    let progress = Arc::new(Progress::default());
    let items = usize::try_from(spec.items).map_err(|_| fail("too many items"))?;
    let subscribers = apis
        .iter()
        .enumerate()
        .map(|(i, &api)| Subscriber::start(i, api, items, epoch, Arc::clone(&progress)))
        .collect::<Result<Vec<_>>>()?;
    let mut prober = Announcer::connect(apis[0], PROBE_TYPE, STAMP_LEN)?;
    let receivers = cluster.len() - 1;
    let probes = workload::probe(&mut prober, &progress, receivers, epoch, PROBE_DEADLINE)?;
    cluster.check_alive()?;
    let announcer = Announcer::connect(apis[0], ITEM_TYPE, spec.size)?;
    Ok(Clients {
        epoch,
        progress,
        subscribers,
        announcer,
        probes,
    })
}

/// The measured run and the teardown.
fn measure(
    spec: &RunSpec,
    mut cluster: Cluster,
    clients: Clients,
    setup: Setup,
    ticks_per_s: u64,
) -> Result<RunResult> {
    let Clients {
        epoch,
        progress,
        subscribers,
        announcer,
        ..
    } = clients;
    let cpu_before = cluster.cpu_ticks();
    let bench_before = Proc::Me.cpu_ticks().unwrap_or(0);
    let start = Instant::now();
    let publisher = spawn_publisher(announcer, spec, epoch, &progress)?;
    let (end_reason, threads_max) = watch(&mut cluster, &progress, spec, epoch, &publisher)?;
    let measured_s = start.elapsed().as_secs_f64();
    let node_ticks = cluster.cpu_ticks().saturating_sub(cpu_before);
    let bench_ticks = Proc::Me
        .cpu_ticks()
        .unwrap_or(0)
        .saturating_sub(bench_before);
    let rss_hwm_kib = cluster.status_field("VmHWM");
    let published = publisher.stop();
    progress.closing.store(true, Ordering::Relaxed);
    let records = subscribers
        .into_iter()
        .map(Subscriber::stop)
        .collect::<Result<Vec<_>>>()?;
    teardown(
        spec,
        cluster,
        setup,
        ticks_per_s,
        Measured {
            records,
            published,
            end_reason,
            measured_s,
            node_ticks,
            bench_ticks,
            rss_hwm_kib,
            threads_max,
        },
    )
}

/// What the clients, the watcher and `/proc` said about the measured run.
struct Measured {
    records: Vec<Record>,
    published: Published,
    end_reason: String,
    measured_s: f64,
    node_ticks: u64,
    bench_ticks: u64,
    rss_hwm_kib: Vec<Option<u64>>,
    threads_max: Vec<u64>,
}

/// Stops the nodes (keeping their logs when something was lost or logged
/// as a warning) and assembles the result.
fn teardown(
    spec: &RunSpec,
    mut cluster: Cluster,
    setup: Setup,
    ticks_per_s: u64,
    m: Measured,
) -> Result<RunResult> {
    let warnings = cluster.warnings();
    let expected = spec.items * (spec.cluster.nodes as u64 - 1);
    let delivered: u64 = m.records.iter().skip(1).map(|r| r.deliveries).sum();
    let kept_logs = (delivered < expected || warnings.count > 0).then(|| {
        cluster.keep_files();
        cluster.dir().display().to_string()
    });
    let shutdown = cluster.stop();
    let (node_stats, nodes_with_stats) = sum_stats(&shutdown.stats);
    let seconds = |ticks: u64| ticks as f64 / ticks_per_s as f64;
    Ok(RunResult {
        spec: spec.clone(),
        setup,
        end_reason: m.end_reason,
        published: m.published,
        records: m.records,
        measured_s: m.measured_s,
        node_cpu_s: seconds(m.node_ticks),
        bench_cpu_s: seconds(m.bench_ticks),
        rss_hwm_kib: m.rss_hwm_kib,
        threads_max: m.threads_max,
        node_stats,
        nodes_with_stats,
        warnings,
        problems: shutdown.problems,
        kept_logs,
    })
}

fn spawn_publisher(
    announcer: Announcer,
    spec: &RunSpec,
    epoch: Instant,
    progress: &Arc<Progress>,
) -> Result<PublisherThread> {
    let (items, rate) = (spec.items, spec.rate);
    let shared = Arc::clone(progress);
    let thread = thread::Builder::new()
        .name("publisher".into())
        .spawn(move || workload::publish(announcer, items, rate, epoch, &shared))?;
    Ok(PublisherThread {
        progress: Arc::clone(progress),
        thread: Some(thread),
    })
}

/// Watches the run until it ends; samples the nodes' thread counts.
/// Returns why it ended and the largest thread count per node.
fn watch(
    cluster: &mut Cluster,
    progress: &Progress,
    spec: &RunSpec,
    epoch: Instant,
    publisher: &PublisherThread,
) -> Result<(String, Vec<u64>)> {
    let expected = spec.items * (cluster.len() as u64 - 1);
    let start = Instant::now();
    let start_ns = now_ns(epoch);
    let mut threads = vec![0u64; cluster.len()];
    let mut next_sample = start;
    let reason = loop {
        check_interrupted()?;
        if Instant::now() >= next_sample {
            for (max, now) in threads.iter_mut().zip(cluster.status_field("Threads")) {
                *max = (*max).max(now.unwrap_or(0));
            }
            next_sample += SAMPLE_EVERY;
        }
        if progress.delivered.load(Ordering::Relaxed) >= expected {
            break "all items delivered to all receivers".to_string();
        }
        let last = start_ns
            .max(progress.last_delivery_ns.load(Ordering::Relaxed))
            .max(progress.last_publish_ns.load(Ordering::Relaxed));
        let idle = Duration::from_nanos(now_ns(epoch).saturating_sub(last));
        if publisher.is_finished() && idle >= spec.idle_timeout {
            break format!(
                "idle timeout: nothing delivered for {:?}",
                spec.idle_timeout
            );
        }
        if start.elapsed() >= spec.max_time {
            break format!("time cap of {:?} reached", spec.max_time);
        }
        if let Err(e) = cluster.check_alive() {
            break format!("a node died: {e}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Ok((reason, threads))
}

/// Sums the numeric `key=value` fields of the nodes' stats lines, keeping
/// the order of the first line; also returns how many nodes logged one.
fn sum_stats(lines: &[Option<String>]) -> (Vec<(String, u64)>, usize) {
    let mut sums: Vec<(String, u64)> = Vec::new();
    let mut nodes = 0;
    for line in lines.iter().flatten() {
        nodes += 1;
        for (key, value) in line.split_whitespace().filter_map(|f| f.split_once('=')) {
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match sums.iter_mut().find(|(k, _)| k == key) {
                Some((_, sum)) => *sum += value,
                None => sums.push((key.to_string(), value)),
            }
        }
    }
    (sums, nodes)
}

/// Figures derived from the subscribers' records.
#[derive(Debug)]
pub struct Deliveries {
    /// Items × receivers (every node but node 0).
    pub expected: u64,
    /// First deliveries at the receivers.
    pub delivered: u64,
    /// Repeated deliveries of an item to one subscriber.
    pub duplicates: u64,
    /// Deliveries at node 0, where the items were announced (should be 0).
    pub at_publisher: u64,
    /// Notifications of the item type that did not parse.
    pub strays: u64,
    /// Announce-to-notification latency of every delivery.
    pub latency: Distribution,
    /// Per item that reached every receiver: announce to the last receiver.
    pub coverage: Distribution,
    /// Items that reached every receiver.
    pub items_covered: u64,
    /// Seconds from the first announce to the last delivery.
    pub span_s: f64,
    /// Subscriber connections that ended with an error.
    pub client_errors: Vec<String>,
}

impl RunResult {
    /// Sums up the records.
    pub fn deliveries(&self) -> Deliveries {
        let receivers = &self.records[1.min(self.records.len())..];
        let latency: Vec<u64> = receivers
            .iter()
            .flat_map(|r| r.latency_ns.iter().copied().filter(|&l| l != MISSING))
            .collect();
        let coverage: Vec<u64> = (0..self.spec.items as usize)
            .filter_map(|seq| {
                receivers
                    .iter()
                    .map(|r| r.latency_ns[seq])
                    .try_fold(0u64, |max, l| (l != MISSING).then_some(max.max(l)))
            })
            .collect();
        let last_ns = receivers
            .iter()
            .flat_map(|r| r.received_ns.iter().copied().filter(|&t| t != MISSING))
            .max();
        let span_ns = match (self.published.first_ns, last_ns) {
            (Some(first), Some(last)) => last.saturating_sub(first),
            _ => 0,
        };
        Deliveries {
            expected: self.spec.items * receivers.len() as u64,
            delivered: receivers.iter().map(|r| r.deliveries).sum(),
            duplicates: self.records.iter().map(|r| r.duplicates).sum(),
            at_publisher: self.records.first().map_or(0, |r| r.deliveries),
            strays: self.records.iter().map(|r| r.strays).sum(),
            items_covered: coverage.len() as u64,
            latency: Distribution::new(latency),
            coverage: Distribution::new(coverage),
            span_s: span_ns as f64 / 1e9,
            client_errors: self
                .records
                .iter()
                .filter_map(|r| r.error.as_ref().map(|e| format!("node {}: {e}", r.node)))
                .collect(),
        }
    }

    /// A field of the summed stats lines.
    pub fn node_stat(&self, key: &str) -> Option<u64> {
        self.node_stats
            .iter()
            .find(|(k, _)| k == key)
            .map(|&(_, v)| v)
    }
}
