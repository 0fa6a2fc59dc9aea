//! Peer accounting: what each peer did wrong lately, and who is banned
//! (SPEC §6: "a peer that sends malformed frames, invalid items, floods, or
//! breaks the protocol is disconnected and not taken back for a while").
//!
//! Every peer has a record with
//!
//! - counters of [`Misbehaviour`]: malformed frames, items local clients
//!   judged invalid, protocol violations, messages dropped over the rate
//!   limits. Counts live in tumbling windows of [`AccountingConfig::window`]:
//!   when a window ends, its counts are forgotten. A peer that reaches a
//!   count's limit within one window is banned.
//! - two token buckets, one on messages and one on bytes received, refilled
//!   from the `now` passed in. A message that finds either bucket short is
//!   dropped before any layer sees it, and counted as dropped; enough drops
//!   in a window is flooding.
//!
//! Records outlive connections (a peer cannot wipe its slate by
//! reconnecting) but not idleness: a record with nothing left to remember (a
//! window gone by, buckets refilled) is forgotten, and at most
//! [`MAX_RECORDS`] are kept.
//!
//! The ban table holds banned peer ids and banned P2P listen addresses, each
//! until an expiry; expired bans are forgotten, and each table keeps at most
//! [`MAX_BANS`] entries, dropping the oldest ban first. Addresses are banned
//! only when proven: when this host dialed the address and the banned peer
//! answered. The address a peer that dialed in advertises is only its claim,
//! and banning claims would let a misbehaving peer get an honest host's
//! address banned by claiming it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::types::{Misbehaviour, PeerId};

/// Malformed frames that ban a peer: one. A frame that arrived intact (and,
/// with the encrypted transport, authenticated) but does not decode was built
/// wrong by the sender; the network does not make such frames by accident.
pub const BAN_AFTER_MALFORMED_FRAMES: u32 = 1;

/// Protocol violations within one window that ban a peer: three. A guess:
/// every violation is something no honest host does, but forgiving one or
/// two leaves room for our own mistakes in telling them apart (e.g. between
/// protocol versions).
pub const BAN_AFTER_VIOLATIONS: u32 = 3;

/// Items judged invalid within one window that ban a peer: ten. A guess:
/// modules may honestly disagree now and then (another version, an index
/// that changed meanwhile), and the sender of an item is often only a relay;
/// ten in a minute is no longer a disagreement.
pub const BAN_AFTER_INVALID_ITEMS: u32 = 10;

/// Messages dropped over the rate limits within one window that make a peer
/// a flooder: a thousand. A guess: a peer catching up after a stall overshoots
/// the burst by little, while a flood at full speed drops a thousand
/// messages within milliseconds.
pub const BAN_AFTER_DROPPED: u32 = 1_000;

/// Length of the counting windows: 60 s. A guess: long enough to catch a
/// steady trickle of invalid items, short enough that an old mistake is
/// forgotten.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Messages per second a peer may send on average: 50,000. About six times
/// the fastest spreading measured (7,625 items/s to all receivers, README,
/// N = 20), and a neighbour sends each item at most once.
pub const MESSAGE_RATE: u32 = 50_000;

/// Messages a peer may send at once beyond the rate: 100,000, two seconds at
/// the full rate, so the backlog a peer releases after flow control held it
/// passes.
pub const MESSAGE_BURST: u32 = 100_000;

/// Bytes per second a peer may send on average: 64 MiB, about half of a
/// gigabit link. A guess.
pub const BYTE_RATE: u64 = 64 << 20;

/// Bytes a peer may send at once beyond the rate: 64 MiB, one second at the
/// full rate.
pub const BYTE_BURST: u64 = 64 << 20;

/// Address requests ([`super::Message::GetPeers`]) from one neighbour
/// answered per window: 120. This host's peer exchange sends one on every
/// new link and at most one every 2 s while below degree, and a link to the
/// same host comes back at most every 2.5 s (the back-off): at most about 55 a
/// minute. Beyond the allowance a request is ignored and counted as a
/// protocol violation.
pub const PEER_REQUESTS_PER_WINDOW: u32 = 120;

