//! Peer-to-peer messages <-> bytes: the body of one transport frame.
//!
//! The transport adds the framing and the encryption; this module only turns
//! a [`Message`] or a [`Hello`] into the bytes of one frame body and back.
//! All integers are big-endian.
//!
//! | message  | layout                                                              |
//! | -------- | ------------------------------------------------------------------- |
//! | GetPeers | tag `1`                                                             |
//! | Peers    | tag `2`, count u8 (≤ 64), then `count` addresses                    |
//! | Item     | tag `3`, origin (key or per-link slot), seq, hlc, ttl u8, data type u16, signature 64 bytes, data (rest, ≤ 65527): see [`item`] |
//! | tags 4–9 | the membership messages, see [`membership`]                         |
//! | 10–12    | the dissemination messages, see [`tree`]                            |
//! | address  | family u8 (`4` or `6`), IP (4 or 16 bytes), port u16                |
//!
//! A [`Hello`] travels inside the Noise handshake (see [`crate::transport`]);
//! every later frame is one message:
//!
//! ```text
//!   A                         B
//!   | == handshake, Hellos => |
//!   | -- GetPeers ----------> |
//!   | <------------- Peers -- |
//!   | -- Item --------------> |   (either side, any time)
//! ```
//!
//! Items are compressed per link (an origin's key crosses a link once, then
//! a slot stands for it), so each direction of a link has its coder state:
//! [`LinkEncoder`] and [`LinkDecoder`]. [`encode`] and [`decode`] code one
//! message as the first of a fresh link.
//!
//! Decoding is total and strict: an unknown tag, a truncated field, bytes
//! after a complete message, more than 64 addresses, an unknown address
//! family, too much item data, a wrong magic or an unsupported version are
//! each a distinct [`WireError`]. Every count is checked against the limit
//! and the bytes that remain before anything is allocated for it. An IPv6
//! address travels without its flow info and scope id.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

mod hello;
pub mod item;
pub mod membership;
pub mod tree;
mod varint;

pub use hello::{HELLO_MAGIC, Hello, decode_hello, encode_hello};
pub use membership::{MAX_SHUFFLE_SAMPLE, MAX_WALK_PATH};
pub use tree::MAX_IDS_PER_MESSAGE;

use crate::proto::Message;
use item::{ItemDecoder, ItemEncoder, MAX_ITEM_HEADER_LEN};

/// Largest item data carried by one [`Message::Item`]; equal to the API's
/// largest data field, so every announced item fits.
pub const MAX_ITEM_DATA: usize = 65527;
/// Most addresses in one [`Message::Peers`].
pub const MAX_PEERS_PER_MESSAGE: usize = 64;
/// Hard limit on one frame body; the transport refuses longer frames before
/// allocating. The largest message (an Item with its origin key) is 65,645
/// bytes.
pub const MAX_FRAME_LEN: usize = 70_000;
/// The version this build speaks, sent in [`Hello`]. Version 2 is the first
/// with encrypted, authenticated connections, 3 the first with HyParView and
/// Plumtree, 4 the first with signed items.
pub const PROTOCOL_VERSION: u8 = 4;

const TAG_GET_PEERS: u8 = 1;
const TAG_PEERS: u8 = 2;
pub(crate) const TAG_ITEM: u8 = 3;
const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;
/// Smallest encoded address (an IPv4 one).
const MIN_ADDR_LEN: usize = 1 + 4 + 2;

