//! The status extension of the API (types 510 and 511): a module asks, the
//! daemon answers with its identity, addresses, uptime, views and counters.
//!
//! SPEC §4 reserves types 510–519 for this daemon's extensions; a client
//! that never sends 510 never receives 511 and sees exactly the standard
//! behaviour. All integers are unsigned big-endian; offsets count from the
//! start of the message, header included.
//!
//! **510 STATUS QUERY** (module → gossip), exactly 8 bytes:
//!
//! | offset | field      | meaning                                                    |
//! | ------ | ---------- | ---------------------------------------------------------- |
//! | 0      | size u16   | 8                                                          |
//! | 2      | type u16   | 510                                                        |
//! | 4      | version u8 | highest reply format the client reads, at least 1          |
//! | 5      | reserved u8| sent as 0, ignored                                         |
//! | 6      | request u16| any value; echoed in the reply                             |
//!
//! **511 STATUS REPLY** (gossip → module): one per query, in the format
//! `min(query version, newest the daemon knows)` — so a client always gets a
//! format it reads. Format version 1:
//!
//! | field                  | size    | meaning                                                    |
//! | ---------------------- | ------- | ---------------------------------------------------------- |
//! | size, type             | 2 + 2   | the whole message; 511                                     |
//! | version                | u8      | 1                                                          |
//! | reserved               | u8      | 0                                                          |
//! | request                | u16     | the query's                                                |
//! | peer id                | 32      | this host's Ed25519 public key                             |
//! | uptime                 | u64     | milliseconds since the node started                        |
//! | P2P address            | address | where the P2P listener is bound                            |
//! | API address            | address | where the API listener is bound                            |
//! | counters               | 19 × u64| in the order of [`Counters`]                               |
//! | active listed          | u16     | active-view entries that follow                            |
//! | active left out        | u16     | active-view entries that did not fit (saturating)          |
//! | passive listed         | u16     | passive-view entries that follow the active ones           |
//! | passive left out       | u16     | passive-view entries that did not fit (saturating)         |
//! | entries                | rest    | the active entries, then the passive ones                  |
//!
//! An *address* is a family u8 (4 or 6), the IP (4 or 16 bytes) and the port
//! u16: 7 or 19 bytes. An *entry* is `flags` u8 — bit 0: a peer id follows,
//! bit 1: this host dialed the link (outbound), bit 2: a link age follows;
//! the other bits are reserved (sent as 0, ignored) — then the peer id (32,
//! if bit 0), the address, and the link age in milliseconds (u64, if bit 2).
//! Active entries carry all three; passive entries (backup addresses, no
//! link) only the address. An entry is at most 60 bytes; entries are listed,
//! active first, while the message stays within 65 535 bytes (at least 1 087
//! entries), and the rest are counted as left out. Within the allowed
//! settings (at most 256 neighbours and 512 backup addresses) a full reply is
//! under 26 KiB, so nothing is left out today.
//!
//! Decoding is strict: a query not exactly 8 bytes or of version 0, a reply
//! shorter than its fixed part (222 bytes), of an unknown version, with an
//! address family other than 4 or 6, with entries running past its end or
//! bytes after its last entry, and a reply sent *to* gossip are all
//! [`DecodeError::Status`]; the daemon closes the connection, as for any
//! malformed message. A later format version may add fields; a decoder
//! rejects versions it does not know, and the query's version keeps old
//! clients on the format they read.

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::codec::{
    self, ApiMessage, DecodeError, Direction, HEADER_LEN, Header, MAX_MESSAGE_LEN, ReadError,
    check_body_len,
};
use crate::node::NodeStatus;
use crate::wire::{addr_len, encode_addr};

/// Type of STATUS QUERY (module → gossip).
pub const STATUS_QUERY: u16 = 510;
/// Type of STATUS REPLY (gossip → module).
pub const STATUS_REPLY: u16 = 511;
/// The newest reply format this codec reads and writes.
pub const STATUS_VERSION: u8 = 1;
/// Size of a STATUS QUERY.
pub const QUERY_LEN: usize = 8;
/// Size of a version-1 STATUS REPLY with IPv4 addresses and no entries: the
/// smallest reply.
pub const MIN_REPLY_LEN: usize = 2 * HEADER_LEN + 32 + 8 + 2 * 7 + Counters::COUNT * 8 + 8;
/// The largest entry: flags, peer id, IPv6 address, link age.
pub const MAX_ENTRY_LEN: usize = 1 + 32 + 19 + 8;

const FLAG_PEER_ID: u8 = 1;
const FLAG_OUTBOUND: u8 = 2;
const FLAG_AGE: u8 = 4;

