//! Neighbour views of real nodes, read from their logs (`peer id`,
//! `peer up`, `peer down`), and polling a check until a deadline: shared by
//! the membership tests (`tests/churn.rs`, `tests/hung_peer.rs`).

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use super::network::after;
use super::process::Node;

/// Calls `check` every `every` until it is Ok or `deadline` passes (then
/// its last error).
pub fn poll<T>(
    deadline: Instant,
    every: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    loop {
        let result = check();
        if result.is_ok() || Instant::now() >= deadline {
            return result;
        }
        thread::sleep(every);
    }
}

/// Each node's full peer id (64 hex digits), from its start-up line.
pub fn peer_ids(nodes: &[Node]) -> Vec<String> {
    let deadline = after(Duration::from_secs(5));
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let is_id = |line: &str| matches!(parse_line(line), Some(LogEvent::Id(_)));
            let line = node
                .wait_for_log(deadline, is_id)
                .unwrap_or_else(|| panic!("node{i} logged no 'peer id <hex>' line"));
            match parse_line(&line) {
                Some(LogEvent::Id(id)) => id,
                _ => unreachable!("the line was matched as an id"),
            }
        })
        .collect()
}

/// A log line the view helpers read.
#[derive(Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// The node's own full peer id.
    Id(String),
    /// A neighbour (by its short id) was added.
    Up(String),
    /// A neighbour (by its short id) was removed.
    Down(String),
}

/// Parses the only log lines the view helpers rely on; the message is what
/// follows the first `"] "` (env_logger's `[TIME LEVEL TARGET] ` prefix):
///
/// - `peer id <64 hex digits>`: the node's own id, once at start (`src/node.rs`);
/// - `peer up: <id> at <addr> (<direction>)`: a peer became a neighbour
///   (`src/node/driver.rs`, logged once per neighbour until it is down);
/// - `peer down: <id> (<reason>)`: a neighbour is gone, whether its
///   connection ended or this host dropped it (`src/node/driver.rs`);
///
/// where `<id>` is the short id, the first 16 hex digits of the full one (any
/// hex prefix of at least 8 digits is accepted and matched as a prefix).
pub fn parse_line(line: &str) -> Option<LogEvent> {
    let (_, message) = line.split_once("] ")?;
    let hex = |token: &str, min: usize| {
        (token.len() >= min && token.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| token.to_ascii_lowercase())
    };
    let first = |rest: &str| rest.split_whitespace().next().unwrap_or("").to_string();
    if let Some(rest) = message.strip_prefix("peer id ") {
        hex(&first(rest), 64).map(LogEvent::Id)
    } else if let Some(rest) = message.strip_prefix("peer up: ") {
        hex(&first(rest), 8).map(LogEvent::Up)
    } else if let Some(rest) = message.strip_prefix("peer down: ") {
        hex(&first(rest), 8).map(LogEvent::Down)
    } else {
        None
    }
}

/// A neighbour named in a log: one of the test's nodes, or an id that is
/// none of theirs (which would mean the log lines changed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Node index.
    Node(usize),
    /// An unknown short id.
    Unknown(String),
}

/// The neighbours each of `nodes` has according to its log (`peer up`
/// minus later `peer down`); `ids` are all full ids by node index. An error
/// if a log lost lines (it keeps the last 5000), as the view would be wrong.
pub fn views(nodes: &[Node], ids: &[String]) -> Result<Vec<BTreeSet<Peer>>, String> {
    let resolve = |short: String| match ids.iter().position(|id| id.starts_with(&short)) {
        Some(i) => Peer::Node(i),
        None => Peer::Unknown(short),
    };
    let mut all = Vec::with_capacity(nodes.len());
    for node in nodes {
        let mark = node.log_mark();
        let lines = node.logs();
        if lines.len() < mark {
            return Err(format!(
                "pid {}: {} of {mark} log lines kept; views need them all (log at info)",
                node.pid(),
                lines.len()
            ));
        }
        let mut view = BTreeSet::new();
        for event in lines.iter().filter_map(|line| parse_line(line)) {
            match event {
                LogEvent::Id(_) => {}
                LogEvent::Up(short) => {
                    view.insert(resolve(short));
                }
                LogEvent::Down(short) => {
                    view.remove(&resolve(short));
                }
            }
        }
        all.push(view);
    }
    Ok(all)
}
