//! A hung peer, with real `gossipd` processes: issue 5's failure detection
//! by missed keep-alives (`keepalive_timeout_ms`; docs/PROTOCOL.md,
//! "Membership: who is a neighbour") and issue 8's hung-peer requirement. A
//! neighbour that stops responding but keeps its connections open (SIGSTOP:
//! the kernel still accepts and acknowledges, nothing is read or written) is
//! detected by the keep-alive deadline and routed around; items keep
//! reaching everyone else; after SIGCONT it rejoins and new items reach it.
//!
//! The steps, each with a deadline and a printed figure:
//!
//! 1. **Start** [`N`] nodes of degree [`DEGREE`], all with
//!    `keepalive_timeout_ms` = [`KEEPALIVE_MS`]: node 0 alone, H (node 1)
//!    through node 0, the others through H, so H starts as a hub. Wait until
//!    probes reach everybody, the views the nodes log form one component in
//!    which H has at least 2 neighbours (links both ends count), and then
//!    until every node has [`DEGREE`] neighbours or the views stop changing
//!    for [`STABLE`] (at most [`SETTLE`], not a failure).
//! 2. A subscriber (validating everything) on every node, H's included (it
//!    reads nothing while H is stopped: it is a client of the stopped
//!    process).
//! 3. **SIGSTOP H** (by pid; `/proc` must show it stopped). Every node that
//!    counted H as a neighbour logs `peer down: H (dropped by this host)`
//!    within [`DETECT`]; the time from SIGSTOP to each is printed.
//! 4. **Routed around**: within [`REPAIR`] no other node counts H and the
//!    others' links (both ends counting) form one component again.
//! 5. **Delivered while H is stopped**: [`ITEMS`] items announced at one of
//!    H's former neighbours reach every other subscriber except H's within
//!    [`DELIVERY`].
//! 6. **SIGCONT H**: within [`REJOIN`] H logs a `peer up`, and then all
//!    [`N`] nodes' links form one component again with no one-sided entry
//!    (H no longer counts the neighbours that dropped it); then H **catches
//!    up**: the items announced while it was stopped reach its subscriber
//!    (pulled after the digest each new link starts with) within
//!    [`DELIVERY`].
//! 7. **Delivered after the rejoin**: [`ITEMS`] items announced at another
//!    node and [`ITEMS`] at H reach every subscriber but the announcing
//!    host's (H's included), then a marker from each; then every subscriber
//!    must have got every item it got exactly once, byte-exact, nothing it
//!    should not have (no echo, nothing unknown).
//! 8. **Shut down** every node with SIGTERM: each node that dropped H must
//!    count a keep-alive timeout (`keepalive_timeouts` in its `stats:`
//!    line), so the drop was the keep-alive deadline and nothing else. The
//!    one exception, told apart in step 3: a node that drops H right after
//!    logging a `peer up` may have taken a neighbour it had to take (a node
//!    below `degree` for 5 s escalates, and a full host then evicts a random
//!    neighbour, which may be H), so it must count a keep-alive timeout or
//!    an eviction (`evictions`); and at least one drop must not be of that
//!    kind.
//!
//! If the test fails while H is stopped, a guard sends it SIGCONT; the
//! harness then SIGKILLs every node (which ends a stopped process too).
//!
//! Log phrases relied on (src/node.rs, src/node/driver.rs): `peer id HEX`
//! (all 64 digits) at start, `peer up: ID at ADDR (DIR)` and `peer down: ID
//! (REASON)` with ID the first 16 digits, and at shutdown `stats: ...
//! keepalive_timeouts=N evictions=N ...`.

mod common;

use common::{
    Client, LogEvent, Network, Node, NodeConfig, Notification, Peer, Subscribers, after,
    parse_line, peer_ids, poll, summary, unique, views,
};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Nodes started.
const N: usize = 6;
/// `degree` of every node.
const DEGREE: usize = 3;
/// `keepalive_timeout_ms` of every node: short, so the test is quick.
const KEEPALIVE_MS: u64 = 1500;
/// The node that is stopped.
const H: usize = 1;
/// The data type of the test items.
const T: u16 = 4808;
/// Items announced at each announcer in each delivery step.
const ITEMS: usize = 10;

