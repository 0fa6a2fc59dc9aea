//! The `api_decoder` target: the local API codec (`gossipd::api::codec`).
//!
//! One input is read as a byte stream in both directions, twice: all at once
//! and trickled a few bytes per `read` with `Interrupted` errors in between.
//! Both readings must agree, every message read must re-encode to the bytes
//! it came from (reserved fields zeroed, as the codec sends them), and every
//! error must be the one the header or the length of the input explains.
//! The first message is also decoded with `decode_header` + `decode_body`
//! at split points around its declared size.

use std::io::{self, Read};

use gossipd::api::codec::{
    self, ApiMessage, DecodeError, Direction, GOSSIP_ANNOUNCE, GOSSIP_NOTIFY, GOSSIP_VALIDATION,
    HEADER_LEN, Header, MAX_DATA_LEN, ReadError,
};

/// Runs every check on one input.
pub fn check(data: &[u8]) {
    // The first byte picks the trickle size, so the fuzzer can vary it.
    let chunk = 1 + usize::from(data.first().copied().unwrap_or(0) % 7);
    for from in [Direction::Module, Direction::Gossip] {
        let whole = read_all(data, from, Feed::new(data, usize::MAX, false));
        let trickled = read_all(data, from, Feed::new(data, chunk, true));
        assert_eq!(whole, trickled, "read_message depends on how bytes arrive");
        check_split(data, from);
    }
}

/// What reading a whole stream gave: the messages, then the error that
/// stopped it (None: a clean end).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    messages: Vec<ApiMessage>,
    error: Option<DecodeError>,
}

/// An in-memory reader handing out at most `chunk` bytes per call and, if
/// `interrupt`, an `Interrupted` error before every read that returns data.
struct Feed<'a> {
    data: &'a [u8],
    pos: usize,
    chunk: usize,
    interrupt: bool,
    interrupted: bool,
}

