//! The `core_messages` target: the protocol core (`gossipd::proto::Core`)
//! driven by a sequence of operations read from the input.
//!
//! The harness plays the node thread: it keeps the driver's side of the
//! contract (a `Connect` is answered by exactly one `PeerUp` or `DialFailed`,
//! a `Deliver` at once by `Notified`, peer events and messages are taken only
//! while [`Core::wants_items`] says so, a malformed frame ends its
//! connection) and lets the input choose everything else: which peer sends
//! which frame body (decoded with `wire::decode`, so the fuzzer explores real
//! message shapes), peers coming and going, dials succeeding or failing,
//! announcements, subscriptions, verdicts with real or arbitrary message
//! ids, clients leaving, and time passing. After every operation it drains
//! `poll_action` and checks invariants that always hold; see
//! `Harness::check_action` and `Harness::check_state` (and fuzz/README.md).
//!
//! # Input format
//!
//! Ten setup bytes (degree, cache size, validation timeout, client silence,
//! flags, RNG seed, four bytes of accounting limits), then operations: an opcode byte (taken modulo the
//! number of operations) and its fields, big-endian; see [`Op`]. Input that
//! ends inside an operation ends the run. Adding an operation changes what
//! opcodes at or above the old count mean: first turn saved inputs into their
//! canonical form with `reencode` (opcodes below the count), built with the
//! old count.
//!
//! The setup picks either the default peer accounting or tight limits
//! (small bursts and thresholds, seconds-long windows and bans), so that
//! rate limits, bans and their expiry are reached within a few operations.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gossipd::proto::{
    AccountingConfig, Action, ClientId, Core, DataType, Dissemination, Event, Item, ItemAuth,
    ItemId, ItemSignature, Message, Misbehaviour, MsgId, OriginKey, PeerId, ProtoConfig, Ttl,
    Violation,
};
use gossipd::wire::{self, MAX_FRAME_LEN, MAX_PEERS_PER_MESSAGE};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Accepts every item signature (see [`Setup::config`]); signs with zeros.
#[derive(Debug)]
struct TrustAll;

impl ItemAuth for TrustAll {
    fn origin(&self) -> OriginKey {
        OriginKey([0xee; 32])
    }

    fn sign(&self, _msg: &[u8]) -> ItemSignature {
        ItemSignature([0; 64])
    }

    fn verify(&self, _origin: &OriginKey, _msg: &[u8], _signature: &ItemSignature) -> bool {
        true
    }
}

/// Fake peers the input can name (a peer byte is taken modulo this).
pub const PEERS: u8 = 8;
/// Local client slots; a slot gets a fresh client id each time its client leaves.
pub const CLIENTS: u8 = 4;
/// Operations run per input at most (keeps one run fast).
pub const MAX_OPS: usize = 400;
/// Recent message ids and items remembered for [`MsgPick::Recent`] and [`Op::Echo`].
const RECENT: usize = 32;

/// Runs the operations of one input.
pub fn check(data: &[u8]) {
    run(data, false);
}

/// Runs one input printing each operation, the actions it caused and the
/// core's statistics to stderr as it goes (for crash reports).
pub fn trace(data: &[u8]) {
    run(data, true);
}

fn run(data: &[u8], trace: bool) {
    let mut r = Bytes { rest: data };
    let setup = Setup::parse(&mut r);
    if trace {
        eprintln!("{setup:?}");
    }
    let mut harness = Harness::new(&setup, trace);
    for _ in 0..MAX_OPS {
        let Some(op) = Op::parse(&mut r) else { break };
        if trace {
            eprintln!("{op:?}");
        }
        harness.apply(&op);
    }
    if trace {
        eprintln!("{:?}", harness.core.stats());
    }
}

/// The setup and operations an input stands for, one per line.
pub fn describe(data: &[u8]) -> String {
    let mut r = Bytes { rest: data };
    let mut s = format!("{:?}\n", Setup::parse(&mut r));
    for _ in 0..MAX_OPS {
        let Some(op) = Op::parse(&mut r) else { break };
        let _ = writeln!(s, "{op:?}");
    }
    s
}

/// A bounds-checked cursor over the input.
struct Bytes<'a> {
    rest: &'a [u8],
}

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*first)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    /// Up to `n` bytes (fewer when the input ends).
    fn take(&mut self, n: usize) -> Vec<u8> {
        let (head, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        head.to_vec()
    }
}

/// The core's configuration, chosen by the first ten input bytes (flags
/// bit 2 says whether the last four, [`Limits`], apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Neighbours kept (1..=4).
    pub degree: u8,
    /// Items cached (1..=16); the validation window is half of it.
    pub cache_size: u8,
    /// Validation deadline in seconds (1..=8).
    pub timeout_s: u8,
    /// Client silence in quarter seconds (1..=8).
    pub silence_quarters: u8,
    /// The core starts by dialing peer 0.
    pub bootstrap: bool,
    /// The seen-set is as small as the cache, so old ids come back as new.
    pub small_seen: bool,
    /// Plumtree dissemination (flags bit 3); otherwise flooding.
    pub plumtree: bool,
    /// Seeds the core's RNG.
    pub seed: u8,
    /// Tight accounting limits; None: the defaults.
    pub limits: Option<Limits>,
}

