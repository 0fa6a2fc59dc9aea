//! The encrypted stream after the handshake: chunks sealed with
//! ChaCha20-Poly1305, frames inside them.
//!
//! On the wire a chunk is a `u16` big-endian length and that many bytes of
//! ciphertext (at most 65,535, the Noise message limit: up to
//! [`MAX_CHUNK_PLAIN`] bytes of plaintext and a 16-byte tag). The plaintext of
//! the chunks, concatenated, is the frame stream: `u32` length, frame body,
//! and so on; a frame may span chunks.
//!
//! # How the reader and writer threads share the cipher state
//!
//! The handshake ends in a `snow::StatelessTransportState`, which holds the
//! two directions' keys and takes the nonce as an argument instead of keeping
//! a counter. It is immutable after the handshake, so the reader thread and
//! the writer thread share it through an `Arc` without a lock: the writer
//! seals with its own counter (0, 1, 2, … for the chunks it sends), the
//! reader opens with its own (0, 1, 2, … for the chunks it receives). A
//! chunk replayed, dropped or reordered on the way is opened with the wrong
//! nonce, fails authentication, and the connection closes.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use snow::StatelessTransportState;

use super::{COALESCE_LIMIT, LEN_PREFIX, TransportError};
use crate::proto::Message;
use crate::wire::{LinkDecoder, LinkEncoder, MAX_FRAME_LEN};

/// Bytes of the ChaCha20-Poly1305 tag on every chunk.
const TAG_LEN: usize = 16;

/// Most ciphertext in one chunk (the Noise message limit).
const MAX_CHUNK: usize = 65_535;

/// Most plaintext in one chunk.
pub const MAX_CHUNK_PLAIN: usize = MAX_CHUNK - TAG_LEN;

/// Reads frames from a connection: opens chunks in order and cuts the
/// plaintext into frames.
pub struct FrameReader {
    inner: BufReader<TcpStream>,
    cipher: Arc<StatelessTransportState>,
    nonce: u64,
    sealed: Vec<u8>,
    /// Opened plaintext; `plain[start..]` is not yet returned as frames.
    plain: Vec<u8>,
    start: usize,
    bytes: u64,
    /// The link's item compression state, this direction.
    decoder: LinkDecoder,
}

impl FrameReader {
    /// Reads from `stream`, buffering 32 KiB at a time so small chunks cost
    /// one syscall per batch, not per chunk.
    pub fn new(stream: TcpStream, cipher: Arc<StatelessTransportState>) -> FrameReader {
        FrameReader {
            inner: BufReader::with_capacity(32 * 1024, stream),
            cipher,
            nonce: 0,
            sealed: vec![0; MAX_CHUNK],
            plain: Vec::new(),
            start: 0,
            bytes: 0,
            decoder: LinkDecoder::default(),
        }
    }

    /// Bytes read off the wire so far (chunk prefixes and tags included).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads the next frame body. A frame's length is checked before any
    /// buffer grows for it; at most one chunk is buffered beyond the frame.
    pub fn read_frame(&mut self) -> Result<&[u8], TransportError> {
        let frame = self.next_frame()?;
        Ok(&self.plain[frame])
    }

    /// Where the next frame body is in `plain`.
    fn next_frame(&mut self) -> Result<std::ops::Range<usize>, TransportError> {
        self.compact();
        let len = loop {
            if let Some(len) = self.next_frame_len()? {
                break len;
            }
            self.open_chunk(true)?;
        };
        while self.plain.len() - self.start < LEN_PREFIX + len {
            self.open_chunk(false)?;
        }
        let body = self.start + LEN_PREFIX;
        self.start = body + len;
        Ok(body..body + len)
    }

    /// Reads and decodes the next message.
    pub fn read_message(&mut self) -> Result<Message, TransportError> {
        let frame = self.next_frame()?;
        self.decoder
            .decode(&self.plain[frame])
            .map_err(TransportError::Malformed)
    }

    /// The length of the next frame once its prefix is buffered.
    fn next_frame_len(&self) -> Result<Option<usize>, TransportError> {
        let Some(prefix) = self.plain[self.start..].first_chunk::<LEN_PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > MAX_FRAME_LEN {
            return Err(TransportError::FrameTooLarge(len));
        }
        Ok(Some(len))
    }

    /// Drops plaintext already returned.
    fn compact(&mut self) {
        if self.start > 0 {
            self.plain.drain(..self.start);
            self.start = 0;
        }
    }

