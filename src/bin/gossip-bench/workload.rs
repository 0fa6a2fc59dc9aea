//! The API clients of a run: one subscriber per node and a publisher.
//!
//! All clients are threads of the benchmark process and share one clock, the
//! run's `epoch` [`Instant`]. Every payload starts with its sequence number and
//! its send time (u64 big-endian each, nanoseconds since the epoch), so a
//! receiver computes the latency of each delivery on the spot.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gossipd::api::codec::{self, ApiMessage, Direction};

use crate::{Result, check_interrupted, fail};

/// The data type of the measured items.
pub const ITEM_TYPE: u16 = 4242;
/// The data type of the connectivity probes sent before the measured run.
pub const PROBE_TYPE: u16 = 4243;
/// Bytes of a payload taken by the sequence number and the send time.
pub const STAMP_LEN: usize = 16;
/// A delivery slot not (yet) filled.
pub const MISSING: u64 = u64::MAX;
/// How long the publisher waits for node 0 to take one ANNOUNCE.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes are announced this far apart until every receiver has one.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Nanoseconds since `epoch`.
pub fn now_ns(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Counters the client threads update and the main thread watches.
#[derive(Debug, Default)]
pub struct Progress {
    /// First deliveries of measured items over all receivers.
    pub delivered: AtomicU64,
    /// Receive time of the latest delivery (ns since the epoch).
    pub last_delivery_ns: AtomicU64,
    /// Receivers (nodes other than 0) that have seen at least one probe.
    pub probed: AtomicUsize,
    /// Items the publisher has announced.
    pub published: AtomicU64,
    /// Send time of the latest announced item.
    pub last_publish_ns: AtomicU64,
    /// Tells the publisher to stop early.
    pub stop: AtomicBool,
    /// Set before the benchmark closes the subscribers' connections, so a
    /// connection closed earlier is known to be the daemon's doing.
    pub closing: AtomicBool,
}

/// What one subscriber saw.
#[derive(Debug)]
pub struct Record {
    /// The node it was connected to.
    pub node: usize,
    /// Latency of each item by sequence number, [`MISSING`] when not delivered.
    pub latency_ns: Vec<u64>,
    /// Receive time of each item by sequence number, [`MISSING`] when not delivered.
    pub received_ns: Vec<u64>,
    /// First deliveries of measured items.
    pub deliveries: u64,
    /// Items delivered more than once.
    pub duplicates: u64,
    /// Measured-type notifications with a payload that is too short or a
    /// sequence number out of range.
    pub strays: u64,
    /// Probe notifications.
    pub probes: u64,
    /// Why the connection ended, unless the benchmark closed it.
    pub error: Option<String>,
}

impl Record {
    fn new(node: usize, items: usize) -> Record {
        Record {
            node,
            latency_ns: vec![MISSING; items],
            received_ns: vec![MISSING; items],
            deliveries: 0,
            duplicates: 0,
            strays: 0,
            probes: 0,
            error: None,
        }
    }

    fn on_notification(&mut self, data_type: u16, data: &[u8], now: u64, progress: &Progress) {
        if data_type == PROBE_TYPE {
            self.probes += 1;
            if self.probes == 1 && self.node > 0 {
                progress.probed.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let Some((seq, sent)) = read_stamp(data) else {
            self.strays += 1;
            return;
        };
        let Some(slot) = usize::try_from(seq)
            .ok()
            .filter(|&s| s < self.latency_ns.len())
        else {
            self.strays += 1;
            return;
        };
        if self.latency_ns[slot] != MISSING {
            self.duplicates += 1;
            return;
        }
        self.latency_ns[slot] = now.saturating_sub(sent);
        self.received_ns[slot] = now;
        self.deliveries += 1;
        progress.delivered.fetch_add(1, Ordering::Relaxed);
        progress.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
    }
}

/// The sequence number and send time at the start of a payload.
fn read_stamp(data: &[u8]) -> Option<(u64, u64)> {
    let seq = data.get(0..8)?.try_into().ok()?;
    let sent = data.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(seq), u64::from_be_bytes(sent)))
}

/// A subscriber thread and its socket (kept to stop it).
pub struct Subscriber {
    stream: TcpStream,
    thread: Option<JoinHandle<Record>>,
}

impl Subscriber {
    /// Connects to a node's API and subscribes to [`ITEM_TYPE`], then to
    /// [`PROBE_TYPE`] on the same connection. The daemon handles one
    /// connection's messages in order, so a probe reaching this subscriber
    /// proves its item subscription is in place.
    pub fn start(
        node: usize,
        api: SocketAddr,
        items: usize,
        epoch: Instant,
        progress: Arc<Progress>,
    ) -> Result<Subscriber> {
        let mut stream = TcpStream::connect(api)
            .map_err(|e| fail(format!("cannot connect to node {node}'s API at {api}: {e}")))?;
        stream.set_nodelay(true)?;
        let mut notify = Vec::new();
        for data_type in [ITEM_TYPE, PROBE_TYPE] {
            codec::encode(&ApiMessage::Notify { data_type }, &mut notify)
                .map_err(|e| fail(e.to_string()))?;
        }
        stream.write_all(&notify)?;
        let reader = stream.try_clone()?;
        let record = Record::new(node, items);
        let thread = thread::Builder::new()
            .name(format!("sub-{node}"))
            .spawn(move || receive_loop(reader, record, epoch, &progress))?;
        Ok(Subscriber {
            stream,
            thread: Some(thread),
        })
    }

    /// Closes the connection and returns what the subscriber saw.
    pub fn stop(mut self) -> Result<Record> {
        let _ = self.stream.shutdown(Shutdown::Both);
        self.thread
            .take()
            .map(|t| t.join())
            .and_then(|joined| joined.ok())
            .ok_or_else(|| fail("a subscriber thread panicked"))
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads notifications until the connection closes, answering each with
/// VALIDATION valid. Verdicts are written as soon as no further bytes are
/// already buffered, so a burst is answered with one write.
fn receive_loop(
    stream: TcpStream,
    mut record: Record,
    epoch: Instant,
    progress: &Progress,
) -> Record {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            record.error = Some(e.to_string());
            return record;
        }
    };
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut verdicts = Vec::new();
    loop {
        match codec::read_message(&mut reader, Direction::Gossip) {
            Ok(Some(ApiMessage::Notification {
                msg_id,
                data_type,
                data,
            })) => {
                let now = now_ns(epoch);
                let valid = ApiMessage::Validation {
                    msg_id,
                    valid: true,
                };
                // A VALIDATION has no data, so encoding cannot fail.
                let _ = codec::encode(&valid, &mut verdicts);
                record.on_notification(data_type, &data, now, progress);
            }
            Ok(Some(other)) => record.error = Some(format!("unexpected message {other:?}")),
            Ok(None) if progress.closing.load(Ordering::Relaxed) => break,
            Ok(None) => {
                record.error = Some("gossipd closed the API connection during the run".into());
                break;
            }
            Err(_) if progress.closing.load(Ordering::Relaxed) => break,
            Err(e) => {
                record.error = Some(e.to_string());
                break;
            }
        }
        if reader.buffer().is_empty() && !verdicts.is_empty() {
            if let Err(e) = writer.write_all(&verdicts) {
                record.error = Some(format!("cannot send verdicts: {e}"));
                break;
            }
            verdicts.clear();
        }
    }
    record
}

/// An API connection that announces stamped payloads of one size and type.
pub struct Announcer {
    stream: TcpStream,
    message: Vec<u8>,
    stamp_at: usize,
}

impl Announcer {
    /// Connects to `api`; payloads will be `size` (≥ [`STAMP_LEN`]) bytes.
    pub fn connect(api: SocketAddr, data_type: u16, size: usize) -> Result<Announcer> {
        let stream = TcpStream::connect(api)
            .map_err(|e| fail(format!("cannot connect to node 0's API at {api}: {e}")))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let data: Vec<u8> = (0..size.max(STAMP_LEN)).map(|i| i as u8).collect();
        let mut message = Vec::new();
        let announce = ApiMessage::Announce {
            ttl: 0,
            data_type,
            data,
        };
        codec::encode(&announce, &mut message).map_err(|e| fail(e.to_string()))?;
        let stamp_at = codec::HEADER_LEN + 4;
        Ok(Announcer {
            stream,
            message,
            stamp_at,
        })
    }

    /// Announces item `seq`, stamped with the current time; returns the stamp.
    pub fn announce(&mut self, seq: u64, epoch: Instant) -> io::Result<u64> {
        let sent = now_ns(epoch);
        let at = self.stamp_at;
        self.message[at..at + 8].copy_from_slice(&seq.to_be_bytes());
        self.message[at + 8..at + 16].copy_from_slice(&sent.to_be_bytes());
        self.stream.write_all(&self.message)?;
        Ok(sent)
    }
}

/// What the publisher did.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// Items announced.
    pub sent: u64,
    /// Send time of the first item (ns since the epoch).
    pub first_ns: Option<u64>,
    /// Send time of the last item.
    pub last_ns: Option<u64>,
    /// How far the publisher fell behind its schedule at worst.
    pub max_behind_ns: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Announces `items` items at `rate` per second on an absolute schedule
/// (item k is due at start + k / rate), or as fast as node 0 takes them when
/// `rate` is 0. Stops early when `progress.stop` is set or a write fails.
pub fn publish(
    mut announcer: Announcer,
    items: u64,
    rate: u32,
    epoch: Instant,
    progress: &Progress,
) -> Published {
    let mut out = Published::default();
    let start = Instant::now();
    for seq in 0..items {
        if progress.stop.load(Ordering::Relaxed) {
            out.error = Some("stopped by the benchmark".into());
            break;
        }
        if rate > 0 {
            let due = start + Duration::from_nanos(seq * 1_000_000_000 / u64::from(rate));
            let now = Instant::now();
            match due.checked_duration_since(now) {
                Some(wait) => thread::sleep(wait),
                None => out.max_behind_ns = out.max_behind_ns.max(nanos(now - due)),
            }
        }
        match announcer.announce(seq, epoch) {
            Ok(sent) => {
                out.sent += 1;
                out.first_ns.get_or_insert(sent);
                out.last_ns = Some(sent);
                progress.published.store(out.sent, Ordering::Relaxed);
                progress.last_publish_ns.store(sent, Ordering::Relaxed);
            }
            Err(e) => {
                out.error = Some(format!("ANNOUNCE of item {seq} failed: {e}"));
                break;
            }
        }
    }
    out
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Announces probes at node 0 until `receivers` subscribers have seen one;
/// fails at `deadline`. Returns the number of probes announced.
pub fn probe(
    announcer: &mut Announcer,
    progress: &Progress,
    receivers: usize,
    epoch: Instant,
    deadline: Duration,
) -> Result<u64> {
    let start = Instant::now();
    let mut sent = 0;
    while progress.probed.load(Ordering::Relaxed) < receivers {
        check_interrupted()?;
        if start.elapsed() >= deadline {
            return Err(fail(format!(
                "connectivity probe: only {} of {receivers} nodes were reached by {sent} probes in {deadline:?}",
                progress.probed.load(Ordering::Relaxed)
            )));
        }
        announcer.announce(sent, epoch)?;
        sent += 1;
        let wait_until = Instant::now() + PROBE_INTERVAL;
        while Instant::now() < wait_until && progress.probed.load(Ordering::Relaxed) < receivers {
            thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(sent)
}