impl<'a> Feed<'a> {
    fn new(data: &'a [u8], chunk: usize, interrupt: bool) -> Feed<'a> {
        Feed {
            data,
            pos: 0,
            chunk,
            interrupt,
            interrupted: false,
        }
    }
}

impl Read for Feed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt && !std::mem::replace(&mut self.interrupted, true) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.interrupted = false;
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn read_all(data: &[u8], from: Direction, mut feed: Feed<'_>) -> Outcome {
    let mut messages = Vec::new();
    loop {
        let start = feed.pos;
        match codec::read_message(&mut feed, from) {
            Ok(None) => {
                assert_eq!(start, data.len(), "clean close before the end of input");
                return Outcome {
                    messages,
                    error: None,
                };
            }
            Ok(Some(msg)) => {
                check_round_trip(&data[start..feed.pos], &msg, from);
                messages.push(msg);
            }
            Err(ReadError::Decode(e)) => {
                check_error(&data[start..], &e, from);
                return Outcome {
                    messages,
                    error: Some(e),
                };
            }
            Err(ReadError::Io(e)) => panic!("an in-memory reader failed: {e}"),
        }
    }
}

/// `raw` is exactly the bytes `msg` was read from.
fn check_round_trip(raw: &[u8], msg: &ApiMessage, from: Direction) {
    let mut out = Vec::new();
    codec::encode(msg, &mut out).expect("a decoded message must be encodable");
    assert_eq!(out, canonical(raw), "re-encoding differs from the input");
    assert_eq!(
        codec::read_message(&mut &out[..], from).expect("re-encoding must decode"),
        Some(msg.clone())
    );
    let header = codec::decode_header([out[0], out[1], out[2], out[3]]).expect("valid header");
    assert_eq!(header.msg_type, msg.msg_type());
    assert_eq!(usize::from(header.size), out.len());
    let body = codec::decode_body(header, &out[HEADER_LEN..], from);
    assert_eq!(body.as_ref(), Ok(msg));
    if let ApiMessage::Announce { data, .. } | ApiMessage::Notification { data, .. } = msg {
        assert!(data.len() <= MAX_DATA_LEN);
    }
}

/// The bytes as the codec sends them: reserved fields zero (SPEC §4:
/// "ignored on receipt and sent as zero").
fn canonical(raw: &[u8]) -> Vec<u8> {
    let mut c = raw.to_vec();
    match u16::from_be_bytes([raw[2], raw[3]]) {
        GOSSIP_ANNOUNCE => c[5] = 0,
        GOSSIP_NOTIFY => c[4..6].fill(0),
        GOSSIP_VALIDATION => {
            c[6] = 0;
            c[7] &= 1;
        }
        _ => {}
    }
    c
}

/// An error from `read_message` on a stream whose unread part is `rest` must
/// be explained by the header or by the stream ending too early.
fn check_error(rest: &[u8], e: &DecodeError, from: Direction) {
    let _ = e.to_string();
    if rest.len() < HEADER_LEN {
        assert_eq!(
            *e,
            DecodeError::Truncated {
                expected: HEADER_LEN,
                got: rest.len()
            }
        );
        return;
    }
    let header = codec::decode_header([rest[0], rest[1], rest[2], rest[3]]);
    match header.and_then(|h| codec::check_header(&h, from).map(|()| h)) {
        Err(header_error) => assert_eq!(*e, header_error),
        Ok(h) => {
            let expected = usize::from(h.size);
            assert!(rest.len() < expected, "a complete message failed: {e}");
            let got = rest.len();
            assert_eq!(*e, DecodeError::Truncated { expected, got });
        }
    }
}

/// `decode_header` + `decode_body` on the first message, with bodies shorter
/// than, equal to and longer than the declared size.
fn check_split(data: &[u8], from: Direction) {
    let Some((head, rest)) = data.split_first_chunk::<HEADER_LEN>() else {
        return;
    };
    let header = match codec::decode_header(*head) {
        Ok(h) => h,
        Err(e) => {
            assert!(matches!(e, DecodeError::SizeTooSmall(s) if usize::from(s) < HEADER_LEN));
            // `Header`'s fields are public: decode_body must refuse such a
            // header on its own, whatever body comes with it.
            let header = Header {
                size: u16::from_be_bytes([head[0], head[1]]),
                msg_type: u16::from_be_bytes([head[2], head[3]]),
            };
            assert_eq!(codec::decode_body(header, rest, from), Err(e));
            return;
        }
    };
    let checked = codec::check_header(&header, from);
    let want = header.body_len();
    let mut lens = [0, want.saturating_sub(1), want, want + 1, rest.len()];
    lens.sort_unstable();
    for (i, &len) in lens.iter().enumerate() {
        if len > rest.len() || (i > 0 && lens[i - 1] == len) {
            continue;
        }
        let result = codec::decode_body(header, &rest[..len], from);
        match (&checked, result) {
            (Err(e), result) => assert_eq!(result.as_ref(), Err(e)),
            (Ok(()), Ok(msg)) => {
                assert_eq!(len, want, "a body of the wrong length decoded");
                check_round_trip(&data[..HEADER_LEN + len], &msg, from);
            }
            (Ok(()), Err(e)) => {
                let expected = usize::from(header.size);
                let actual = HEADER_LEN + len;
                let wanted = match len.cmp(&want) {
                    std::cmp::Ordering::Less => DecodeError::Truncated {
                        expected,
                        got: actual,
                    },
                    std::cmp::Ordering::Greater => DecodeError::SizeMismatch {
                        size: header.size,
                        actual,
                    },
                    std::cmp::Ordering::Equal => panic!("a well-sized body failed: {e}"),
                };
                assert_eq!(e, wanted);
            }
        }
    }
}

/// Valid encodings for the seed corpus: one of each type, and a stream of
/// several messages.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let msgs = [
        ApiMessage::Announce {
            ttl: 3,
            data_type: 7,
            data: b"hello".to_vec(),
        },
        ApiMessage::Notify { data_type: 7 },
        ApiMessage::Notification {
            msg_id: 1,
            data_type: 7,
            data: b"world".to_vec(),
        },
        ApiMessage::Validation {
            msg_id: 1,
            valid: true,
        },
    ];
    let names = ["announce", "notify", "notification", "validation"];
    let mut out: Vec<(&'static str, Vec<u8>)> = names
        .iter()
        .zip(&msgs)
        .map(|(name, msg)| (*name, encode(msg)))
        .collect();
    let stream: Vec<u8> = [&msgs[1], &msgs[0], &msgs[3]]
        .into_iter()
        .flat_map(encode)
        .collect();
    out.push(("module_stream", stream));
    out
}

fn encode(msg: &ApiMessage) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(msg, &mut out).expect("small seed messages encode");
    out
}
