//! Real `gossipd` processes: temp dirs, configs, captured logs, signals, RSS.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a node may take to log both "listening on" lines.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines kept per process; older ones are dropped so memory stays bounded.
const MAX_LOG_LINES: usize = 5000;
/// Log lines printed per node when a test fails.
const DUMP_LINES: usize = 200;
/// Pause between two looks at a condition inside a polling loop.
pub const POLL: Duration = Duration::from_millis(10);

/// A directory under the system temp dir, unique per test process and call,
/// removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `gossipd-test-PID-N-TAG`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("gossipd-test-{}-{n}-{tag}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("temp dir is writable");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, text).expect("temp dir is writable");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The `[gossip]` settings of one node; addresses are always `127.0.0.1:0`.
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    degree: Option<usize>,
    bootstrapper: Option<SocketAddr>,
    extra: Vec<(String, String)>,
}

impl NodeConfig {
    /// No bootstrapper, default degree.
    pub fn new() -> NodeConfig {
        NodeConfig::default()
    }

    /// Sets `degree`.
    pub fn degree(mut self, degree: usize) -> NodeConfig {
        self.degree = Some(degree);
        self
    }

    /// Sets `bootstrapper`.
    pub fn bootstrapper(mut self, addr: SocketAddr) -> NodeConfig {
        self.bootstrapper = Some(addr);
        self
    }

    /// Adds any other `key = value` line to `[gossip]`.
    pub fn key(mut self, key: &str, value: impl ToString) -> NodeConfig {
        self.extra.push((key.to_string(), value.to_string()));
        self
    }

    /// The config file's text.
    pub fn render(&self) -> String {
        let mut text = String::from("[gossip]\napi_address = 127.0.0.1:0\n");
        text.push_str("p2p_address = 127.0.0.1:0\n");
        if let Some(degree) = self.degree {
            text.push_str(&format!("degree = {degree}\n"));
        }
        if let Some(addr) = self.bootstrapper {
            text.push_str(&format!("bootstrapper = {addr}\n"));
        }
        if !self.extra.iter().any(|(key, _)| key == "pow_difficulty") {
            // Temporary identities are made at start; keep that instant.
            text.push_str("pow_difficulty = 8\n");
        }
        for (key, value) in &self.extra {
            text.push_str(&format!("{key} = {value}\n"));
        }
        text
    }
}

/// The last lines a process wrote to stdout or stderr.
#[derive(Default)]
struct LogBuf {
    lines: VecDeque<String>,
    total: usize,
}

/// A running `gossipd` with its output captured; killed (SIGKILL) and reaped
/// when dropped, and its logs printed if the test is failing.
pub struct Process {
    name: String,
    child: Child,
    logs: Arc<Mutex<LogBuf>>,
}

