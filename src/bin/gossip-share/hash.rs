//! Content hashes: BLAKE2b-256 over pieces, then over the list of piece
//! hashes (a two-level hash).
//!
//! A file of `size` bytes is cut into pieces of `piece_size` bytes (the last
//! one shorter). Each piece hash is BLAKE2b-256 of the piece's bytes. The
//! content hash is BLAKE2b-256 of
//!
//! ```text
//! "gossip-share/1" || size u64 BE || piece_size u32 BE || piece hash 0 || piece hash 1 || ...
//! ```
//!
//! so a piece list fetched from any holder is checked against the content
//! hash first, then every piece against its entry, and the size and piece
//! size that the index claims are bound to the hash as well.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

/// BLAKE2b with a 32-byte output.
type Blake2b256 = Blake2b<U32>;

/// Length of every hash in bytes.
pub const HASH_LEN: usize = 32;
/// Smallest piece size a file is cut into.
pub const MIN_PIECE_SIZE: u32 = 256 * 1024;
/// Largest piece size, and so the largest piece a holder serves in one reply.
pub const MAX_PIECE_SIZE: u32 = 16 * 1024 * 1024;
/// Most pieces in a file: the piece size grows (by doubling) until a file
/// fits in this many; a piece list is at most 16384 × 32 B = 512 KiB.
pub const MAX_PIECES: u64 = 16384;
/// Largest shareable file: [`MAX_PIECES`] pieces of [`MAX_PIECE_SIZE`] (256 GiB).
pub const MAX_FILE_SIZE: u64 = MAX_PIECES * MAX_PIECE_SIZE as u64;
/// Domain separation for the content hash.
const CONTENT_TAG: &[u8] = b"gossip-share/1";

/// A BLAKE2b-256 hash: of a piece, or a file's content hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// BLAKE2b-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Blake2b256::digest(bytes).into())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Hash> {
        if text.len() != 2 * HASH_LEN || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; HASH_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// The piece size for a file of `size` bytes: the smallest power of two from
/// [`MIN_PIECE_SIZE`] up that cuts it into at most [`MAX_PIECES`] pieces.
/// `None` when the file is larger than [`MAX_FILE_SIZE`].
pub fn piece_size_for(size: u64) -> Option<u32> {
    let mut piece = MIN_PIECE_SIZE;
    while piece_count(size, piece) > MAX_PIECES {
        piece = piece.checked_mul(2).filter(|&p| p <= MAX_PIECE_SIZE)?;
    }
    Some(piece)
}

/// Number of pieces of `piece_size` (not 0) in `size` bytes.
pub fn piece_count(size: u64, piece_size: u32) -> u64 {
    size.div_ceil(u64::from(piece_size))
}

/// Byte range `(offset, len)` of piece `index`.
pub fn piece_range(size: u64, piece_size: u32, index: u64) -> (u64, u32) {
    let offset = index * u64::from(piece_size);
    let len = (size - offset).min(u64::from(piece_size));
    // At most piece_size, so it fits in a u32.
    (offset, len as u32)
}

/// Everything a holder needs to serve a file and a fetcher to verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// File size in bytes.
    pub size: u64,
    /// Piece size in bytes (see [`piece_size_for`]).
    pub piece_size: u32,
    /// One hash per piece, in order.
    pub pieces: Vec<Hash>,
    /// The content hash over `size`, `piece_size` and `pieces`.
    pub content: Hash,
}

/// The content hash of a file described by its size, piece size and piece
/// hashes.
pub fn content_hash(size: u64, piece_size: u32, pieces: &[Hash]) -> Hash {
    let mut hasher = Blake2b256::new();
    hasher.update(CONTENT_TAG);
    hasher.update(size.to_be_bytes());
    hasher.update(piece_size.to_be_bytes());
    for piece in pieces {
        hasher.update(piece.0);
    }
    Hash(hasher.finalize().into())
}

/// Hashes a whole file from a reader that yields exactly `size` bytes.
pub fn digest_reader(mut reader: impl Read, size: u64) -> io::Result<FileDigest> {
    let piece_size = piece_size_for(size).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{size} bytes is more than the {MAX_FILE_SIZE} a share may have"),
        )
    })?;
    let count = piece_count(size, piece_size);
    let mut buf = vec![0u8; piece_size as usize];
    let mut pieces = Vec::with_capacity(count as usize);
    for index in 0..count {
        let (_, len) = piece_range(size, piece_size, index);
        let piece = &mut buf[..len as usize];
        reader.read_exact(piece)?;
        pieces.push(Hash::of(piece));
    }
    let mut extra = [0u8; 1];
    if reader.read(&mut extra)? != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the file grew while it was hashed",
        ));
    }
    let content = content_hash(size, piece_size, &pieces);
    Ok(FileDigest {
        size,
        piece_size,
        pieces,
        content,
    })
}

/// Hashes the file at `path`.
pub fn digest_file(path: &Path) -> io::Result<FileDigest> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    digest_reader(io::BufReader::with_capacity(1 << 20, file), size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_size_doubles_until_the_file_fits_in_max_pieces() {
        assert_eq!(piece_size_for(0), Some(MIN_PIECE_SIZE));
        let at_min = MAX_PIECES * u64::from(MIN_PIECE_SIZE);
        assert_eq!(piece_size_for(at_min), Some(MIN_PIECE_SIZE));
        assert_eq!(piece_size_for(at_min + 1), Some(2 * MIN_PIECE_SIZE));
        assert_eq!(piece_size_for(MAX_FILE_SIZE), Some(MAX_PIECE_SIZE));
        assert_eq!(piece_size_for(MAX_FILE_SIZE + 1), None);
    }

    #[test]
    fn ranges_cover_the_file_and_the_last_piece_is_short() {
        let size = 2 * u64::from(MIN_PIECE_SIZE) + 5;
        assert_eq!(piece_count(size, MIN_PIECE_SIZE), 3);
        assert_eq!(piece_range(size, MIN_PIECE_SIZE, 2), (size - 5, 5));
        assert_eq!(piece_count(0, MIN_PIECE_SIZE), 0);
    }

    #[test]
    fn the_content_hash_binds_size_piece_size_and_every_piece() {
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let digest = digest_reader(&data[..], data.len() as u64).unwrap();
        assert_eq!(digest.pieces.len(), 3);
        assert_eq!(digest.pieces[2], Hash::of(&data[2 * 262_144..]));
        let again = content_hash(digest.size, digest.piece_size, &digest.pieces);
        assert_eq!(again, digest.content);
        assert_ne!(
            content_hash(digest.size + 1, digest.piece_size, &digest.pieces),
            digest.content
        );
        let mut other = digest.pieces.clone();
        other.swap(0, 1);
        assert_ne!(
            content_hash(digest.size, digest.piece_size, &other),
            digest.content
        );
    }

    #[test]
    fn a_reader_shorter_or_longer_than_the_size_is_an_error() {
        assert!(digest_reader(&[1u8, 2, 3][..], 4).is_err());
        assert!(digest_reader(&[1u8, 2, 3][..], 2).is_err());
        assert!(digest_reader(&[][..], 0).is_ok());
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let hash = Hash::of(b"x");
        assert_eq!(Hash::from_hex(&hash.to_string()), Some(hash));
        assert_eq!(Hash::from_hex("ab"), None);
        assert_eq!(Hash::from_hex(&"g".repeat(64)), None);
        assert_eq!(Hash::from_hex(&"é".repeat(32)), None);
    }
}
