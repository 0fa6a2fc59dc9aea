//! The piece protocol spoken on a holder's listener: fetchers ask for piece
//! lists and pieces, the local `list` / `query` / `get` commands for the
//! network index.
//!
//! Every frame is `type u8, len u32 BE, body (len bytes)`; the reader checks
//! the type and the length against that type's limit before it allocates.
//! A connection carries any number of request/response pairs in order.
//!
//! ```text
//! fetcher                          holder
//!   PIECE_LIST  content hash  -->
//!                             <--  PIECE_LIST  size, piece_size, piece hashes
//!   PIECE  hash, offset, len  -->
//!                             <--  PIECE  data (exactly len bytes)
//!   LIST                      -->
//!                             <--  FILES  every offered file version
//!   QUERY  name               -->
//!                             <--  FILES  the versions of that name
//!                             <--  ERROR  code, text   (instead of any reply)
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use crate::bytes::{FieldError, Reader, Truncated, put_addr};
use crate::hash::{HASH_LEN, Hash, MAX_PIECE_SIZE, MAX_PIECES, piece_count, piece_size_for};
use crate::index::FileRow;
use crate::index_item::{MAX_NAME_LEN, check_name};

const PIECE_LIST_REQ: u8 = 0x01;
const PIECE_REQ: u8 = 0x02;
const LIST_REQ: u8 = 0x10;
const QUERY_REQ: u8 = 0x11;
const PIECE_LIST_REPLY: u8 = 0x81;
const PIECE_REPLY: u8 = 0x82;
const FILES_REPLY: u8 = 0x90;
const ERROR_REPLY: u8 = 0xee;

/// Largest FILES reply body; a holder stops adding rows before it.
pub const MAX_FILES_LEN: usize = 16 * 1024 * 1024;
/// Largest error text.
pub const MAX_ERROR_TEXT: usize = 1024;
/// Most holders listed per file version in a FILES reply.
pub const MAX_HOLDERS_PER_ROW: usize = 1024;
const PIECE_LIST_HEADER: usize = 8 + 4;

/// A request to a holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The piece hashes of a file.
    PieceList(Hash),
    /// `len` bytes from `offset` of a file.
    Piece {
        /// The file's content hash.
        content: Hash,
        /// First byte.
        offset: u64,
        /// Bytes wanted, 1..=MAX_PIECE_SIZE.
        len: u32,
    },
    /// Every file version in the network index.
    List,
    /// The versions and holders of one name.
    Query(String),
}

/// Why an error reply was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The holder does not have the file (or that range of it).
    NotFound,
    /// The request was malformed.
    BadRequest,
    /// The holder could not read the file.
    Internal,
    /// A code this program does not know.
    Other(u8),
}

impl ErrorCode {
    fn to_u8(self) -> u8 {
        match self {
            ErrorCode::NotFound => 1,
            ErrorCode::BadRequest => 2,
            ErrorCode::Internal => 3,
            ErrorCode::Other(code) => code,
        }
    }

    fn from_u8(code: u8) -> ErrorCode {
        match code {
            1 => ErrorCode::NotFound,
            2 => ErrorCode::BadRequest,
            3 => ErrorCode::Internal,
            other => ErrorCode::Other(other),
        }
    }
}

/// A holder's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The piece hashes of a file, with the size and piece size they cut.
    PieceList {
        /// File size.
        size: u64,
        /// Piece size.
        piece_size: u32,
        /// One hash per piece.
        pieces: Vec<Hash>,
    },
    /// The bytes of a piece.
    Piece(Vec<u8>),
    /// File versions and their holders.
    Files(Vec<FileRow>),
    /// The request failed.
    Error(ErrorCode, String),
}

/// Why a frame could not be read or decoded.
#[derive(Debug)]
pub enum WireError {
    /// The socket failed (including a timeout) or closed inside a frame.
    Io(io::Error),
    /// A frame type (given) that is not expected here.
    UnknownType(u8),
    /// A body length above the type's limit.
    TooLong {
        /// The frame type.
        frame_type: u8,
        /// The declared length.
        len: u32,
    },
    /// A body that does not decode, with the reason.
    Malformed(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "{e}"),
            WireError::UnknownType(t) => write!(f, "unknown frame type {t:#04x}"),
            WireError::TooLong { frame_type, len } => {
                write!(
                    f,
                    "frame {frame_type:#04x} of {len} bytes is over its limit"
                )
            }
            WireError::Malformed(why) => write!(f, "malformed frame: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> WireError {
        WireError::Io(e)
    }
}

impl From<Truncated> for WireError {
    fn from(_: Truncated) -> WireError {
        WireError::Malformed("truncated")
    }
}

impl From<FieldError> for WireError {
    fn from(e: FieldError) -> WireError {
        match e {
            FieldError::Truncated => WireError::Malformed("truncated"),
            FieldError::Family(_) => WireError::Malformed("unknown address family"),
        }
    }
}