/// Peer accounting limits small enough for a short input to reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Malformed frames that ban (1..=2).
    pub malformed: u8,
    /// Protocol violations that ban (1..=4).
    pub violations: u8,
    /// Invalid items that ban (1..=4).
    pub invalid: u8,
    /// Messages dropped over the rates that ban (1..=8).
    pub dropped: u8,
    /// Message burst (1..=8) and rate per second (1..=4).
    pub message_burst: u8,
    /// Messages per second (1..=4).
    pub message_rate: u8,
    /// Address requests answered per window (1..=8).
    pub peer_requests: u8,
    /// Byte burst in units of 64 bytes (1..=16).
    pub byte_burst_64: u8,
    /// Bytes per second in units of 64 bytes (1..=16).
    pub byte_rate_64: u8,
    /// Counting window in seconds (1..=8).
    pub window_s: u8,
    /// Ban time in seconds (1..=32).
    pub ban_s: u8,
}

impl Limits {
    fn parse(b: [u8; 4]) -> Limits {
        Limits {
            malformed: b[0] % 2 + 1,
            violations: (b[0] >> 1) % 4 + 1,
            invalid: (b[0] >> 3) % 4 + 1,
            dropped: (b[0] >> 5) + 1,
            message_burst: b[1] % 8 + 1,
            message_rate: (b[1] >> 3) % 4 + 1,
            peer_requests: (b[1] >> 5) + 1,
            byte_burst_64: b[2] % 16 + 1,
            byte_rate_64: (b[2] >> 4) + 1,
            window_s: b[3] % 8 + 1,
            ban_s: (b[3] >> 3) + 1,
        }
    }

    fn encode(&self) -> [u8; 4] {
        [
            (self.malformed - 1)
                | (self.violations - 1) << 1
                | (self.invalid - 1) << 3
                | (self.dropped - 1) << 5,
            (self.message_burst - 1) | (self.message_rate - 1) << 3 | (self.peer_requests - 1) << 5,
            (self.byte_burst_64 - 1) | (self.byte_rate_64 - 1) << 4,
            (self.window_s - 1) | (self.ban_s - 1) << 3,
        ]
    }

    fn apply(&self, config: &mut ProtoConfig) {
        config.ban_time = Duration::from_secs(self.ban_s.into());
        config.accounting = AccountingConfig {
            ban_after_malformed_frames: self.malformed.into(),
            ban_after_violations: self.violations.into(),
            ban_after_invalid_items: self.invalid.into(),
            ban_after_dropped: self.dropped.into(),
            window: Duration::from_secs(self.window_s.into()),
            message_rate: self.message_rate.into(),
            message_burst: self.message_burst.into(),
            byte_rate: 64 * u64::from(self.byte_rate_64),
            byte_burst: 64 * u64::from(self.byte_burst_64),
            peer_requests_per_window: self.peer_requests.into(),
        };
    }
}

impl Setup {
    fn parse(r: &mut Bytes<'_>) -> Setup {
        let mut b = || r.u8().unwrap_or(0);
        let (degree, cache, timeout, silence, flags, seed) = (b(), b(), b(), b(), b(), b());
        let limits = [b(), b(), b(), b()];
        Setup {
            degree: degree % 4 + 1,
            cache_size: cache % 16 + 1,
            timeout_s: timeout % 8 + 1,
            silence_quarters: silence % 8 + 1,
            bootstrap: flags & 1 != 0,
            small_seen: flags & 2 != 0,
            plumtree: flags & 8 != 0,
            seed,
            limits: (flags & 4 != 0).then(|| Limits::parse(limits)),
        }
    }

    /// The ten bytes that parse back to this setup.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.degree - 1,
            self.cache_size - 1,
            self.timeout_s - 1,
            self.silence_quarters - 1,
            u8::from(self.bootstrap)
                | u8::from(self.small_seen) << 1
                | u8::from(self.limits.is_some()) << 2
                | u8::from(self.plumtree) << 3,
            self.seed,
        ]);
        out.extend_from_slice(&self.limits.map_or([0; 4], |l| l.encode()));
    }

    fn config(&self) -> ProtoConfig {
        let mut config = ProtoConfig::new(self.degree.into(), self.cache_size.into());
        // Items come from fuzzed bytes: their signatures never verify, and
        // a core that dropped them all would explore nothing past the
        // check. The check itself is unit-tested in gossipd.
        config.auth = Some(Arc::new(TrustAll));
        config.tree.mode = if self.plumtree {
            Dissemination::Plumtree
        } else {
            Dissemination::Flood
        };
        if self.small_seen {
            config.seen_capacity = self.cache_size.into();
        }
        config.validation_timeout = Duration::from_secs(self.timeout_s.into());
        config.client_silence = Duration::from_millis(250 * u64::from(self.silence_quarters));
        config.bootstrapper = self.bootstrap.then(|| peer_addr(0));
        if let Some(limits) = self.limits {
            limits.apply(&mut config);
        }
        config
    }
}

/// Which message id a verdict names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgPick {
    /// One of the recently delivered ids (index modulo how many there are).
    Recent(u8),
    /// Any id (only the low 15 bits: the top bit of the field selects).
    Raw(u16),
}

/// Where a peer says its listener is (its Hello is peer-controlled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPick {
    /// Its own address.
    Own,
    /// This host's address.
    Mine,
    /// Another fake peer's address.
    Other(u8),
    /// Its own IP with this port.
    Port(u16),
}