/// Deadline for the fresh network to be connected (probes and views).
const CONNECT: Duration = Duration::from_secs(20);
/// Longest wait for the views to stop changing before H is stopped; not a
/// failure when it passes.
const SETTLE: Duration = Duration::from_secs(4);
/// Views unchanged this long count as settled.
const STABLE: Duration = Duration::from_secs(1);
/// Deadline, from SIGSTOP, for every neighbour of H to drop it.
const DETECT: Duration = Duration::from_secs(10);
/// Deadline, from the last drop of H, for the others to be one component.
const REPAIR: Duration = Duration::from_secs(10);
/// Deadline, from the first announcement, for items (and markers) to arrive.
const DELIVERY: Duration = Duration::from_secs(10);
/// Deadline, from SIGCONT, for H's first `peer up` and then again for the
/// whole network to be one component.
const REJOIN: Duration = Duration::from_secs(10);
/// Deadline for a signal to show in `/proc` and for a node to exit on
/// SIGTERM.
const SIGNAL: Duration = Duration::from_secs(5);
/// Pause between two looks at the logs.
const LOOK: Duration = Duration::from_millis(10);

#[test]
fn a_stopped_neighbour_is_dropped_routed_around_and_rejoins_after_sigcont() {
    let t0 = Instant::now();
    let config = NodeConfig::new()
        .degree(DEGREE)
        .key("keepalive_timeout_ms", KEEPALIVE_MS);
    let mut net = Network::from_nodes(start_nodes(&config));
    let ids = peer_ids(&net.nodes);
    let h_id = short(&ids[H]);
    let everyone: Vec<usize> = (0..N).collect();
    let others: Vec<usize> = everyone.iter().copied().filter(|&i| i != H).collect();

    // 1. Connected, H has at least two neighbours, views settled.
    net.wait_connected(CONNECT);
    let formed = poll(after(CONNECT), LOOK, || {
        let views = views(&net.nodes, &ids)?;
        let shape = judge(&views, &everyone)?;
        let h_degree = mutual_neighbours(&views, H).len();
        if h_degree < 2 {
            return Err(format!("H has {h_degree} neighbours; {shape}"));
        }
        Ok(shape)
    });
    if let Err(problems) = formed {
        panic!("fresh network not formed as wanted: {problems}");
    }
    let settled = settle(&net, &ids);
    eprintln!(
        "hung_peer: {N} nodes of degree {DEGREE}, keepalive_timeout_ms {KEEPALIVE_MS}, \
         H = node{H} ({h_id}): formed {:?} after the start, views {settled}",
        t0.elapsed()
    );

    // 2. A subscriber on every node; received()[i] is node i's.
    let mut clients: Vec<Client> = (0..N).map(|i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    let mut subscribers = Subscribers::spawn(clients, true);

    // 3. SIGSTOP H; every node that counted it drops it.
    let before = views(&net.nodes, &ids).unwrap_or_else(|e| panic!("{e}"));
    let marks: Vec<usize> = net.nodes.iter().map(|n| n.log_mark()).collect();
    let mut resume = ResumeOnDrop(Some(net.nodes[H].pid()));
    let stop_time = Instant::now();
    net.nodes[H].signal("STOP");
    wait_state(&net.nodes[H], true);
    let watch: Vec<usize> = others
        .iter()
        .copied()
        .filter(|&i| before[i].contains(&Peer::Node(H)))
        .collect();
    eprintln!(
        "hung_peer: SIGSTOP H; it counted {:?}, counted by {watch:?}; views before: {}",
        mutual_neighbours(&before, H),
        judge(&before, &everyone).unwrap_or_else(|e| e)
    );
    assert!(
        watch.len() >= 2,
        "H had fewer than 2 neighbours at SIGSTOP: {watch:?}"
    );
    let downs = detect(&net, &watch, &marks, &h_id, stop_time);
    let last_down = downs.values().map(|d| d.took).max().unwrap_or_default();
    let figures: Vec<String> = downs
        .iter()
        .map(|(i, d)| {
            let how = if d.after_peer_up {
                ", right after a peer up"
            } else {
                ""
            };
            format!("node{i} {:?} ({}{how})", d.took, d.reason)
        })
        .collect();
    eprintln!(
        "hung_peer: SIGSTOP to 'peer down: H': {}",
        figures.join(", ")
    );
    let missing: Vec<usize> = watch
        .iter()
        .copied()
        .filter(|i| !downs.contains_key(i))
        .collect();
    assert!(
        missing.is_empty(),
        "nodes {missing:?} did not drop the stopped H within {DETECT:?} of SIGSTOP \
         (keepalive_timeout_ms {KEEPALIVE_MS}); those that did: {figures:?}"
    );
    for (i, d) in &downs {
        assert_eq!(
            d.reason, "dropped by this host",
            "node{i} lost H otherwise than by dropping it"
        );
    }
    let by_deadline: Vec<usize> = downs
        .iter()
        .filter(|(_, d)| !d.after_peer_up)
        .map(|(i, _)| *i)
        .collect();
    assert!(
        !by_deadline.is_empty(),
        "every neighbour of H dropped it right after a peer up (evictions?); none is \
         known to have waited for the keep-alive deadline: {figures:?}"
    );

    // 4. The others are one component without H.
    let repaired = poll(stop_time + last_down + REPAIR, LOOK, || {
        let all = views(&net.nodes, &ids)?;
        let theirs: Vec<BTreeSet<Peer>> = others.iter().map(|&i| all[i].clone()).collect();
        judge(&theirs, &others)
    });
    let repair_took = stop_time.elapsed();
    match repaired {
        Ok(shape) => eprintln!(
            "hung_peer: the others are one component {repair_took:?} after SIGSTOP: {shape}"
        ),
        Err(problems) => panic!(
            "the others are not one component {REPAIR:?} after the last drop of H: {problems}"
        ),
    }

    // 5. Items from one of H's former neighbours reach everyone but H.
    let a1 = watch[0];
    let mut items: Vec<(usize, Vec<u8>)> = Vec::new();
    let stopped_items = announce(&net, a1, "stopped", &mut items);
    let recipients: Vec<usize> = others.iter().copied().filter(|&i| i != a1).collect();
    let took = await_items(&mut subscribers, &recipients, &items[stopped_items.clone()]);
    eprintln!(
        "hung_peer: {ITEMS} items from node{a1} at nodes {recipients:?} in {took:?}, \
         H still stopped ({:?} after SIGSTOP)",
        stop_time.elapsed()
    );

    // 6. SIGCONT H: it finds a neighbour and the network is one component.
    let marks: Vec<usize> = net.nodes.iter().map(|n| n.log_mark()).collect();
    let cont_time = Instant::now();
    net.nodes[H].signal("CONT");
    resume.0 = None;
    wait_state(&net.nodes[H], false);
    let up = net.nodes[H].wait_for_log_since(marks[H], cont_time + REJOIN, |line| {
        matches!(parse_line(line), Some(LogEvent::Up(_)))
    });
    let first_up = cont_time.elapsed();
    let up = up.unwrap_or_else(|| panic!("H logged no 'peer up' within {REJOIN:?} of SIGCONT"));
    eprintln!(
        "hung_peer: SIGCONT to H's first 'peer up': {first_up:?} ({})",
        up.split_once("] ").map_or(up.as_str(), |(_, m)| m)
    );
    let rejoined = poll(cont_time + REJOIN, LOOK, || {
        let views = views(&net.nodes, &ids)?;
        let shape = judge(&views, &everyone)?;
        strict(&views, &everyone)?;
        Ok(shape)
    });
    let rejoin_took = cont_time.elapsed();
    match rejoined {
        Ok(shape) => eprintln!(
            "hung_peer: all {N} one component, no one-sided link, {rejoin_took:?} after \
             SIGCONT: {shape}"
        ),
        Err(problems) => {
            panic!("not one component without one-sided links {REJOIN:?} after SIGCONT: {problems}")
        }
    }

    // 6b. Catch-up: the new links start with a digest of the neighbours'
    // caches, and H pulls the items announced while it was stopped.
    let took = await_items(&mut subscribers, &[H], &items[stopped_items]);
    eprintln!(
        "hung_peer: H caught up on the {ITEMS} items announced while it was stopped \
         {took:?} after the rejoin ({:?} after SIGCONT)",
        cont_time.elapsed()
    );

    // 7. Items from another node and from H reach everyone else, H included.
    let a2 = *others
        .iter()
        .rev()
        .find(|&&i| i != a1)
        .expect("another node");
    let from_a2 = announce(&net, a2, "resumed", &mut items);
    let from_h = announce(&net, H, "from-h", &mut items);
    let start = Instant::now();
    for (a, range) in [(a2, from_a2), (H, from_h)] {
        let recipients: Vec<usize> = everyone.iter().copied().filter(|&i| i != a).collect();
        await_items(&mut subscribers, &recipients, &items[range]);
    }
    let took = start.elapsed();
    eprintln!(
        "hung_peer: {ITEMS} items from node{a2} and {ITEMS} from H at everyone else in \
         {took:?} ({:?} after SIGCONT)",
        cont_time.elapsed()
    );
    let mut markers = Vec::new();
    for a in [a2, H] {
        let marker = unique(&format!("hung-marker-{a}"));
        net.client(a, &[]).announce(0, T, &marker);
        markers.push((a, marker));
    }
    for (a, marker) in &markers {
        let recipients: Vec<usize> = everyone.iter().copied().filter(|i| i != a).collect();
        await_items(&mut subscribers, &recipients, &[(*a, marker.clone())]);
    }
    items.extend(markers);
    let wrong = check_deliveries(subscribers.received(), &items);
    assert!(wrong.is_empty(), "wrong deliveries: {}", wrong.join("; "));
    let at_h = subscribers.received()[H].len();
    eprintln!("hung_peer: every delivery exactly once; H's subscriber got {at_h} items");
    drop(subscribers);

    // 8. Shut down; the drops of H were keep-alive timeouts.
    for node in &net.nodes {
        node.signal("TERM");
    }
    let stats: Vec<String> = net.nodes.iter_mut().map(await_stats).collect();
    let timeouts: Vec<u64> = stats
        .iter()
        .map(|line| stat(line, "keepalive_timeouts"))
        .collect();
    let evictions: Vec<u64> = stats.iter().map(|line| stat(line, "evictions")).collect();
    eprintln!(
        "hung_peer: keepalive_timeouts by node {timeouts:?}, evictions by node {evictions:?}"
    );
    for (&i, d) in &downs {
        if d.after_peer_up {
            assert!(
                timeouts[i] + evictions[i] >= 1,
                "node{i} dropped H right after a peer up but counted neither a keep-alive \
                 timeout nor an eviction: {}",
                stats[i]
            );
        } else {
            assert!(
                timeouts[i] >= 1,
                "node{i} dropped H (not right after a peer up) but counted no keep-alive \
                 timeout: {}",
                stats[i]
            );
        }
    }
    eprintln!("hung_peer: whole test {:?}", t0.elapsed());
}

/// Sends SIGCONT to a pid when dropped, unless disarmed (once the test
/// resumed the process itself), so a failing test does not leave a stopped
/// process behind; the harness's SIGKILL, which ends a stopped process too,
/// follows when the nodes are dropped.
struct ResumeOnDrop(Option<u32>);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Starts the nodes: node 0 alone, H through node 0, the others through H.
fn start_nodes(config: &NodeConfig) -> Vec<Node> {
    let mut nodes = vec![Node::start("node0", config)];
    for i in 1..N {
        let via = if i == H { 0 } else { H };
        let config = config.clone().bootstrapper(nodes[via].p2p_addr());
        nodes.push(Node::start(&format!("node{i}"), &config));
    }
    nodes
}

/// Waits until `/proc` shows `node` stopped (`stopped`) or not; panics at
/// the deadline.
fn wait_state(node: &Node, stopped: bool) {
    let pid = node.pid();
    let deadline = after(SIGNAL);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // `PID (COMM) STATE ...`; COMM may hold spaces and parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        if (state == "T") == stopped {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} in state {state:?}, wanted stopped = {stopped}"
        );
        thread::sleep(LOOK);
    }
}