/// Largest body of a request frame type; `None` for unknown types.
fn request_limit(frame_type: u8) -> Option<usize> {
    match frame_type {
        PIECE_LIST_REQ => Some(HASH_LEN),
        PIECE_REQ => Some(HASH_LEN + 8 + 4),
        LIST_REQ => Some(0),
        QUERY_REQ => Some(MAX_NAME_LEN),
        _ => None,
    }
}

/// Largest body of a response frame type; `None` for unknown types.
fn response_limit(frame_type: u8) -> Option<usize> {
    match frame_type {
        PIECE_LIST_REPLY => Some(PIECE_LIST_HEADER + MAX_PIECES as usize * HASH_LEN),
        PIECE_REPLY => Some(MAX_PIECE_SIZE as usize),
        FILES_REPLY => Some(MAX_FILES_LEN),
        ERROR_REPLY => Some(1 + MAX_ERROR_TEXT),
        _ => None,
    }
}

/// Reads one frame: `Ok(None)` on a clean end of stream before its first
/// byte. The body is allocated only after its length passed `limit`.
fn read_frame(
    r: &mut impl Read,
    limit: fn(u8) -> Option<usize>,
) -> Result<Option<(u8, Vec<u8>)>, WireError> {
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let frame_type = header[0];
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let max = limit(frame_type).ok_or(WireError::UnknownType(frame_type))?;
    if len as usize > max {
        return Err(WireError::TooLong { frame_type, len });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(Some((frame_type, body)))
}

/// Writes one frame whose body is `parts` concatenated.
fn write_frame(w: &mut impl Write, frame_type: u8, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(len).map_err(|_| io::Error::other("frame body over 4 GiB"))?;
    let mut head = Vec::with_capacity(256);
    head.push(frame_type);
    head.extend_from_slice(&len.to_be_bytes());
    for part in parts {
        if part.len() <= 4096 {
            head.extend_from_slice(part);
        } else {
            w.write_all(&head)?;
            head.clear();
            w.write_all(part)?;
        }
    }
    w.write_all(&head)
}

impl Request {
    /// Writes the request.
    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        match self {
            Request::PieceList(hash) => write_frame(w, PIECE_LIST_REQ, &[&hash.0]),
            Request::Piece {
                content,
                offset,
                len,
            } => {
                let fields = [&offset.to_be_bytes()[..], &len.to_be_bytes()].concat();
                write_frame(w, PIECE_REQ, &[&content.0, &fields])
            }
            Request::List => write_frame(w, LIST_REQ, &[]),
            Request::Query(name) => write_frame(w, QUERY_REQ, &[name.as_bytes()]),
        }
    }

    /// Reads one request; `Ok(None)` when the peer closed between requests.
    pub fn read(r: &mut impl Read) -> Result<Option<Request>, WireError> {
        let Some((frame_type, body)) = read_frame(r, request_limit)? else {
            return Ok(None);
        };
        Request::decode(frame_type, &body).map(Some)
    }

    fn decode(frame_type: u8, body: &[u8]) -> Result<Request, WireError> {
        let exact = |n: usize| {
            (body.len() == n)
                .then_some(())
                .ok_or(WireError::Malformed("wrong length"))
        };
        let mut r = Reader::new(body);
        match frame_type {
            PIECE_LIST_REQ => {
                exact(HASH_LEN)?;
                Ok(Request::PieceList(Hash(r.array()?)))
            }
            PIECE_REQ => {
                exact(HASH_LEN + 12)?;
                let content = Hash(r.array()?);
                let (offset, len) = (r.u64()?, r.u32()?);
                if len == 0 || len > MAX_PIECE_SIZE {
                    return Err(WireError::Malformed("piece length out of range"));
                }
                Ok(Request::Piece {
                    content,
                    offset,
                    len,
                })
            }
            LIST_REQ => exact(0).map(|()| Request::List),
            _ => {
                let name = std::str::from_utf8(body).map_err(|_| WireError::Malformed("name"))?;
                check_name(name).map_err(WireError::Malformed)?;
                Ok(Request::Query(name.to_string()))
            }
        }
    }
}

impl Response {
    /// Writes a piece reply straight from a borrowed buffer.
    pub fn write_piece(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
        write_frame(w, PIECE_REPLY, &[data])
    }