/// One operation; the opcode is the variant's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// 0: a connected peer sends one frame body (u8 peer, u16 length, body).
    Receive { peer: u8, body: Vec<u8> },
    /// 1: a connected peer sends an item seen earlier, with a new ttl.
    Echo { peer: u8, which: u8, ttl: u8 },
    /// 2: an inbound connection completes its handshake.
    Inbound {
        peer: u8,
        high_priority: bool,
        addr: AddrPick,
    },
    /// 3: a pending dial reaches `peer`; it advertises the dialed address
    /// or its own.
    DialSucceeded {
        which: u8,
        peer: u8,
        advertise_dialed: bool,
    },
    /// 4: a pending dial fails.
    DialFailed { which: u8 },
    /// 5: a connected peer's connection ends.
    PeerDown { peer: u8 },
    /// 6: a local client announces an item.
    Announce { ttl: u8, data_type: u16, len: u8 },
    /// 7: which client slots (low 4 bits) receive the next deliveries.
    Subscribe { mask: u8 },
    /// 8: a client gives a verdict.
    Validation {
        client: u8,
        msg: MsgPick,
        valid: bool,
    },
    /// 9: a client leaves.
    ClientGone { client: u8 },
    /// 10: time passes; the driver calls `handle_timeout`.
    Advance { millis: u16 },
    /// 11: time jumps to `poll_timeout()`; the driver calls `handle_timeout`.
    AdvanceToTimeout,
    /// 12: the driver reports a connected peer's misbehaviour.
    Misbehaved { peer: u8, what: u8 },
    /// 13: an outbox became congested or clear; while congested the driver
    /// takes no local announcements.
    Congestion { congested: bool },
}

const OPS: u8 = 14;

/// The misbehaviour an [`Op::Misbehaved`] reports (`what` modulo 4).
fn misbehaviour(what: u8) -> Misbehaviour {
    match what % 4 {
        0 => Misbehaviour::MalformedFrame,
        1 => Misbehaviour::InvalidItem,
        2 => Misbehaviour::ProtocolViolation(Violation::TooManyPeerRequests),
        _ => Misbehaviour::Flooding,
    }
}

impl Op {
    fn parse(r: &mut Bytes<'_>) -> Option<Op> {
        Some(match r.u8()? % OPS {
            0 => {
                let peer = r.u8()?;
                let len = r.u16()?;
                Op::Receive {
                    peer,
                    body: r.take(len.into()),
                }
            }
            1 => Op::Echo {
                peer: r.u8()?,
                which: r.u8()?,
                ttl: r.u8()?,
            },
            2 => {
                let (peer, flags, port) = (r.u8()?, r.u8()?, r.u16()?);
                let addr = match (flags >> 1) % 4 {
                    0 => AddrPick::Own,
                    1 => AddrPick::Mine,
                    2 => AddrPick::Other((flags >> 3) % PEERS),
                    _ => AddrPick::Port(port),
                };
                Op::Inbound {
                    peer,
                    high_priority: flags & 1 != 0,
                    addr,
                }
            }
            3 => Op::DialSucceeded {
                which: r.u8()?,
                peer: r.u8()?,
                advertise_dialed: r.u8()? & 1 != 0,
            },
            4 => Op::DialFailed { which: r.u8()? },
            5 => Op::PeerDown { peer: r.u8()? },
            6 => Op::Announce {
                ttl: r.u8()?,
                data_type: r.u16()?,
                len: r.u8()?,
            },
            7 => Op::Subscribe { mask: r.u8()? },
            8 => {
                let client = r.u8()?;
                let m = r.u16()?;
                let msg = if m & 0x8000 != 0 {
                    MsgPick::Recent(m as u8)
                } else {
                    MsgPick::Raw(m)
                };
                Op::Validation {
                    client,
                    msg,
                    valid: r.u8()? & 1 != 0,
                }
            }
            9 => Op::ClientGone { client: r.u8()? },
            10 => Op::Advance { millis: r.u16()? },
            11 => Op::AdvanceToTimeout,
            12 => Op::Misbehaved {
                peer: r.u8()?,
                what: r.u8()?,
            },
            _ => Op::Congestion {
                congested: r.u8()? & 1 != 0,
            },
        })
    }

    /// The bytes that parse back to this operation.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::Receive { peer, body } => {
                let len = u16::try_from(body.len()).expect("seed bodies are small");
                out.extend_from_slice(&[0, *peer]);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(body);
            }
            Op::Echo { peer, which, ttl } => out.extend_from_slice(&[1, *peer, *which, *ttl]),
            Op::Inbound {
                peer,
                high_priority,
                addr,
            } => {
                let (sel, port) = match *addr {
                    AddrPick::Own => (0, 0),
                    AddrPick::Mine => (1, 0),
                    AddrPick::Other(k) => (2 | k << 2, 0),
                    AddrPick::Port(p) => (3, p),
                };
                out.extend_from_slice(&[2, *peer, u8::from(*high_priority) | sel << 1]);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Op::DialSucceeded {
                which,
                peer,
                advertise_dialed,
            } => out.extend_from_slice(&[3, *which, *peer, u8::from(*advertise_dialed)]),
            Op::DialFailed { which } => out.extend_from_slice(&[4, *which]),
            Op::PeerDown { peer } => out.extend_from_slice(&[5, *peer]),
            Op::Announce {
                ttl,
                data_type,
                len,
            } => {
                out.extend_from_slice(&[6, *ttl]);
                out.extend_from_slice(&data_type.to_be_bytes());
                out.push(*len);
            }
            Op::Subscribe { mask } => out.extend_from_slice(&[7, *mask]),
            Op::Validation { client, msg, valid } => {
                let m = match *msg {
                    MsgPick::Recent(i) => 0x8000 | u16::from(i),
                    MsgPick::Raw(m) => m & 0x7fff,
                };
                out.extend_from_slice(&[8, *client]);
                out.extend_from_slice(&m.to_be_bytes());
                out.push(u8::from(*valid));
            }
            Op::ClientGone { client } => out.extend_from_slice(&[9, *client]),
            Op::Advance { millis } => {
                out.push(10);
                out.extend_from_slice(&millis.to_be_bytes());
            }
            Op::AdvanceToTimeout => out.push(11),
            Op::Misbehaved { peer, what } => out.extend_from_slice(&[12, *peer, *what]),
            Op::Congestion { congested } => out.extend_from_slice(&[13, u8::from(*congested)]),
        }
    }

    /// Operations that arrive through the node's net queue.
    fn is_net(&self) -> bool {
        matches!(
            self,
            Op::Receive { .. }
                | Op::Echo { .. }
                | Op::Inbound { .. }
                | Op::DialSucceeded { .. }
                | Op::DialFailed { .. }
                | Op::PeerDown { .. }
                | Op::Misbehaved { .. }
        )
    }
}