/// Most peer records kept; beyond, the one idle longest is forgotten. A
/// guess: far more peers than one host talks to within a window.
pub const MAX_RECORDS: usize = 4_096;

/// Most bans kept per table (ids, addresses); beyond, the oldest ban is
/// dropped. A guess: each ban costs an attacker an identity (proof of work),
/// and the table stays small (a few hundred KiB).
pub const MAX_BANS: usize = 4_096;

/// Thresholds and rates of peer accounting; [`Default`] gives the constants
/// above, tests lower them.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountingConfig {
    /// Malformed frames within one window that ban a peer.
    pub ban_after_malformed_frames: u32,
    /// Protocol violations within one window that ban a peer.
    pub ban_after_violations: u32,
    /// Items judged invalid within one window that ban a peer.
    pub ban_after_invalid_items: u32,
    /// Messages dropped over the rate limits within one window that ban a
    /// peer for flooding.
    pub ban_after_dropped: u32,
    /// Length of the counting windows.
    pub window: Duration,
    /// Messages (of any kind) per second a peer may send on average.
    pub message_rate: u32,
    /// Messages a peer may send at once.
    pub message_burst: u32,
    /// Bytes (encoded messages) per second a peer may send on average.
    pub byte_rate: u64,
    /// Bytes a peer may send at once; a message larger than this is always
    /// dropped.
    pub byte_burst: u64,
    /// Address requests from one peer answered per window.
    pub peer_requests_per_window: u32,
}

impl Default for AccountingConfig {
    fn default() -> AccountingConfig {
        AccountingConfig {
            ban_after_malformed_frames: BAN_AFTER_MALFORMED_FRAMES,
            ban_after_violations: BAN_AFTER_VIOLATIONS,
            ban_after_invalid_items: BAN_AFTER_INVALID_ITEMS,
            ban_after_dropped: BAN_AFTER_DROPPED,
            window: WINDOW,
            message_rate: MESSAGE_RATE,
            message_burst: MESSAGE_BURST,
            byte_rate: BYTE_RATE,
            byte_burst: BYTE_BURST,
            peer_requests_per_window: PEER_REQUESTS_PER_WINDOW,
        }
    }
}

/// Why a peer was banned: the misbehaviour whose count reached its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BanReason {
    /// What it did (the last of its kind, for protocol violations).
    pub what: Misbehaviour,
    /// How often within the window.
    pub count: u32,
    /// The window.
    pub window: Duration,
}

impl fmt::Display for BanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, secs) = (self.count, self.window.as_secs());
        match self.what {
            Misbehaviour::MalformedFrame if n == 1 => f.write_str("sent a malformed frame"),
            Misbehaviour::MalformedFrame => write!(f, "sent {n} malformed frames within {secs} s"),
            Misbehaviour::InvalidItem => write!(
                f,
                "sent {n} items local clients judged invalid within {secs} s"
            ),
            Misbehaviour::ProtocolViolation(v) => write!(
                f,
                "broke the protocol {n} times within {secs} s (last: {v})"
            ),
            Misbehaviour::Flooding => write!(
                f,
                "flooding: {n} messages over the rate limits within {secs} s"
            ),
        }
    }
}

/// What to do with a message, as [`Accounting::on_message`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the limits: handle it.
    Accept,
    /// Over a rate limit: drop it unread.
    Drop,
    /// Over a rate limit, and that made the peer a flooder: drop it and ban.
    Ban(BanReason),
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Clone, Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Adds what the time since the last refill earned. Time going backwards
    /// earns nothing.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        self.last = self.last.max(now);
    }

    /// True when `n` tokens are there (after a refill).
    fn has(&mut self, n: f64, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= n
    }

    fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// How long an empty bucket takes to fill.
    fn fill_time(&self) -> Duration {
        if self.rate > 0.0 {
            Duration::from_secs_f64((self.burst / self.rate).min(1e9))
        } else {
            Duration::MAX
        }
    }
}

