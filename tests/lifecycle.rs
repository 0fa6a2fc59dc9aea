//! Starting and stopping (SPEC §2, §3): exit codes, the one-line reason for a
//! bad config, warnings for unknown keys, clean shutdown on SIGTERM/SIGINT.

mod common;

use common::{Client, Network, Node, NodeConfig, Shape, Subscribers, TempDir, after, run_to_exit};
use std::time::{Duration, Instant};

/// The data type the tests announce.
const T: u16 = 4711;
/// How long a clean shutdown may take (SPEC §2).
const SHUTDOWN: Duration = Duration::from_secs(2);

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
fn a_bad_command_line_exits_2_with_one_line() {
    for args in [&["--no-such-option"][..], &["-c"][..]] {
        let (code, lines) = run_to_exit(args);
        assert_eq!(code, Some(2), "gossipd {args:?}: {lines:?}");
        assert_eq!(
            lines.len(),
            1,
            "gossipd {args:?}: exactly one line: {lines:?}"
        );
    }
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

/// Sends SIGTERM to `node` and asserts it exits 0 within 2 s.
fn assert_stops_cleanly(node: &mut Node, situation: &str) {
    let sent = Instant::now();
    node.signal("TERM");
    let status = node.wait_exit(sent + SHUTDOWN * 3);
    let took = sent.elapsed();
    eprintln!("SIGTERM {situation}: exit {status:?} after {took:?}");
    let status = status.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM"));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM {situation}"
    );
    assert!(took <= SHUTDOWN, "SIGTERM {situation} took {took:?}");
}

/// Announces `count` distinct 32 KiB items at a client of node `at` and
/// waits until `reader` (a subscriber on the node under test) got them all,
/// so that node has tried to pass every one on.
fn flood_through(net: &Network, at: usize, reader: Client, count: usize) {
    let mut readers = Subscribers::spawn(vec![reader], true);
    let mut source = net.client(at, &[]);
    for k in 0..count {
        let mut data = vec![(k % 251) as u8; 32 * 1024];
        data[..8].copy_from_slice(&(k as u64).to_be_bytes());
        source.announce(0, T, &data);
    }
    let done = readers.wait_until(after(Duration::from_secs(30)), |received| {
        received[0].len() >= count
    });
    assert!(
        done,
        "node under test got {} of {count} items",
        readers.received()[0].len()
    );
}

#[test]
fn sigterm_exits_within_2_s_while_a_client_does_not_read() {
    let mut net = Network::start(2, 1, Shape::Star);
    let mut stalled = net.client(1, &[T]);
    let mut reader = net.client(1, &[T]);
    net.sync(&mut [&mut stalled, &mut reader]);
    // 300 x 32 KiB is more than the socket buffers of `stalled` hold, and
    // fewer than the default client_queue: node1's writer to it is blocked.
    flood_through(&net, 0, reader, 300);
    assert_stops_cleanly(&mut net.nodes[1], "with a client that does not read");
}

#[test]
fn sigterm_exits_within_2_s_while_a_peer_is_stopped() {
    let a = Node::start("A", &NodeConfig::new().degree(1));
    let b = Node::start("B", &NodeConfig::new().degree(2).bootstrapper(a.p2p_addr()));
    let c = Node::start("C", &NodeConfig::new().degree(1).bootstrapper(b.p2p_addr()));
    let mut net = Network::from_nodes(vec![a, b, c]);
    net.wait_connected(Duration::from_secs(15));
    let mut reader = net.client(1, &[T]);
    net.sync(&mut [&mut reader]);
    // C neither reads nor answers while stopped: B's writer to C blocks.
    net.nodes[2].signal("STOP");
    flood_through(&net, 0, reader, 300);
    assert_stops_cleanly(&mut net.nodes[1], "with a stopped peer");
    net.nodes[2].signal("CONT");
}