/// Fake peer `k`'s id: every byte `k + 1`, so logs tell peers apart.
fn peer_id(k: u8) -> PeerId {
    PeerId([k % PEERS + 1; 32])
}

fn peer_ip(k: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, k % PEERS + 1))
}

fn peer_addr(k: u8) -> SocketAddr {
    SocketAddr::new(peer_ip(k), 7000)
}

fn my_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 100)), 7000)
}

/// What the harness knows of an item received from a peer (its latest
/// delivery: once the seen-set forgets an id, the item can come back as new).
#[derive(Debug)]
struct Received {
    /// Which delivery this is (counting from 1), so that a verdict on an
    /// earlier delivery's message id does not count for this one.
    delivery: u64,
    from: PeerId,
    ttl: Ttl,
    /// Notified clients that have not called it valid yet.
    awaiting: Vec<ClientId>,
    /// A notified client called it invalid.
    invalid: bool,
}

/// What one operation did, for the checks on its actions.
#[derive(Debug, Default)]
struct Step {
    /// The item of a Received event and who sent it.
    incoming: Option<(PeerId, Item)>,
    /// A message came from a peer that was not a neighbour, or was banned:
    /// the core may only ban it.
    stranger: Option<PeerId>,
    /// The peers this operation may get banned: a sender, a reported peer,
    /// the sender of an item called invalid.
    suspects: Vec<PeerId>,
    delivers: usize,
    disconnected: Vec<PeerId>,
    banned: Vec<PeerId>,
}

/// The node thread's stand-in.
struct Harness {
    core: Core<StdRng>,
    now: Instant,
    degree: usize,
    max_pending: usize,
    /// Peers with a connection: PeerUp seen, no PeerDown since.
    connected: BTreeSet<PeerId>,
    /// Connects not answered yet, oldest first.
    dialing: Vec<SocketAddr>,
    /// Connects not answered yet that the core stopped counting as dials:
    /// the address turned out to be a banned peer's. The driver still
    /// answers them.
    orphaned: Vec<SocketAddr>,
    subscribers: u8,
    generation: [u64; CLIENTS as usize],
    recent_ids: VecDeque<MsgId>,
    recent_items: VecDeque<Item>,
    received: HashMap<ItemId, Received>,
    /// The item and delivery each message id was last given to.
    msg_items: HashMap<MsgId, (ItemId, u64)>,
    /// The ttl of each announcement, by the index stored in its data.
    announced: Vec<Ttl>,
    /// (item, peer) pairs sent; an item goes to a peer at most once while the
    /// seen-set remembers every id.
    sent: HashSet<(ItemId, PeerId)>,
    check_once: bool,
    delivers: u64,
    /// The driver last reported a congested outbox.
    congested: bool,
    trace: bool,
}

impl Harness {
    fn new(setup: &Setup, trace: bool) -> Harness {
        let config = setup.config();
        let rng = StdRng::seed_from_u64(u64::from(setup.seed));
        // The harness plays the driver, which owns the clock; only the start
        // is read, every later instant is this one plus simulated time.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let (degree, max_pending) = (config.degree, config.max_pending.max(1));
        let core = Core::new(config, PeerId([0xee; 32]), my_addr(), rng, now);
        let mut h = Harness {
            core,
            now,
            degree,
            max_pending,
            connected: BTreeSet::new(),
            dialing: Vec::new(),
            orphaned: Vec::new(),
            subscribers: 0,
            generation: [0; CLIENTS as usize],
            recent_ids: VecDeque::new(),
            recent_items: VecDeque::new(),
            received: HashMap::new(),
            msg_items: HashMap::new(),
            announced: Vec::new(),
            sent: HashSet::new(),
            check_once: !setup.small_seen,
            delivers: 0,
            congested: false,
            trace,
        };
        let mut step = Step::default();
        h.drain(&mut step);
        h.check_state(&step);
        h
    }

    fn client(&self, slot: u8) -> ClientId {
        let slot = slot % CLIENTS;
        ClientId(self.generation[usize::from(slot)] * u64::from(CLIENTS) + u64::from(slot))
    }