/// Counts within the current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    malformed: u32,
    violations: u32,
    invalid: u32,
    dropped: u32,
    peer_requests: u32,
}

/// What one peer did lately.
#[derive(Clone, Debug)]
struct Record {
    window_start: Instant,
    counts: Counts,
    messages: TokenBucket,
    bytes: TokenBucket,
    /// When it last sent something or was reported.
    last_seen: Instant,
}

impl Record {
    fn new(config: &AccountingConfig, now: Instant) -> Record {
        Record {
            window_start: now,
            counts: Counts::default(),
            messages: TokenBucket::new(
                f64::from(config.message_rate),
                f64::from(config.message_burst),
                now,
            ),
            bytes: TokenBucket::new(config.byte_rate as f64, config.byte_burst as f64, now),
            last_seen: now,
        }
    }

    /// Starts a new window when the current one is over.
    fn roll(&mut self, window: Duration, now: Instant) {
        if now.saturating_duration_since(self.window_start) >= window {
            self.window_start = now;
            self.counts = Counts::default();
        }
        self.last_seen = self.last_seen.max(now);
    }

    /// True when forgetting it loses nothing: its window is over and its
    /// buckets are full again.
    fn is_idle(&self, window: Duration, now: Instant) -> bool {
        let quiet = now.saturating_duration_since(self.last_seen);
        now.saturating_duration_since(self.window_start) >= window
            && quiet >= self.messages.fill_time()
            && quiet >= self.bytes.fill_time()
    }
}

/// Bans of one kind of key, each until an expiry, at most `capacity`.
#[derive(Debug)]
pub struct BanList<K> {
    capacity: usize,
    until: BTreeMap<K, Instant>,
    /// Keys in the order they were banned, with the expiry set then; an entry
    /// whose expiry no longer matches `until` is stale and skipped.
    order: VecDeque<(Instant, K)>,
}

impl<K: Ord + Copy> BanList<K> {
    /// An empty list keeping at most `capacity` bans (at least one).
    pub fn new(capacity: usize) -> BanList<K> {
        BanList {
            capacity: capacity.max(1),
            until: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Bans `key` until `until` (a later expiry than a current one wins).
    /// Beyond capacity the oldest ban is dropped.
    pub fn ban(&mut self, key: K, until: Instant) {
        if self.until.get(&key).is_some_and(|u| *u >= until) {
            return;
        }
        self.until.insert(key, until);
        self.order.push_back((until, key));
        while self.until.len() > self.capacity {
            self.pop_oldest();
        }
        if self.order.len() > 2 * self.capacity {
            let current = &self.until;
            self.order.retain(|(u, k)| current.get(k) == Some(u));
        }
    }

    /// When the ban on `key` ends, if it is banned at `now`.
    pub fn until(&self, key: &K, now: Instant) -> Option<Instant> {
        self.until.get(key).copied().filter(|u| *u > now)
    }

    /// Forgets bans that ended at or before `now`.
    pub fn expire(&mut self, now: Instant) {
        if self.order.front().is_some_and(|(u, _)| *u <= now) {
            self.until.retain(|_, u| *u > now);
            let current = &self.until;
            self.order.retain(|(u, k)| current.get(k) == Some(u));
        }
    }

    /// Number of bans kept (expired ones until [`BanList::expire`] runs).
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// True when nothing is banned.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    fn pop_oldest(&mut self) {
        while let Some((u, k)) = self.order.pop_front() {
            if self.until.get(&k) == Some(&u) {
                self.until.remove(&k);
                return;
            }
        }
    }
}

/// Peer records and the ban tables of one host.
#[derive(Debug)]
pub struct Accounting {
    config: AccountingConfig,
    ban_time: Duration,
    /// A BTreeMap so that seeded runs stay deterministic.
    records: BTreeMap<PeerId, Record>,
    peers: BanList<PeerId>,
    addrs: BanList<SocketAddr>,
}

impl Accounting {
    /// No records, no bans; bans last `ban_time`.
    pub fn new(config: AccountingConfig, ban_time: Duration) -> Accounting {
        Accounting {
            config,
            ban_time,
            records: BTreeMap::new(),
            peers: BanList::new(MAX_BANS),
            addrs: BanList::new(MAX_BANS),
        }
    }