    /// Writes the response.
    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        match self {
            Response::PieceList {
                size,
                piece_size,
                pieces,
            } => {
                let mut body = Vec::with_capacity(PIECE_LIST_HEADER + pieces.len() * HASH_LEN);
                body.extend_from_slice(&size.to_be_bytes());
                body.extend_from_slice(&piece_size.to_be_bytes());
                pieces.iter().for_each(|p| body.extend_from_slice(&p.0));
                write_frame(w, PIECE_LIST_REPLY, &[&body])
            }
            Response::Piece(data) => Response::write_piece(w, data),
            Response::Files(rows) => write_frame(w, FILES_REPLY, &[&encode_rows(rows)]),
            Response::Error(code, text) => {
                let text = truncate_utf8(text, MAX_ERROR_TEXT);
                write_frame(w, ERROR_REPLY, &[&[code.to_u8()], text.as_bytes()])
            }
        }
    }

    /// Reads one response; a closed connection is an error here.
    pub fn read(r: &mut impl Read) -> Result<Response, WireError> {
        let Some((frame_type, body)) = read_frame(r, response_limit)? else {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        };
        Response::decode(frame_type, body)
    }

    fn decode(frame_type: u8, body: Vec<u8>) -> Result<Response, WireError> {
        match frame_type {
            PIECE_REPLY => Ok(Response::Piece(body)),
            PIECE_LIST_REPLY => decode_piece_list(&body),
            FILES_REPLY => decode_rows(&body).map(Response::Files),
            _ => {
                let (code, text) = body.split_first().ok_or(WireError::Malformed("empty"))?;
                let text = String::from_utf8_lossy(text).into_owned();
                Ok(Response::Error(ErrorCode::from_u8(*code), text))
            }
        }
    }
}

fn decode_piece_list(body: &[u8]) -> Result<Response, WireError> {
    let mut r = Reader::new(body);
    let (size, piece_size) = (r.u64()?, r.u32()?);
    if piece_size_for(size) != Some(piece_size) {
        return Err(WireError::Malformed("piece size does not match the size"));
    }
    let hashes = r.rest();
    if hashes.len() as u64 != piece_count(size, piece_size) * HASH_LEN as u64 {
        return Err(WireError::Malformed("piece count does not match the size"));
    }
    let pieces = hashes
        .chunks_exact(HASH_LEN)
        .map(|c| {
            let mut hash = [0u8; HASH_LEN];
            hash.copy_from_slice(c);
            Hash(hash)
        })
        .collect();
    Ok(Response::PieceList {
        size,
        piece_size,
        pieces,
    })
}

/// FILES body: `count u32`, then per row `name_len u8, name, content[32],
/// size u64, piece_size u32, holders u16, holders × address`. Rows that would
/// pass [`MAX_FILES_LEN`] are left out (and holders past
/// [`MAX_HOLDERS_PER_ROW`]).
fn encode_rows(rows: &[FileRow]) -> Vec<u8> {
    let mut body = vec![0u8; 4];
    let mut count = 0u32;
    for row in rows {
        let mut one = Vec::with_capacity(64 + row.name.len());
        one.push(row.name.len() as u8);
        one.extend_from_slice(row.name.as_bytes());
        one.extend_from_slice(&row.content.0);
        one.extend_from_slice(&row.size.to_be_bytes());
        one.extend_from_slice(&row.piece_size.to_be_bytes());
        let holders = &row.holders[..row.holders.len().min(MAX_HOLDERS_PER_ROW)];
        one.extend_from_slice(&(holders.len() as u16).to_be_bytes());
        holders.iter().for_each(|&h| put_addr(&mut one, h));
        if body.len() + one.len() > MAX_FILES_LEN {
            break;
        }
        body.extend_from_slice(&one);
        count += 1;
    }
    body[..4].copy_from_slice(&count.to_be_bytes());
    body
}

