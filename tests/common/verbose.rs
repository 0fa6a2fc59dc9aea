//! Nodes with a log filter of the test's choosing. gossipd logs a refused
//! handshake (wrong network key, too little proof of work) at `debug` only,
//! so tests about those refusals cannot see them through [`super::Node`],
//! whose `RUST_LOG` is fixed for the whole test binary.

use super::process::{NodeConfig, POLL, START_TIMEOUT, TempDir};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

/// A filter that shows handshake failures (`gossipd::net::connection`) and
/// failed dials (`gossipd::node::driver`) besides the usual `info` lines.
pub const HANDSHAKE_LOG: &str = "info,gossipd::net=debug,gossipd::node=debug";

/// Log lines kept per node.
const MAX_LINES: usize = 5000;

/// Captured lines and how many were written in all.
#[derive(Default)]
struct Lines {
    kept: VecDeque<String>,
    total: usize,
}

/// A `gossipd` started with its own `RUST_LOG`; killed when dropped, its
/// logs printed if the test is failing.
pub struct VerboseNode {
    name: String,
    child: Child,
    lines: Arc<Mutex<Lines>>,
    api: SocketAddr,
    p2p: SocketAddr,
    peer_id: String,
    _dir: TempDir,
}

impl VerboseNode {
    /// Starts `gossipd -c` with `config` (and `hostkey = KEY` as the global
    /// key when given) at log filter `filter`, and waits for its addresses
    /// and peer id.
    pub fn start(name: &str, config: &NodeConfig, hostkey: Option<&Path>, filter: &str) -> Self {
        let dir = TempDir::new(name);
        let mut text = String::new();
        if let Some(key) = hostkey {
            text.push_str(&format!("hostkey = {}\n", key.display()));
        }
        text.push_str(&config.render());
        let path = dir.write("gossipd.ini", &text);
        let mut child = Command::new(env!("CARGO_BIN_EXE_gossipd"))
            .arg("-c")
            .arg(&path)
            .env("RUST_LOG", filter)
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gossipd binary starts");
        let lines = Arc::new(Mutex::new(Lines::default()));
        capture(child.stderr.take().expect("piped"), Arc::clone(&lines));
        let mut node = VerboseNode {
            name: name.to_string(),
            child,
            lines,
            api: SocketAddr::from(([0, 0, 0, 0], 0)),
            p2p: SocketAddr::from(([0, 0, 0, 0], 0)),
            peer_id: String::new(),
            _dir: dir,
        };
        node.await_start();
        node
    }

    /// Waits for the "listening on" lines and the peer id; panics (with the
    /// logs) if the node exits or takes longer than the harness allows.
    fn await_start(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let lines = self.lines_since(0);
            let find = |marker: &str| lines.iter().find_map(|l| after_marker(l, marker));
            if let (Some(api), Some(p2p), Some(id)) = (
                find("API listening on "),
                find("P2P listening on "),
                find("] peer id "),
            ) {
                self.api = api.parse().expect("API address");
                self.p2p = p2p.parse().expect("P2P address");
                self.peer_id = id;
                return;
            }
            let exited = self.child.try_wait().expect("try_wait").is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "{} did not start (exited: {exited})",
                self.name
            );
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

    /// The full peer id (64 hex digits) the node logged at start.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// The peer id as other log lines show it (its first 16 hex digits).
    pub fn short_id(&self) -> &str {
        &self.peer_id[..16]
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many lines the node has written so far.
    pub fn log_mark(&self) -> usize {
        self.lock().total
    }

    /// The kept lines written after the first `mark` lines.
    pub fn lines_since(&self, mark: usize) -> Vec<String> {
        let lines = self.lock();
        let first_kept = lines.total - lines.kept.len();
        let skip = mark.saturating_sub(first_kept);
        lines.kept.iter().skip(skip).cloned().collect()
    }

    /// Waits until a line written after `mark` satisfies `pred`.
    pub fn wait_for_log_since(
        &self,
        mark: usize,
        deadline: Instant,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        loop {
            let found = self.lines_since(mark).into_iter().find(|l| pred(l));
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for VerboseNode {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("----- {} (pid {}) -----", self.name, self.child.id());
            for line in self.lines_since(0).iter().rev().take(200).rev() {
                eprintln!("[{}] {line}", self.name);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first whitespace-separated word after `marker` in `line`.
fn after_marker(line: &str, marker: &str) -> Option<String> {
    let rest = line.split(marker).nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Reads `pipe` line by line into `lines` on a thread of its own, so the
/// pipe never fills; the thread ends at EOF.
fn capture(pipe: impl Read + Send + 'static, lines: Arc<Mutex<Lines>>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
            lines.kept.push_back(line);
            lines.total += 1;
            if lines.kept.len() > MAX_LINES {
                lines.kept.pop_front();
            }
        }
    });
}
