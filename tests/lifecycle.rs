//! Starting and stopping (SPEC §2, §3): exit codes, the one-line reason for a
//! bad config, warnings for unknown keys, clean shutdown on SIGTERM/SIGINT.

mod common;

use common::{Network, Node, NodeConfig, Process, Shape, TempDir, after};
use std::time::{Duration, Instant};

/// The data type the tests announce.
const T: u16 = 4711;
/// How long a clean shutdown may take (SPEC §2).
const SHUTDOWN: Duration = Duration::from_secs(2);

/// Runs `gossipd ARGS`, which must exit within 5 s; returns its exit code and
/// its non-empty output lines.
fn run_to_exit(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut process = Process::spawn("gossipd", args);
    let status = process
        .wait_exit(after(Duration::from_secs(5)))
        .expect("gossipd exits by itself within 5 s");
    process.wait_output_closed(after(Duration::from_secs(2)));
    let lines = process
        .logs()
        .into_iter()
        .filter(|line| !line.trim().is_empty())
        .collect();
    (status.code(), lines)
}

#[test]
fn a_bad_value_exits_2_with_one_line_naming_file_line_and_key() {
    let dir = TempDir::new("bad-value");
    let text = "[gossip]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\ndegree = abc\n";
    let path = dir.write("bad-value.ini", text);
    let (code, lines) = run_to_exit(&["-c", path.to_str().expect("UTF-8 path")]);
    assert_eq!(code, Some(2), "output: {lines:?}");
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    let line = &lines[0];
    assert!(line.contains("bad-value.ini"), "names the file: {line}");
    assert!(line.contains('4'), "names the line: {line}");
    assert!(line.contains("degree"), "names the key: {line}");
}

#[test]
fn a_missing_config_file_exits_2_with_one_line() {
    let dir = TempDir::new("missing");
    let path = dir.path().join("missing.ini");
    let (code, lines) = run_to_exit(&["-c", path.to_str().expect("UTF-8 path")]);
    assert_eq!(code, Some(2), "output: {lines:?}");
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    assert!(
        lines[0].contains("missing.ini"),
        "names the file: {}",
        lines[0]
    );
}

#[test]
fn an_unknown_gossip_key_is_only_a_warning() {
    let node = Node::start("unknown-key", &NodeConfig::new().key("frobnicate", 3));
    let warning = node.wait_for_log(after(Duration::from_secs(5)), |line| {
        line.contains("frobnicate") && line.to_lowercase().contains("warn")
    });
    assert!(warning.is_some(), "no warning naming the unknown key");
}

#[test]
fn an_address_in_use_exits_1() {
    let node = Node::start("holder", &NodeConfig::new());
    let dir = TempDir::new("in-use");
    let busy = node.api_addr();
    let text = format!("[gossip]\napi_address = {busy}\np2p_address = 127.0.0.1:0\n");
    let path = dir.write("in-use.ini", &text);
    let (code, lines) = run_to_exit(&["-c", path.to_str().expect("UTF-8 path")]);
    assert_eq!(code, Some(1), "output: {lines:?}");
    let port = busy.port().to_string();
    assert!(
        lines.iter().any(|line| line.contains(&port)),
        "a line names the address {busy}: {lines:?}"
    );
}

/// Sends `signal` to node1 of a 3-node network while it has peers and API
/// clients; it must exit 0 within 2 s, and nodes 0 and 2 carry on.
fn stops_cleanly_with_peers_and_clients(signal: &str) {
    let mut net = Network::start(3, 2, Shape::Star);
    let mut on_stopping = net.client(1, &[T]);
    let mut on_other = net.client(2, &[T]);
    net.sync(&mut [&mut on_stopping, &mut on_other]);
    let sent = Instant::now();
    net.nodes[1].signal(signal);
    let status = net.nodes[1].wait_exit(sent + SHUTDOWN * 2);
    let took = sent.elapsed();
    eprintln!("SIG{signal}: node1 exit {status:?} after {took:?}");
    let status = status.unwrap_or_else(|| panic!("node1 still running {took:?} after SIG{signal}"));
    assert_eq!(status.code(), Some(0), "exit status after SIG{signal}");
    assert!(took <= SHUTDOWN, "SIG{signal} took {took:?}");
    assert!(
        on_stopping.wait_closed(after(SHUTDOWN)),
        "client connection not closed"
    );
    let mut source = net.client(0, &[]);
    let item = common::unique("after-shutdown");
    source.announce(0, T, &item);
    let note = on_other
        .recv_notification(after(Duration::from_secs(10)))
        .expect("node2 still gets items from node0");
    assert_eq!(note.data, item);
}

#[test]
fn sigterm_with_peers_and_clients_exits_0_within_2_s() {
    stops_cleanly_with_peers_and_clients("TERM");
}

#[test]
fn sigint_with_peers_and_clients_exits_0_within_2_s() {
    stops_cleanly_with_peers_and_clients("INT");
}

#[test]
fn sigterm_on_a_lone_node_exits_0_within_2_s() {
    let mut node = Node::start("lone", &NodeConfig::new());
    let sent = Instant::now();
    node.signal("TERM");
    let status = node
        .wait_exit(sent + SHUTDOWN * 2)
        .expect("exits after SIGTERM");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took <= SHUTDOWN, "SIGTERM took {took:?}");
}