fn decode_rows(body: &[u8]) -> Result<Vec<FileRow>, WireError> {
    let mut r = Reader::new(body);
    let count = r.u32()?;
    let mut rows = Vec::new();
    for _ in 0..count {
        let name_len = usize::from(r.u8()?);
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| WireError::Malformed("name is not UTF-8"))?;
        check_name(name).map_err(WireError::Malformed)?;
        let content = Hash(r.array()?);
        let (size, piece_size) = (r.u64()?, r.u32()?);
        let holder_count = usize::from(r.u16()?);
        if holder_count > MAX_HOLDERS_PER_ROW {
            return Err(WireError::Malformed("too many holders"));
        }
        let holders = (0..holder_count)
            .map(|_| r.addr())
            .collect::<Result<Vec<SocketAddr>, _>>()?;
        rows.push(FileRow {
            name: name.to_string(),
            content,
            size,
            piece_size,
            holders,
        });
    }
    if !r.rest().is_empty() {
        return Err(WireError::Malformed("bytes after the rows"));
    }
    Ok(rows)
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::MIN_PIECE_SIZE;
    use std::io::Cursor;

    fn bytes_of(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        out
    }

    fn row(name: &str) -> FileRow {
        FileRow {
            name: name.to_string(),
            content: Hash::of(name.as_bytes()),
            size: 5,
            piece_size: MIN_PIECE_SIZE,
            holders: vec!["127.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap()],
        }
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request::PieceList(Hash::of(b"a")),
            Request::Piece {
                content: Hash::of(b"b"),
                offset: 1 << 40,
                len: MAX_PIECE_SIZE,
            },
            Request::List,
            Request::Query("notes.txt".into()),
        ];
        for req in requests {
            let bytes = bytes_of(|out| req.write(out));
            let mut cursor = Cursor::new(&bytes[..]);
            assert_eq!(Request::read(&mut cursor).unwrap(), Some(req));
            assert_eq!(Request::read(&mut cursor).unwrap(), None);
        }
    }

    #[test]
    fn responses_round_trip() {
        let responses = [
            Response::PieceList {
                size: u64::from(MIN_PIECE_SIZE) + 1,
                piece_size: MIN_PIECE_SIZE,
                pieces: vec![Hash::of(b"1"), Hash::of(b"2")],
            },
            Response::Piece(vec![7; 10_000]),
            Response::Files(vec![row("a"), row("b")]),
            Response::Error(ErrorCode::NotFound, "no such file".into()),
        ];
        for resp in responses {
            let bytes = bytes_of(|out| resp.write(out));
            assert_eq!(Response::read(&mut Cursor::new(&bytes[..])).unwrap(), resp);
        }
    }

    #[test]
    fn a_frame_over_its_limit_is_refused_before_its_body_arrives() {
        let mut header = vec![PIECE_REQ];
        header.extend_from_slice(&(HASH_LEN as u32 + 13).to_be_bytes());
        let err = Request::read(&mut Cursor::new(&header[..])).unwrap_err();
        assert!(matches!(err, WireError::TooLong { .. }), "{err}");
        let mut header = vec![PIECE_REPLY];
        header.extend_from_slice(&(MAX_PIECE_SIZE + 1).to_be_bytes());
        let err = Response::read(&mut Cursor::new(&header[..])).unwrap_err();
        assert!(matches!(err, WireError::TooLong { .. }), "{err}");
        let unknown = [0x42, 0, 0, 0, 0];
        let err = Request::read(&mut Cursor::new(&unknown[..])).unwrap_err();
        assert!(matches!(err, WireError::UnknownType(0x42)), "{err}");
        let reply_as_request = bytes_of(|out| Response::Piece(vec![1]).write(out));
        assert!(Request::read(&mut Cursor::new(&reply_as_request[..])).is_err());
    }

    #[test]
    fn bad_request_bodies_are_malformed() {
        let zero = Request::Piece {
            content: Hash::of(b"x"),
            offset: 0,
            len: 0,
        };
        let bytes = bytes_of(|out| zero.write(out));
        assert!(matches!(
            Request::read(&mut Cursor::new(&bytes[..])),
            Err(WireError::Malformed(_))
        ));
        for name in ["..", "a/b", ""] {
            let bytes = bytes_of(|out| Request::Query(name.into()).write(out));
            assert!(
                Request::read(&mut Cursor::new(&bytes[..])).is_err(),
                "{name}"
            );
        }
        let short = [PIECE_LIST_REQ, 0, 0, 0, 3, 1, 2, 3];
        assert!(Request::read(&mut Cursor::new(&short[..])).is_err());
        let cut = [PIECE_LIST_REQ, 0, 0, 0, 32, 1, 2, 3];
        assert!(matches!(
            Request::read(&mut Cursor::new(&cut[..])),
            Err(WireError::Io(_))
        ));
    }

    #[test]
    fn piece_lists_must_match_their_size() {
        let wrong = Response::PieceList {
            size: 10,
            piece_size: MIN_PIECE_SIZE,
            pieces: vec![Hash::of(b"1"), Hash::of(b"2")],
        };
        let bytes = bytes_of(|out| wrong.write(out));
        assert!(Response::read(&mut Cursor::new(&bytes[..])).is_err());
        let odd = Response::PieceList {
            size: 10,
            piece_size: 4096,
            pieces: vec![Hash::of(b"1")],
        };
        let bytes = bytes_of(|out| odd.write(out));
        assert!(Response::read(&mut Cursor::new(&bytes[..])).is_err());
    }

    #[test]
    fn files_rows_are_checked_and_random_bodies_never_panic() {
        let mut bad = row("ok");
        bad.name = "../etc".into();
        let bytes = bytes_of(|out| Response::Files(vec![bad]).write(out));
        assert!(Response::read(&mut Cursor::new(&bytes[..])).is_err());
        let good = encode_rows(&[row("a"), row("bc")]);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut body = good.clone();
            let i = state as usize % body.len();
            body[i] ^= (state >> 24) as u8 | 1;
            body.truncate((state >> 40) as usize % (body.len() + 1));
            let _ = decode_rows(&body);
            let _ = decode_piece_list(&body);
            let _ = Request::decode(QUERY_REQ, &body);
        }
    }
}