/// How one neighbour of H dropped it.
struct Detection {
    /// From SIGSTOP until the `peer down` line was seen.
    took: Duration,
    /// The reason the line gives.
    reason: String,
    /// The line right before it is a `peer up`: the node may have taken a
    /// neighbour that had to be taken and dropped H to make room (an
    /// eviction, see docs/PROTOCOL.md) rather than at the keep-alive
    /// deadline (or a keep-alive drop just followed an unrelated `peer up`).
    after_peer_up: bool,
}

/// Watches the logs of the `watch` nodes (lines after `marks`) until each
/// logged `peer down` for `h_id` or [`DETECT`] from `since` passed; returns
/// how each that did dropped H.
fn detect(
    net: &Network,
    watch: &[usize],
    marks: &[usize],
    h_id: &str,
    since: Instant,
) -> BTreeMap<usize, Detection> {
    let mut downs = BTreeMap::new();
    let deadline = since + DETECT;
    loop {
        for &i in watch {
            if downs.contains_key(&i) {
                continue;
            }
            let mut previous = String::new();
            let mut before = String::new();
            let line = net.nodes[i].wait_for_log_since(marks[i], Instant::now(), |line| {
                let hit = matches!(
                    parse_line(line),
                    Some(LogEvent::Down(id)) if h_id.starts_with(&id)
                );
                if hit {
                    before = std::mem::take(&mut previous);
                } else {
                    previous = line.to_string();
                }
                hit
            });
            if let Some(line) = line {
                let reason = line
                    .rsplit_once('(')
                    .map_or("", |(_, r)| r.trim_end_matches(')'))
                    .to_string();
                let after_peer_up = matches!(parse_line(&before), Some(LogEvent::Up(_)));
                let took = since.elapsed();
                downs.insert(
                    i,
                    Detection {
                        took,
                        reason,
                        after_peer_up,
                    },
                );
            }
        }
        if downs.len() == watch.len() || Instant::now() >= deadline {
            return downs;
        }
        thread::sleep(LOOK);
    }
}