/// Why bytes are not a well-formed status message (a reason to close the
/// connection, wrapped in [`DecodeError::Status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusError {
    /// A STATUS QUERY whose size (given) is not exactly 8.
    QueryLength(u16),
    /// A STATUS QUERY asking for format version 0.
    QueryVersionZero,
    /// A module sent a STATUS REPLY, which only gossip sends.
    ReplyToGossip,
    /// Gossip sent a STATUS QUERY, which only modules send.
    QueryFromGossip,
    /// A STATUS REPLY whose size (given) is below [`MIN_REPLY_LEN`].
    ReplyTooShort(u16),
    /// A STATUS REPLY of a format version (given) this codec does not know.
    UnknownVersion(u8),
    /// An address whose family byte (given) is neither 4 nor 6.
    AddressFamily(u8),
    /// The reply ends inside a field (named).
    EndsInside(&'static str),
    /// Bytes (how many) follow the last entry.
    TrailingBytes(usize),
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use StatusError as E;
        match self {
            E::QueryLength(size) => write!(f, "STATUS QUERY must be exactly 8 bytes, got {size}"),
            E::QueryVersionZero => f.write_str("STATUS QUERY asks for format version 0"),
            E::ReplyToGossip => f.write_str("STATUS REPLY is sent by gossip, never to it"),
            E::QueryFromGossip => f.write_str("STATUS QUERY is sent by modules, never by gossip"),
            E::ReplyTooShort(size) => write!(
                f,
                "STATUS REPLY must be at least {MIN_REPLY_LEN} bytes, got {size}"
            ),
            E::UnknownVersion(v) => write!(f, "STATUS REPLY of unknown format version {v}"),
            E::AddressFamily(family) => {
                write!(f, "STATUS REPLY address of unknown family {family}")
            }
            E::EndsInside(what) => write!(f, "STATUS REPLY ends inside {what}"),
            E::TrailingBytes(n) => write!(f, "STATUS REPLY has {n} bytes after its last entry"),
        }
    }
}

impl std::error::Error for StatusError {}

impl From<StatusError> for DecodeError {
    fn from(e: StatusError) -> Self {
        DecodeError::Status(e)
    }
}

impl From<StatusError> for ReadError {
    fn from(e: StatusError) -> Self {
        ReadError::Decode(DecodeError::Status(e))
    }
}

/// A STATUS QUERY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusQuery {
    /// The newest reply format the client reads (at least 1).
    pub version: u8,
    /// Echoed in the reply.
    pub request_id: u16,
}

impl StatusQuery {
    /// A query for the newest format this codec reads.
    pub fn new(request_id: u16) -> StatusQuery {
        StatusQuery {
            version: STATUS_VERSION,
            request_id,
        }
    }
}

macro_rules! counters {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// The counters of a STATUS REPLY, each a u64 on the wire in the order
        /// declared here (format version 1). All count from the node's start.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl Counters {
            /// How many counters a version-1 reply carries.
            pub const COUNT: usize = [$(stringify!($field)),*].len();

            /// Every counter with its name, in wire order.
            pub fn named(&self) -> [(&'static str, u64); Self::COUNT] {
                [$((stringify!($field), self.$field)),*]
            }

            fn from_values(values: [u64; Self::COUNT]) -> Counters {
                let [$($field),*] = values;
                Counters { $($field),* }
            }
        }
    };
}

counters! {
    /// Items announced by local clients.
    announced,
    /// New items received from peers.
    received,
    /// Items handed to at least one local client.
    delivered,
    /// Copies of items already seen.
    duplicates,
    /// Item copies sent to neighbours.
    relayed,
    /// Items this host asked a lazy neighbour for (Plumtree Graft).
    pulls_sent,
    /// Items sent because a neighbour asked for them.
    pulls_served,
    /// Items local clients called valid.
    valid,
    /// Items local clients called invalid.
    invalid,
    /// Items given up because no verdict came in time.
    expired,
    /// Items that left the cache before they could spread.
    evicted_unspread,
    /// Misbehaviours counted against peers.
    misbehaviours,
    /// Peers banned.
    peers_banned,
    /// Connections refused because the peer or its address is banned.
    refused_banned,
    /// Messages skipped because a peer's outbox and backlog were full.
    outbox_skips,
    /// API clients disconnected as too slow.
    slow_clients_kicked,
    /// Peers dropped because writing to them made no progress.
    slow_peers_dropped,
    /// Bytes read from peers.
    bytes_in,
    /// Bytes written to peers.
    bytes_out,
}

/// One view entry of a STATUS REPLY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    /// The peer's id, when known (active entries).
    pub peer_id: Option<[u8; 32]>,
    /// Its P2P listen address.
    pub addr: SocketAddr,
    /// True when this host dialed the link.
    pub outbound: bool,
    /// How long the link has been up, in milliseconds, when there is a link
    /// (active entries).
    pub age_ms: Option<u64>,
}

impl PeerEntry {
    fn encoded_len(&self) -> usize {
        let id = if self.peer_id.is_some() { 32 } else { 0 };
        let age = if self.age_ms.is_some() { 8 } else { 0 };
        1 + id + addr_len(&self.addr) + age
    }
}

