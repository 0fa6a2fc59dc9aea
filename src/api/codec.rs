//! The strict codec of the local API (SPEC §4): API messages <-> bytes.
//!
//! Every message is a 4-byte header (`size` u16, `type` u16, big-endian,
//! `size` counting the header) and a body of `size - 4` bytes:
//!
//! | type | name         | sent by | body                                            |
//! | ---- | ------------ | ------- | ----------------------------------------------- |
//! | 500  | ANNOUNCE     | module  | ttl u8, reserved u8, data type u16, data (rest) |
//! | 501  | NOTIFY       | module  | reserved u16, data type u16                     |
//! | 502  | NOTIFICATION | gossip  | message id u16, data type u16, data (rest)      |
//! | 503  | VALIDATION   | module  | message id u16, 15 reserved bits + valid bit    |
//!
//! Decoding is strict: anything SPEC §4 calls malformed is a [`DecodeError`]
//! naming the reason, and the server closes the connection on it. Reserved
//! fields are ignored on receipt and sent as zero. A reader checks the header
//! with [`check_header`] before it reads (or allocates for) the body, so a
//! bad type or size is refused without waiting for bytes that may never come.
//!
//! This codec knows only the four standard types: to it, the daemon's
//! extension types 510–519 are unknown. The status extension (510 STATUS
//! QUERY, 511 STATUS REPLY) has its own strict codec in
//! [`super::status`], whose readers fall back on this one for every other
//! type.

use std::fmt;
use std::io::{self, Read};

use super::status::StatusError;

/// Length of the header that starts every message.
pub const HEADER_LEN: usize = 4;
/// Largest message, header included (the `size` field is a u16).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Largest data field of an ANNOUNCE or NOTIFICATION (8 bytes of header and
/// fixed fields less than [`MAX_MESSAGE_LEN`]).
pub const MAX_DATA_LEN: usize = MAX_MESSAGE_LEN - 8;

/// Type of GOSSIP ANNOUNCE (module → gossip).
pub const GOSSIP_ANNOUNCE: u16 = 500;
/// Type of GOSSIP NOTIFY (module → gossip).
pub const GOSSIP_NOTIFY: u16 = 501;
/// Type of GOSSIP NOTIFICATION (gossip → module).
pub const GOSSIP_NOTIFICATION: u16 = 502;
/// Type of GOSSIP VALIDATION (module → gossip).
pub const GOSSIP_VALIDATION: u16 = 503;

/// Length of the fixed fields every message type has after the header.
const FIXED_LEN: usize = 4;

/// The parsed 4-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Length of the whole message, header included.
    pub size: u16,
    /// The message type (500..=503 are known).
    pub msg_type: u16,
}

impl Header {
    /// Number of bytes that follow the header.
    pub fn body_len(&self) -> usize {
        usize::from(self.size).saturating_sub(HEADER_LEN)
    }

    /// The header as it goes on the wire.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [s0, s1] = self.size.to_be_bytes();
        let [t0, t1] = self.msg_type.to_be_bytes();
        [s0, s1, t0, t1]
    }
}

/// Parses a header; a `size` below 4 cannot even cover the header itself.
pub fn decode_header(bytes: [u8; HEADER_LEN]) -> Result<Header, DecodeError> {
    let header = Header {
        size: u16::from_be_bytes([bytes[0], bytes[1]]),
        msg_type: u16::from_be_bytes([bytes[2], bytes[3]]),
    };
    if usize::from(header.size) < HEADER_LEN {
        return Err(DecodeError::SizeTooSmall(header.size));
    }
    Ok(header)
}

/// One API message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiMessage {
    /// Spread one item (module → gossip).
    Announce {
        /// Hops the item may travel; 0 means no limit.
        ttl: u8,
        /// The item's data type.
        data_type: u16,
        /// The item's data, at most [`MAX_DATA_LEN`] bytes.
        data: Vec<u8>,
    },
    /// Subscribe this connection to a data type (module → gossip).
    Notify {
        /// The data type.
        data_type: u16,
    },
    /// An item that arrived from another host (gossip → module).
    Notification {
        /// Names the item on this host until it is validated.
        msg_id: u16,
        /// The item's data type.
        data_type: u16,
        /// The item's data, at most [`MAX_DATA_LEN`] bytes.
        data: Vec<u8>,
    },
    /// A module's verdict on a notification (module → gossip).
    Validation {
        /// The message id of the notification.
        msg_id: u16,
        /// True when the item is valid.
        valid: bool,
    },
}