/// Announces [`ITEMS`] items with data type [`T`] at node `a` (each
/// unique, with a binary tail), appends them to `items` as (origin, data)
/// and returns their range there.
fn announce(
    net: &Network,
    a: usize,
    tag: &str,
    items: &mut Vec<(usize, Vec<u8>)>,
) -> std::ops::Range<usize> {
    let mut source = net.client(a, &[]);
    let first = items.len();
    for j in 0..ITEMS {
        let mut data = unique(&format!("hung-{tag}-n{a}-i{j}"));
        data.push(0);
        data.extend((0..(j * 97) % 700).map(|b| ((b * 31 + j) % 256) as u8));
        source.announce(0, T, &data);
        items.push((a, data));
    }
    first..items.len()
}

/// Waits until the subscriber of each of `recipients` got every one of
/// `items` and returns how long that took; panics after [`DELIVERY`] with
/// what is missing.
fn await_items(
    subscribers: &mut Subscribers,
    recipients: &[usize],
    items: &[(usize, Vec<u8>)],
) -> Duration {
    let start = Instant::now();
    let got_all = |received: &[Vec<Notification>], i: usize| {
        items
            .iter()
            .all(|(_, data)| received[i].iter().any(|n| n.data == *data))
    };
    let arrived = subscribers.wait_until(start + DELIVERY, |received| {
        recipients.iter().all(|&i| got_all(received, i))
    });
    if !arrived {
        let received = subscribers.received();
        let lacking: Vec<String> = recipients
            .iter()
            .map(|&i| {
                let lacks = items
                    .iter()
                    .filter(|(_, data)| !received[i].iter().any(|n| n.data == *data))
                    .count();
                format!("node{i} lacks {lacks} of {}", items.len())
            })
            .collect();
        panic!(
            "items from node{} not delivered within {DELIVERY:?}: {}",
            items.first().map_or(usize::MAX, |(a, _)| *a),
            lacking.join(", ")
        );
    }
    start.elapsed()
}

