//! N `gossipd` processes on 127.0.0.1: start, watch their logs, read their
//! `/proc` figures, stop.
//!
//! Every node gets a generated config file in a temporary directory (API and
//! P2P on port 0), and its stderr is drained by a thread of its own that picks
//! the listening addresses, the `peer up`/`peer down` lines and the `stats:`
//! line out of the log and copies everything to `node-I.log` beside the
//! config. Dropping a [`Cluster`] stops every node it started (SIGTERM, then
//! SIGKILL after [`STOP_GRACE`]) and removes the directory unless
//! [`Cluster::keep_files`] was called.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rand::RngExt;

use crate::procfs::Proc;
use crate::{Result, check_interrupted, fail};

/// How long a node may take to print its listening addresses.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long the nodes get to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often waits look at the nodes' logs.
const POLL: Duration = Duration::from_millis(20);
/// Log lines kept per node for error messages.
const TAIL_LINES: usize = 8;
/// Warning and error lines kept per node for the report.
const WARNINGS_KEPT: usize = 3;
/// Warnings every node logs in this setup, not counted: no `hostkey` is
/// configured, so each runs with a temporary identity.
const EXPECTED_WARNINGS: [&str; 1] = ["fresh temporary identity"];

/// What one cluster looks like.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Number of nodes.
    pub nodes: usize,
    /// The `degree` key of every node.
    pub degree: usize,
    /// The `cache_size` key of every node.
    pub cache_size: usize,
    /// The `dissemination` key of every node (`flood` or `plumtree`).
    pub dissemination: String,
}

/// What a node's log said so far.
#[derive(Debug, Default)]
struct NodeLog {
    api: Option<SocketAddr>,
    p2p: Option<SocketAddr>,
    peers_up: i64,
    peers_down: i64,
    stats: Option<String>,
    warnings: u64,
    first_warnings: Vec<String>,
    tail: VecDeque<String>,
}

impl NodeLog {
    fn observe(&mut self, line: &str) {
        if let Some(addr) = addr_after(line, "API listening on ") {
            self.api = Some(addr);
        } else if let Some(addr) = addr_after(line, "P2P listening on ") {
            self.p2p = Some(addr);
        } else if line.contains("peer up:") {
            self.peers_up += 1;
        } else if line.contains("peer down:") {
            self.peers_down += 1;
        } else if let Some((_, stats)) = line.split_once("stats: ") {
            self.stats = Some(stats.to_string());
        }
        if is_warning(line) {
            self.warnings += 1;
            if self.first_warnings.len() < WARNINGS_KEPT {
                self.first_warnings.push(line.to_string());
            }
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }
}

/// The address that follows `marker` in a log line.
fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(marker)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// True for env_logger lines at WARN or ERROR (`[time LEVEL target] msg`),
/// except the [`EXPECTED_WARNINGS`].
fn is_warning(line: &str) -> bool {
    let level = line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(prefix, _)| prefix.contains(" WARN") || prefix.contains(" ERROR"));
    level && !EXPECTED_WARNINGS.iter().any(|w| line.contains(w))
}

/// One running `gossipd`.
struct NodeProc {
    child: Child,
    log: Arc<Mutex<NodeLog>>,
    drain: Option<JoinHandle<()>>,
}

/// What the nodes reported when they stopped.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// Each node's `stats:` line (`key=value ...`), if it logged one.
    pub stats: Vec<Option<String>>,
    /// Nodes that did not exit cleanly (status and log tail), one line each.
    pub problems: Vec<String>,
}

/// Warnings the nodes logged.
#[derive(Debug, Default)]
pub struct Warnings {
    /// WARN and ERROR lines over all nodes.
    pub count: u64,
    /// The first few of them, prefixed with the node.
    pub first: Vec<String>,
}

/// A running cluster; dropping it stops every node.
pub struct Cluster {
    dir: PathBuf,
    nodes: Vec<NodeProc>,
    keep: bool,
    stopped: bool,
}

