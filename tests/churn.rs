//! Issue 5, churn: 30 `gossipd` processes; SIGKILL 10 at once; within a
//! deadline every survivor is reconnected and new items reach every survivor.
//!
//! The steps, each with a deadline and a printed figure:
//!
//! 1. **Start** 30 nodes of degree 4 on loopback, in waves (node 0 alone, then
//!    1, 2, 4, 8, ... at once), each new node joining through a seeded-random
//!    node of an earlier wave.
//! 2. **Connect**: probes from node 0 reach every node, and the neighbour
//!    views the nodes log form one component; then up to [`SETTLE`] for the
//!    views to fill up or stop changing, so the kill hits a formed overlay.
//! 3. A subscriber (validating everything) on every node.
//! 4. **Kill** 10 nodes with one `kill -KILL PID...` and reap them: every
//!    neighbour of one seeded-random node (so at least one survivor must find
//!    new neighbours) and seeded-random others, never one of the 3 announcers
//!    below.
//! 5. **Reconnected**, judged from the survivors' logs: no survivor still
//!    counts a killed node as a neighbour, every survivor has a live
//!    neighbour, and the links both ends count form one component over the
//!    survivors.
//! 6. **Delivered**: 20 items announced at each of 3 survivors reach every
//!    survivor's subscriber exactly once, byte-exact, and none reaches the
//!    subscriber on its own announcing host (no echo). As in
//!    `tests/spreading.rs`, "nothing more arrived" is checked without a fixed
//!    sleep: a marker per announcer is awaited last.
//!
//! Step 6 runs even when step 5 fails, so a failure names both. The seed can
//! be changed with `GOSSIPD_CHURN_SEED` (decimal or `0x` hex) to try other
//! shapes and victims.

mod common;

use common::{
    Client, Network, Node, NodeConfig, Notification, Peer, Subscribers, after, peer_ids, poll,
    summary, unique, views,
};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Nodes started.
const N: usize = 30;
/// Nodes killed at once.
const KILLED: usize = 10;
/// `degree` of every node: small, so 10 deaths of 30 leave some survivors
/// with few or no neighbours.
const DEGREE: usize = 4;
/// Default seed of the shape, the victims and the announcers.
const SEED: u64 = 0x5eed_c4a5;
/// Nodes that announce the test items (never killed).
const ANNOUNCERS: usize = 3;
/// Items announced at each announcer after the survivors reconnected.
const ITEMS_EACH: usize = 20;
/// The data type of the test items.
const T: u16 = 4805;

/// Deadline for starting all nodes (each start also has the harness's own).
const START: Duration = Duration::from_secs(20);
/// Deadline for the fresh network to be connected (probes and views).
const CONNECT: Duration = Duration::from_secs(30);
/// Longest wait for the views to fill up or settle before the kill; not a
/// failure when it passes.
const SETTLE: Duration = Duration::from_secs(10);
/// Views unchanged this long count as settled.
const STABLE: Duration = Duration::from_secs(2);
/// Deadline, from the kill, for the survivors' views to be reconnected.
const RECONNECT: Duration = Duration::from_secs(30);
/// Deadline, from the first announcement, for every item (and marker) to
/// reach every survivor.
const DELIVERY: Duration = Duration::from_secs(15);
/// Deadline for the killed processes to be reaped.
const REAP: Duration = Duration::from_secs(10);
/// Pause between two looks at the logs.
const LOOK: Duration = Duration::from_millis(100);

