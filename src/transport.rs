//! The byte stream under the protocol: framing and the connection handshake.
//!
//! Every peer-to-peer connection starts with both sides sending a
//! [`Hello`] frame; after that each frame carries one
//! [`Message`]. A frame is a `u32` big-endian length followed by that many
//! bytes; a length above [`MAX_FRAME_LEN`] closes the connection before any
//! memory is allocated for it.
//!
//! This module is the only place that knows how frames sit on the wire, so
//! authenticated encryption slots in here (a sealed frame per message) without
//! touching the core, the node thread or the connection threads.

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::proto::Message;
use crate::wire::{self, Hello, MAX_FRAME_LEN, WireError};

/// Bytes of the length prefix in front of every frame.
pub const LEN_PREFIX: usize = 4;

/// The writer stops gathering queued messages into one write at this many
/// bytes (a guess: large enough to batch hundreds of small items, small
/// enough to keep the buffer cheap).
pub const COALESCE_LIMIT: usize = 64 * 1024;

/// A write that makes no progress for this long closes the connection (a
/// guess: far above any healthy stall, short enough to free the thread).
pub const STALLED_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection failed at the transport level.
#[derive(Debug)]
pub enum TransportError {
    /// The socket failed or timed out.
    Io(io::Error),
    /// The peer closed the connection between frames.
    Closed,
    /// The peer closed the connection inside a frame.
    Truncated,
    /// A frame announced more than [`MAX_FRAME_LEN`] bytes.
    FrameTooLarge(usize),
    /// A frame did not decode.
    Malformed(WireError),
    /// The peer is this host.
    SelfConnection,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Io(e) => write!(f, "i/o error: {e}"),
            TransportError::Closed => f.write_str("closed by peer"),
            TransportError::Truncated => f.write_str("closed by peer inside a frame"),
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
    /// True when the peer sent bytes that break the protocol (as opposed to
    /// the connection just ending): peer accounting counts these.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            TransportError::FrameTooLarge(_) | TransportError::Malformed(_)
        )
    }
}

/// Reads frames from a connection, reusing one buffer.
pub struct FrameReader {
    inner: BufReader<TcpStream>,
    buf: Vec<u8>,
    bytes: u64,
}

impl FrameReader {
    /// Reads from `stream`, buffering 32 KiB at a time so small frames cost
    /// one syscall per batch, not per frame.
    pub fn new(stream: TcpStream) -> FrameReader {
        FrameReader {
            inner: BufReader::with_capacity(32 * 1024, stream),
            buf: Vec::new(),
            bytes: 0,
        }
    }

    /// Reads the next frame body. The length is checked before the buffer grows.
    pub fn read_frame(&mut self) -> Result<&[u8], TransportError> {
        let mut prefix = [0u8; LEN_PREFIX];
        read_exact_or(&mut self.inner, &mut prefix, TransportError::Closed)?;
        let len = u32::from_be_bytes(prefix) as usize;
        if len > MAX_FRAME_LEN {
            return Err(TransportError::FrameTooLarge(len));
        }
        self.buf.resize(len, 0);
        read_exact_or(&mut self.inner, &mut self.buf, TransportError::Truncated)?;
        self.bytes += (LEN_PREFIX + len) as u64;
        Ok(&self.buf)
    }

    /// Bytes of complete frames read so far, length prefixes included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads and decodes the next message.
    pub fn read_message(&mut self) -> Result<Message, TransportError> {
        let body = self.read_frame()?;
        wire::decode(body).map_err(TransportError::Malformed)
    }
}

fn read_exact_or(
    r: &mut impl Read,
    buf: &mut [u8],
    eof: TransportError,
) -> Result<(), TransportError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Err(eof),
            Ok(0) => return Err(TransportError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TransportError::Io(e)),
        }
    }
    Ok(())
}

/// Gathers messages into frames and writes them in one syscall.
pub struct FrameWriter {
    inner: TcpStream,
    buf: Vec<u8>,
}

impl FrameWriter {
    /// Writes to `stream`.
    pub fn new(stream: TcpStream) -> FrameWriter {
        FrameWriter {
            inner: stream,
            buf: Vec::with_capacity(COALESCE_LIMIT),
        }
    }

    /// Appends one message as a frame to the pending batch; returns the
    /// message's encoded length (without the prefix).
    pub fn push(&mut self, msg: &Message) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; LEN_PREFIX]);
        wire::encode(msg, &mut self.buf);
        patch_len(&mut self.buf, start);
        self.buf.len() - start - LEN_PREFIX
    }

    /// Bytes waiting in the batch.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Writes the batch out; returns how many bytes that was.
    pub fn flush(&mut self) -> io::Result<usize> {
        let written = self.buf.len();
        if written > 0 {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
            if self.buf.capacity() > 4 * COALESCE_LIMIT {
                self.buf.shrink_to(COALESCE_LIMIT);
            }
        }
        Ok(written)
    }
}

impl FrameWriter {
    /// Ends the write half (the peer reads EOF after our last frame) and
    /// bounds how long the read half may still wait for the peer's.
    pub fn finish(&self, linger: Duration) {
        let _ = self.inner.set_read_timeout(Some(linger));
        let _ = self.inner.shutdown(std::net::Shutdown::Write);
    }

    /// Shuts the socket down in both directions, ending the reader as well.
    pub fn shutdown(&self) {
        // Fails only when already shut down.
        let _ = self.inner.shutdown(std::net::Shutdown::Both);
    }
}

fn patch_len(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start - LEN_PREFIX) as u32;
    buf[start..start + LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
}

/// A connection after a successful handshake.
pub struct Established {
    /// What the peer said about itself; an unspecified listen IP is replaced
    /// by the address the connection came from.
    pub remote: Hello,
    /// The read half.
    pub reader: FrameReader,
    /// The write half.
    pub writer: FrameWriter,
}

/// Runs the handshake on a fresh connection: send our hello, read theirs,
/// each within `timeout`.
pub fn establish(
    stream: TcpStream,
    local: &Hello,
    timeout: Duration,
) -> Result<Established, TransportError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let peer_addr = stream.peer_addr()?;
    let mut writer = FrameWriter::new(stream.try_clone()?);
    let start = writer.buf.len();
    writer.buf.extend_from_slice(&[0u8; LEN_PREFIX]);
    wire::encode_hello(local, &mut writer.buf);
    patch_len(&mut writer.buf, start);
    writer.flush()?;
    let mut reader = FrameReader::new(stream.try_clone()?);
    let mut remote = wire::decode_hello(reader.read_frame()?).map_err(TransportError::Malformed)?;
    if remote.peer_id == local.peer_id {
        return Err(TransportError::SelfConnection);
    }
    fill_unspecified_ip(&mut remote.listen_addr, peer_addr);
    stream.set_read_timeout(None)?;
    // A peer that stops reading must not hold a writer thread forever.
    stream.set_write_timeout(Some(STALLED_WRITE_TIMEOUT))?;
    Ok(Established {
        remote,
        reader,
        writer,
    })
}

fn fill_unspecified_ip(listen: &mut SocketAddr, seen_from: SocketAddr) {
    if listen.ip().is_unspecified() {
        listen.set_ip(seen_from.ip());
    }
}