impl ApiMessage {
    /// The message's type number.
    pub fn msg_type(&self) -> u16 {
        match self {
            ApiMessage::Announce { .. } => GOSSIP_ANNOUNCE,
            ApiMessage::Notify { .. } => GOSSIP_NOTIFY,
            ApiMessage::Notification { .. } => GOSSIP_NOTIFICATION,
            ApiMessage::Validation { .. } => GOSSIP_VALIDATION,
        }
    }
}

/// Who sent the bytes being decoded: a module (client) or the gossip daemon.
///
/// The daemon decodes with [`Direction::Module`], a client with
/// [`Direction::Gossip`]; each side refuses the types only it may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The bytes come from a module: ANNOUNCE, NOTIFY and VALIDATION.
    Module,
    /// The bytes come from gossip: NOTIFICATION only.
    Gossip,
}

/// Why bytes are not a well-formed API message. Every variant is a reason
/// to close the connection; a `u16` is the declared size or the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The header's size (given) is below the 4 bytes of the header itself.
    SizeTooSmall(u16),
    /// The stream ended before the message was complete.
    Truncated {
        /// Bytes the message needs (the declared size, or 4 for a header).
        expected: usize,
        /// Bytes that arrived before the end.
        got: usize,
    },
    /// More bytes were handed to [`decode_body`] than the header declares.
    SizeMismatch {
        /// The declared size.
        size: u16,
        /// Header plus the bytes given.
        actual: usize,
    },
    /// A NOTIFY whose size (given) is not exactly 8.
    NotifyLength(u16),
    /// A VALIDATION whose size (given) is not exactly 8.
    ValidationLength(u16),
    /// An ANNOUNCE whose size (given) is below 8.
    AnnounceTooShort(u16),
    /// A NOTIFICATION whose size (given) is below 8.
    NotificationTooShort(u16),
    /// A type (given) this codec does not know.
    UnknownType(u16),
    /// A module sent a NOTIFICATION, which only gossip sends.
    NotificationToGossip,
    /// Gossip sent a type (given) that only modules send.
    ModuleTypeFromGossip(u16),
    /// A malformed message of the status extension (510/511; see
    /// [`super::status`]).
    Status(StatusError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError as E;
        match self {
            E::SizeTooSmall(size) => write!(f, "message size {size} is below the 4-byte header"),
            E::Truncated { expected, got } => {
                write!(
                    f,
                    "stream ended after {got} of the {expected} bytes the message needs"
                )
            }
            E::SizeMismatch { size, actual } => {
                write!(f, "header says {size} bytes but {actual} bytes were given")
            }
            E::NotifyLength(size) => write!(f, "NOTIFY must be exactly 8 bytes, got {size}"),
            E::ValidationLength(size) => {
                write!(f, "VALIDATION must be exactly 8 bytes, got {size}")
            }
            E::AnnounceTooShort(size) => write!(f, "ANNOUNCE must be at least 8 bytes, got {size}"),
            E::NotificationTooShort(size) => {
                write!(f, "NOTIFICATION must be at least 8 bytes, got {size}")
            }
            E::UnknownType(msg_type) => write!(f, "unknown message type {msg_type}"),
            E::NotificationToGossip => f.write_str("NOTIFICATION is sent by gossip, never to it"),
            E::ModuleTypeFromGossip(msg_type) => {
                let name = type_name(*msg_type);
                write!(f, "{name} is sent by modules, never by gossip")
            }
            E::Status(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The data does not fit in one message; nothing was appended.
    DataTooLong {
        /// The data's length.
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let EncodeError::DataTooLong { len } = self;
        write!(
            f,
            "data is {len} bytes, at most {MAX_DATA_LEN} fit in one message"
        )
    }
}

impl std::error::Error for EncodeError {}

/// Why [`read_message`] failed.
#[derive(Debug)]
pub enum ReadError {
    /// The reader failed (including a read timeout).
    Io(io::Error),
    /// The bytes are not a well-formed message.
    Decode(DecodeError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read failed: {e}"),
            ReadError::Decode(e) => write!(f, "malformed message: {e}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::Decode(e) => Some(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> Self {
        ReadError::Decode(e)
    }
}

fn type_name(msg_type: u16) -> &'static str {
    match msg_type {
        GOSSIP_ANNOUNCE => "ANNOUNCE",
        GOSSIP_NOTIFY => "NOTIFY",
        GOSSIP_NOTIFICATION => "NOTIFICATION",
        GOSSIP_VALIDATION => "VALIDATION",
        _ => "unknown type",
    }
}

/// Checks that a header names a type `from` may send, with a size that type
/// allows. Needs no body, so a reader can refuse a message before reading it.
pub fn check_header(header: &Header, from: Direction) -> Result<(), DecodeError> {
    let size = header.size;
    if usize::from(size) < HEADER_LEN {
        return Err(DecodeError::SizeTooSmall(size));
    }
    let exact = usize::from(size) == HEADER_LEN + FIXED_LEN;
    let at_least = usize::from(size) >= HEADER_LEN + FIXED_LEN;
    let (from_module, size_ok, length_error) = match header.msg_type {
        GOSSIP_ANNOUNCE => (true, at_least, DecodeError::AnnounceTooShort(size)),
        GOSSIP_NOTIFY => (true, exact, DecodeError::NotifyLength(size)),
        GOSSIP_VALIDATION => (true, exact, DecodeError::ValidationLength(size)),
        GOSSIP_NOTIFICATION => (false, at_least, DecodeError::NotificationTooShort(size)),
        msg_type => return Err(DecodeError::UnknownType(msg_type)),
    };
    match (from, from_module) {
        (Direction::Module, false) => Err(DecodeError::NotificationToGossip),
        (Direction::Gossip, true) => Err(DecodeError::ModuleTypeFromGossip(header.msg_type)),
        _ if !size_ok => Err(length_error),
        _ => Ok(()),
    }
}

/// Checks that `body` is exactly what `header` declares.
pub(crate) fn check_body_len(header: &Header, body: &[u8]) -> Result<(), DecodeError> {
    let (size, actual) = (header.size, HEADER_LEN + body.len());
    let expected = usize::from(size);
    if actual < expected {
        return Err(DecodeError::Truncated {
            expected,
            got: actual,
        });
    }
    if actual > expected {
        return Err(DecodeError::SizeMismatch { size, actual });
    }
    Ok(())
}

/// Decodes one message whose header was already read; `body` is exactly
/// `header.body_len()` bytes.
pub fn decode_body(
    header: Header,
    body: &[u8],
    from: Direction,
) -> Result<ApiMessage, DecodeError> {
    check_header(&header, from)?;
    check_body_len(&header, body)?;
    // check_header guarantees at least FIXED_LEN body bytes.
    let (fixed, data) = body.split_at(FIXED_LEN);
    let fixed = [fixed[0], fixed[1], fixed[2], fixed[3]];
    Ok(assemble(header.msg_type, fixed, data.to_vec()))
}

/// Builds a message from its checked type, its fixed fields and its data
/// (empty for NOTIFY and VALIDATION).
fn assemble(msg_type: u16, fixed: [u8; FIXED_LEN], data: Vec<u8>) -> ApiMessage {
    let first = u16::from_be_bytes([fixed[0], fixed[1]]);
    let second = u16::from_be_bytes([fixed[2], fixed[3]]);
    match msg_type {
        GOSSIP_ANNOUNCE => ApiMessage::Announce {
            ttl: fixed[0],
            data_type: second,
            data,
        },
        GOSSIP_NOTIFY => ApiMessage::Notify { data_type: second },
        GOSSIP_VALIDATION => ApiMessage::Validation {
            msg_id: first,
            valid: second & 1 == 1,
        },
        _ => ApiMessage::Notification {
            msg_id: first,
            data_type: second,
            data,
        },
    }
}

/// Encodes one message, appending it to `out`. Nothing is appended when the
/// data is longer than [`MAX_DATA_LEN`].
pub fn encode(msg: &ApiMessage, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match msg {
        ApiMessage::Announce {
            ttl,
            data_type,
            data,
        } => {
            let [t0, t1] = data_type.to_be_bytes();
            append(GOSSIP_ANNOUNCE, [*ttl, 0, t0, t1], data, out)
        }
        ApiMessage::Notify { data_type } => {
            let [t0, t1] = data_type.to_be_bytes();
            append(GOSSIP_NOTIFY, [0, 0, t0, t1], &[], out)
        }
        ApiMessage::Notification {
            msg_id,
            data_type,
            data,
        } => encode_notification(*msg_id, *data_type, data, out),
        ApiMessage::Validation { msg_id, valid } => {
            let [m0, m1] = msg_id.to_be_bytes();
            append(GOSSIP_VALIDATION, [m0, m1, 0, u8::from(*valid)], &[], out)
        }
    }
}

/// Appends a NOTIFICATION built from borrowed parts, so a server can notify
/// many clients of one shared item without an owned copy per client.
pub fn encode_notification(
    msg_id: u16,
    data_type: u16,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let [m0, m1] = msg_id.to_be_bytes();
    let [t0, t1] = data_type.to_be_bytes();
    append(GOSSIP_NOTIFICATION, [m0, m1, t0, t1], data, out)
}

fn append(
    msg_type: u16,
    fixed: [u8; FIXED_LEN],
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if data.len() > MAX_DATA_LEN {
        return Err(EncodeError::DataTooLong { len: data.len() });
    }
    let size = HEADER_LEN + FIXED_LEN + data.len();
    let header = Header {
        // At most MAX_MESSAGE_LEN, checked above.
        size: size as u16,
        msg_type,
    };
    out.reserve(size);
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&fixed);
    out.extend_from_slice(data);
    Ok(())
}

/// Reads exactly one message from a blocking reader: the header, checked
/// before anything else is read, then the body it declares.
///
/// An end of stream before the first byte is a clean close (`Ok(None)`); an
/// end of stream inside a message is [`DecodeError::Truncated`].
pub fn read_message<R: Read>(r: &mut R, from: Direction) -> Result<Option<ApiMessage>, ReadError> {
    match read_header(r)? {
        Some(header) => read_body(r, header, from).map(Some),
        None => Ok(None),
    }
}

/// Reads and parses a header (`Ok(None)`: the stream ended before its first
/// byte). The type is not checked.
pub fn read_header<R: Read>(r: &mut R) -> Result<Option<Header>, ReadError> {
    let mut header_bytes = [0u8; HEADER_LEN];
    match read_full(r, &mut header_bytes)? {
        0 => Ok(None),
        HEADER_LEN => Ok(Some(decode_header(header_bytes)?)),
        got => Err(truncated(HEADER_LEN, got)),
    }
}

/// Checks a header already read (with [`check_header`]), then reads the body
/// it declares: [`read_message`] after the header, for readers that handle
/// some types themselves.
pub fn read_body<R: Read>(
    r: &mut R,
    header: Header,
    from: Direction,
) -> Result<ApiMessage, ReadError> {
    check_header(&header, from)?;
    let expected = usize::from(header.size);
    let mut fixed = [0u8; FIXED_LEN];
    let got = read_full(r, &mut fixed)?;
    if got < FIXED_LEN {
        return Err(truncated(expected, HEADER_LEN + got));
    }
    // Bounded by the u16 size field: at most MAX_DATA_LEN bytes.
    let mut data = vec![0u8; header.body_len() - FIXED_LEN];
    let got = read_full(r, &mut data)?;
    if got < data.len() {
        return Err(truncated(expected, HEADER_LEN + FIXED_LEN + got));
    }
    Ok(assemble(header.msg_type, fixed, data))
}

pub(super) fn truncated(expected: usize, got: usize) -> ReadError {
    ReadError::Decode(DecodeError::Truncated { expected, got })
}

/// Fills `buf` unless the stream ends first; returns the bytes read.
pub(super) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};
    use std::io::Cursor;

    use Direction::{Gossip, Module};

    fn bytes_of(msg: &ApiMessage) -> Vec<u8> {
        let mut out = Vec::new();
        encode(msg, &mut out).expect("encodable");
        out
    }

    fn read_one(bytes: &[u8], from: Direction) -> Result<Option<ApiMessage>, ReadError> {
        read_message(&mut Cursor::new(bytes), from)
    }

    fn decode_err(bytes: &[u8], from: Direction) -> DecodeError {
        match read_one(bytes, from) {
            Err(ReadError::Decode(e)) => e,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    fn raw(size: u16, msg_type: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Header { size, msg_type }.to_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    fn announce(ttl: u8, data_type: u16, data: &[u8]) -> ApiMessage {
        let data = data.to_vec();
        ApiMessage::Announce {
            ttl,
            data_type,
            data,
        }
    }

    fn notification(msg_id: u16, data_type: u16, data: &[u8]) -> ApiMessage {
        let data = data.to_vec();
        ApiMessage::Notification {
            msg_id,
            data_type,
            data,
        }
    }

    fn truncated(expected: usize, got: usize) -> DecodeError {
        DecodeError::Truncated { expected, got }
    }

    fn round_trip(msg: ApiMessage, from: Direction) {
        let bytes = bytes_of(&msg);
        let mut cursor = Cursor::new(&bytes[..]);
        assert_eq!(read_message(&mut cursor, from).unwrap(), Some(msg.clone()));
        assert_eq!(read_message(&mut cursor, from).unwrap(), None);
        let header = decode_header([bytes[0], bytes[1], bytes[2], bytes[3]]).unwrap();
        assert_eq!(usize::from(header.size), bytes.len());
        assert_eq!(decode_body(header, &bytes[4..], from).unwrap(), msg);
    }

    #[test]
    fn size_below_header_is_rejected() {
        for size in 0..4 {
            let e = decode_err(&raw(size, GOSSIP_NOTIFY, &[0; 8]), Module);
            assert_eq!(e, DecodeError::SizeTooSmall(size));
        }
        assert_eq!(
            decode_header([0, 3, 1, 245]),
            Err(DecodeError::SizeTooSmall(3))
        );
    }

    #[test]
    fn stream_ending_inside_a_message_is_truncated() {
        assert_eq!(decode_err(&[0, 8, 1], Module), truncated(4, 3));
        let notify = raw(8, GOSSIP_NOTIFY, &[0, 0]);
        assert_eq!(decode_err(&notify, Module), truncated(8, 6));
        let announce = raw(20, GOSSIP_ANNOUNCE, &[1, 0, 0, 7, 9, 9]);
        assert_eq!(decode_err(&announce, Module), truncated(20, 10));
    }

    #[test]
    fn end_of_stream_before_a_message_is_a_clean_close() {
        assert_eq!(read_one(&[], Module).unwrap(), None);
    }

    #[test]
    fn body_longer_than_declared_size_is_rejected() {
        let header = Header {
            size: 8,
            msg_type: GOSSIP_NOTIFY,
        };
        let e = decode_body(header, &[0; 6], Module).unwrap_err();
        assert_eq!(
            e,
            DecodeError::SizeMismatch {
                size: 8,
                actual: 10
            }
        );
    }

    #[test]
    fn body_shorter_than_declared_size_is_truncated() {
        let header = Header {
            size: 12,
            msg_type: GOSSIP_ANNOUNCE,
        };
        let e = decode_body(header, &[0; 5], Module).unwrap_err();
        assert_eq!(e, truncated(12, 9));
    }

    #[test]
    fn notify_not_eight_bytes_is_rejected() {
        let e = decode_err(&raw(10, GOSSIP_NOTIFY, &[0; 6]), Module);
        assert_eq!(e, DecodeError::NotifyLength(10));
        assert_eq!(e.to_string(), "NOTIFY must be exactly 8 bytes, got 10");
        let e = decode_err(&raw(6, GOSSIP_NOTIFY, &[0; 2]), Module);
        assert_eq!(e, DecodeError::NotifyLength(6));
    }

    #[test]
    fn validation_not_eight_bytes_is_rejected() {
        let e = decode_err(&raw(9, GOSSIP_VALIDATION, &[0; 5]), Module);
        assert_eq!(e, DecodeError::ValidationLength(9));
        let e = decode_err(&raw(4, GOSSIP_VALIDATION, &[]), Module);
        assert_eq!(e, DecodeError::ValidationLength(4));
    }

    #[test]
    fn announce_shorter_than_eight_bytes_is_rejected() {
        let e = decode_err(&raw(7, GOSSIP_ANNOUNCE, &[0; 3]), Module);
        assert_eq!(e, DecodeError::AnnounceTooShort(7));
    }

    #[test]
    fn unknown_type_is_rejected() {
        for msg_type in [0, 499, 504, 510, 519, u16::MAX] {
            let e = decode_err(&raw(8, msg_type, &[0; 4]), Module);
            assert_eq!(e, DecodeError::UnknownType(msg_type));
        }
    }

    #[test]
    fn notification_sent_to_gossip_is_rejected() {
        let e = decode_err(&bytes_of(&notification(1, 2, &[3])), Module);
        assert_eq!(e, DecodeError::NotificationToGossip);
    }

    #[test]
    fn module_types_sent_by_gossip_are_rejected() {
        let messages = [
            announce(1, 2, &[]),
            ApiMessage::Notify { data_type: 2 },
            ApiMessage::Validation {
                msg_id: 1,
                valid: true,
            },
        ];
        for msg in messages {
            let e = decode_err(&bytes_of(&msg), Gossip);
            assert_eq!(e, DecodeError::ModuleTypeFromGossip(msg.msg_type()));
        }
    }

    #[test]
    fn notification_shorter_than_eight_bytes_is_rejected() {
        let e = decode_err(&raw(5, GOSSIP_NOTIFICATION, &[0]), Gossip);
        assert_eq!(e, DecodeError::NotificationTooShort(5));
    }

    #[test]
    fn reserved_fields_are_ignored_on_receipt() {
        let bytes = raw(9, GOSSIP_ANNOUNCE, &[3, 0xff, 0, 7, 42]);
        assert_eq!(
            read_one(&bytes, Module).unwrap(),
            Some(announce(3, 7, &[42]))
        );
        let bytes = raw(8, GOSSIP_NOTIFY, &[0xab, 0xcd, 1, 2]);
        let expected = ApiMessage::Notify { data_type: 0x0102 };
        assert_eq!(read_one(&bytes, Module).unwrap(), Some(expected));
        for (low, valid) in [(0xfe, false), (0xff, true)] {
            let bytes = raw(8, GOSSIP_VALIDATION, &[0, 9, 0xff, low]);
            let expected = ApiMessage::Validation { msg_id: 9, valid };
            assert_eq!(read_one(&bytes, Module).unwrap(), Some(expected));
        }
    }

    #[test]
    fn reserved_fields_are_sent_as_zero() {
        let bytes = bytes_of(&announce(5, 0x0102, &[]));
        assert_eq!(bytes, [0, 8, 1, 244, 5, 0, 1, 2]);
        let bytes = bytes_of(&ApiMessage::Notify { data_type: 0x0304 });
        assert_eq!(bytes, [0, 8, 1, 245, 0, 0, 3, 4]);
        let bytes = bytes_of(&ApiMessage::Validation {
            msg_id: 0x0506,
            valid: true,
        });
        assert_eq!(bytes, [0, 8, 1, 247, 5, 6, 0, 1]);
    }

    #[test]
    fn every_message_type_round_trips() {
        for data in [&[][..], b"hello", &[0xa5; MAX_DATA_LEN]] {
            round_trip(announce(0, 65535, data), Module);
            round_trip(notification(65535, 0, data), Gossip);
        }
        round_trip(ApiMessage::Notify { data_type: 77 }, Module);
        for valid in [false, true] {
            round_trip(ApiMessage::Validation { msg_id: 3, valid }, Module);
        }
    }

    #[test]
    fn largest_message_fills_the_size_field() {
        let bytes = bytes_of(&announce(1, 1, &[0; MAX_DATA_LEN]));
        assert_eq!(bytes.len(), MAX_MESSAGE_LEN);
        assert_eq!(bytes[..2], [0xff, 0xff]);
    }

    #[test]
    fn encode_rejects_data_one_byte_too_long() {
        let mut out = vec![1, 2];
        let data = vec![0; MAX_DATA_LEN + 1];
        let err = EncodeError::DataTooLong {
            len: MAX_DATA_LEN + 1,
        };
        assert_eq!(encode(&announce(1, 1, &data), &mut out), Err(err.clone()));
        assert_eq!(encode_notification(1, 1, &data, &mut out), Err(err));
        assert_eq!(out, [1, 2]);
    }

    #[test]
    fn encode_notification_matches_encode_and_appends() {
        let mut out = vec![9];
        encode_notification(4, 5, b"abc", &mut out).unwrap();
        assert_eq!(out[0], 9);
        assert_eq!(out[1..], bytes_of(&notification(4, 5, b"abc"))[..]);
    }

    #[test]
    fn back_to_back_messages_are_read_one_at_a_time() {
        let first = ApiMessage::Notify { data_type: 1 };
        let second = announce(2, 1, &[1, 2, 3]);
        let mut bytes = bytes_of(&first);
        encode(&second, &mut bytes).unwrap();
        let mut cursor = Cursor::new(&bytes[..]);
        assert_eq!(read_message(&mut cursor, Module).unwrap(), Some(first));
        assert_eq!(read_message(&mut cursor, Module).unwrap(), Some(second));
        assert_eq!(read_message(&mut cursor, Module).unwrap(), None);
    }

    /// A random message and the direction it travels in.
    fn random_message(rng: &mut StdRng) -> (ApiMessage, Direction) {
        let mut data = vec![0u8; rng.random_range(0..64)];
        rng.fill(&mut data[..]);
        match rng.random_range(0..4) {
            0 => (announce(rng.random(), rng.random(), &data), Module),
            1 => (
                ApiMessage::Notify {
                    data_type: rng.random(),
                },
                Module,
            ),
            2 => (notification(rng.random(), rng.random(), &data), Gossip),
            _ => {
                let (msg_id, valid) = (rng.random(), rng.random());
                (ApiMessage::Validation { msg_id, valid }, Module)
            }
        }
    }

    /// Reads messages until the stream ends or breaks; every message read
    /// must survive an encode/decode round trip.
    fn read_all(bytes: &[u8], from: Direction) {
        let mut cursor = Cursor::new(bytes);
        while let Ok(Some(msg)) = read_message(&mut cursor, from) {
            assert_eq!(read_one(&bytes_of(&msg), from).unwrap(), Some(msg));
        }
    }

    #[test]
    fn random_input_never_panics_and_messages_round_trip() {
        let mut rng = StdRng::seed_from_u64(0x05ee_da91);
        for _ in 0..10_000 {
            let (msg, from) = random_message(&mut rng);
            let mut bytes = bytes_of(&msg);
            assert_eq!(read_one(&bytes, from).unwrap(), Some(msg));

            // Corrupt a valid encoding, then feed it both ways.
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
            bytes.truncate(rng.random_range(0..=bytes.len()));
            read_all(&bytes, Module);
            read_all(&bytes, Gossip);

            // Plain noise, with sizes below 256 and types near the known ones.
            let mut noise = vec![0u8; rng.random_range(0..40)];
            rng.fill(&mut noise[..]);
            if noise.len() >= 4 {
                noise[0] = 0;
                noise[2..4].copy_from_slice(&rng.random_range(498u16..506).to_be_bytes());
            }
            read_all(&noise, Module);
            read_all(&noise, Gossip);
        }
    }
}