#[test]
fn thirty_nodes_reconnect_and_deliver_after_ten_are_killed_at_once() {
    let seed = seed();
    let mut rng = seed | 1;
    let t0 = Instant::now();
    let nodes = start_nodes(&mut rng);
    let ids = peer_ids(&nodes);
    let started = t0.elapsed();

    // Connected: probes from node 0 everywhere, and one component of views.
    let t1 = Instant::now();
    let mut net = Network::from_nodes(nodes);
    net.wait_connected(CONNECT);
    let everyone: Vec<usize> = (0..N).collect();
    let connected = poll(after(CONNECT), LOOK, || {
        judge(&views(&net.nodes, &ids)?, &everyone, &BTreeSet::new())
    });
    if let Err(problems) = connected {
        panic!("fresh network: probes arrived but the views are not connected: {problems}");
    }
    let connect_took = t1.elapsed();
    eprintln!(
        "churn: seed {seed:#x}, {N} nodes of degree {DEGREE}: started in {started:?}, \
         connected {connect_took:?} later"
    );
    let t2 = Instant::now();
    let settled = settle(&net, &ids);
    eprintln!("churn: views {settled} {:?} later", t2.elapsed());

    // A subscriber on every node (received()[i] is node i's); the victims'
    // ones just see their connection close.
    let mut clients: Vec<Client> = (0..N).map(|i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    let mut subscribers = Subscribers::spawn(clients, true);

    // Who announces and who dies, from the views just before the kill.
    let before = views(&net.nodes, &ids).unwrap_or_else(|e| panic!("{e}"));
    let (announcers, orphan, killed) = choose(&before, &mut rng);
    let survivors: Vec<usize> = (0..N).filter(|i| !killed.contains(i)).collect();
    let cut: Vec<BTreeSet<Peer>> = survivors
        .iter()
        .map(|&i| {
            let alive = |p: &&Peer| !matches!(p, Peer::Node(j) if killed.contains(j));
            before[i].iter().filter(alive).cloned().collect()
        })
        .collect();
    let damage = match judge(&cut, &survivors, &BTreeSet::new()) {
        Ok(_) => "still connected".to_string(),
        Err(problems) => problems,
    };
    eprintln!(
        "churn: killing {killed:?} (every neighbour of node{orphan} among them); announcers \
         {announcers:?}; the survivors' views without the killed: {damage}"
    );

    // Kill: from here on net.nodes[k] is node survivors[k].
    let mut slots: Vec<Option<Node>> = net.nodes.drain(..).map(Some).collect();
    let mut victims: Vec<Node> = killed.iter().map(|&i| slots[i].take().unwrap()).collect();
    net.nodes = slots.into_iter().flatten().collect();
    let kill_time = Instant::now();
    sigkill_at_once(&mut victims);
    drop(victims);

    let mut failures = Vec::new();
    let reconnected = poll(kill_time + RECONNECT, LOOK, || {
        judge(&views(&net.nodes, &ids)?, &survivors, &killed)
    });
    match reconnected {
        Ok(shape) => eprintln!(
            "churn: survivors reconnected {:?} after the kill: {shape}",
            kill_time.elapsed()
        ),
        Err(problems) => {
            eprintln!("churn: survivors NOT reconnected {RECONNECT:?} after the kill");
            failures.push(format!(
                "survivors not reconnected {RECONNECT:?} after the kill: {problems}"
            ));
        }
    }

    match deliver(&net, &mut subscribers, &survivors, &announcers) {
        Ok((first, done)) => eprintln!(
            "churn: {} items from {ANNOUNCERS} survivors at every survivor {:?} after the \
             first announcement, {:?} after the kill",
            ANNOUNCERS * ITEMS_EACH,
            done - first,
            done - kill_time
        ),
        Err(problem) => {
            eprintln!("churn: items NOT delivered everywhere");
            failures.push(problem);
        }
    }
    eprintln!("churn: whole test {:?}", t0.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Picks, with `rng`, the announcers, the orphan and the victims from the
/// views of all nodes (`views[i]` is node i's): [`ANNOUNCERS`] random nodes;
/// a random other node, the orphan, whose neighbours include no announcer
/// and number at most [`KILLED`]; and as victims all the orphan's
/// neighbours plus random others to make [`KILLED`], never an announcer or
/// the orphan. So at least one survivor loses every neighbour and must find
/// new ones; the rest of the damage is chance.
fn choose(views: &[BTreeSet<Peer>], rng: &mut u64) -> (Vec<usize>, usize, BTreeSet<usize>) {
    let mut order: Vec<usize> = (0..N).collect();
    shuffle(&mut order, rng);
    let (announcers, others) = order.split_at(ANNOUNCERS);
    let neighbours = |i: usize| -> BTreeSet<usize> {
        views[i]
            .iter()
            .filter_map(|p| match p {
                Peer::Node(j) => Some(*j),
                Peer::Unknown(_) => None,
            })
            .collect()
    };
    let orphan = *others
        .iter()
        .find(|&&o| {
            let mine = neighbours(o);
            !mine.is_empty() && mine.len() <= KILLED && announcers.iter().all(|a| !mine.contains(a))
        })
        .unwrap_or_else(|| panic!("no node to orphan; views {views:?}"));
    let mut killed = neighbours(orphan);
    for &i in others {
        if killed.len() == KILLED {
            break;
        }
        if i != orphan {
            killed.insert(i);
        }
    }
    (announcers.to_vec(), orphan, killed)
}

/// The seed: `GOSSIPD_CHURN_SEED` (decimal or `0x` hex) if set, else [`SEED`].
fn seed() -> u64 {
    let Ok(text) = std::env::var("GOSSIPD_CHURN_SEED") else {
        return SEED;
    };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("GOSSIPD_CHURN_SEED={text:?}: {e}"))
}

/// A tiny deterministic PRNG (xorshift64; `state` must not be 0).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Fisher-Yates with [`next`].
fn shuffle(items: &mut [usize], rng: &mut u64) {
    for i in (1..items.len()).rev() {
        let j = (next(rng) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Starts [`N`] nodes of degree [`DEGREE`]: node 0 without bootstrapper, then
/// waves of as many nodes as are running (1, 2, 4, 8, then the rest), started
/// in parallel, each through a seeded-random node of an earlier wave.
fn start_nodes(rng: &mut u64) -> Vec<Node> {
    let deadline = after(START);
    let config = NodeConfig::new().degree(DEGREE);
    let mut nodes = vec![Node::start("node0", &config)];
    while nodes.len() < N {
        assert!(
            Instant::now() < deadline,
            "{N} nodes not started in {START:?}"
        );
        let first = nodes.len();
        let wave: Vec<(String, NodeConfig)> = (first..N.min(2 * first))
            .map(|i| {
                let via = (next(rng) % first as u64) as usize;
                let config = config.clone().bootstrapper(nodes[via].p2p_addr());
                (format!("node{i}"), config)
            })
            .collect();
        let started: Vec<Node> = thread::scope(|scope| {
            let handles: Vec<_> = wave
                .iter()
                .map(|(name, config)| scope.spawn(move || Node::start(name, config)))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a node of the wave started"))
                .collect()
        });
        nodes.extend(started);
    }
    nodes
}

/// Judges the views of the running nodes (`views[k]` belongs to node
/// `alive[k]`): Ok (a one-line shape) when no view holds a `killed` node or
/// an unknown id, every node has a live neighbour, and the links that both
/// ends count connect all of `alive`; else the problems.
fn judge(
    views: &[BTreeSet<Peer>],
    alive: &[usize],
    killed: &BTreeSet<usize>,
) -> Result<String, String> {
    let slot: BTreeMap<usize, usize> = alive.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let mut problems = Vec::new();
    let mut live: Vec<BTreeSet<usize>> = Vec::with_capacity(alive.len());
    for (k, view) in views.iter().enumerate() {
        let node = alive[k];
        let mut mine = BTreeSet::new();
        for peer in view {
            match peer {
                Peer::Node(i) if killed.contains(i) => {
                    problems.push(format!("node{node} still counts killed node{i}"));
                }
                Peer::Node(i) if slot.contains_key(i) => {
                    mine.insert(*i);
                }
                Peer::Node(i) => problems.push(format!("node{node} counts node{i}?")),
                Peer::Unknown(id) => problems.push(format!("node{node} counts unknown {id}")),
            }
        }
        if mine.is_empty() {
            problems.push(format!("node{node} has no live neighbour"));
        }
        live.push(mine);
    }
    let mutual = |a: usize, b: usize| live[slot[&a]].contains(&b) && live[slot[&b]].contains(&a);
    let one_sided = alive
        .iter()
        .flat_map(|&a| live[slot[&a]].iter().map(move |&b| (a, b)))
        .filter(|&(a, b)| !mutual(a, b))
        .count();
    // Components over the mutual links.
    let mut component = vec![usize::MAX; alive.len()];
    let mut components: Vec<Vec<usize>> = Vec::new();
    for start in 0..alive.len() {
        if component[start] != usize::MAX {
            continue;
        }
        let c = components.len();
        component[start] = c;
        let mut members = vec![alive[start]];
        let mut stack = vec![alive[start]];
        while let Some(a) = stack.pop() {
            for &b in &live[slot[&a]] {
                if mutual(a, b) && component[slot[&b]] == usize::MAX {
                    component[slot[&b]] = c;
                    members.push(b);
                    stack.push(b);
                }
            }
        }
        members.sort_unstable();
        components.push(members);
    }
    if components.len() > 1 {
        problems.push(format!(
            "{} components over links both ends count: {components:?}",
            components.len()
        ));
    }
    let degrees: Vec<usize> = live.iter().map(BTreeSet::len).collect();
    let shape = format!(
        "live degrees {degrees:?} (by node {alive:?}), {} one-sided entries",
        one_sided
    );
    if problems.is_empty() {
        Ok(shape)
    } else {
        Err(format!("{}; {shape}", problems.join("; ")))
    }
}

/// Waits (at most [`SETTLE`]) until every node has [`DEGREE`] neighbours or
/// the views have not changed for [`STABLE`]; says which, with the degrees.
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

/// SIGKILLs every victim with one `kill -KILL PID...` (by pid, all at once)
/// and waits until each has exited by that signal; `wait` reaps them.
fn sigkill_at_once(victims: &mut [Node]) {
    let pids: Vec<String> = victims.iter().map(|v| v.pid().to_string()).collect();
    let status = Command::new("kill")
        .arg("-KILL")
        .args(&pids)
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -KILL {pids:?} failed");
    let deadline = after(REAP);
    for victim in victims.iter_mut() {
        let pid = victim.pid();
        let exit = victim
            .wait_exit(deadline)
            .unwrap_or_else(|| panic!("pid {pid} still runs {REAP:?} after SIGKILL"));
        assert_eq!(exit.signal(), Some(9), "pid {pid} ended with {exit:?}");
    }
}

/// The data of item `j` of announcer `a`: a unique text head and a binary
/// tail of 0 to 1499 bytes (every byte value), so a byte-exact comparison
/// means something.
fn item_data(a: usize, j: usize) -> Vec<u8> {
    let mut data = unique(&format!("churn-a{a}-i{j}"));
    data.push(0);
    let tail = (j * 379 + a * 101) % 1500;
    data.extend((0..tail).map(|b| ((b * 31 + j * 7 + a) % 256) as u8));
    data
}

/// Announces [`ITEMS_EACH`] items at each announcer (interleaved), then a
/// marker at each, and waits until every survivor's subscriber
/// (`received()[i]` is node i's; `net.nodes[k]` is node `survivors[k]`) has
/// every item and marker not announced on its own node; then checks that
/// each arrived exactly once, of type [`T`], byte-exact, and that nothing
/// else did. Ok: when the first item was announced and when the items (not
/// the markers) had reached everybody.
fn deliver(
    net: &Network,
    subscribers: &mut Subscribers,
    survivors: &[usize],
    announcers: &[usize],
) -> Result<(Instant, Instant), String> {
    let slot_of = |node: usize| {
        survivors
            .iter()
            .position(|&s| s == node)
            .expect("a survivor")
    };
    let mut sources: Vec<Client> = announcers
        .iter()
        .map(|&a| net.client(slot_of(a), &[]))
        .collect();
    // (announcing node, data)
    let mut items: Vec<(usize, Vec<u8>)> = Vec::new();
    let start = Instant::now();
    let deadline = start + DELIVERY;
    for j in 0..ITEMS_EACH {
        for (source, &a) in sources.iter_mut().zip(announcers) {
            let data = item_data(a, j);
            source.announce(0, T, &data);
            items.push((a, data));
        }
    }
    let everywhere = |items: &[(usize, Vec<u8>)], received: &[Vec<Notification>]| {
        survivors.iter().all(|&s| {
            let notes = &received[s];
            items
                .iter()
                .filter(|(origin, _)| *origin != s)
                .all(|(_, data)| notes.iter().any(|n| n.data == *data))
        })
    };
    let arrived = subscribers.wait_until(deadline, |received| everywhere(&items, received));
    let done = Instant::now();
    if !arrived {
        return Err(format!(
            "items not at every survivor {DELIVERY:?} after the first announcement: {}",
            missing(subscribers.received(), survivors, &items)
        ));
    }
    let mut markers: Vec<(usize, Vec<u8>)> = Vec::new();
    for (source, &a) in sources.iter_mut().zip(announcers) {
        let marker = unique(&format!("churn-marker-a{a}"));
        source.announce(0, T, &marker);
        markers.push((a, marker));
    }
    let arrived = subscribers.wait_until(deadline, |received| everywhere(&markers, received));
    items.extend(markers);
    if !arrived {
        return Err(format!(
            "markers not at every survivor {DELIVERY:?} after the first announcement: {}",
            missing(subscribers.received(), survivors, &items)
        ));
    }
    let mut problems = Vec::new();
    for &s in survivors {
        let notes = &subscribers.received()[s];
        for note in notes {
            let origin = items
                .iter()
                .find(|(_, data)| *data == note.data)
                .map(|(a, _)| *a);
            match origin {
                _ if note.data_type != T => {
                    problems.push(format!("node{s} got type {}", note.data_type))
                }
                None => problems.push(format!(
                    "node{s} got an unknown item: {:?}",
                    summary(std::slice::from_ref(note))
                )),
                Some(a) if a == s => problems.push(format!(
                    "node{s} got its own item back: {:?}",
                    summary(std::slice::from_ref(note))
                )),
                Some(_) => {
                    let copies = notes.iter().filter(|n| n.data == note.data).count();
                    if copies != 1 {
                        problems.push(format!(
                            "node{s} got {copies} copies of {:?}",
                            summary(std::slice::from_ref(note))
                        ));
                    }
                }
            }
        }
    }
    problems.dedup();
    if problems.is_empty() {
        Ok((start, done))
    } else {
        Err(format!("wrong deliveries: {}", problems.join("; ")))
    }
}

/// For an error message: what each survivor still lacks of `items` (not
/// counting its own), by announcing node.
fn missing(
    received: &[Vec<Notification>],
    survivors: &[usize],
    items: &[(usize, Vec<u8>)],
) -> String {
    let mut lines = Vec::new();
    for &s in survivors {
        let notes = &received[s];
        let mut lacks: BTreeMap<usize, usize> = BTreeMap::new();
        for (origin, data) in items {
            if *origin != s && !notes.iter().any(|n| n.data == *data) {
                *lacks.entry(*origin).or_default() += 1;
            }
        }
        if !lacks.is_empty() {
            lines.push(format!(
                "node{s} got {} and lacks {lacks:?} (by announcer)",
                notes.len()
            ));
        }
    }
    lines.join("; ")
}