/// A STATUS REPLY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReply {
    /// The format version (1).
    pub version: u8,
    /// The query's request id.
    pub request_id: u16,
    /// This host's peer id (its Ed25519 public key).
    pub peer_id: [u8; 32],
    /// Milliseconds since the node started.
    pub uptime_ms: u64,
    /// Where the P2P listener is bound.
    pub p2p_addr: SocketAddr,
    /// Where the API listener is bound.
    pub api_addr: SocketAddr,
    /// The counters.
    pub counters: Counters,
    /// The active view (neighbours), as listed.
    pub active: Vec<PeerEntry>,
    /// Active entries that did not fit in the message.
    pub active_left_out: u16,
    /// The passive view (backup addresses), as listed.
    pub passive: Vec<PeerEntry>,
    /// Passive entries that did not fit in the message.
    pub passive_left_out: u16,
}

impl StatusReply {
    /// The reply to `query` from a node in state `status` whose API listens
    /// on `api_addr`.
    pub fn new(query: &StatusQuery, status: &NodeStatus, api_addr: SocketAddr) -> StatusReply {
        let s = &status.stats;
        let counters = Counters {
            announced: s.core.announced,
            received: s.core.received,
            delivered: s.core.delivered,
            duplicates: s.core.duplicates,
            relayed: s.core.relayed,
            pulls_sent: s.tree.grafts,
            pulls_served: s.tree.pulled_out,
            valid: s.core.valid,
            invalid: s.core.invalid,
            expired: s.core.expired,
            evicted_unspread: s.core.evicted_unspread,
            misbehaviours: s.core.misbehaviours,
            peers_banned: s.core.peers_banned,
            refused_banned: s.core.refused_banned,
            outbox_skips: s.skipped_full_outbox,
            slow_clients_kicked: s.slow_clients_kicked,
            slow_peers_dropped: s.slow_peers_dropped,
            bytes_in: s.p2p_bytes_in,
            bytes_out: s.p2p_bytes_out,
        };
        let active = status
            .neighbours
            .iter()
            .map(|n| PeerEntry {
                peer_id: Some(n.peer_id.0),
                addr: n.addr,
                outbound: n.outbound,
                age_ms: Some(millis(n.age)),
            })
            .collect();
        let passive = status
            .passive
            .iter()
            .map(|&addr| PeerEntry {
                peer_id: None,
                addr,
                outbound: false,
                age_ms: None,
            })
            .collect();
        StatusReply {
            version: query.version.min(STATUS_VERSION),
            request_id: query.request_id,
            peer_id: status.peer_id.0,
            uptime_ms: millis(status.uptime),
            p2p_addr: status.p2p_addr,
            api_addr,
            counters,
            active,
            active_left_out: 0,
            passive,
            passive_left_out: 0,
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a module may send: a standard message or a status query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// ANNOUNCE, NOTIFY or VALIDATION.
    Api(ApiMessage),
    /// STATUS QUERY.
    Status(StatusQuery),
}

/// What gossip may send: a standard message or a status reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// NOTIFICATION.
    Api(ApiMessage),
    /// STATUS REPLY.
    Status(Box<StatusReply>),
}

/// Checks the header of a status message coming `from` one side; `Ok(false)`
/// when the type is not a status type (the standard codec decides then).
/// Needs no body, so a reader can refuse the message before reading it.
pub fn check_status_header(header: &Header, from: Direction) -> Result<bool, DecodeError> {
    match (header.msg_type, from) {
        (STATUS_QUERY, Direction::Module) if usize::from(header.size) != QUERY_LEN => {
            Err(StatusError::QueryLength(header.size).into())
        }
        (STATUS_QUERY, Direction::Gossip) => Err(StatusError::QueryFromGossip.into()),
        (STATUS_REPLY, Direction::Module) => Err(StatusError::ReplyToGossip.into()),
        (STATUS_REPLY, Direction::Gossip) if usize::from(header.size) < MIN_REPLY_LEN => {
            Err(StatusError::ReplyTooShort(header.size).into())
        }
        (STATUS_QUERY | STATUS_REPLY, _) => Ok(true),
        _ => Ok(false),
    }
}

/// Reads one message a module sent: a status query, or anything the
/// standard codec reads ([`codec::read_message`] with
/// [`Direction::Module`]). `Ok(None)` is a clean end of stream.
pub fn read_request<R: Read>(r: &mut R) -> Result<Option<Request>, ReadError> {
    let Some(header) = codec::read_header(r)? else {
        return Ok(None);
    };
    if !check_status_header(&header, Direction::Module)? {
        return codec::read_body(r, header, Direction::Module).map(|m| Some(Request::Api(m)));
    }
    let body = read_status_body(r, header)?;
    Ok(Some(Request::Status(decode_query(header, &body)?)))
}

/// Reads one message gossip sent: a status reply, or anything the standard
/// codec reads ([`codec::read_message`] with [`Direction::Gossip`]).
/// `Ok(None)` is a clean end of stream.
pub fn read_response<R: Read>(r: &mut R) -> Result<Option<Response>, ReadError> {
    let Some(header) = codec::read_header(r)? else {
        return Ok(None);
    };
    if !check_status_header(&header, Direction::Gossip)? {
        return codec::read_body(r, header, Direction::Gossip).map(|m| Some(Response::Api(m)));
    }
    let body = read_status_body(r, header)?;
    let reply = decode_reply(header, &body)?;
    Ok(Some(Response::Status(Box::new(reply))))
}

/// Reads the body a checked status header declares.
fn read_status_body<R: Read>(r: &mut R, header: Header) -> Result<Vec<u8>, ReadError> {
    // Bounded by the u16 size field.
    let mut body = vec![0u8; header.body_len()];
    let got = codec::read_full(r, &mut body)?;
    if got < body.len() {
        let expected = usize::from(header.size);
        return Err(codec::truncated(expected, HEADER_LEN + got));
    }
    Ok(body)
}

/// Decodes a STATUS QUERY whose header was already read.
pub fn decode_query(header: Header, body: &[u8]) -> Result<StatusQuery, DecodeError> {
    if header.msg_type != STATUS_QUERY {
        return Err(DecodeError::UnknownType(header.msg_type));
    }
    check_status_header(&header, Direction::Module)?;
    check_body_len(&header, body)?;
    let version = body[0];
    if version == 0 {
        return Err(StatusError::QueryVersionZero.into());
    }
    Ok(StatusQuery {
        version,
        request_id: u16::from_be_bytes([body[2], body[3]]),
    })
}

/// Appends a STATUS QUERY to `out`.
pub fn encode_query(query: &StatusQuery, out: &mut Vec<u8>) {
    let [r0, r1] = query.request_id.to_be_bytes();
    let header = Header {
        size: QUERY_LEN as u16,
        msg_type: STATUS_QUERY,
    };
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&[query.version, 0, r0, r1]);
}

