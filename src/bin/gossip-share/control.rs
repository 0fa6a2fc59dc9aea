//! The client side of the piece protocol: one connection with deadlines,
//! one request at a time. `list`, `query` and `get` use it towards the local
//! serve process, `get` also towards every holder.

use std::io::{BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::index::FileRow;
use crate::wire::{Request, Response, WireError};

/// How long dialing may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one reply may take to arrive (or one request to be written).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a holder or to the local serve process.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Connection {
    /// Dials `addr` with the timeouts above.
    pub fn open(addr: SocketAddr) -> Result<Connection, WireError> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::with_capacity(256 * 1024, stream.try_clone()?),
            writer: BufWriter::new(stream),
        })
    }

    /// Sends one request and reads its reply.
    pub fn call(&mut self, request: &Request) -> Result<Response, WireError> {
        request.write(&mut self.writer)?;
        self.writer.flush()?;
        Response::read(&mut self.reader)
    }
}

/// Resolves `HOST:PORT` to its first address.
pub fn resolve(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("'{text}' is not a usable HOST:PORT: {e}"))?
        .next()
        .ok_or_else(|| format!("'{text}' resolves to no address"))
}

/// Asks the serve process at `control` for file versions (all of them, or
/// those of one name).
pub fn files(control: SocketAddr, request: &Request) -> Result<Vec<FileRow>, String> {
    let failed = |e: WireError| format!("asking the serve process at {control} failed: {e}");
    let mut conn = Connection::open(control).map_err(failed)?;
    match conn.call(request).map_err(failed)? {
        Response::Files(rows) => Ok(rows),
        Response::Error(code, text) => Err(format!("{control} answered {code:?}: {text}")),
        other => Err(format!("{control} answered with an unexpected {other:?}")),
    }
}