/// Why a frame body is not a well-formed message or Hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The first byte names no message.
    UnknownTag(u8),
    /// The body ended inside a field.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes follow a complete message.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A Peers message with more than [`MAX_PEERS_PER_MESSAGE`] addresses.
    TooManyPeers {
        /// The count it declared.
        count: u8,
    },
    /// A list longer than its limit.
    TooMany {
        /// The list.
        field: &'static str,
        /// The count it declared.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An address family other than 4 or 6.
    UnknownFamily(u8),
    /// Item data longer than [`MAX_ITEM_DATA`].
    DataTooLong {
        /// Its length.
        len: usize,
    },
    /// A Hello that does not start with `GSPD`.
    BadMagic([u8; 4]),
    /// A Hello with flag bits this build does not know.
    UnknownFlags(u8),
    /// A Hello with a version this build does not speak.
    UnsupportedVersion(u8),
    /// A variable-length integer longer than needed or beyond 64 bits.
    BadVarint {
        /// The field being read.
        field: &'static str,
    },
    /// An Item naming an origin slot beyond the table, or one no key was
    /// sent for on this link.
    BadOriginSlot(u8),
    /// A list of item ids not in its one canonical form (sorted, runs
    /// merged, no empty run).
    NotCanonical {
        /// The list.
        field: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::UnknownTag(tag) => write!(f, "unknown message tag {tag}"),
            WireError::Truncated {
                field,
                needed,
                remaining,
            } => write!(
                f,
                "truncated {field}: needs {needed} bytes, {remaining} left"
            ),
            WireError::TrailingBytes { extra } => {
                write!(f, "{extra} bytes after the end of the message")
            }
            WireError::TooManyPeers { count } => write!(
                f,
                "{count} addresses in one message, at most {MAX_PEERS_PER_MESSAGE} allowed"
            ),
            WireError::TooMany { field, count, max } => {
                write!(f, "{count} entries in a {field}, at most {max} allowed")
            }
            WireError::UnknownFamily(family) => {
                write!(f, "unknown address family {family} (expected 4 or 6)")
            }
            WireError::DataTooLong { len } => write!(
                f,
                "item data is {len} bytes, at most {MAX_ITEM_DATA} allowed"
            ),
            WireError::UnknownFlags(flags) => write!(f, "unknown flags {flags:#04x}"),
            WireError::BadMagic(magic) => write!(f, "bad hello magic {magic:02x?}"),
            WireError::UnsupportedVersion(v) => write!(
                f,
                "unsupported protocol version {v} (this build speaks {PROTOCOL_VERSION})"
            ),
            WireError::BadVarint { field } => write!(f, "malformed variable-length {field}"),
            WireError::BadOriginSlot(slot) => {
                write!(
                    f,
                    "origin slot {slot} is beyond the table or was never assigned"
                )
            }
            WireError::NotCanonical { field } => {
                write!(f, "{field} not sorted or not in its shortest form")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Appends the encoding of `msg` to `out` as the first message of a link.
///
/// A Peers message carries at most its first [`MAX_PEERS_PER_MESSAGE`]
/// addresses; item data must not exceed [`MAX_ITEM_DATA`] (the API codec
/// refuses longer data, so the core never holds any).
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    LinkEncoder::default().encode(msg, out);
}

/// The number of bytes [`encode`] appends for `msg`: the most a
/// [`LinkEncoder`] ever needs for it.
pub fn encoded_len(msg: &Message) -> usize {
    match msg {
        Message::GetPeers => 1,
        Message::Peers(addrs) => {
            let addrs = &addrs[..addrs.len().min(MAX_PEERS_PER_MESSAGE)];
            2 + addrs.iter().map(addr_len).sum::<usize>()
        }
        Message::Item(item) => MAX_ITEM_HEADER_LEN + item.data.len(),
        other => membership::encoded_len(other)
            .or_else(|| tree::encoded_len(other))
            .unwrap_or(0),
    }
}

/// Decodes one frame body as the first message of a link.
pub fn decode(body: &[u8]) -> Result<Message, WireError> {
    LinkDecoder::default().decode(body)
}

/// Encodes the messages of one direction of a link, in order.
#[derive(Debug, Default)]
pub struct LinkEncoder {
    items: ItemEncoder,
}

impl LinkEncoder {
    /// Appends the encoding of `msg` (see [`encode`]).
    pub fn encode(&mut self, msg: &Message, out: &mut Vec<u8>) {
        out.reserve(encoded_len(msg));
        match msg {
            Message::GetPeers => out.push(TAG_GET_PEERS),
            Message::Peers(addrs) => {
                let addrs = &addrs[..addrs.len().min(MAX_PEERS_PER_MESSAGE)];
                out.push(TAG_PEERS);
                // At most MAX_PEERS_PER_MESSAGE (64), so it fits in a u8.
                out.push(addrs.len() as u8);
                for addr in addrs {
                    encode_addr(addr, out);
                }
            }
            Message::Item(item) => self.items.encode(item, out),
            other => {
                let known = membership::encode(other, out) || tree::encode(other, out);
                debug_assert!(known, "a message without an encoding");
            }
        }
    }
}

/// Decodes the messages of one direction of a link, in order.
#[derive(Debug, Default)]
pub struct LinkDecoder {
    items: ItemDecoder,
}

impl LinkDecoder {
    /// Decodes one frame body into a message.
    pub fn decode(&mut self, body: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader::new(body);
        let msg = match r.u8("tag")? {
            TAG_GET_PEERS => Message::GetPeers,
            TAG_PEERS => Message::Peers(decode_peers(&mut r)?),
            TAG_ITEM => Message::Item(self.items.decode(&mut r)?),
            tag => match membership::decode(tag, &mut r).or_else(|| tree::decode(tag, &mut r)) {
                Some(msg) => msg?,
                None => return Err(WireError::UnknownTag(tag)),
            },
        };
        r.finish()?;
        Ok(msg)
    }
}

fn decode_peers(r: &mut Reader<'_>) -> Result<Vec<SocketAddr>, WireError> {
    let count = r.u8("peer count")?;
    if usize::from(count) > MAX_PEERS_PER_MESSAGE {
        return Err(WireError::TooManyPeers { count });
    }
    let needed = usize::from(count) * MIN_ADDR_LEN;
    if r.remaining() < needed {
        return Err(r.truncated("peer addresses", needed));
    }
    let mut addrs = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        addrs.push(decode_addr(r)?);
    }
    Ok(addrs)
}

pub(crate) fn addr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}