/// A cursor over a reply body that names the field it ran out in.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], StatusError> {
        if self.rest.len() < n {
            return Err(StatusError::EndsInside(what));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, StatusError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, StatusError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, StatusError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(b))
    }

    fn peer_id(&mut self, what: &'static str) -> Result<[u8; 32], StatusError> {
        let mut id = [0u8; 32];
        id.copy_from_slice(self.take(32, what)?);
        Ok(id)
    }

    fn address(&mut self, what: &'static str) -> Result<SocketAddr, StatusError> {
        let ip = match self.u8(what)? {
            4 => {
                let b = self.take(4, what)?;
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            6 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(self.take(16, what)?);
                IpAddr::V6(Ipv6Addr::from(b))
            }
            family => return Err(StatusError::AddressFamily(family)),
        };
        Ok(SocketAddr::new(ip, self.u16(what)?))
    }

    fn entry(&mut self) -> Result<PeerEntry, StatusError> {
        let flags = self.u8("an entry")?;
        let peer_id = if flags & FLAG_PEER_ID != 0 {
            Some(self.peer_id("an entry's peer id")?)
        } else {
            None
        };
        let addr = self.address("an entry's address")?;
        let age_ms = if flags & FLAG_AGE != 0 {
            Some(self.u64("an entry's link age")?)
        } else {
            None
        };
        Ok(PeerEntry {
            peer_id,
            addr,
            outbound: flags & FLAG_OUTBOUND != 0,
            age_ms,
        })
    }
}

/// Decodes a STATUS REPLY whose header was already read; `body` is exactly
/// `header.body_len()` bytes.
pub fn decode_reply(header: Header, body: &[u8]) -> Result<StatusReply, DecodeError> {
    if header.msg_type != STATUS_REPLY {
        return Err(DecodeError::UnknownType(header.msg_type));
    }
    check_status_header(&header, Direction::Gossip)?;
    check_body_len(&header, body)?;
    Ok(decode_reply_fields(body)?)
}

fn decode_reply_fields(body: &[u8]) -> Result<StatusReply, StatusError> {
    let mut f = Fields { rest: body };
    let version = f.u8("the version")?;
    if version != STATUS_VERSION {
        return Err(StatusError::UnknownVersion(version));
    }
    f.u8("the reserved byte")?;
    let request_id = f.u16("the request id")?;
    let peer_id = f.peer_id("the peer id")?;
    let uptime_ms = f.u64("the uptime")?;
    let p2p_addr = f.address("the P2P address")?;
    let api_addr = f.address("the API address")?;
    let mut values = [0u64; Counters::COUNT];
    for v in &mut values {
        *v = f.u64("the counters")?;
    }
    let active_listed = f.u16("the view counts")?;
    let active_left_out = f.u16("the view counts")?;
    let passive_listed = f.u16("the view counts")?;
    let passive_left_out = f.u16("the view counts")?;
    let mut entries = |n: u16| (0..n).map(|_| f.entry()).collect::<Result<Vec<_>, _>>();
    let active = entries(active_listed)?;
    let passive = entries(passive_listed)?;
    if !f.rest.is_empty() {
        return Err(StatusError::TrailingBytes(f.rest.len()));
    }
    Ok(StatusReply {
        version,
        request_id,
        peer_id,
        uptime_ms,
        p2p_addr,
        api_addr,
        counters: Counters::from_values(values),
        active,
        active_left_out,
        passive,
        passive_left_out,
    })
}

