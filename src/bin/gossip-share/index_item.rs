//! The index item: what a holder announces by gossip about one file.
//!
//! Version 1, all integers big-endian:
//!
//! ```text
//! version    u8    1
//! kind       u8    1 = offer (the holder serves this file), 2 = withdrawal
//! seq        u64   the holder's announcement counter; a higher seq replaces a lower
//! family     u8    4 or 6
//! ip         4 or 16 bytes
//! port       u16   the holder's piece server (never 0)
//! content    32    content hash (see hash.rs)
//! size       u64   file size, at most hash::MAX_FILE_SIZE
//! piece_size u32   must equal hash::piece_size_for(size)
//! name_len   u8    1..=255
//! name       name_len bytes of UTF-8 (see check_name)
//! ```
//!
//! An item is at most [`MAX_ITEM_LEN`] bytes; nothing may follow the name.
//! Decoding is total: any other input is an [`ItemError`].

use std::fmt;
use std::net::SocketAddr;

use crate::bytes::{FieldError, Reader, Truncated, put_addr};
use crate::hash::{HASH_LEN, Hash, MAX_FILE_SIZE, piece_size_for};

/// The only version this program writes and reads.
pub const VERSION: u8 = 1;
/// Longest file name, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest encoded item (IPv6 holder, longest name).
pub const MAX_ITEM_LEN: usize = 1 + 1 + 8 + 1 + 16 + 2 + HASH_LEN + 8 + 4 + 1 + MAX_NAME_LEN;

const OFFER: u8 = 1;
const WITHDRAWAL: u8 = 2;

/// Whether the holder offers the file or stopped offering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The holder serves the file.
    Offer,
    /// The holder no longer serves the file (it was deleted or changed).
    Withdrawal,
}

/// One decoded, checked index item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexItem {
    /// Offer or withdrawal.
    pub kind: Kind,
    /// The holder's announcement counter.
    pub seq: u64,
    /// Where the holder serves pieces.
    pub holder: SocketAddr,
    /// The file's content hash.
    pub content: Hash,
    /// The file's size in bytes.
    pub size: u64,
    /// The file's piece size.
    pub piece_size: u32,
    /// The file's name (checked by [`check_name`]).
    pub name: String,
}

/// Why bytes are not an index item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemError {
    /// Fewer bytes than the fields need.
    Truncated,
    /// Bytes after the name.
    TrailingBytes(usize),
    /// A version (given) other than [`VERSION`].
    Version(u8),
    /// A kind (given) other than offer or withdrawal.
    Kind(u8),
    /// An address family (given) other than 4 or 6.
    Family(u8),
    /// Port 0.
    PortZero,
    /// A size (given) above [`MAX_FILE_SIZE`].
    TooLarge(u64),
    /// A piece size (given) other than the one the size implies.
    PieceSize(u32),
    /// A bad name, with the reason.
    Name(&'static str),
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemError::Truncated => f.write_str("truncated"),
            ItemError::TrailingBytes(n) => write!(f, "{n} bytes after the name"),
            ItemError::Version(v) => write!(f, "unknown version {v}"),
            ItemError::Kind(k) => write!(f, "unknown kind {k}"),
            ItemError::Family(a) => write!(f, "unknown address family {a}"),
            ItemError::PortZero => f.write_str("holder port 0"),
            ItemError::TooLarge(size) => write!(f, "size {size} above {MAX_FILE_SIZE}"),
            ItemError::PieceSize(p) => write!(f, "piece size {p} does not match the size"),
            ItemError::Name(why) => write!(f, "bad name: {why}"),
        }
    }
}

impl std::error::Error for ItemError {}

impl From<Truncated> for ItemError {
    fn from(_: Truncated) -> ItemError {
        ItemError::Truncated
    }
}

impl From<FieldError> for ItemError {
    fn from(e: FieldError) -> ItemError {
        match e {
            FieldError::Truncated => ItemError::Truncated,
            FieldError::Family(f) => ItemError::Family(f),
        }
    }
}