impl Cluster {
    /// Starts `spec.nodes` nodes one after the other; node i > 0 bootstraps
    /// through a random earlier node.
    pub fn start(spec: &ClusterSpec, gossipd: &Path) -> Result<Cluster> {
        let mut cluster = Cluster {
            dir: make_temp_dir()?,
            nodes: Vec::with_capacity(spec.nodes),
            keep: false,
            stopped: false,
        };
        let mut rng = rand::rng();
        for i in 0..spec.nodes {
            check_interrupted()?;
            let bootstrapper = match i {
                0 => None,
                _ => Some(cluster.p2p_address(rng.random_range(0..i))?),
            };
            let config = cluster.write_config(i, spec, bootstrapper)?;
            cluster.spawn(i, gossipd, &config)?;
            cluster.wait_listening(i)?;
        }
        Ok(cluster)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The directory with the configs and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps the directory when the cluster is dropped (to look at the logs).
    pub fn keep_files(&mut self) {
        self.keep = true;
    }

    fn write_config(
        &self,
        i: usize,
        spec: &ClusterSpec,
        bootstrapper: Option<SocketAddr>,
    ) -> Result<PathBuf> {
        let boot = bootstrapper.map_or(String::new(), |b| b.to_string());
        let text = format!(
            "; generated by gossip-bench for node {i}\n[gossip]\n\
             api_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\n\
             bootstrapper = {boot}\ndegree = {}\ncache_size = {}\n\
             dissemination = {}\n\
             ; temporary identities are made at start: keep that quick\n\
             pow_difficulty = 8\n",
            spec.degree, spec.cache_size, spec.dissemination
        );
        let path = self.dir.join(format!("node-{i}.ini"));
        fs::write(&path, text)?;
        Ok(path)
    }

    fn spawn(&mut self, i: usize, gossipd: &Path, config: &Path) -> Result<()> {
        let mut child = Command::new(gossipd)
            .arg("-c")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", gossipd.display())))?;
        let log = Arc::new(Mutex::new(NodeLog::default()));
        let file = File::create(self.dir.join(format!("node-{i}.log")))?;
        let drain = child.stderr.take().map(|stderr| {
            let log = Arc::clone(&log);
            thread::spawn(move || drain_log(stderr, &log, file))
        });
        self.nodes.push(NodeProc { child, log, drain });
        Ok(())
    }

    /// Waits until node `i` logged both listening addresses.
    fn wait_listening(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            {
                let log = self.nodes[i].log.lock();
                if log.api.is_some() && log.p2p.is_some() {
                    return Ok(());
                }
            }
            self.check_alive()?;
            check_interrupted()?;
            if Instant::now() >= deadline {
                return Err(self.node_failure(i, "did not log its listening addresses in 10 s"));
            }
            thread::sleep(POLL);
        }
    }

    /// An error naming node `i`, with the end of its log.
    fn node_failure(&self, i: usize, what: &str) -> crate::Failure {
        let tail: Vec<String> = self.nodes[i].log.lock().tail.iter().cloned().collect();
        fail(format!(
            "node {i} {what}; its last log lines:\n    {}",
            tail.join("\n    ")
        ))
    }