    /// A message of `bytes` encoded bytes arrived from `peer`: takes its
    /// tokens, or counts it as dropped when a bucket is short.
    pub fn on_message(&mut self, peer: PeerId, bytes: usize, now: Instant) -> Admission {
        let config = &self.config;
        let r = record(&mut self.records, config, peer, now);
        let bytes = bytes as f64;
        if r.messages.has(1.0, now) && r.bytes.has(bytes, now) {
            r.messages.take(1.0);
            r.bytes.take(bytes);
            return Admission::Accept;
        }
        r.counts.dropped += 1;
        match limit_reached(config, r, Misbehaviour::Flooding) {
            Some(reason) => Admission::Ban(reason),
            None => Admission::Drop,
        }
    }

    /// `peer` asks for addresses: true while within its allowance.
    pub fn on_peer_request(&mut self, peer: PeerId, now: Instant) -> bool {
        let r = record(&mut self.records, &self.config, peer, now);
        r.counts.peer_requests += 1;
        r.counts.peer_requests <= self.config.peer_requests_per_window
    }

    /// Counts one misbehaviour of `peer`; returns why to ban it when that
    /// reached a limit.
    pub fn report(&mut self, peer: PeerId, what: Misbehaviour, now: Instant) -> Option<BanReason> {
        let config = &self.config;
        let r = record(&mut self.records, config, peer, now);
        let count = match what {
            Misbehaviour::InvalidItem => &mut r.counts.invalid,
            Misbehaviour::MalformedFrame => &mut r.counts.malformed,
            Misbehaviour::ProtocolViolation(_) => &mut r.counts.violations,
            Misbehaviour::Flooding => &mut r.counts.dropped,
        };
        *count += 1;
        limit_reached(config, r, what)
    }

    /// Bans `peer` (and `addr`, if given) for the ban time from `now`; its
    /// record is forgotten. Returns when the ban ends.
    pub fn ban(&mut self, peer: PeerId, addr: Option<SocketAddr>, now: Instant) -> Instant {
        let until = now + self.ban_time;
        self.records.remove(&peer);
        self.peers.ban(peer, until);
        if let Some(a) = addr {
            self.addrs.ban(a, until);
        }
        until
    }

    /// Bans `addr` until `until` (an address found to belong to a banned peer).
    pub fn ban_addr(&mut self, addr: SocketAddr, until: Instant) {
        self.addrs.ban(addr, until);
    }

    /// When the ban on `peer` ends, if it is banned.
    pub fn peer_banned_until(&self, peer: &PeerId, now: Instant) -> Option<Instant> {
        self.peers.until(peer, now)
    }

    /// When the ban on `addr` ends, if it is banned.
    pub fn addr_banned_until(&self, addr: &SocketAddr, now: Instant) -> Option<Instant> {
        self.addrs.until(addr, now)
    }

    /// True when `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.peers.until(peer, now).is_some()
    }

    /// True when `addr` is banned.
    pub fn is_addr_banned(&self, addr: &SocketAddr, now: Instant) -> bool {
        self.addrs.until(addr, now).is_some()
    }

    /// Forgets expired bans and records with nothing left to remember.
    pub fn expire(&mut self, now: Instant) {
        self.peers.expire(now);
        self.addrs.expire(now);
        let window = self.config.window;
        self.records.retain(|_, r| !r.is_idle(window, now));
    }

    /// Number of peer records kept.
    pub fn records_len(&self) -> usize {
        self.records.len()
    }

