//! The status extension (types 510/511, README "Extensions (510–519):
//! status") against real gossipd processes: a raw client written from the
//! README's wire format, `gossip-cli status` and `gossip-cli peers`.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::client::header;
use common::{Network, Node, Shape, after, unique};

/// The data type the tests announce.
const T: u16 = 4242;
/// Deadline for one reply, delivery or close.
const DEADLINE: Duration = Duration::from_secs(10);
const STATUS_QUERY: u16 = 510;
const STATUS_REPLY: u16 = 511;
const NOTIFICATION: u16 = 502;
/// The counters of format version 1, in wire order.
const COUNTERS: [&str; 19] = [
    "announced",
    "received",
    "delivered",
    "duplicates",
    "relayed",
    "pulls_sent",
    "pulls_served",
    "valid",
    "invalid",
    "expired",
    "evicted_unspread",
    "misbehaviours",
    "peers_banned",
    "refused_banned",
    "outbox_skips",
    "slow_clients_kicked",
    "slow_peers_dropped",
    "bytes_in",
    "bytes_out",
];

/// One view entry of a STATUS REPLY.
#[derive(Debug)]
struct Entry {
    peer_id: Option<String>,
    addr: SocketAddr,
    outbound: bool,
    age_ms: Option<u64>,
}

/// A decoded STATUS REPLY (format version 1).
#[derive(Debug)]
struct Reply {
    request_id: u16,
    peer_id: String,
    uptime_ms: u64,
    p2p: SocketAddr,
    api: SocketAddr,
    counters: HashMap<&'static str, u64>,
    active: Vec<Entry>,
    active_left_out: u16,
    passive: Vec<Entry>,
    passive_left_out: u16,
}

impl Reply {
    fn counter(&self, name: &str) -> u64 {
        self.counters[name]
    }
}

/// Reads a body field by field, panicking on a malformed reply.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.0.len() >= n, "STATUS REPLY ends early");
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }

    fn hex(&mut self, n: usize) -> String {
        self.take(n).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn addr(&mut self) -> SocketAddr {
        let ip = match self.u8() {
            4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(self.take(4)).unwrap())),
            6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(self.take(16)).unwrap())),
            family => panic!("address family {family}"),
        };
        SocketAddr::new(ip, self.u16())
    }

    fn entry(&mut self) -> Entry {
        let flags = self.u8();
        let peer_id = (flags & 1 != 0).then(|| self.hex(32));
        let addr = self.addr();
        let age_ms = (flags & 4 != 0).then(|| self.u64());
        Entry {
            peer_id,
            addr,
            outbound: flags & 2 != 0,
            age_ms,
        }
    }
}

fn decode_reply(body: &[u8]) -> Reply {
    let mut b = Body(body);
    assert_eq!(b.u8(), 1, "format version");
    b.u8();
    let request_id = b.u16();
    let peer_id = b.hex(32);
    let uptime_ms = b.u64();
    let p2p = b.addr();
    let api = b.addr();
    let counters = COUNTERS.iter().map(|&name| (name, b.u64())).collect();
    let (active_listed, active_left_out) = (b.u16(), b.u16());
    let (passive_listed, passive_left_out) = (b.u16(), b.u16());
    let active = (0..active_listed).map(|_| b.entry()).collect();
    let passive = (0..passive_listed).map(|_| b.entry()).collect();
    assert!(b.0.is_empty(), "bytes after the last entry");
    Reply {
        request_id,
        peer_id,
        uptime_ms,
        p2p,
        api,
        counters,
        active,
        active_left_out,
        passive,
        passive_left_out,
    }
}

/// An API connection that speaks NOTIFY, VALIDATION and STATUS QUERY, and
/// reads NOTIFICATIONs and STATUS REPLYs.
struct StatusClient {
    stream: TcpStream,
    notes: Vec<(u16, Vec<u8>)>,
}

impl StatusClient {
    fn connect(addr: SocketAddr) -> StatusClient {
        let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect to the API");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        StatusClient {
            stream,
            notes: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn notify(&mut self, data_type: u16) {
        let mut msg = header(8, 501);
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&data_type.to_be_bytes());
        self.send(&msg);
    }

    fn validate(&mut self, msg_id: u16) {
        let mut msg = header(8, 503);
        msg.extend_from_slice(&msg_id.to_be_bytes());
        msg.extend_from_slice(&[0, 1]);
        self.send(&msg);
    }