impl Process {
    /// Starts `gossipd ARGS` with `RUST_LOG` from `GOSSIPD_TEST_LOG` (default
    /// `info`).
    pub fn spawn(name: &str, args: &[&str]) -> Process {
        let level = std::env::var("GOSSIPD_TEST_LOG").unwrap_or_else(|_| "info".into());
        let mut child = Command::new(env!("CARGO_BIN_EXE_gossipd"))
            .args(args)
            .env("RUST_LOG", level)
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gossipd binary starts");
        let logs = Arc::new(Mutex::new(LogBuf::default()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        capture(stdout, "stdout: ", Arc::clone(&logs));
        capture(stderr, "", Arc::clone(&logs));
        Process {
            name: name.to_string(),
            child,
            logs,
        }
    }

    /// The captured lines; a capture thread cannot poison the lock in a way
    /// that matters here, and a failing test must still see its logs.
    fn lock_logs(&self) -> MutexGuard<'_, LogBuf> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A copy of the captured lines (stdout lines start with `stdout: `).
    pub fn logs(&self) -> Vec<String> {
        let logs = self.lock_logs();
        logs.lines.iter().cloned().collect()
    }

    /// How many lines the process has written so far; pass it to
    /// `wait_for_log_since` to look at later lines only.
    pub fn log_mark(&self) -> usize {
        self.lock_logs().total
    }

    /// Waits until a captured line satisfies `pred` and returns it.
    pub fn wait_for_log(
        &self,
        deadline: Instant,
        pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        self.wait_for_log_since(0, deadline, pred)
    }

    /// Waits until a line written after `mark` lines satisfies `pred`.
    pub fn wait_for_log_since(
        &self,
        mark: usize,
        deadline: Instant,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        loop {
            let found = {
                let logs = self.lock_logs();
                let first_kept = logs.total - logs.lines.len();
                let skip = mark.saturating_sub(first_kept);
                logs.lines
                    .iter()
                    .skip(skip)
                    .find(|line| pred(line))
                    .cloned()
            };
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            thread::sleep(POLL);
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait works").is_none()
    }

    /// Waits for the process to exit; `None` if it still runs at `deadline`.
    pub fn wait_exit(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait works") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the output pipes are closed, so `logs()` holds everything
    /// the process wrote (call after it exited).
    pub fn wait_output_closed(&self, deadline: Instant) {
        while Arc::strong_count(&self.logs) > 1 && Instant::now() < deadline {
            thread::sleep(POLL);
        }
    }

    /// Sends a signal (`"TERM"`, `"INT"`) to this process only, by pid.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Resident set size from /proc/PID/status, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// Prints the last captured lines to stderr (the test's output).
    pub fn dump_logs(&self) {
        let logs = self.lock_logs();
        let skip = logs.lines.len().saturating_sub(DUMP_LINES);
        eprintln!(
            "----- {} (pid {}): last {} of {} log lines -----",
            self.name,
            self.child.id(),
            logs.lines.len() - skip,
            logs.total
        );
        for line in logs.lines.iter().skip(skip) {
            eprintln!("[{}] {line}", self.name);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` line by line into `logs` on a thread of its own, so the pipe
/// never fills. The thread ends at EOF and then drops its `logs` handle.
fn capture(pipe: impl Read + Send + 'static, prefix: &'static str, logs: Arc<Mutex<LogBuf>>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&raw);
            let mut logs = logs.lock().unwrap_or_else(PoisonError::into_inner);
            logs.lines.push_back(format!("{prefix}{}", line.trim_end()));
            logs.total += 1;
            if logs.lines.len() > MAX_LOG_LINES {
                logs.lines.pop_front();
            }
        }
    });
}

/// Resident set size of any process, in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A started node: a `gossipd` process with its config dir and the addresses
/// it logged.
pub struct Node {
    process: Process,
    api: SocketAddr,
    p2p: SocketAddr,
    _dir: TempDir,
}

impl Node {
    /// Writes the config, starts `gossipd -c`, and waits for both
    /// "listening on" lines.
    pub fn start(name: &str, config: &NodeConfig) -> Node {
        let dir = TempDir::new(name);
        let path = dir.write("gossipd.ini", &config.render());
        let process = Process::spawn(name, &["-c", path.to_str().expect("UTF-8 temp path")]);
        Node::await_listening(process, dir)
    }

    /// Waits for the start-up lines of `process`, or panics with its logs.
    fn await_listening(mut process: Process, dir: TempDir) -> Node {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let logs = process.logs();
            let api = logs
                .iter()
                .find_map(|l| listening_addr(l, "API listening on "));
            let p2p = logs
                .iter()
                .find_map(|l| listening_addr(l, "P2P listening on "));
            if let (Some(api), Some(p2p)) = (api, p2p) {
                return Node {
                    process,
                    api,
                    p2p,
                    _dir: dir,
                };
            }
            let running = process.is_running();
            if !running || Instant::now() >= deadline {
                process.wait_output_closed(Instant::now() + Duration::from_secs(1));
                process.dump_logs();
                panic!(
                    "{} did not log both 'API/P2P listening on' lines (running: {running})",
                    process.name
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The API address the node logged.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// The P2P address the node logged.
    pub fn p2p_addr(&self) -> SocketAddr {
        self.p2p
    }
}

/// A node is its process plus addresses: `node.pid()`, `node.signal("TERM")`.
impl Deref for Node {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Parses the address after `marker` in a log line such as
/// `[... INFO gossipd] API listening on 127.0.0.1:4711`.
fn listening_addr(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split(marker).nth(1)?;
    let token = rest.split_whitespace().next()?;
    let token = token.trim_end_matches([',', '.', ';', ')']);
    token.parse().ok()
}

/// Runs `gossipd ARGS`, which must exit by itself within 10 s; returns its
/// exit code and its non-empty output lines (stdout lines start with
/// `stdout: `).
pub fn run_to_exit(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut process = Process::spawn("gossipd", args);
    let status = process
        .wait_exit(super::after(Duration::from_secs(10)))
        .expect("gossipd exits by itself within 10 s");
    process.wait_output_closed(super::after(Duration::from_secs(2)));
    let lines = process
        .logs()
        .into_iter()
        .filter(|line| !line.trim().is_empty())
        .collect();
    (status.code(), lines)
}
