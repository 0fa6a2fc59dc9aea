//! The byte stream under the protocol: an authenticated, encrypted channel
//! per peer connection, and the frames inside it.
//!
//! Every connection starts with a Noise handshake (`Noise_XX_25519_ChaChaPoly_BLAKE2s`,
//! or `Noise_XXpsk0_…` with the network key of a private network) whose
//! payloads are the two sides' [`Hello`]s: each proves its long-term identity
//! by signing its Noise static key and shows a proof of work for that
//! identity ([`handshake`]). After it, the two directions are independent
//! AEAD streams ([`secure`]): the writer thread seals batches of frames into
//! chunks, the reader thread opens them in order. A chunk that was tampered
//! with, replayed, reordered or cut short fails to open, and the connection
//! closes.
//!
//! Inside the stream each frame is a `u32` big-endian length and that many
//! bytes of one [`Message`](crate::proto::Message); a length above
//! [`MAX_FRAME_LEN`] closes the connection before anything is allocated for
//! it. This module is the only one that knows how bytes sit on the wire.

pub mod handshake;
pub mod secure;

pub use self::handshake::{Local, NOISE_PATTERN, NOISE_PATTERN_PSK};
pub use self::secure::{FrameReader, FrameWriter, MAX_CHUNK_PLAIN};

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::wire::{Hello, MAX_FRAME_LEN, WireError};

/// Bytes of the length prefix in front of every frame inside the stream.
pub const LEN_PREFIX: usize = 4;

/// The writer stops gathering queued messages into one batch at this many
/// bytes (a guess: large enough to batch hundreds of small items, small
/// enough to keep the buffer cheap). A batch is sealed as one or two chunks
/// and written in one syscall.
pub const COALESCE_LIMIT: usize = 64 * 1024;

/// A write that makes no progress for this long closes the connection (a
/// guess: far above any healthy stall, short enough to free the thread).
pub const STALLED_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection failed at the transport level.
#[derive(Debug)]
pub enum TransportError {
    /// The socket failed or timed out.
    Io(io::Error),
    /// The peer closed the connection between chunks.
    Closed,
    /// The peer closed the connection inside a chunk or a frame.
    Truncated,
    /// The Noise handshake failed: a broken handshake message, or the two
    /// sides do not share the network key.
    Handshake(String),
    /// The peer's Hello did not prove its identity: bad signature, too
    /// little proof of work, or another protocol version.
    BadProof(String),
    /// A chunk did not open: tampered with, replayed, reordered or forged.
    Decrypt,
    /// A frame inside the stream announced more than [`MAX_FRAME_LEN`] bytes.
    FrameTooLarge(usize),
    /// An authenticated frame did not decode.
    Malformed(WireError),
    /// The peer is this host.
    SelfConnection,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Io(e) => write!(f, "i/o error: {e}"),
            TransportError::Closed => f.write_str("closed by peer"),
            TransportError::Truncated => f.write_str("closed by peer inside a chunk"),
            TransportError::Handshake(why) => write!(f, "handshake failed: {why}"),
            TransportError::BadProof(why) => write!(f, "peer failed to prove its identity: {why}"),
            TransportError::Decrypt => f.write_str(
                "a chunk failed authentication (tampered, replayed, reordered or forged)",
            ),
            TransportError::FrameTooLarge(n) => {
                write!(f, "frame of {n} bytes exceeds the limit of {MAX_FRAME_LEN}")
            }
            TransportError::Malformed(e) => write!(f, "malformed frame: {e}"),
            TransportError::SelfConnection => f.write_str("connected to itself"),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<io::Error> for TransportError {
    fn from(e: io::Error) -> Self {
        TransportError::Io(e)
    }
}

impl TransportError {
    /// True when the authenticated peer itself sent bytes that break the
    /// protocol, so peer accounting may blame it. A chunk that fails to open
    /// is not counted: anyone on the path can cause that.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            TransportError::FrameTooLarge(_) | TransportError::Malformed(_)
        )
    }
}

/// A connection after a successful handshake.
pub struct Established {
    /// What the peer proved and said about itself; an unspecified listen IP
    /// is replaced by the address the connection came from.
    pub remote: Hello,
    /// The read half.
    pub reader: FrameReader,
    /// The write half.
    pub writer: FrameWriter,
}

/// Runs the handshake on a fresh connection (`initiator`: this host dialed)
/// and sets up the encrypted stream. Each handshake step must complete
/// within `timeout`.
pub fn establish(
    stream: TcpStream,
    local: &Local,
    initiator: bool,
    high_priority: bool,
    timeout: Duration,
) -> Result<Established, TransportError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let peer_addr = stream.peer_addr()?;
    let mut hs_stream = stream.try_clone()?;
    let (mut remote, cipher) = handshake::run(&mut hs_stream, local, initiator, high_priority)?;
    fill_unspecified_ip(&mut remote.listen_addr, peer_addr);
    stream.set_read_timeout(None)?;
    // A peer that stops reading must not hold a writer thread forever.
    stream.set_write_timeout(Some(STALLED_WRITE_TIMEOUT))?;
    let cipher = std::sync::Arc::new(cipher);
    Ok(Established {
        remote,
        reader: FrameReader::new(stream.try_clone()?, cipher.clone()),
        writer: FrameWriter::new(stream, cipher),
    })
}

fn fill_unspecified_ip(listen: &mut SocketAddr, seen_from: SocketAddr) {
    if listen.ip().is_unspecified() {
        listen.set_ip(seen_from.ip());
    }
}