    fn apply(&mut self, op: &Op) {
        if op.is_net() && !self.core.wants_items() {
            return; // the driver leaves the net queue alone
        }
        if matches!(op, Op::Announce { .. }) && self.congested {
            return; // ... and the local queue while an outbox is congested
        }
        let mut step = Step::default();
        let events = self.events(op, &mut step);
        if events.is_empty() {
            // Nothing reached the core, or only handle_timeout did.
            self.drain(&mut step);
            self.check_state(&step);
        }
        for event in events {
            if self.trace {
                eprintln!("  event {event:?}");
            }
            if let Event::PeerDown { peer } = &event {
                self.connected.remove(peer);
            }
            self.core.handle(event, self.now);
            self.drain(&mut step);
            self.check_state(&step);
        }
    }

    /// The events an operation stands for, in order: none when it cannot
    /// happen now or changes only the harness or calls `handle_timeout`.
    fn events(&mut self, op: &Op, step: &mut Step) -> Vec<Event> {
        let event = match *op {
            Op::Receive { peer, ref body } => {
                let from = peer_id(peer);
                if !self.connected.contains(&from) {
                    return vec![];
                }
                match wire::decode(body) {
                    Ok(msg) => self.received_event(from, msg, step),
                    Err(_) => {
                        // The reader reports a malformed frame, then its
                        // connection ends.
                        step.suspects.push(from);
                        let what = Misbehaviour::MalformedFrame;
                        return vec![
                            Event::Misbehaved { peer: from, what },
                            Event::PeerDown { peer: from },
                        ];
                    }
                }
            }
            Op::Echo { peer, which, ttl } => {
                let from = peer_id(peer);
                if !self.connected.contains(&from) || self.recent_items.is_empty() {
                    return vec![];
                }
                let i = usize::from(which) % self.recent_items.len();
                let item = Item {
                    ttl: Ttl(ttl),
                    ..self.recent_items[i].clone()
                };
                self.received_event(from, Message::Item(item), step)
            }
            Op::Inbound {
                peer,
                high_priority,
                addr,
            } => {
                let addr = match addr {
                    AddrPick::Own => peer_addr(peer),
                    AddrPick::Mine => my_addr(),
                    AddrPick::Other(k) => peer_addr(k),
                    AddrPick::Port(p) => SocketAddr::new(peer_ip(peer), p),
                };
                self.connected.insert(peer_id(peer));
                Event::PeerUp {
                    peer: peer_id(peer),
                    addr,
                    dialed: None,
                    high_priority,
                }
            }
            Op::DialSucceeded {
                which,
                peer,
                advertise_dialed,
            } => {
                let Some(dialed) = self.take_dial(which) else {
                    return vec![];
                };
                self.connected.insert(peer_id(peer));
                Event::PeerUp {
                    peer: peer_id(peer),
                    addr: if advertise_dialed {
                        dialed
                    } else {
                        peer_addr(peer)
                    },
                    dialed: Some(dialed),
                    high_priority: false,
                }
            }
            Op::DialFailed { which } => match self.take_dial(which) {
                Some(addr) => Event::DialFailed { addr },
                None => return vec![],
            },
            Op::PeerDown { peer } => {
                let peer = peer_id(peer);
                if !self.connected.contains(&peer) {
                    return vec![];
                }
                Event::PeerDown { peer }
            }
            Op::Congestion { congested } => {
                self.congested = congested;
                Event::Congestion { congested }
            }
            Op::Misbehaved { peer, what } => {
                let peer = peer_id(peer);
                if !self.connected.contains(&peer) {
                    return vec![];
                }
                step.suspects.push(peer);
                Event::Misbehaved {
                    peer,
                    what: misbehaviour(what),
                }
            }
            Op::Announce {
                ttl,
                data_type,
                len,
            } => {
                // The data starts with the announcement's index, so the
                // checks can tell which ttl it was announced with.
                let index = u32::try_from(self.announced.len()).expect("at most MAX_OPS");
                let mut data = index.to_be_bytes().to_vec();
                data.resize(4 + usize::from(len), 0xa5);
                self.announced.push(Ttl(ttl));
                Event::Announce {
                    ttl: Ttl(ttl),
                    data_type: DataType(data_type),
                    data: Arc::from(data),
                }
            }
            Op::Subscribe { mask } => {
                self.subscribers = mask;
                return vec![];
            }
            Op::Validation { client, msg, valid } => {
                let msg_id = match msg {
                    MsgPick::Recent(i) if !self.recent_ids.is_empty() => {
                        self.recent_ids[usize::from(i) % self.recent_ids.len()]
                    }
                    MsgPick::Recent(i) => MsgId(i.into()),
                    MsgPick::Raw(m) => MsgId(m),
                };
                let client = self.client(client);
                if let Some(from) = self.on_verdict(client, msg_id, valid) {
                    step.suspects.push(from);
                }
                Event::Validation {
                    client,
                    msg_id,
                    valid,
                }
            }
            Op::ClientGone { client } => {
                let client = self.client(client);
                self.generation[(client.0 % u64::from(CLIENTS)) as usize] += 1;
                self.forget_client(client);
                Event::ClientGone { client }
            }
            Op::Advance { millis } => {
                self.now += Duration::from_millis(millis.into());
                self.timeout();
                return vec![];
            }
            Op::AdvanceToTimeout => {
                self.now = self.now.max(self.core.poll_timeout());
                self.timeout();
                return vec![];
            }
        };
        vec![event]
    }