    /// Fails when any node has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            if let Ok(Some(status)) = self.nodes[i].child.try_wait() {
                return Err(self.node_failure(i, &format!("exited ({status})")));
            }
        }
        Ok(())
    }

    fn p2p_address(&self, i: usize) -> Result<SocketAddr> {
        self.nodes[i]
            .log
            .lock()
            .p2p
            .ok_or_else(|| fail(format!("node {i} has no P2P address yet")))
    }

    /// Every node's API address, in node order.
    pub fn api_addresses(&self) -> Result<Vec<SocketAddr>> {
        (0..self.nodes.len())
            .map(|i| {
                self.nodes[i]
                    .log
                    .lock()
                    .api
                    .ok_or_else(|| fail(format!("node {i} has no API address yet")))
            })
            .collect()
    }

    /// Each node's neighbour count: `peer up` lines less `peer down` lines.
    pub fn neighbour_counts(&self) -> Vec<i64> {
        self.nodes
            .iter()
            .map(|n| {
                let log = n.log.lock();
                log.peers_up - log.peers_down
            })
            .collect()
    }

    /// Waits until every node has `target` neighbours, or the counts have not
    /// changed for `stable_for`; gives up waiting (without failing) at
    /// `deadline`. Returns the counts and whether the target was reached.
    pub fn wait_neighbours(
        &mut self,
        target: i64,
        stable_for: Duration,
        deadline: Duration,
    ) -> Result<(Vec<i64>, bool)> {
        let start = Instant::now();
        let mut last = self.neighbour_counts();
        let mut since = Instant::now();
        loop {
            self.check_alive()?;
            check_interrupted()?;
            let counts = self.neighbour_counts();
            if counts.iter().all(|&c| c >= target) {
                return Ok((counts, true));
            }
            if counts != last {
                last = counts;
                since = Instant::now();
            } else if since.elapsed() >= stable_for || start.elapsed() >= deadline {
                return Ok((counts, false));
            }
            thread::sleep(POLL);
        }
    }

    /// Each node's pid, in node order.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.child.id()).collect()
    }

    /// CPU clock ticks used by all nodes so far.
    pub fn cpu_ticks(&self) -> u64 {
        self.pids()
            .into_iter()
            .filter_map(|pid| Proc::Pid(pid).cpu_ticks())
            .sum()
    }

    /// One `/proc/PID/status` field (e.g. `VmHWM`, `Threads`) of every node.
    pub fn status_field(&self, key: &str) -> Vec<Option<u64>> {
        self.pids()
            .into_iter()
            .map(|pid| Proc::Pid(pid).status_field(key))
            .collect()
    }

    /// The WARN and ERROR lines logged so far.
    pub fn warnings(&self) -> Warnings {
        let mut warnings = Warnings::default();
        for (i, node) in self.nodes.iter().enumerate() {
            let log = node.log.lock();
            warnings.count += log.warnings;
            for line in &log.first_warnings {
                if warnings.first.len() < WARNINGS_KEPT {
                    warnings.first.push(format!("node {i}: {line}"));
                }
            }
        }
        warnings
    }

    /// Stops every node: SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL.
    /// Returns their `stats:` lines and anything that went wrong.
    pub fn stop(&mut self) -> Shutdown {
        self.stopped = true;
        let mut shutdown = Shutdown::default();
        terminate(&self.pids());
        let deadline = Instant::now() + STOP_GRACE;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            match wait_until(&mut node.child, deadline) {
                Some(status) if status.success() => {}
                Some(status) => shutdown
                    .problems
                    .push(format!("node {i} exited with {status}")),
                None => {
                    let _ = node.child.kill();
                    let _ = node.child.wait();
                    shutdown.problems.push(format!(
                        "node {i} did not exit within {STOP_GRACE:?} of SIGTERM; killed"
                    ));
                }
            }
        }
        for node in &mut self.nodes {
            if let Some(drain) = node.drain.take() {
                let _ = drain.join();
            }
            shutdown.stats.push(node.log.lock().stats.clone());
        }
        shutdown
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            let shutdown = self.stop();
            for problem in shutdown.problems {
                eprintln!("gossip-bench: {problem}");
            }
        }
        if self.keep {
            eprintln!(
                "gossip-bench: node configs and logs kept in {}",
                self.dir.display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("gossip-bench: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Sends SIGTERM to every pid with one `kill` command (no unsafe code here).
fn terminate(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = status {
        eprintln!(
            "gossip-bench: cannot run kill: {e}; the nodes are killed after the grace period"
        );
    }
}

/// Polls a child until it exits or `deadline` passes.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            _ => return None,
        }
    }
}

/// Reads a node's stderr to the end: parses each line into `log` and copies
/// it to `file`. Runs on its own thread so the node never blocks on logging.
fn drain_log(stderr: ChildStderr, log: &Mutex<NodeLog>, file: File) {
    let mut reader = BufReader::new(stderr);
    let mut file = std::io::BufWriter::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = file.write_all(&line);
        let text = String::from_utf8_lossy(&line);
        log.lock().observe(text.trim_end());
    }
    let _ = file.flush();
}

/// A new, empty directory under the system's temporary directory.
fn make_temp_dir() -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("gossip-bench-{}-{nanos}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    fs::create_dir(&dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_log_lines() {
        let mut log = NodeLog::default();
        log.observe(
            "[2025-01-01T00:00:00Z INFO  gossipd::api::server] API listening on 127.0.0.1:4000",
        );
        log.observe("[2025-01-01T00:00:00Z INFO  gossipd::node] P2P listening on 127.0.0.1:4001");
        log.observe("[t INFO  gossipd::node::driver] peer up: ab at 127.0.0.1:5 (outbound)");
        log.observe("[t INFO  gossipd::node::driver] peer up: cd at 127.0.0.1:6 (inbound)");
        log.observe("[t INFO  gossipd::node::driver] peer down: ab (closed)");
        log.observe("[t WARN  gossipd::node::driver] peer x too slow");
        log.observe("[t INFO  gossipd::node::driver] stats: neighbours=1 p2p_bytes_out=10");
        assert_eq!(log.api, Some("127.0.0.1:4000".parse().unwrap()));
        assert_eq!(log.p2p, Some("127.0.0.1:4001".parse().unwrap()));
        assert_eq!(log.peers_up - log.peers_down, 1);
        assert_eq!(log.warnings, 1);
        assert_eq!(log.stats.as_deref(), Some("neighbours=1 p2p_bytes_out=10"));
    }
}