    /// Reads one chunk and appends its plaintext. `between_frames`: an end
    /// of stream here is a clean close.
    fn open_chunk(&mut self, between_frames: bool) -> Result<(), TransportError> {
        let mut prefix = [0u8; 2];
        let at_boundary = between_frames && self.plain.len() == self.start;
        let eof = if at_boundary {
            TransportError::Closed
        } else {
            TransportError::Truncated
        };
        read_exact_or(&mut self.inner, &mut prefix, eof)?;
        let len = usize::from(u16::from_be_bytes(prefix));
        if len < TAG_LEN {
            return Err(TransportError::Decrypt);
        }
        let sealed = &mut self.sealed[..len];
        read_exact_or(&mut self.inner, sealed, TransportError::Truncated)?;
        self.bytes += (2 + len) as u64;
        let old = self.plain.len();
        self.plain.resize(old + len - TAG_LEN, 0);
        let opened = self
            .cipher
            .read_message(self.nonce, sealed, &mut self.plain[old..])
            .map_err(|_| TransportError::Decrypt)?;
        self.plain.truncate(old + opened);
        self.nonce += 1;
        Ok(())
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

/// Gathers messages into frames, seals them into chunks and writes them in
/// one syscall.
pub struct FrameWriter {
    inner: TcpStream,
    cipher: Arc<StatelessTransportState>,
    nonce: u64,
    /// Plaintext frames of the batch being gathered.
    buf: Vec<u8>,
    /// The sealed batch.
    out: Vec<u8>,
    /// The link's item compression state, this direction.
    encoder: LinkEncoder,
}

impl FrameWriter {
    /// Writes to `stream`.
    pub fn new(stream: TcpStream, cipher: Arc<StatelessTransportState>) -> FrameWriter {
        FrameWriter {
            inner: stream,
            cipher,
            nonce: 0,
            buf: Vec::with_capacity(COALESCE_LIMIT),
            out: Vec::new(),
            encoder: LinkEncoder::default(),
        }
    }

    /// Appends one message as a frame to the pending batch; returns the
    /// message's encoded length (without the prefix).
    pub fn push(&mut self, msg: &Message) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; LEN_PREFIX]);
        self.encoder.encode(msg, &mut self.buf);
        let len = self.buf.len() - start - LEN_PREFIX;
        self.buf[start..start + LEN_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
        len
    }

    /// Plaintext bytes waiting in the batch.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Seals the batch and writes it out; returns the bytes written.
    pub fn flush(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() {
            return Ok(0);
        }
        self.out.clear();
        for piece in self.buf.chunks(MAX_CHUNK_PLAIN) {
            let at = self.out.len();
            self.out.resize(at + 2 + piece.len() + TAG_LEN, 0);
            let sealed = self
                .cipher
                .write_message(self.nonce, piece, &mut self.out[at + 2..])
                .map_err(|e| io::Error::other(format!("sealing a chunk failed: {e}")))?;
            self.nonce += 1;
            // `sealed` ≤ MAX_CHUNK because `piece` ≤ MAX_CHUNK_PLAIN.
            self.out[at..at + 2].copy_from_slice(&(sealed as u16).to_be_bytes());
            self.out.truncate(at + 2 + sealed);
        }
        self.inner.write_all(&self.out)?;
        self.buf.clear();
        if self.buf.capacity() > 4 * COALESCE_LIMIT {
            self.buf.shrink_to(COALESCE_LIMIT);
            self.out.shrink_to(COALESCE_LIMIT);
        }
        Ok(self.out.len())
    }

    /// Ends the write half (the peer reads a clean end after our last chunk)
    /// and bounds how long the read half may still wait for the peer's.
    pub fn finish(&self, linger: Duration) {
        let _ = self.inner.set_read_timeout(Some(linger));
        let _ = self.inner.shutdown(Shutdown::Write);
    }

    /// Shuts the socket down in both directions, ending the reader as well.
    pub fn shutdown(&self) {
        // Fails only when already shut down.
        let _ = self.inner.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{DataType, Item, Ttl};
    use std::net::TcpListener;

    /// Two ends of a loopback connection sharing one pair of Noise keys.
    fn pair() -> (FrameWriter, FrameReader) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (a, b) = noise_pair();
        (
            FrameWriter::new(client, Arc::new(a)),
            FrameReader::new(server, Arc::new(b)),
        )
    }

    fn noise_pair() -> (StatelessTransportState, StatelessTransportState) {
        let params: snow::params::NoiseParams =
            "Noise_NN_25519_ChaChaPoly_BLAKE2s".parse().unwrap();
        let mut i = snow::Builder::new(params.clone())
            .build_initiator()
            .unwrap();
        let mut r = snow::Builder::new(params).build_responder().unwrap();
        let (mut m, mut p) = (vec![0u8; 1024], vec![0u8; 1024]);
        let n = i.write_message(&[], &mut m).unwrap();
        r.read_message(&m[..n], &mut p).unwrap();
        let n = r.write_message(&[], &mut m).unwrap();
        i.read_message(&m[..n], &mut p).unwrap();
        (
            i.into_stateless_transport_mode().unwrap(),
            r.into_stateless_transport_mode().unwrap(),
        )
    }

    fn item(n: u64, len: usize) -> Message {
        Message::Item(Item::numbered(
            n,
            Ttl(0),
            DataType(1),
            Arc::from(vec![n as u8; len]),
        ))
    }

    #[test]
    fn frames_of_every_size_cross_chunk_boundaries_intact() {
        let (mut w, mut r) = pair();
        let sizes = [0, 1, 300, 32 * 1024, 65_527, 65_000, 7, 40_000];
        let sent: Vec<Message> = (0..40)
            .map(|n| item(n, sizes[n as usize % sizes.len()]))
            .collect();
        let writer = std::thread::spawn(move || {
            for batch in sent.chunks(3) {
                for m in batch {
                    w.push(m);
                }
                w.flush().unwrap();
            }
            w.finish(Duration::from_secs(1));
            sent
        });
        let mut got = Vec::new();
        loop {
            match r.read_message() {
                Ok(m) => got.push(m),
                Err(TransportError::Closed) => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
        assert_eq!(got, writer.join().unwrap());
    }

    #[test]
    fn a_flipped_byte_fails_authentication() {
        let (a, b) = noise_pair();
        let mut sealed = vec![0u8; 64];
        let n = a.write_message(0, b"hello", &mut sealed).unwrap();
        sealed[3] ^= 1;
        let mut out = vec![0u8; 64];
        assert!(b.read_message(0, &sealed[..n], &mut out).is_err());
    }
}