    /// Reads one message: (type, body).
    fn read(&mut self) -> (u16, Vec<u8>) {
        let mut head = [0u8; 4];
        self.stream.read_exact(&mut head).expect("a message header");
        let size = usize::from(u16::from_be_bytes([head[0], head[1]]));
        let msg_type = u16::from_be_bytes([head[2], head[3]]);
        assert!(size >= 4, "size {size}");
        let mut body = vec![0u8; size - 4];
        self.stream.read_exact(&mut body).expect("a message body");
        (msg_type, body)
    }

    /// Sends STATUS QUERY and returns the reply; notifications arriving
    /// meanwhile are kept.
    fn status(&mut self, request_id: u16) -> Reply {
        let mut query = header(8, STATUS_QUERY);
        query.extend_from_slice(&[1, 0]);
        query.extend_from_slice(&request_id.to_be_bytes());
        self.send(&query);
        loop {
            match self.read() {
                (STATUS_REPLY, body) => {
                    let reply = decode_reply(&body);
                    assert_eq!(reply.request_id, request_id);
                    return reply;
                }
                (NOTIFICATION, body) => self.keep_note(&body),
                (other, _) => panic!("gossip sent type {other}"),
            }
        }
    }

    fn keep_note(&mut self, body: &[u8]) {
        let msg_id = u16::from_be_bytes([body[0], body[1]]);
        self.notes.push((msg_id, body[4..].to_vec()));
    }

    /// Waits for a notification carrying `data`, validates it as valid.
    fn expect_item(&mut self, data: &[u8]) {
        loop {
            if let Some(i) = self.notes.iter().position(|(_, d)| d == data) {
                let (msg_id, _) = self.notes.remove(i);
                self.validate(msg_id);
                return;
            }
            match self.read() {
                (NOTIFICATION, body) => self.keep_note(&body),
                (other, _) => panic!("gossip sent type {other}"),
            }
        }
    }