    fn received_event(&mut self, from: PeerId, msg: Message, step: &mut Step) -> Event {
        if !self.core.is_neighbour(&from) || self.core.is_banned(&from, self.now) {
            step.stranger = Some(from);
        }
        step.suspects.push(from);
        if let Message::Item(item) = &msg {
            step.incoming = Some((from, item.clone()));
        }
        Event::Received { from, msg }
    }

    fn take_dial(&mut self, which: u8) -> Option<SocketAddr> {
        let n = self.dialing.len() + self.orphaned.len();
        if n == 0 {
            return None;
        }
        let i = usize::from(which) % n;
        Some(match i.checked_sub(self.dialing.len()) {
            None => self.dialing.remove(i),
            Some(j) => {
                let addr = self.orphaned[j];
                // Dialed again after the ban ended: the core cannot tell the
                // two answers apart, and the first one ends "the" dial.
                match self.dialing.iter().position(|d| *d == addr) {
                    Some(pos) => self.dialing.remove(pos),
                    None => self.orphaned.remove(j),
                }
            }
        })
    }

    fn timeout(&mut self) {
        self.core.handle_timeout(self.now);
        // Otherwise the driver's loop would spin: its select! waits until
        // poll_timeout(), and a deadline already due never advances.
        assert!(
            self.core.poll_timeout() > self.now,
            "poll_timeout() is not in the future right after handle_timeout"
        );
    }

    /// Applies a verdict to the model; returns the sender of an item called
    /// invalid.
    fn on_verdict(&mut self, client: ClientId, msg_id: MsgId, valid: bool) -> Option<PeerId> {
        let (item, delivery) = self.msg_items.get(&msg_id)?;
        let r = self
            .received
            .get_mut(item)
            .filter(|r| r.delivery == *delivery)?;
        let pos = r.awaiting.iter().position(|c| *c == client)?;
        if valid {
            r.awaiting.swap_remove(pos);
            return None;
        }
        r.invalid = true;
        Some(r.from)
    }

    fn forget_client(&mut self, client: ClientId) {
        for r in self.received.values_mut() {
            r.awaiting.retain(|c| *c != client);
        }
    }

    fn drain(&mut self, step: &mut Step) {
        while let Some(action) = self.core.poll_action() {
            if self.trace {
                eprintln!("  -> {action:?}");
            }
            if let Some(s) = step.stranger {
                assert!(
                    matches!(action, Action::Ban { peer, .. } if peer == s),
                    "acted on a message from a non-neighbour or banned peer: {action:?}"
                );
            }
            self.check_action(&action, step);
            if let Action::Deliver { item, .. } = action {
                let clients: Vec<ClientId> = (0..CLIENTS)
                    .filter(|slot| self.subscribers & (1 << slot) != 0)
                    .map(|slot| self.client(slot))
                    .collect();
                if let Some(r) = self.received.get_mut(&item) {
                    r.awaiting = clients.clone();
                }
                self.core
                    .handle(Event::Notified { item, clients }, self.now);
            }
        }
    }

    /// Checks one action against the contract and the harness's model.
    fn check_action(&mut self, action: &Action, step: &mut Step) {
        match action {
            Action::Send { to, msg } => self.check_send(*to, msg),
            Action::Connect { addr, .. } => {
                assert_ne!(*addr, my_addr(), "the core dials itself");
                assert!(
                    !self.core.is_addr_banned(addr, self.now),
                    "dials a banned address"
                );
                assert!(
                    !self.dialing.contains(addr),
                    "second dial to {addr} in flight"
                );
                assert!(
                    !self.core.neighbours().any(|(_, n)| n.addr == *addr),
                    "dials the address of a current neighbour"
                );
                self.dialing.push(*addr);
                assert!(self.dialing.len() <= self.degree, "more dials than degree");
            }
            Action::Disconnect(peer) => {
                assert!(self.connected.contains(peer), "disconnects a stranger");
                step.disconnected.push(*peer);
            }
            Action::Deliver {
                item,
                msg_id,
                data_type,
                data,
                ..
            } => {
                step.delivers += 1;
                self.delivers += 1;
                assert_eq!(step.delivers, 1, "one event delivered two items");
                let (from, incoming) = step.incoming.take().expect("delivered an item nobody sent");
                assert_eq!(
                    (incoming.id, incoming.data_type, &incoming.data),
                    (*item, *data_type, data)
                );
                self.received.insert(
                    *item,
                    Received {
                        delivery: self.delivers,
                        from,
                        ttl: incoming.ttl,
                        awaiting: Vec::new(),
                        invalid: false,
                    },
                );
                self.msg_items.insert(*msg_id, (*item, self.delivers));
                push_bounded(&mut self.recent_ids, *msg_id);
                push_bounded(&mut self.recent_items, incoming);
            }
            Action::DropClient { client } => {
                let slot = (client.0 % u64::from(CLIENTS)) as u8;
                assert_eq!(*client, self.client(slot), "drops a client that left");
                self.generation[usize::from(slot)] += 1;
                self.forget_client(*client);
            }
            Action::Ban {
                peer,
                addr,
                reason,
                until,
            } => {
                if let Some(pos) = self.dialing.iter().position(|d| Some(*d) == *addr) {
                    self.orphaned.push(self.dialing.remove(pos));
                }
                assert!(
                    step.suspects.contains(peer),
                    "banned a bystander: {action:?}"
                );
                assert!(*until > self.now, "a ban that ended already");
                let _ = reason.to_string();
                step.banned.push(*peer);
            }
        }
    }