fn put_entry(entry: &PeerEntry, out: &mut Vec<u8>) {
    let mut flags = 0;
    if entry.peer_id.is_some() {
        flags |= FLAG_PEER_ID;
    }
    if entry.outbound {
        flags |= FLAG_OUTBOUND;
    }
    if entry.age_ms.is_some() {
        flags |= FLAG_AGE;
    }
    out.push(flags);
    if let Some(id) = &entry.peer_id {
        out.extend_from_slice(id);
    }
    encode_addr(&entry.addr, out);
    if let Some(age) = entry.age_ms {
        out.extend_from_slice(&age.to_be_bytes());
    }
}

/// Appends a STATUS REPLY (in format version 1, whatever `reply.version`
/// says) to `out`. Entries are listed, active first, while the message stays
/// within [`MAX_MESSAGE_LEN`]; the ones that do not fit are added to the
/// left-out counts (saturating). Returns how many entries were left out.
pub fn encode_reply(reply: &StatusReply, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.push(STATUS_VERSION);
    out.push(0);
    out.extend_from_slice(&reply.request_id.to_be_bytes());
    out.extend_from_slice(&reply.peer_id);
    out.extend_from_slice(&reply.uptime_ms.to_be_bytes());
    encode_addr(&reply.p2p_addr, out);
    encode_addr(&reply.api_addr, out);
    for (_, value) in reply.counters.named() {
        out.extend_from_slice(&value.to_be_bytes());
    }
    // Fit the entries: the fixed part is at most 246 bytes, so hundreds fit.
    let mut room = MAX_MESSAGE_LEN - (out.len() - start) - 8;
    let mut fit = |entries: &[PeerEntry]| {
        entries
            .iter()
            .take_while(|e| {
                let len = e.encoded_len();
                let fits = len <= room;
                if fits {
                    room -= len;
                }
                fits
            })
            .count()
    };
    let active = fit(&reply.active);
    let passive = if active == reply.active.len() {
        fit(&reply.passive)
    } else {
        0
    };
    let left_out = (reply.active.len() - active) + (reply.passive.len() - passive);
    let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    let active_left_out = count(usize::from(reply.active_left_out) + reply.active.len() - active);
    let passive_left_out =
        count(usize::from(reply.passive_left_out) + reply.passive.len() - passive);
    for n in [active, usize::from(active_left_out), passive] {
        out.extend_from_slice(&count(n).to_be_bytes());
    }
    out.extend_from_slice(&passive_left_out.to_be_bytes());
    for e in reply.active[..active]
        .iter()
        .chain(&reply.passive[..passive])
    {
        put_entry(e, out);
    }
    let header = Header {
        // At most MAX_MESSAGE_LEN: entries were fitted above.
        size: (out.len() - start) as u16,
        msg_type: STATUS_REPLY,
    };
    out[start..start + HEADER_LEN].copy_from_slice(&header.to_bytes());
    left_out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};
    use std::io::Cursor;

    fn query_bytes(q: &StatusQuery) -> Vec<u8> {
        let mut out = Vec::new();
        encode_query(q, &mut out);
        out
    }

    fn reply_bytes(r: &StatusReply) -> Vec<u8> {
        let mut out = Vec::new();
        encode_reply(r, &mut out);
        out
    }

    fn active(i: u16) -> PeerEntry {
        PeerEntry {
            peer_id: Some([i as u8; 32]),
            addr: SocketAddr::from(([127, 0, 0, 1], 7000 + i)),
            outbound: i.is_multiple_of(2),
            age_ms: Some(1000 * u64::from(i)),
        }
    }

    fn passive(i: u16) -> PeerEntry {
        PeerEntry {
            peer_id: None,
            addr: SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, i], 9000)),
            outbound: false,
            age_ms: None,
        }
    }

    fn reply(n_active: u16, n_passive: u16) -> StatusReply {
        let mut values = [0u64; Counters::COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            *v = ((i as u64 + 1) << 40) | i as u64;
        }
        StatusReply {
            version: 1,
            request_id: 0xbeef,
            peer_id: [0xab; 32],
            uptime_ms: 123_456,
            p2p_addr: "127.0.0.1:7101".parse().unwrap(),
            api_addr: "[::1]:7001".parse().unwrap(),
            counters: Counters::from_values(values),
            active: (1..=n_active).map(active).collect(),
            active_left_out: 0,
            passive: (1..=n_passive).map(passive).collect(),
            passive_left_out: 0,
        }
    }

    fn request(bytes: &[u8]) -> Result<Option<Request>, ReadError> {
        read_request(&mut Cursor::new(bytes))
    }

    fn response(bytes: &[u8]) -> Result<Option<Response>, ReadError> {
        read_response(&mut Cursor::new(bytes))
    }

    fn status_err(result: Result<impl fmt::Debug, ReadError>) -> DecodeError {
        match result {
            Err(ReadError::Decode(e)) => e,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    fn header_of(bytes: &[u8]) -> Header {
        codec::decode_header([bytes[0], bytes[1], bytes[2], bytes[3]]).unwrap()
    }

    /// Rewrites the size field of an encoded message.
    fn with_size(mut bytes: Vec<u8>) -> Vec<u8> {
        let size = u16::try_from(bytes.len()).unwrap();
        bytes[..2].copy_from_slice(&size.to_be_bytes());
        bytes
    }

    #[test]
    fn query_round_trips_and_has_the_documented_layout() {
        let q = StatusQuery {
            version: 3,
            request_id: 0x0102,
        };
        let bytes = query_bytes(&q);
        assert_eq!(bytes, [0, 8, 0x01, 0xfe, 3, 0, 1, 2]);
        assert_eq!(request(&bytes).unwrap(), Some(Request::Status(q)));
        assert_eq!(decode_query(header_of(&bytes), &bytes[4..]).unwrap(), q);
    }

    #[test]
    fn query_reserved_byte_is_ignored() {
        let bytes = [0, 8, 0x01, 0xfe, 1, 0xff, 0, 9];
        let expected = StatusQuery {
            version: 1,
            request_id: 9,
        };
        assert_eq!(request(&bytes).unwrap(), Some(Request::Status(expected)));
    }

    #[test]
    fn query_not_eight_bytes_is_rejected_before_its_body() {
        for size in [4u16, 7, 9, 12, 65535] {
            // Only the header: the size is refused without reading further.
            let mut bytes = size.to_be_bytes().to_vec();
            bytes.extend_from_slice(&STATUS_QUERY.to_be_bytes());
            let e = status_err(request(&bytes));
            assert_eq!(e, DecodeError::Status(StatusError::QueryLength(size)));
        }
        let e = StatusError::QueryLength(10);
        assert_eq!(
            e.to_string(),
            "STATUS QUERY must be exactly 8 bytes, got 10"
        );
    }

    #[test]
    fn query_of_version_zero_is_rejected() {
        let e = status_err(request(&[0, 8, 0x01, 0xfe, 0, 0, 0, 1]));
        assert_eq!(e, DecodeError::Status(StatusError::QueryVersionZero));
    }

    #[test]
    fn query_cut_short_is_truncated() {
        let e = status_err(request(&[0, 8, 0x01, 0xfe, 1, 0]));
        assert_eq!(
            e,
            DecodeError::Truncated {
                expected: 8,
                got: 6
            }
        );
    }

    #[test]
    fn query_body_of_the_wrong_length_is_rejected() {
        let header = header_of(&[0, 8, 0x01, 0xfe]);
        assert_eq!(
            decode_query(header, &[1, 0, 0]),
            Err(DecodeError::Truncated {
                expected: 8,
                got: 7
            })
        );
        assert_eq!(
            decode_query(header, &[1, 0, 0, 0, 0]),
            Err(DecodeError::SizeMismatch { size: 8, actual: 9 })
        );
    }

    #[test]
    fn reply_sent_to_gossip_and_query_sent_by_gossip_are_rejected() {
        let e = status_err(request(&reply_bytes(&reply(1, 1))));
        assert_eq!(e, DecodeError::Status(StatusError::ReplyToGossip));
        let e = status_err(response(&query_bytes(&StatusQuery::new(1))));
        assert_eq!(e, DecodeError::Status(StatusError::QueryFromGossip));
    }

    #[test]
    fn other_extension_types_stay_unknown() {
        for msg_type in [512u16, 519] {
            let mut bytes = 8u16.to_be_bytes().to_vec();
            bytes.extend_from_slice(&msg_type.to_be_bytes());
            bytes.extend_from_slice(&[1, 0, 0, 0]);
            assert_eq!(
                status_err(request(&bytes)),
                DecodeError::UnknownType(msg_type)
            );
            assert_eq!(
                status_err(response(&bytes)),
                DecodeError::UnknownType(msg_type)
            );
        }
    }

    #[test]
    fn standard_messages_pass_through_both_readers() {
        let notify = ApiMessage::Notify { data_type: 7 };
        let mut bytes = Vec::new();
        codec::encode(&notify, &mut bytes).unwrap();
        assert_eq!(request(&bytes).unwrap(), Some(Request::Api(notify)));
        let note = ApiMessage::Notification {
            msg_id: 1,
            data_type: 2,
            data: b"x".to_vec(),
        };
        let mut bytes = Vec::new();
        codec::encode(&note, &mut bytes).unwrap();
        assert_eq!(response(&bytes).unwrap(), Some(Response::Api(note)));
        assert_eq!(request(&[]).unwrap(), None);
        assert_eq!(response(&[]).unwrap(), None);
        // The standard rules still hold: a NOTIFY of 10 bytes is malformed.
        let e = status_err(request(&[0, 10, 1, 245, 0, 0, 0, 7, 0, 0]));
        assert_eq!(e, DecodeError::NotifyLength(10));
    }

    #[test]
    fn reply_round_trips() {
        for (a, p) in [(0, 0), (1, 0), (0, 3), (8, 30)] {
            let r = reply(a, p);
            let bytes = reply_bytes(&r);
            assert_eq!(header_of(&bytes).size as usize, bytes.len());
            let got = response(&bytes).unwrap();
            assert_eq!(got, Some(Response::Status(Box::new(r.clone()))));
            assert_eq!(decode_reply(header_of(&bytes), &bytes[4..]).unwrap(), r);
        }
    }

    #[test]
    fn smallest_reply_has_the_documented_size() {
        let mut r = reply(0, 0);
        r.api_addr = "127.0.0.1:7001".parse().unwrap();
        let bytes = reply_bytes(&r);
        assert_eq!(bytes.len(), MIN_REPLY_LEN);
        assert_eq!(MIN_REPLY_LEN, 222);
        assert_eq!(&bytes[..8], &[0, 222, 0x01, 0xff, 1, 0, 0xbe, 0xef]);
    }

    #[test]
    fn entries_have_the_documented_layout() {
        let mut r = reply(1, 1);
        r.active[0].peer_id = Some([7; 32]);
        let bytes = reply_bytes(&r);
        // active entry: flags, id, IPv4 address, age; passive: flags, IPv6 address.
        let passive_len = 1 + 19;
        let active_len = 1 + 32 + 7 + 8;
        let start = bytes.len() - passive_len - active_len;
        assert_eq!(&bytes[start - 8..start], &[0, 1, 0, 0, 0, 1, 0, 0]);
        assert_eq!(bytes[start], FLAG_PEER_ID | FLAG_AGE);
        assert_eq!(&bytes[start + 1..start + 33], &[7; 32]);
        assert_eq!(&bytes[start + 33..start + 38], &[4, 127, 0, 0, 1]);
        assert_eq!(&bytes[start + 38..start + 40], &7001u16.to_be_bytes());
        assert_eq!(&bytes[start + 40..start + 48], &1000u64.to_be_bytes());
        let p = start + active_len;
        assert_eq!(bytes[p], 0);
        assert_eq!(bytes[p + 1], 6);
    }

    #[test]
    fn views_too_large_for_one_message_are_cut_and_counted() {
        let mut r = reply(1500, 40);
        r.passive_left_out = 5;
        let mut out = Vec::new();
        let left_out = encode_reply(&r, &mut out);
        assert!(out.len() <= MAX_MESSAGE_LEN);
        let Some(Response::Status(got)) = response(&out).unwrap() else {
            panic!("a reply");
        };
        assert!(got.active.len() > 1000, "{} listed", got.active.len());
        assert_eq!(got.active[..], r.active[..got.active.len()]);
        assert_eq!(usize::from(got.active_left_out), 1500 - got.active.len());
        assert!(got.passive.is_empty());
        assert_eq!(got.passive_left_out, 45);
        assert_eq!(left_out, 1500 - got.active.len() + 40);
        // The next entry would not have fitted.
        assert!(out.len() + MAX_ENTRY_LEN > MAX_MESSAGE_LEN);
    }

    #[test]
    fn reply_shorter_than_its_fixed_part_is_rejected_before_its_body() {
        for size in [4u16, 8, MIN_REPLY_LEN as u16 - 1] {
            let mut bytes = size.to_be_bytes().to_vec();
            bytes.extend_from_slice(&STATUS_REPLY.to_be_bytes());
            let e = status_err(response(&bytes));
            assert_eq!(e, DecodeError::Status(StatusError::ReplyTooShort(size)));
        }
    }

    #[test]
    fn reply_of_an_unknown_version_is_rejected() {
        for version in [0u8, 2, 255] {
            let mut bytes = reply_bytes(&reply(1, 1));
            bytes[4] = version;
            let e = status_err(response(&bytes));
            assert_eq!(e, DecodeError::Status(StatusError::UnknownVersion(version)));
        }
    }

    #[test]
    fn reply_with_an_unknown_address_family_is_rejected() {
        // The P2P address's family byte sits after version, reserved,
        // request id, peer id and uptime.
        let mut bytes = reply_bytes(&reply(0, 0));
        bytes[4 + 4 + 32 + 8] = 5;
        let e = status_err(response(&bytes));
        assert_eq!(e, DecodeError::Status(StatusError::AddressFamily(5)));
        // And an entry's (the last entry is a passive one: flags, family...).
        let mut bytes = reply_bytes(&reply(0, 1));
        let at = bytes.len() - 19;
        bytes[at] = 0;
        let e = status_err(response(&bytes));
        assert_eq!(e, DecodeError::Status(StatusError::AddressFamily(0)));
    }

    #[test]
    fn reply_whose_entries_run_past_its_end_is_rejected() {
        let mut bytes = reply_bytes(&reply(2, 0));
        // Claim three active entries where two are.
        let counts = bytes.len() - 2 * 48 - 8;
        bytes[counts..counts + 2].copy_from_slice(&3u16.to_be_bytes());
        let e = status_err(response(&bytes));
        assert_eq!(e, DecodeError::Status(StatusError::EndsInside("an entry")));
        // An entry cut inside its peer id.
        let bytes = with_size(reply_bytes(&reply(1, 0))[..MIN_REPLY_LEN + 12 + 10].to_vec());
        let e = status_err(response(&bytes));
        assert_eq!(
            e,
            DecodeError::Status(StatusError::EndsInside("an entry's peer id"))
        );
        // The fixed part itself cut short by an IPv6 API address.
        let mut r = reply(0, 0);
        r.p2p_addr = "[::1]:1".parse().unwrap();
        let bytes = with_size(reply_bytes(&r)[..MIN_REPLY_LEN].to_vec());
        let e = status_err(response(&bytes));
        assert_eq!(
            e,
            DecodeError::Status(StatusError::EndsInside("the counters"))
        );
    }

    #[test]
    fn reply_with_bytes_after_its_last_entry_is_rejected() {
        let mut bytes = reply_bytes(&reply(1, 1));
        bytes.extend_from_slice(&[0, 0, 0]);
        let e = status_err(response(&with_size(bytes)));
        assert_eq!(e, DecodeError::Status(StatusError::TrailingBytes(3)));
    }

    #[test]
    fn reply_cut_short_by_the_stream_is_truncated() {
        let bytes = reply_bytes(&reply(2, 2));
        let e = status_err(response(&bytes[..bytes.len() - 1]));
        assert_eq!(
            e,
            DecodeError::Truncated {
                expected: bytes.len(),
                got: bytes.len() - 1
            }
        );
        let header = header_of(&bytes);
        let e = decode_reply(header, &bytes[4..bytes.len() - 1]).unwrap_err();
        assert!(matches!(e, DecodeError::Truncated { .. }));
        let mut longer = bytes[4..].to_vec();
        longer.push(0);
        let e = decode_reply(header, &longer).unwrap_err();
        assert!(matches!(e, DecodeError::SizeMismatch { .. }));
    }

    #[test]
    fn entry_reserved_flag_bits_are_ignored() {
        let r = reply(0, 1);
        let mut bytes = reply_bytes(&r);
        let at = bytes.len() - 20;
        bytes[at] |= 0xf8;
        assert_eq!(
            response(&bytes).unwrap(),
            Some(Response::Status(Box::new(r)))
        );
    }

    #[test]
    fn reply_answers_in_the_query_version_at_most() {
        let status = NodeStatus {
            peer_id: crate::proto::PeerId([3; 32]),
            p2p_addr: "127.0.0.1:1".parse().unwrap(),
            uptime: std::time::Duration::from_millis(1500),
            stats: Default::default(),
            neighbours: Vec::new(),
            passive: vec!["127.0.0.1:2".parse().unwrap()],
        };
        let api = "127.0.0.1:3".parse().unwrap();
        let query = StatusQuery {
            version: 9,
            request_id: 4,
        };
        let r = StatusReply::new(&query, &status, api);
        assert_eq!((r.version, r.request_id, r.uptime_ms), (1, 4, 1500));
        assert_eq!(r.passive.len(), 1);
        assert_eq!(r.passive[0].peer_id, None);
    }

    #[test]
    fn random_input_never_panics_and_replies_round_trip() {
        let mut rng = StdRng::seed_from_u64(0x57a7_0511);
        for _ in 0..2_000 {
            let r = reply(rng.random_range(0..6), rng.random_range(0..6));
            let mut bytes = reply_bytes(&r);
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
            bytes.truncate(rng.random_range(0..=bytes.len()));
            let mut cursor = Cursor::new(&bytes[..]);
            while let Ok(Some(Response::Status(got))) = read_response(&mut cursor) {
                let again = reply_bytes(&got);
                assert_eq!(
                    response(&again).unwrap(),
                    Some(Response::Status(got.clone()))
                );
            }
            let _ = read_request(&mut Cursor::new(&bytes[..]));
        }
    }
}