pub(crate) fn encode_addr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(FAMILY_V4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(FAMILY_V6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

pub(crate) fn decode_addr(r: &mut Reader<'_>) -> Result<SocketAddr, WireError> {
    let ip = match r.u8("address family")? {
        FAMILY_V4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("IPv4 address")?)),
        FAMILY_V6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("IPv6 address")?)),
        family => return Err(WireError::UnknownFamily(family)),
    };
    let port = r.u16("port")?;
    Ok(SocketAddr::new(ip, port))
}

/// A cursor over a frame body whose every read is bounds-checked.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Reader { rest: body }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn truncated(&self, field: &'static str, needed: usize) -> WireError {
        WireError::Truncated {
            field,
            needed,
            remaining: self.rest.len(),
        }
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], WireError> {
        let Some((head, tail)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.truncated(field, N));
        };
        self.rest = tail;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub(crate) fn finish(&self) -> Result<(), WireError> {
        match self.rest.len() {
            0 => Ok(()),
            extra => Err(WireError::TrailingBytes { extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ChecksumAuth, DataType, Hlc, Item, ItemId, OriginKey, PeerId, Ttl};
    use rand::{RngExt, SeedableRng, rngs::StdRng};
    use std::sync::Arc;

    /// The encoding of `msg`, checked against its announced length.
    pub(in crate::wire) fn bytes_of(msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode(msg, &mut out);
        assert_eq!(out.len(), encoded_len(msg));
        out
    }

    fn item(data: &[u8]) -> Message {
        let auth = ChecksumAuth::for_host(PeerId::from_u64(1));
        let hlc = Hlc(0x0102_0304_0506_0708);
        Message::Item(Item::signed(
            &*auth,
            7,
            hlc,
            Ttl(3),
            DataType(0xbeef),
            Arc::from(data),
        ))
    }

    fn some_addrs() -> Vec<SocketAddr> {
        vec![
            "10.0.0.1:6001".parse().unwrap(),
            "[2001:db8::1]:7002".parse().unwrap(),
            "[::ffff:1.2.3.4]:1".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
        ]
    }

    fn assert_round_trip(msg: Message) {
        assert_eq!(decode(&bytes_of(&msg)), Ok(msg));
    }

    #[test]
    fn every_message_round_trips() {
        assert_round_trip(Message::GetPeers);
        assert_round_trip(Message::Peers(vec![]));
        assert_round_trip(Message::Peers(some_addrs()));
        let full: Vec<SocketAddr> = (0..64)
            .map(|i| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(i as u128)), i))
            .collect();
        assert_round_trip(Message::Peers(full));
        assert_round_trip(item(b""));
        assert_round_trip(item(b"hello"));
        assert_round_trip(item(&vec![0x5a; MAX_ITEM_DATA]));
    }

    #[test]
    fn largest_item_fits_in_a_frame() {
        let len = encoded_len(&item(&vec![0; MAX_ITEM_DATA]));
        assert_eq!(len, 65_645);
        assert!(len <= MAX_FRAME_LEN);
    }

    #[test]
    fn layout_matches_the_table() {
        assert_eq!(bytes_of(&Message::GetPeers), [1]);
        let peers = Message::Peers(vec!["1.2.3.4:258".parse().unwrap()]);
        assert_eq!(bytes_of(&peers), [2, 1, 4, 1, 2, 3, 4, 1, 2]);
        let msg = item(b"xy");
        let Message::Item(it) = &msg else {
            unreachable!()
        };
        let bytes = bytes_of(&msg);
        assert_eq!(bytes[..3], [3, 1, 0]);
        assert_eq!(bytes[3..35], PeerId::from_u64(1).0);
        assert_eq!(bytes[35..43], 7u64.to_be_bytes());
        assert_eq!(bytes[43..51], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes[51..54], [3, 0xbe, 0xef]);
        assert_eq!(bytes[54..118], it.proof.signature.0);
        assert_eq!(bytes[118..], *b"xy");
    }

    #[test]
    fn peers_beyond_the_limit_are_not_encoded() {
        let many = vec!["1.1.1.1:1".parse().unwrap(); MAX_PEERS_PER_MESSAGE + 5];
        let msg = Message::Peers(many);
        let decoded = decode(&bytes_of(&msg)).unwrap();
        assert_eq!(
            decoded,
            Message::Peers(vec!["1.1.1.1:1".parse().unwrap(); 64])
        );
    }

    #[test]
    fn empty_body_is_truncated() {
        assert!(matches!(
            decode(&[]),
            Err(WireError::Truncated { field: "tag", .. })
        ));
    }

    #[test]
    fn unknown_tag_is_rejected() {
        for tag in [0, 13, 255] {
            assert_eq!(decode(&[tag]), Err(WireError::UnknownTag(tag)));
        }
    }

    #[test]
    fn truncated_address_is_rejected() {
        let mut bytes = bytes_of(&Message::Peers(some_addrs()));
        bytes.pop();
        assert!(matches!(
            decode(&bytes),
            Err(WireError::Truncated { field: "port", .. })
        ));
    }

    #[test]
    fn count_larger_than_the_addresses_is_rejected_before_allocating() {
        let err = decode(&[TAG_PEERS, 64, 4, 1, 2, 3, 4, 0, 1]).unwrap_err();
        let expected = WireError::Truncated {
            field: "peer addresses",
            needed: 64 * MIN_ADDR_LEN,
            remaining: 7,
        };
        assert_eq!(err, expected);
    }

    #[test]
    fn truncated_item_header_is_rejected() {
        let bytes = bytes_of(&item(b""));
        for len in 1..bytes.len() {
            assert!(matches!(
                decode(&bytes[..len]),
                Err(WireError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(
            decode(&[TAG_GET_PEERS, 0]),
            Err(WireError::TrailingBytes { extra: 1 })
        );
        let mut bytes = bytes_of(&Message::Peers(some_addrs()));
        bytes.extend_from_slice(&[1, 2]);
        assert_eq!(decode(&bytes), Err(WireError::TrailingBytes { extra: 2 }));
    }

    #[test]
    fn more_than_sixty_four_peers_is_rejected() {
        let mut bytes = vec![TAG_PEERS, 65];
        for _ in 0..65 {
            bytes.extend_from_slice(&[4, 1, 1, 1, 1, 0, 1]);
        }
        assert_eq!(decode(&bytes), Err(WireError::TooManyPeers { count: 65 }));
    }

    #[test]
    fn unknown_address_family_is_rejected() {
        let bytes = [TAG_PEERS, 1, 5, 1, 2, 3, 4, 0, 1];
        assert_eq!(decode(&bytes), Err(WireError::UnknownFamily(5)));
    }

    #[test]
    fn item_data_beyond_the_limit_is_rejected() {
        let mut bytes = bytes_of(&item(&vec![0; MAX_ITEM_DATA]));
        bytes.push(0);
        assert_eq!(
            decode(&bytes),
            Err(WireError::DataTooLong {
                len: MAX_ITEM_DATA + 1
            })
        );
    }

    fn random_sample(rng: &mut StdRng) -> Vec<SocketAddr> {
        (0..rng.random_range(0..=MAX_SHUFFLE_SAMPLE))
            .map(|_| random_addr(rng))
            .collect()
    }

    fn random_ids(rng: &mut StdRng) -> Vec<PeerId> {
        (0..rng.random_range(0..=MAX_WALK_PATH))
            .map(|_| PeerId(rng.random()))
            .collect()
    }

    fn random_message(rng: &mut StdRng) -> Message {
        match rng.random_range(0..12) {
            0 => Message::GetPeers,
            3 => Message::Join,
            4 => Message::ForwardJoin {
                joiner: PeerId(rng.random()),
                addr: random_addr(rng),
                ttl: rng.random(),
            },
            5 => Message::Shuffle(crate::proto::Shuffle {
                id: rng.random(),
                ttl: rng.random(),
                path: random_ids(rng),
                sample: random_sample(rng),
            }),
            6 => Message::ShuffleReply(crate::proto::ShuffleReply {
                id: rng.random(),
                route: random_ids(rng),
                sample: random_sample(rng),
            }),
            7 => Message::Disconnect {
                alive: rng.random(),
            },
            8 => Message::KeepAlive,
            9 => Message::IHave(random_item_ids(rng)),
            10 => Message::Graft(random_item_ids(rng)),
            11 => Message::Prune,
            1 => {
                let addrs = (0..rng.random_range(0..=MAX_PEERS_PER_MESSAGE))
                    .map(|_| random_addr(rng))
                    .collect();
                Message::Peers(addrs)
            }
            _ => {
                let mut data = vec![0u8; rng.random_range(0..100)];
                rng.fill(&mut data[..]);
                let auth = ChecksumAuth::for_host(PeerId(rng.random()));
                let (seq, hlc, ttl) = (rng.random(), Hlc(rng.random()), Ttl(rng.random()));
                let data_type = DataType(rng.random());
                Message::Item(Item::signed(
                    &*auth,
                    seq,
                    hlc,
                    ttl,
                    data_type,
                    Arc::from(data),
                ))
            }
        }
    }

    /// Sorted, without repeats (the canonical order): a few origins, runs
    /// of sequence numbers.
    fn random_item_ids(rng: &mut StdRng) -> Vec<ItemId> {
        let origins: Vec<OriginKey> = (0..3).map(|_| OriginKey(rng.random())).collect();
        let mut ids: Vec<ItemId> = (0..rng.random_range(0..40))
            .map(|_| {
                let o = &origins[rng.random_range(0..origins.len())];
                ItemId::of(o, rng.random_range(0..60))
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn random_addr(rng: &mut StdRng) -> SocketAddr {
        let ip = if rng.random() {
            IpAddr::V4(Ipv4Addr::from(rng.random::<[u8; 4]>()))
        } else {
            IpAddr::V6(Ipv6Addr::from(rng.random::<[u8; 16]>()))
        };
        SocketAddr::new(ip, rng.random())
    }

    /// Decoding must not panic, and whatever decodes must be the canonical
    /// encoding of what it decodes to (for an Item, up to the origin slot
    /// the sender picked).
    fn check_total(bytes: &[u8]) {
        if let Ok(msg) = decode(bytes) {
            let again = bytes_of(&msg);
            assert_eq!(decode(&again).as_ref(), Ok(&msg));
            if matches!(msg, Message::Item(_)) {
                assert_eq!(again.len(), bytes.len());
            } else {
                assert_eq!(again, bytes);
            }
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = StdRng::seed_from_u64(0x0031_72e5);
        for _ in 0..10_000 {
            let mut noise = vec![0u8; rng.random_range(0..80)];
            rng.fill(&mut noise[..]);
            if let Some(first) = noise.first_mut() {
                *first = rng.random_range(0..14);
            }
            check_total(&noise);

            let msg = random_message(&mut rng);
            let mut bytes = bytes_of(&msg);
            assert_eq!(decode(&bytes), Ok(msg));
            check_total(&bytes[..rng.random_range(0..=bytes.len())]);
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
            check_total(&bytes);
        }
    }
}