    fn check_send(&mut self, to: PeerId, msg: &Message) {
        assert!(
            self.connected.contains(&to),
            "sends to {to:?} with no connection"
        );
        assert!(
            !self.core.is_banned(&to, self.now),
            "sends to a banned peer"
        );
        let mut bytes = Vec::new();
        wire::encode(msg, &mut bytes);
        assert!(
            bytes.len() <= MAX_FRAME_LEN,
            "a message too large for a frame"
        );
        assert_eq!(
            wire::decode(&bytes).as_ref(),
            Ok(msg),
            "core sent an unencodable message"
        );
        let item = match msg {
            Message::Peers(addrs) => {
                assert!(addrs.len() <= MAX_PEERS_PER_MESSAGE);
                return;
            }
            Message::Item(item) => item,
            Message::Shuffle(s) => {
                assert!(s.path.len() <= wire::MAX_WALK_PATH);
                assert!(s.sample.len() <= wire::MAX_SHUFFLE_SAMPLE);
                return;
            }
            _ => return,
        };
        assert!(
            self.core.is_neighbour(&to),
            "an item sent to a non-neighbour"
        );
        if let Some(r) = self.received.get(&item.id) {
            assert!(!r.invalid, "forwards an item a client called invalid");
            assert!(
                r.awaiting.is_empty(),
                "forwards an item before its verdicts"
            );
            assert_ne!(r.from, to, "sends an item back to its sender");
            assert_eq!(Some(item.ttl), r.ttl.next_hop(), "wrong ttl on a forward");
        } else {
            let index = item.data.first_chunk::<4>().map(|b| u32::from_be_bytes(*b));
            let Some(&ttl) = index.and_then(|i| self.announced.get(i as usize)) else {
                panic!("sends an item it neither received nor announced: {item:?}");
            };
            assert_eq!(item.ttl, ttl, "an announced item sent with another ttl");
        }
        if self.check_once {
            assert!(
                self.sent.insert((item.id, to)),
                "an item sent twice to one peer"
            );
        }
        push_bounded(&mut self.recent_items, item.clone());
    }