    /// Number of banned peer ids and addresses kept.
    pub fn bans_len(&self) -> (usize, usize) {
        (self.peers.len(), self.addrs.len())
    }
}

/// The record of `peer`, made if there is none (forgetting the one idle
/// longest beyond [`MAX_RECORDS`]), with its window rolled to `now`.
fn record<'a>(
    records: &'a mut BTreeMap<PeerId, Record>,
    config: &AccountingConfig,
    peer: PeerId,
    now: Instant,
) -> &'a mut Record {
    if !records.contains_key(&peer) && records.len() >= MAX_RECORDS {
        let idlest = records
            .iter()
            .min_by_key(|(_, r)| r.last_seen)
            .map(|(p, _)| *p);
        if let Some(p) = idlest {
            records.remove(&p);
        }
    }
    let r = records
        .entry(peer)
        .or_insert_with(|| Record::new(config, now));
    r.roll(config.window, now);
    r
}

/// The ban reason when `what`'s count in `r` reached its limit.
fn limit_reached(config: &AccountingConfig, r: &Record, what: Misbehaviour) -> Option<BanReason> {
    let (count, limit) = match what {
        Misbehaviour::InvalidItem => (r.counts.invalid, config.ban_after_invalid_items),
        Misbehaviour::MalformedFrame => (r.counts.malformed, config.ban_after_malformed_frames),
        Misbehaviour::ProtocolViolation(_) => (r.counts.violations, config.ban_after_violations),
        Misbehaviour::Flooding => (r.counts.dropped, config.ban_after_dropped),
    };
    (count >= limit).then_some(BanReason {
        what,
        count,
        window: config.window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::Violation;

    const SECOND: Duration = Duration::from_secs(1);

    fn t0() -> Instant {
        // Tests need some base instant; only offsets from it matter.
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    fn peer(n: u64) -> PeerId {
        PeerId::from_u64(n)
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 7000))
    }

    /// Small buckets: 10 messages/s with a burst of 20, 1,000 bytes/s with a
    /// burst of 1,000; 5 drops make a flood.
    fn small() -> AccountingConfig {
        AccountingConfig {
            message_rate: 10,
            message_burst: 20,
            byte_rate: 1_000,
            byte_burst: 1_000,
            ban_after_dropped: 5,
            ..AccountingConfig::default()
        }
    }

    fn accounting(config: AccountingConfig) -> Accounting {
        Accounting::new(config, Duration::from_secs(600))
    }

    #[test]
    fn a_bucket_starts_full_and_refills_at_its_rate_up_to_the_burst() {
        let now = t0();
        let mut b = TokenBucket::new(10.0, 20.0, now);
        for _ in 0..20 {
            assert!(b.has(1.0, now));
            b.take(1.0);
        }
        assert!(!b.has(1.0, now), "the burst is spent");
        assert!(!b.has(1.0, now + Duration::from_millis(99)));
        assert!(
            b.has(1.0, now + Duration::from_millis(100)),
            "one token per 100 ms"
        );
        assert!(b.has(20.0, now + 10 * SECOND));
        assert!(
            !b.has(20.5, now + 100 * SECOND),
            "never more than the burst"
        );
        assert_eq!(b.fill_time(), 2 * SECOND);
    }

    #[test]
    fn a_bucket_earns_nothing_when_time_goes_backwards() {
        let now = t0() + SECOND;
        let mut b = TokenBucket::new(10.0, 10.0, now);
        b.take(10.0);
        assert!(!b.has(1.0, now - SECOND));
        assert!(b.has(1.0, now + Duration::from_millis(100)));
    }

    #[test]
    fn messages_beyond_the_burst_are_dropped_until_the_bucket_refills() {
        let now = t0();
        let mut acc = accounting(small());
        for _ in 0..20 {
            assert_eq!(acc.on_message(peer(2), 10, now), Admission::Accept);
        }
        assert_eq!(acc.on_message(peer(2), 10, now), Admission::Drop);
        assert_eq!(
            acc.on_message(peer(3), 10, now),
            Admission::Accept,
            "per peer"
        );
        let later = now + Duration::from_millis(100);
        assert_eq!(acc.on_message(peer(2), 10, later), Admission::Accept);
        assert_eq!(acc.on_message(peer(2), 10, later), Admission::Drop);
    }

    #[test]
    fn bytes_beyond_the_byte_burst_are_dropped() {
        let now = t0();
        let mut acc = accounting(small());
        assert_eq!(acc.on_message(peer(2), 900, now), Admission::Accept);
        assert_eq!(acc.on_message(peer(2), 200, now), Admission::Drop);
        assert_eq!(acc.on_message(peer(2), 100, now), Admission::Accept);
        assert_eq!(
            acc.on_message(peer(3), 1_001, now + 100 * SECOND),
            Admission::Drop,
            "a message larger than the burst never passes"
        );
    }

    #[test]
    fn enough_drops_within_a_window_are_flooding() {
        let now = t0();
        let mut acc = accounting(small());
        for _ in 0..20 {
            acc.on_message(peer(2), 1, now);
        }
        for _ in 0..4 {
            assert_eq!(acc.on_message(peer(2), 1, now), Admission::Drop);
        }
        let reason = BanReason {
            what: Misbehaviour::Flooding,
            count: 5,
            window: WINDOW,
        };
        assert_eq!(acc.on_message(peer(2), 1, now), Admission::Ban(reason));
        assert_eq!(
            reason.to_string(),
            "flooding: 5 messages over the rate limits within 60 s"
        );
    }

    #[test]
    fn drops_are_forgotten_when_the_window_ends() {
        let now = t0();
        let config = AccountingConfig {
            message_rate: 0,
            message_burst: 1,
            ..small()
        };
        let mut acc = accounting(config);
        acc.on_message(peer(2), 1, now);
        for _ in 0..4 {
            assert_eq!(acc.on_message(peer(2), 1, now), Admission::Drop);
        }
        let next_window = now + WINDOW;
        for _ in 0..4 {
            assert_eq!(acc.on_message(peer(2), 1, next_window), Admission::Drop);
        }
        assert!(matches!(
            acc.on_message(peer(2), 1, next_window),
            Admission::Ban(_)
        ));
    }

    #[test]
    fn one_malformed_frame_bans() {
        let mut acc = accounting(AccountingConfig::default());
        let reason = acc.report(peer(2), Misbehaviour::MalformedFrame, t0());
        assert_eq!(
            reason,
            Some(BanReason {
                what: Misbehaviour::MalformedFrame,
                count: 1,
                window: WINDOW
            })
        );
        assert_eq!(reason.unwrap().to_string(), "sent a malformed frame");
    }

    #[test]
    fn the_tenth_invalid_item_within_a_window_bans() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        for n in 0..9 {
            let at = now + n * SECOND;
            assert_eq!(acc.report(peer(2), Misbehaviour::InvalidItem, at), None);
        }
        let reason = acc.report(peer(2), Misbehaviour::InvalidItem, now + 59 * SECOND);
        assert_eq!(reason.map(|r| r.count), Some(10));
        assert_eq!(
            reason.unwrap().to_string(),
            "sent 10 items local clients judged invalid within 60 s"
        );
    }

    #[test]
    fn invalid_items_in_different_windows_do_not_add_up() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        for n in 0..9 {
            acc.report(peer(2), Misbehaviour::InvalidItem, now + n * SECOND);
        }
        for n in 0..9 {
            let at = now + WINDOW + n * SECOND;
            assert_eq!(acc.report(peer(2), Misbehaviour::InvalidItem, at), None);
        }
    }

    #[test]
    fn the_third_protocol_violation_bans() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        let v = Misbehaviour::ProtocolViolation(Violation::TooManyPeerRequests);
        assert_eq!(acc.report(peer(2), v, now), None);
        assert_eq!(acc.report(peer(2), v, now), None);
        let reason = acc.report(peer(2), v, now).expect("banned");
        assert_eq!(
            reason.to_string(),
            "broke the protocol 3 times within 60 s (last: asked for peers too often)"
        );
    }

    #[test]
    fn peer_requests_beyond_the_allowance_are_refused_until_the_next_window() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        for _ in 0..PEER_REQUESTS_PER_WINDOW {
            assert!(acc.on_peer_request(peer(2), now));
        }
        assert!(!acc.on_peer_request(peer(2), now));
        assert!(acc.on_peer_request(peer(3), now));
        assert!(acc.on_peer_request(peer(2), now + WINDOW));
    }

    #[test]
    fn a_ban_lasts_the_ban_time_and_covers_the_address() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        let until = acc.ban(peer(2), Some(addr(2)), now);
        assert_eq!(until, now + Duration::from_secs(600));
        assert!(acc.is_banned(&peer(2), now + 599 * SECOND));
        assert!(acc.is_addr_banned(&addr(2), now + 599 * SECOND));
        assert!(!acc.is_banned(&peer(3), now));
        assert!(!acc.is_banned(&peer(2), until), "over at the expiry");
        assert!(!acc.is_addr_banned(&addr(2), until));
        assert_eq!(acc.bans_len(), (1, 1));
        acc.expire(until);
        assert_eq!(acc.bans_len(), (0, 0), "expired bans are forgotten");
    }

    #[test]
    fn a_ban_clears_the_record() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        for _ in 0..9 {
            acc.report(peer(2), Misbehaviour::InvalidItem, now);
        }
        acc.ban(peer(2), None, now);
        assert_eq!(acc.records_len(), 0);
        assert_eq!(acc.report(peer(2), Misbehaviour::InvalidItem, now), None);
    }

    #[test]
    fn a_ban_list_keeps_the_newest_bans_and_the_later_expiry() {
        let now = t0();
        let mut bans = BanList::new(3);
        for n in 1..=4 {
            bans.ban(peer(n), now + n as u32 * SECOND);
        }
        assert_eq!(bans.len(), 3);
        assert_eq!(bans.until(&peer(1), now), None, "the oldest went first");
        assert_eq!(bans.until(&peer(4), now), Some(now + 4 * SECOND));
        bans.ban(peer(2), now + SECOND);
        assert_eq!(bans.until(&peer(2), now), Some(now + 2 * SECOND));
        bans.ban(peer(2), now + 10 * SECOND);
        bans.ban(peer(5), now + 5 * SECOND);
        assert_eq!(bans.len(), 3);
        assert_eq!(
            bans.until(&peer(3), now),
            None,
            "re-banned 2 is newer than 3"
        );
        assert_eq!(bans.until(&peer(2), now), Some(now + 10 * SECOND));
        bans.expire(now + 5 * SECOND);
        assert_eq!(bans.len(), 1);
        assert!(bans.order.len() <= 2 * 3);
    }

    #[test]
    fn a_ban_list_stays_bounded_under_many_rebans() {
        let now = t0();
        let mut bans = BanList::new(4);
        for n in 0..1_000u32 {
            bans.ban(peer(u64::from(n % 8)), now + n * SECOND);
        }
        assert_eq!(bans.len(), 4);
        assert!(bans.order.len() <= 8);
    }

    #[test]
    fn idle_records_are_forgotten_and_records_stay_bounded() {
        let now = t0();
        let mut acc = accounting(AccountingConfig::default());
        acc.on_message(peer(2), 10, now);
        acc.expire(now + 30 * SECOND);
        assert_eq!(acc.records_len(), 1, "still in its window");
        acc.expire(now + WINDOW);
        assert_eq!(acc.records_len(), 0);
        for n in 0..MAX_RECORDS as u64 + 10 {
            acc.on_message(peer(n), 10, now + Duration::from_micros(n));
        }
        assert_eq!(acc.records_len(), MAX_RECORDS);
        assert!(!acc.records.contains_key(&peer(0)), "the idlest went first");
    }
}