/// Checks a file name: 1..=255 bytes, no `/`, `\`, control characters, no
/// leading `.` (so never `.` or `..`; hidden files are not shared either).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("longer than 255 bytes");
    }
    if name.starts_with('.') {
        return Err("starts with '.'");
    }
    if name.contains(['/', '\\']) {
        return Err("contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

impl IndexItem {
    /// Appends the encoding; the item must be well-formed (it was built from
    /// a checked name and a digest).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_ITEM_LEN);
        out.push(VERSION);
        out.push(match self.kind {
            Kind::Offer => OFFER,
            Kind::Withdrawal => WITHDRAWAL,
        });
        out.extend_from_slice(&self.seq.to_be_bytes());
        put_addr(&mut out, self.holder);
        out.extend_from_slice(&self.content.0);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.piece_size.to_be_bytes());
        // check_name bounds the name to 255 bytes.
        out.push(self.name.len() as u8);
        out.extend_from_slice(self.name.as_bytes());
        out
    }

    /// Decodes and checks one item.
    pub fn decode(bytes: &[u8]) -> Result<IndexItem, ItemError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(ItemError::Version(version));
        }
        let kind = match r.u8()? {
            OFFER => Kind::Offer,
            WITHDRAWAL => Kind::Withdrawal,
            other => return Err(ItemError::Kind(other)),
        };
        let seq = r.u64()?;
        let holder = r.addr()?;
        if holder.port() == 0 {
            return Err(ItemError::PortZero);
        }
        let content = Hash(r.array()?);
        let size = r.u64()?;
        let piece_size = r.u32()?;
        let expected = piece_size_for(size).ok_or(ItemError::TooLarge(size))?;
        if piece_size != expected {
            return Err(ItemError::PieceSize(piece_size));
        }
        let name_len = usize::from(r.u8()?);
        let name = r.take(name_len)?;
        if !r.rest().is_empty() {
            return Err(ItemError::TrailingBytes(r.rest().len()));
        }
        let name = std::str::from_utf8(name).map_err(|_| ItemError::Name("not UTF-8"))?;
        check_name(name).map_err(ItemError::Name)?;
        Ok(IndexItem {
            kind,
            seq,
            holder,
            content,
            size,
            piece_size,
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{MAX_PIECE_SIZE, MIN_PIECE_SIZE};

    fn item(name: &str) -> IndexItem {
        IndexItem {
            kind: Kind::Offer,
            seq: 42,
            holder: "127.0.0.1:7080".parse().unwrap(),
            content: Hash::of(b"content"),
            size: 1000,
            piece_size: MIN_PIECE_SIZE,
            name: name.to_string(),
        }
    }

    fn decode_err(bytes: &[u8]) -> ItemError {
        IndexItem::decode(bytes).expect_err("should not decode")
    }

    #[test]
    fn offers_and_withdrawals_round_trip_over_ipv4_and_ipv6() {
        let mut a = item("a.txt");
        assert_eq!(IndexItem::decode(&a.encode()), Ok(a.clone()));
        a.kind = Kind::Withdrawal;
        a.holder = "[::1]:9".parse().unwrap();
        a.name = "é".repeat(127);
        a.size = MAX_FILE_SIZE;
        a.piece_size = MAX_PIECE_SIZE;
        assert_eq!(IndexItem::decode(&a.encode()), Ok(a.clone()));
        a.name = "x".repeat(MAX_NAME_LEN);
        assert_eq!(a.encode().len(), MAX_ITEM_LEN);
    }

    #[test]
    fn every_truncation_and_any_trailing_byte_is_refused() {
        let bytes = item("file").encode();
        for len in 0..bytes.len() {
            assert_eq!(decode_err(&bytes[..len]), ItemError::Truncated, "len {len}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode_err(&long), ItemError::TrailingBytes(1));
    }

    #[test]
    fn bad_fixed_fields_are_refused_with_their_reason() {
        let bytes = item("file").encode();
        let with = |i: usize, v: u8| {
            let mut b = bytes.clone();
            b[i] = v;
            decode_err(&b)
        };
        assert_eq!(with(0, 2), ItemError::Version(2));
        assert_eq!(with(1, 3), ItemError::Kind(3));
        assert_eq!(with(10, 5), ItemError::Family(5));
        let mut zero_port = bytes.clone();
        zero_port[15..17].copy_from_slice(&[0, 0]);
        assert_eq!(decode_err(&zero_port), ItemError::PortZero);
        let mut huge = item("file");
        huge.size = MAX_FILE_SIZE + 1;
        assert_eq!(
            decode_err(&huge.encode()),
            ItemError::TooLarge(MAX_FILE_SIZE + 1)
        );
        let mut odd = item("file");
        odd.piece_size = 1000;
        assert_eq!(decode_err(&odd.encode()), ItemError::PieceSize(1000));
    }

    #[test]
    fn names_with_separators_dots_controls_or_bad_utf8_are_refused() {
        for name in ["", ".", "..", ".hidden", "a/b", "..\\x", "a\nb", "a\0b"] {
            let err = decode_err(&item(name).encode());
            assert!(matches!(err, ItemError::Name(_)), "{name:?}: {err:?}");
        }
        let mut bytes = item("ab").encode();
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        assert_eq!(decode_err(&bytes), ItemError::Name("not UTF-8"));
        assert!(check_name(&"x".repeat(256)).is_err());
        assert!(check_name("report 2024 (final).pdf").is_ok());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let good = item("seed").encode();
        for round in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = good.clone();
            let i = (state as usize) % bytes.len();
            bytes[i] ^= (state >> 32) as u8 | 1;
            bytes.truncate((state >> 40) as usize % (bytes.len() + 1));
            if let Some(first) = bytes.first_mut().filter(|_| round % 2 == 0) {
                *first = VERSION;
            }
            let _ = IndexItem::decode(&bytes);
        }
    }
}