    /// Checks the state after one operation and its actions.
    fn check_state(&self, step: &Step) {
        let neighbours: Vec<PeerId> = self.core.neighbours().map(|(p, _)| *p).collect();
        assert!(
            neighbours.len() <= self.degree,
            "more neighbours than degree"
        );
        for p in &neighbours {
            assert!(
                self.connected.contains(p),
                "a neighbour without a connection"
            );
            assert!(!self.core.is_banned(p, self.now), "a banned neighbour");
            assert_ne!(*p, self.core.me());
        }
        for p in step.disconnected.iter().chain(&step.banned) {
            assert!(
                !self.core.is_neighbour(p),
                "disconnected but still a neighbour"
            );
        }
        for p in &step.banned {
            assert!(self.core.is_banned(p, self.now), "a ban that did not stick");
        }
        assert!(
            self.core.pending_validations() <= self.max_pending,
            "validation window overflows"
        );
        assert_eq!(self.core.stats().received, self.delivers);
        assert_eq!(self.core.stats().announced, self.announced.len() as u64);
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T) {
    if queue.len() == RECENT {
        queue.pop_front();
    }
    queue.push_back(value);
}

/// Scenarios for the seed corpus.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let setup = |degree, cache_size, bootstrap| Setup {
        degree,
        cache_size,
        timeout_s: 2,
        silence_quarters: 4,
        bootstrap,
        small_seen: false,
        plumtree: false,
        seed: 1,
        limits: None,
    };
    let body = |msg: &Message| {
        let mut out = Vec::new();
        wire::encode(msg, &mut out);
        out
    };
    let item = |n: u8, ttl: u8| {
        let data = Arc::from(&b"data"[..]);
        body(&Message::Item(Item::numbered(n.into(), Ttl(ttl), DataType(7), data)))
    };
    let peers = body(&Message::Peers(vec![
        peer_addr(1),
        peer_addr(2),
        peer_addr(3),
    ]));
    let get_peers = body(&Message::GetPeers);
    let inbound = |peer| Op::Inbound {
        peer,
        high_priority: false,
        addr: AddrPick::Own,
    };
    let recv = |peer, body: &Vec<u8>| Op::Receive {
        peer,
        body: body.clone(),
    };
    let verdict = |client, i, valid| Op::Validation {
        client,
        msg: MsgPick::Recent(i),
        valid,
    };
    let join = vec![
        Op::DialSucceeded {
            which: 0,
            peer: 0,
            advertise_dialed: true,
        },
        recv(0, &get_peers),
        recv(0, &peers),
        Op::Advance { millis: 250 },
        Op::DialSucceeded {
            which: 0,
            peer: 1,
            advertise_dialed: false,
        },
        Op::DialFailed { which: 0 },
        Op::AdvanceToTimeout,
        inbound(4),
        Op::Inbound {
            peer: 5,
            high_priority: true,
            addr: AddrPick::Own,
        },
        Op::PeerDown { peer: 0 },
        Op::Advance { millis: 6000 },
    ];
    let validate = vec![
        inbound(1),
        inbound(2),
        inbound(3),
        Op::Subscribe { mask: 0b11 },
        recv(1, &item(1, 0)),
        verdict(0, 0, true),
        verdict(1, 0, true),
        recv(2, &item(2, 3)),
        verdict(0, 1, false),
        recv(3, &item(3, 1)),
        Op::ClientGone { client: 0 },
        verdict(1, 2, true),
        Op::Echo {
            peer: 2,
            which: 0,
            ttl: 5,
        },
    ];
    let announce = vec![
        Op::Announce {
            ttl: 2,
            data_type: 7,
            len: 3,
        },
        inbound(1),
        Op::Announce {
            ttl: 0,
            data_type: 9,
            len: 0,
        },
        inbound(2),
        Op::Announce {
            ttl: 1,
            data_type: 9,
            len: 10,
        },
        Op::Echo {
            peer: 2,
            which: 0,
            ttl: 1,
        },
    ];
    let mut window = vec![inbound(1), inbound(2), Op::Subscribe { mask: 0b1 }];
    for n in 10..16 {
        window.push(recv(1, &item(n, 0)));
    }
    window.extend([
        Op::Congestion { congested: true },
        Op::Announce {
            ttl: 0,
            data_type: 7,
            len: 1,
        },
        Op::Advance { millis: 600 },
        Op::Congestion { congested: false },
        Op::Advance { millis: 600 },
        verdict(0, 0, true),
        Op::AdvanceToTimeout,
        Op::Advance { millis: 3000 },
        recv(2, &item(20, 0)),
        Op::Validation {
            client: 0,
            msg: MsgPick::Raw(0),
            valid: true,
        },
    ]);
    let malformed = vec![9];
    let bans = vec![
        // Peer 0, dialed as the bootstrapper, sends a malformed frame: it
        // and its address are banned.
        Op::DialSucceeded {
            which: 0,
            peer: 0,
            advertise_dialed: true,
        },
        recv(0, &malformed),
        // Peer 1 sends two items a client calls invalid.
        inbound(1),
        inbound(2),
        inbound(3),
        Op::Subscribe { mask: 0b1 },
        recv(1, &item(30, 0)),
        verdict(0, 0, false),
        recv(1, &item(31, 0)),
        verdict(0, 1, false),
        Op::PeerDown { peer: 1 },
        inbound(1),
        // Peer 2 asks for addresses too often; peer 3 is reported.
        recv(2, &get_peers),
        recv(2, &get_peers),
        recv(2, &get_peers),
        Op::Misbehaved { peer: 3, what: 3 },
        Op::Misbehaved { peer: 3, what: 3 },
        // Peer 3 floods.
        recv(3, &get_peers),
        recv(3, &get_peers),
        recv(3, &get_peers),
        recv(3, &get_peers),
        recv(3, &get_peers),
        recv(2, &peers),
        Op::Advance { millis: 3000 },
        Op::AdvanceToTimeout,
        inbound(1),
    ];
    let strict = Setup {
        limits: Some(Limits {
            malformed: 1,
            violations: 2,
            invalid: 2,
            dropped: 2,
            message_burst: 4,
            message_rate: 2,
            peer_requests: 1,
            byte_burst_64: 4,
            byte_rate_64: 2,
            window_s: 4,
            ban_s: 2,
        }),
        ..setup(3, 8, false)
    };
    let scenarios = [
        ("join", setup(3, 8, true), join),
        ("validate", setup(3, 8, false), validate),
        ("announce", setup(2, 4, false), announce.clone()),
        ("window", setup(2, 4, false), window.clone()),
        (
            "plumtree_window",
            Setup {
                plumtree: true,
                ..setup(2, 4, false)
            },
            window,
        ),
        (
            "plumtree_announce",
            Setup {
                plumtree: true,
                ..setup(3, 8, false)
            },
            announce.clone(),
        ),
        (
            "bans",
            Setup {
                bootstrap: true,
                ..strict
            },
            bans,
        ),
    ];
    scenarios
        .into_iter()
        .map(|(name, setup, ops)| {
            let mut out = Vec::new();
            setup.encode(&mut out);
            for op in &ops {
                op.encode(&mut out);
            }
            (name, out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_back_to_their_operations() {
        for (name, bytes) in seeds() {
            let text = describe(&bytes);
            assert!(text.lines().count() > 5, "{name}: {text}");
            check(&bytes);
        }
    }

    #[test]
    fn limits_round_trip_through_their_encoding() {
        for b in [[0; 4], [0xff; 4], [0x5a, 0xa5, 0x3c, 0xc3]] {
            let limits = Limits::parse(b);
            assert_eq!(Limits::parse(limits.encode()), limits);
        }
    }

    #[test]
    fn every_op_round_trips_through_its_encoding() {
        let ops = [
            Op::Receive {
                peer: 3,
                body: vec![1, 2, 3],
            },
            Op::Inbound {
                peer: 1,
                high_priority: true,
                addr: AddrPick::Other(5),
            },
            Op::Inbound {
                peer: 1,
                high_priority: false,
                addr: AddrPick::Port(9),
            },
            Op::Validation {
                client: 2,
                msg: MsgPick::Raw(77),
                valid: true,
            },
            Op::Validation {
                client: 2,
                msg: MsgPick::Recent(3),
                valid: false,
            },
            Op::AdvanceToTimeout,
            Op::Misbehaved { peer: 7, what: 3 },
            Op::Congestion { congested: true },
        ];
        for op in ops {
            let mut bytes = Vec::new();
            op.encode(&mut bytes);
            assert_eq!(Op::parse(&mut Bytes { rest: &bytes }), Some(op));
        }
    }
}