    /// True when gossip closes the connection before the deadline.
    fn wait_closed(&mut self, deadline: Instant) -> bool {
        let mut buf = [0u8; 1024];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// The full peer id (64 hex digits) a node logged at start.
fn logged_peer_id(node: &Node) -> String {
    let line = node
        .wait_for_log(after(DEADLINE), |l| l.contains("peer id "))
        .expect("the node logs its peer id");
    let id = line.split("peer id ").nth(1).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "{line}");
    id
}

/// Asks node `i` until `pred` holds for its reply; panics at the deadline.
fn wait_status(net: &Network, i: usize, what: &str, pred: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = after(DEADLINE);
    let mut client = StatusClient::connect(net.nodes[i].api_addr());
    for request_id in 0.. {
        let reply = client.status(request_id);
        if pred(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "node{i}: {what} did not happen: {reply:#?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    unreachable!()
}

#[test]
fn status_reports_identity_addresses_views_and_counters() {
    let net = Network::start(3, 4, Shape::Star);
    let ids: Vec<String> = net.nodes.iter().map(logged_peer_id).collect();
    let id_of: HashMap<SocketAddr, &String> = net
        .nodes
        .iter()
        .zip(&ids)
        .map(|(n, id)| (n.p2p_addr(), id))
        .collect();

    // Identity and addresses.
    for (i, node) in net.nodes.iter().enumerate() {
        let reply = StatusClient::connect(node.api_addr()).status(0xab00 + i as u16);
        assert_eq!(reply.peer_id, ids[i], "node{i}'s peer id");
        assert_eq!(reply.p2p, node.p2p_addr());
        assert_eq!(reply.api, node.api_addr());
        assert!(reply.uptime_ms > 0 && reply.uptime_ms < 120_000);
        assert_eq!((reply.active_left_out, reply.passive_left_out), (0, 0));
        assert!(reply.counter("bytes_in") > 0 && reply.counter("bytes_out") > 0);
    }

    // Node 0 is everyone's bootstrapper: both others are its neighbours;
    // every listed neighbour is another node, under the id it logged.
    let reply = wait_status(&net, 0, "two neighbours", |r| r.active.len() == 2);
    let mut listed: Vec<SocketAddr> = reply.active.iter().map(|e| e.addr).collect();
    listed.sort();
    let mut others = vec![net.nodes[1].p2p_addr(), net.nodes[2].p2p_addr()];
    others.sort();
    assert_eq!(listed, others);
    let mut dialed: HashMap<(SocketAddr, SocketAddr), bool> = HashMap::new();
    for i in 0..3 {
        let reply = StatusClient::connect(net.nodes[i].api_addr()).status(1);
        assert!(!reply.active.is_empty(), "node{i} has no neighbours");
        for e in &reply.active {
            let expected = id_of
                .get(&e.addr)
                .unwrap_or_else(|| panic!("node{i} lists {} which is no other node", e.addr));
            assert_ne!(e.addr, net.nodes[i].p2p_addr());
            assert_eq!(e.peer_id.as_ref(), Some(*expected));
            assert!(e.age_ms.is_some(), "an active entry has a link age");
            dialed.insert((net.nodes[i].p2p_addr(), e.addr), e.outbound);
        }
        for e in &reply.passive {
            assert_eq!((&e.peer_id, e.age_ms), (&None, None));
        }
    }
    // One side of each link dialed it.
    for (&(a, b), &outbound) in &dialed {
        if let Some(&other) = dialed.get(&(b, a)) {
            assert_ne!(outbound, other, "link {a} - {b}: both or neither dialed");
        }
    }

    // Counters move: one item announced at node 1, delivered at 0 and 2.
    let mut subscribers: Vec<StatusClient> = [0, 2]
        .iter()
        .map(|&i| {
            let mut c = StatusClient::connect(net.nodes[i].api_addr());
            c.notify(T);
            // Read in order: once the reply is here, the NOTIFY is in effect.
            c.status(7);
            c
        })
        .collect();
    let before: Vec<Reply> = (0..3)
        .map(|i| StatusClient::connect(net.nodes[i].api_addr()).status(2))
        .collect();
    assert_eq!(before[1].counter("announced"), 0);
    let item = unique("status-item");
    net.client(1, &[]).announce(0, T, &item);
    for s in &mut subscribers {
        s.expect_item(&item);
    }
    wait_status(&net, 1, "announced=1", |r| r.counter("announced") == 1);
    for i in [0, 2] {
        let b = &before[i];
        let after = wait_status(&net, i, "received, delivered and valid", |r| {
            ["received", "delivered", "valid"]
                .iter()
                .all(|c| r.counter(c) > b.counter(c))
        });
        assert_eq!(after.counter("invalid"), b.counter("invalid"));
        assert!(after.uptime_ms >= b.uptime_ms);
        assert!(after.counter("bytes_in") > b.counter("bytes_in"));
    }
    let sender = StatusClient::connect(net.nodes[1].api_addr()).status(3);
    assert!(sender.counter("relayed") > before[1].counter("relayed"));
}

#[test]
fn a_malformed_status_query_closes_only_that_connection() {
    let net = Network::start(2, 2, Shape::Star);
    let mut good = StatusClient::connect(net.nodes[1].api_addr());
    good.notify(T);
    good.status(1);
    let cases: [(&str, Vec<u8>, &str); 2] = [
        (
            "a STATUS QUERY of 10 bytes",
            {
                let mut m = header(10, STATUS_QUERY);
                m.resize(10, 0);
                m
            },
            "STATUS QUERY must be exactly 8 bytes, got 10",
        ),
        (
            "a STATUS QUERY of version 0",
            {
                let mut m = header(8, STATUS_QUERY);
                m.extend_from_slice(&[0, 0, 0, 1]);
                m
            },
            "STATUS QUERY asks for format version 0",
        ),
    ];
    for (what, bytes, reason) in cases {
        let mark = net.nodes[1].log_mark();
        let mut bad = StatusClient::connect(net.nodes[1].api_addr());
        bad.send(&bytes);
        assert!(bad.wait_closed(after(DEADLINE)), "open after {what}");
        let logged = net.nodes[1].wait_for_log_since(mark, after(DEADLINE), |l| l.contains(reason));
        assert!(logged.is_some(), "no log line with {reason:?} after {what}");
        // The other connection still works, for items and for status.
        let item = unique("after-bad-status");
        net.client(0, &[]).announce(0, T, &item);
        good.expect_item(&item);
        assert_eq!(good.status(2).p2p, net.nodes[1].p2p_addr());
    }
    let mark = net.nodes[1].log_mark();
    // A STATUS REPLY sent to gossip is malformed too.
    let mut bad = StatusClient::connect(net.nodes[1].api_addr());
    let mut reply = header(222, STATUS_REPLY);
    reply.resize(222, 0);
    bad.send(&reply);
    assert!(bad.wait_closed(after(DEADLINE)));
    let logged = net.nodes[1].wait_for_log_since(mark, after(DEADLINE), |l| {
        l.contains("STATUS REPLY is sent by gossip, never to it")
    });
    assert!(logged.is_some());
}

/// Runs `gossip-cli ARGS` to its end (10 s at most): exit code and stdout.
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gossip-cli"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("gossip-cli runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stdout, stderr)
}

#[test]
fn gossip_cli_status_and_peers_print_the_live_node() {
    let mut net = Network::start(3, 4, Shape::Star);
    let id = logged_peer_id(&net.nodes[0]);
    let api = net.nodes[0].api_addr().to_string();
    wait_status(&net, 0, "two neighbours", |r| r.active.len() == 2);
    let others = [net.nodes[1].p2p_addr(), net.nodes[2].p2p_addr()];

    let (code, out, err) = cli(&["status", "--json", "--api", &api]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
    assert!(
        out.starts_with("{\"format\":1,") && out.ends_with("}\n"),
        "{out}"
    );
    assert!(out.contains(&format!("\"peer_id\":\"{id}\"")), "{out}");
    let p2p = net.nodes[0].p2p_addr();
    assert!(out.contains(&format!("\"p2p_address\":\"{p2p}\"")), "{out}");
    assert!(out.contains(&format!("\"api_address\":\"{api}\"")), "{out}");
    for name in COUNTERS {
        assert!(
            out.contains(&format!("\"{name}\":")),
            "{name} missing: {out}"
        );
    }
    // Node 0 announced the harness's connectivity probes.
    assert!(!out.contains("\"announced\":0,"), "{out}");
    for addr in others {
        assert!(out.contains(&format!("\"address\":\"{addr}\"")), "{out}");
    }

    let (code, out, err) = cli(&["status", "--api", &api]);
    assert_eq!(code, Some(0), "{err}");
    eprintln!("gossip-cli status:\n{out}");
    assert!(out.contains("  peer id ") && out.contains(&id), "{out}");
    assert!(
        out.contains("active view") && out.contains("2 neighbours"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("announced")),
        "{out}"
    );

    let (code, out, err) = cli(&["peers", "--api", &api]);
    assert_eq!(code, Some(0), "{err}");
    eprintln!("gossip-cli peers:\n{out}");
    let mut lines = out.lines();
    let head = lines.next().expect("a header line");
    assert!(head.starts_with("VIEW") && head.contains("PEER ID") && head.contains("ADDRESS"));
    let active: Vec<&str> = lines.filter(|l| l.starts_with("active")).collect();
    assert_eq!(active.len(), 2, "{out}");
    for addr in others {
        let row = active
            .iter()
            .find(|l| l.contains(&addr.to_string()))
            .unwrap_or_else(|| panic!("{addr} not listed: {out}"));
        let link = row.split_whitespace().nth(3);
        assert!(matches!(link, Some("in" | "out")), "{row}");
    }

    let (code, out, err) = cli(&["peers", "--json", "--api", &api]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"active\":[{\"peer_id\":\""), "{out}");

    // --watch: a line a second until the node goes away, then exit 1.
    let api2 = net.nodes[2].api_addr().to_string();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_gossip-cli"))
        .args(["status", "--watch", "--json", "--api", &api2])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gossip-cli runs");
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.expect("UTF-8 line"));
        }
    });
    let started = Instant::now();
    let mut uptimes = Vec::new();
    for _ in 0..3 {
        let line = rx.recv_timeout(DEADLINE).expect("a line per second");
        let uptime = line.split("\"uptime_ms\":").nth(1).unwrap();
        uptimes.push(uptime.split(',').next().unwrap().parse::<u64>().unwrap());
    }
    assert!(started.elapsed() >= Duration::from_millis(1800));
    assert!(
        uptimes.windows(2).all(|w| w[1] >= w[0] + 500),
        "{uptimes:?}"
    );
    drop(net.nodes.remove(2));
    let deadline = after(DEADLINE);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = watch.kill();
            panic!("gossip-cli --watch still runs after its node went away");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));

    // An unreachable daemon is exit 1, bad usage exit 2.
    let (code, _, _) = cli(&["status", "--api", &api2]);
    assert_eq!(code, Some(1));
    let (code, _, _) = cli(&["peers", "--api", &api, "extra"]);
    assert_eq!(code, Some(2));
}
