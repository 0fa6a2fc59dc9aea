//! The piece server: a listener thread and one thread per connection, like
//! the daemon. It answers piece-list and piece requests for this host's
//! shares and `list` / `query` requests from the index (see wire.rs).
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections at once (more are
//! refused with an error reply); a connection that sends nothing for
//! [`IDLE_TIMEOUT`] or cannot take a reply within [`WRITE_TIMEOUT`] is
//! closed; a piece is at most `MAX_PIECE_SIZE` bytes and must lie inside the
//! file.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::hash::Hash;
use crate::index::SharedIndex;
use crate::shares::{Share, Shares};
use crate::wire::{ErrorCode, Request, Response, WireError};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection idle this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A reply that cannot be written within this closes the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection thread needs.
#[derive(Clone)]
pub struct Server {
    /// This host's shares.
    pub shares: Shares,
    /// This host's network index.
    pub index: SharedIndex,
    /// Test only: flip one byte of every piece served (see `--corrupt-pieces`).
    pub corrupt: bool,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
}

impl Server {
    /// Starts the `share-listener` thread; it runs until the process ends.
    pub fn spawn(self, listener: TcpListener) -> io::Result<()> {
        thread::Builder::new()
            .name("share-listener".into())
            .spawn(move || self.accept_loop(listener))
            .map(drop)
    }

    fn accept_loop(self, listener: TcpListener) {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let server = self.clone();
            if server.open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                server.open.fetch_sub(1, Ordering::SeqCst);
                refuse(stream);
                continue;
            }
            let spawned = thread::Builder::new()
                .name("share-conn".into())
                .spawn(move || {
                    let peer = stream.peer_addr().ok();
                    if let Err(e) = server.serve(stream) {
                        log::debug!("connection from {peer:?} ended: {e}");
                    }
                    server.open.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                log::warn!("cannot start a connection thread: {e}");
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Answers requests until the peer closes, idles out or misbehaves.
    fn serve(&self, stream: TcpStream) -> Result<(), WireError> {
        stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = BufWriter::with_capacity(64 * 1024, stream);
        let mut open: Option<(Hash, Arc<Share>, File)> = None;
        let mut buf = Vec::new();
        loop {
            let request = match Request::read(&mut reader) {
                Ok(Some(request)) => request,
                Ok(None) => return Ok(()),
                Err(e @ WireError::Io(_)) => return Err(e),
                Err(e) => {
                    let reply = Response::Error(ErrorCode::BadRequest, e.to_string());
                    reply.write(&mut writer)?;
                    writer.flush()?;
                    return Err(e);
                }
            };
            match request {
                Request::Piece {
                    content,
                    offset,
                    len,
                } => self.piece(&mut writer, &mut open, &mut buf, (content, offset, len))?,
                other => self.answer(other).write(&mut writer)?,
            }
            writer.flush()?;
        }
    }

    /// Replies to a request other than a piece.
    fn answer(&self, request: Request) -> Response {
        let now = Instant::now();
        match request {
            Request::PieceList(content) => match self.shares.by_content(&content) {
                Some(share) => Response::PieceList {
                    size: share.digest.size,
                    piece_size: share.digest.piece_size,
                    pieces: share.digest.pieces.clone(),
                },
                None => not_found(&content),
            },
            Request::List => Response::Files(self.index.lock().files(now)),
            Request::Query(name) => Response::Files(self.index.lock().query(&name, now)),
            Request::Piece { content, .. } => not_found(&content),
        }
    }

    /// Reads and sends one piece, keeping the file open for the next.
    fn piece(
        &self,
        writer: &mut impl Write,
        open: &mut Option<(Hash, Arc<Share>, File)>,
        buf: &mut Vec<u8>,
        (content, offset, len): (Hash, u64, u32),
    ) -> io::Result<()> {
        if open.as_ref().is_none_or(|(hash, ..)| *hash != content) {
            *open = None;
            let Some(share) = self.shares.by_content(&content) else {
                return not_found(&content).write(writer);
            };
            match File::open(&share.path) {
                Ok(file) => *open = Some((content, share, file)),
                Err(e) => {
                    let text = format!("cannot open {}: {e}", share.name);
                    return Response::Error(ErrorCode::Internal, text).write(writer);
                }
            }
        }
        // Just set above.
        let Some((_, share, file)) = open.as_ref() else {
            return Ok(());
        };
        if offset
            .checked_add(u64::from(len))
            .is_none_or(|end| end > share.digest.size)
        {
            let text = format!("range {offset}+{len} outside the file");
            return Response::Error(ErrorCode::NotFound, text).write(writer);
        }
        buf.resize(len as usize, 0);
        if let Err(e) = file.read_exact_at(buf, offset) {
            *open = None;
            let text = format!("cannot read the file: {e}");
            return Response::Error(ErrorCode::Internal, text).write(writer);
        }
        if self.corrupt {
            buf[0] ^= 0xff;
        }
        Response::write_piece(writer, buf)
    }
}

fn not_found(content: &Hash) -> Response {
    Response::Error(
        ErrorCode::NotFound,
        format!("no file with content {content}"),
    )
}

/// Tells a connection over the limit why it is closed, without waiting long.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let reply = Response::Error(ErrorCode::Internal, "too many connections".into());
    let _ = reply.write(&mut stream);
}