/// What is wrong with the deliveries (empty: nothing): every notification
/// must be of type [`T`] and one of `items`, not announced on its own node,
/// and arrive only once.
fn check_deliveries(received: &[Vec<Notification>], items: &[(usize, Vec<u8>)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, notes) in received.iter().enumerate() {
        for note in notes {
            let one = summary(std::slice::from_ref(note));
            let origin = items.iter().find(|(_, d)| *d == note.data).map(|(a, _)| *a);
            match origin {
                _ if note.data_type != T => {
                    problems.push(format!("node{i} got type {}", note.data_type));
                }
                None => problems.push(format!("node{i} got an unknown item {one:?}")),
                Some(a) if a == i => problems.push(format!("node{i} got its own item {one:?}")),
                Some(_) => {
                    let copies = notes.iter().filter(|n| n.data == note.data).count();
                    if copies != 1 {
                        problems.push(format!("node{i} got {copies} copies of {one:?}"));
                    }
                }
            }
        }
    }
    problems.dedup();
    problems
}

/// Waits for a node that was sent SIGTERM to exit; returns its `stats:` line.
fn await_stats(node: &mut Node) -> String {
    let pid = node.pid();
    node.wait_exit(after(SIGNAL))
        .unwrap_or_else(|| panic!("pid {pid} still runs {SIGNAL:?} after SIGTERM"));
    node.wait_output_closed(after(SIGNAL));
    node.logs()
        .into_iter()
        .find(|l| l.contains("stats: "))
        .unwrap_or_else(|| panic!("pid {pid} logged no stats line at shutdown"))
}

/// The value of `key=N` in a `stats:` line.
fn stat(line: &str, key: &str) -> u64 {
    let prefix = format!("{key}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .expect("a number")
}

/// The nodes that `i` counts and that count `i` (`views` by node index).
fn mutual_neighbours(views: &[BTreeSet<Peer>], i: usize) -> Vec<usize> {
    views[i]
        .iter()
        .filter_map(|p| match p {
            Peer::Node(j) if views[*j].contains(&Peer::Node(i)) => Some(*j),
            _ => None,
        })
        .collect()
}

/// Judges the views of the nodes `members` (`views[k]` is node
/// `members[k]`'s): Ok (a one-line shape) when no view holds a node outside
/// `members` or an unknown id, every member has a neighbour, and the links
/// both ends count connect all of `members`; else the problems.
fn judge(views: &[BTreeSet<Peer>], members: &[usize]) -> Result<String, String> {
    let slot: BTreeMap<usize, usize> = members.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let mut problems = Vec::new();
    let mut live: Vec<BTreeSet<usize>> = Vec::with_capacity(members.len());
    for (k, view) in views.iter().enumerate() {
        let node = members[k];
        let mut mine = BTreeSet::new();
        for peer in view {
            match peer {
                Peer::Node(i) if slot.contains_key(i) => {
                    mine.insert(*i);
                }
                Peer::Node(i) => problems.push(format!("node{node} counts node{i}")),
                Peer::Unknown(id) => problems.push(format!("node{node} counts unknown {id}")),
            }
        }
        if mine.is_empty() {
            problems.push(format!("node{node} has no neighbour"));
        }
        live.push(mine);
    }
    let mutual = |a: usize, b: usize| live[slot[&a]].contains(&b) && live[slot[&b]].contains(&a);
    let mut seen = BTreeSet::new();
    let mut components = Vec::new();
    for &start in members {
        if !seen.insert(start) {
            continue;
        }
        let mut component = vec![start];
        let mut stack = vec![start];
        while let Some(a) = stack.pop() {
            for &b in &live[slot[&a]] {
                if mutual(a, b) && seen.insert(b) {
                    component.push(b);
                    stack.push(b);
                }
            }
        }
        component.sort_unstable();
        components.push(component);
    }
    if components.len() > 1 {
        problems.push(format!("components {components:?}"));
    }
    let shape: Vec<String> = members
        .iter()
        .zip(&live)
        .map(|(i, mine)| format!("node{i}: {mine:?}"))
        .collect();
    let shape = format!("views {}", shape.join(", "));
    if problems.is_empty() {
        Ok(shape)
    } else {
        Err(format!("{}; {shape}", problems.join("; ")))
    }
}

/// Ok when every link among `members` (`views` by node index) is counted by
/// both ends.
fn strict(views: &[BTreeSet<Peer>], members: &[usize]) -> Result<(), String> {
    let one_sided: Vec<String> = members
        .iter()
        .flat_map(|&a| {
            views[a].iter().filter_map(move |p| match p {
                Peer::Node(b) if !views[*b].contains(&Peer::Node(a)) => {
                    Some(format!("node{a} counts node{b}, not back"))
                }
                _ => None,
            })
        })
        .collect();
    if one_sided.is_empty() {
        Ok(())
    } else {
        Err(one_sided.join("; "))
    }
}

/// Waits (at most [`SETTLE`]) until every node has [`DEGREE`] neighbours or
/// the views have not changed for [`STABLE`]; says which, with the
/// neighbour counts.
fn settle(net: &Network, ids: &[String]) -> String {
    let deadline = after(SETTLE);
    let mut last: Option<(Vec<BTreeSet<Peer>>, Instant)> = None;
    loop {
        let now = Instant::now();
        let current = views(&net.nodes, ids).unwrap_or_else(|e| panic!("{e}"));
        let degrees: Vec<usize> = current.iter().map(BTreeSet::len).collect();
        if degrees.iter().all(|&d| d >= DEGREE) {
            return format!("full (degrees {degrees:?})");
        }
        let since = match &last {
            Some((views, since)) if *views == current => *since,
            _ => now,
        };
        if now - since >= STABLE {
            return format!("stable for {STABLE:?} (degrees {degrees:?})");
        }
        if now >= deadline {
            return format!("still changing after {SETTLE:?} (degrees {degrees:?})");
        }
        last = Some((current, since));
        thread::sleep(LOOK);
    }
}

/// The short id the logs show: the first 16 hex digits.
fn short(id: &str) -> String {
    id[..16].to_string()
}
