//! A minimal client of the gossip API, written by hand from SPEC §4 so that
//! the tests check the wire contract independently of gossipd's own codec.

use std::collections::{HashSet, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// GOSSIP ANNOUNCE (module → gossip).
pub const ANNOUNCE: u16 = 500;
/// GOSSIP NOTIFY (module → gossip).
pub const NOTIFY: u16 = 501;
/// GOSSIP NOTIFICATION (gossip → module).
pub const NOTIFICATION: u16 = 502;
/// GOSSIP VALIDATION (module → gossip).
pub const VALIDATION: u16 = 503;
/// Largest data of one ANNOUNCE: 65535 bytes less header and fixed fields.
pub const MAX_DATA: usize = 65535 - 8;

/// One GOSSIP NOTIFICATION as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Names the item on this host until it is validated.
    pub msg_id: u16,
    /// The item's data type.
    pub data_type: u16,
    /// The item's data.
    pub data: Vec<u8>,
}

/// What one wait for a notification ended with.
#[derive(Debug)]
pub enum Recv {
    /// A notification arrived.
    Note(Notification),
    /// The deadline passed first.
    Timeout,
    /// The server closed the connection (EOF or reset).
    Closed,
}

/// A 4-byte header: size (whole message) and type, big-endian.
pub fn header(size: usize, msg_type: u16) -> Vec<u8> {
    let size = u16::try_from(size).expect("message fits in 65535 bytes");
    let mut bytes = size.to_be_bytes().to_vec();
    bytes.extend_from_slice(&msg_type.to_be_bytes());
    bytes
}

/// GOSSIP ANNOUNCE: ttl u8, reserved u8, data type u16, data.
pub fn announce_msg(ttl: u8, data_type: u16, data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= MAX_DATA, "{} bytes do not fit", data.len());
    let mut bytes = header(8 + data.len(), ANNOUNCE);
    bytes.extend_from_slice(&[ttl, 0]);
    bytes.extend_from_slice(&data_type.to_be_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// GOSSIP NOTIFY: reserved u16, data type u16.
pub fn notify_msg(data_type: u16) -> Vec<u8> {
    let mut bytes = header(8, NOTIFY);
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&data_type.to_be_bytes());
    bytes
}

/// GOSSIP VALIDATION: message id u16, 15 reserved bits and the valid bit.
pub fn validation_msg(msg_id: u16, valid: bool) -> Vec<u8> {
    let mut bytes = header(8, VALIDATION);
    bytes.extend_from_slice(&msg_id.to_be_bytes());
    bytes.extend_from_slice(&u16::from(valid).to_be_bytes());
    bytes
}

/// One API connection. Notifications of `ignored` types (the harness's own
/// probes) are validated as valid and never returned.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    pending: VecDeque<Notification>,
    ignored: HashSet<u16>,
}

impl Client {
    /// Connects to a gossip API address (5 s connect timeout).
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to API {addr}: {e}"));
        stream.set_nodelay(true).expect("set_nodelay");
        Client {
            stream,
            buf: Vec::new(),
            pending: VecDeque::new(),
            ignored: HashSet::new(),
        }
    }

    /// Sends NOTIFY for `data_type`.
    pub fn notify(&mut self, data_type: u16) {
        self.send_raw(&notify_msg(data_type)).expect("send NOTIFY");
    }

    /// Sends ANNOUNCE.
    pub fn announce(&mut self, ttl: u8, data_type: u16, data: &[u8]) {
        self.send_raw(&announce_msg(ttl, data_type, data))
            .expect("send ANNOUNCE");
    }

    /// Sends VALIDATION.
    pub fn validate(&mut self, msg_id: u16, valid: bool) {
        self.send_raw(&validation_msg(msg_id, valid))
            .expect("send VALIDATION");
    }

    /// Writes arbitrary bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Shuts down the write half: the server reads EOF.
    pub fn shutdown_write(&self) {
        self.stream
            .shutdown(Shutdown::Write)
            .expect("shutdown write");
    }

    /// A second handle on the socket, e.g. to shut it down from another thread.
    pub fn stream_handle(&self) -> TcpStream {
        self.stream.try_clone().expect("clone socket")
    }

    /// From now on, notifications of `data_type` are validated and skipped.
    pub fn ignore(&mut self, data_type: u16) {
        self.ignored.insert(data_type);
    }

    /// Queues a notification to be returned by the next `recv`.
    pub fn push_back(&mut self, note: Notification) {
        self.pending.push_back(note);
    }

    /// The next notification of a type not ignored, waiting until `deadline`.
    pub fn recv(&mut self, deadline: Instant) -> Recv {
        loop {
            match self.recv_any(deadline) {
                Recv::Note(note) if self.ignored.contains(&note.data_type) => {
                    if self.send_raw(&validation_msg(note.msg_id, true)).is_err() {
                        return Recv::Closed;
                    }
                }
                other => return other,
            }
        }
    }

    /// The next notification of any type (queued ones first).
    pub fn recv_any(&mut self, deadline: Instant) -> Recv {
        if let Some(note) = self.pending.pop_front() {
            return Recv::Note(note);
        }
        loop {
            if let Some(note) = self.parse_one() {
                return Recv::Note(note);
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Recv::Timeout,
                Err(_) => return Recv::Closed,
            }
        }
    }

    /// The next notification, `None` at the deadline; panics if the server
    /// closed the connection.
    pub fn recv_notification(&mut self, deadline: Instant) -> Option<Notification> {
        match self.recv(deadline) {
            Recv::Note(note) => Some(note),
            Recv::Timeout => None,
            Recv::Closed => panic!("gossip closed an API connection unexpectedly"),
        }
    }

    /// Validates (as valid) and returns every notification up to the one
    /// carrying `marker`, which is validated too but not returned. Panics if
    /// the marker does not come by `deadline`.
    pub fn until_marker(&mut self, marker: &[u8], deadline: Instant) -> Vec<Notification> {
        let mut before = Vec::new();
        loop {
            let note = self.recv_notification(deadline).unwrap_or_else(|| {
                panic!(
                    "marker {:?} did not arrive; got before it: {:?}",
                    String::from_utf8_lossy(marker),
                    summary(&before)
                )
            });
            self.validate(note.msg_id, true);
            if note.data == marker {
                return before;
            }
            before.push(note);
        }
    }

    /// Reads and discards until the server closes the connection (true) or
    /// the deadline passes (false).
    pub fn wait_closed(&mut self, deadline: Instant) -> bool {
        self.pending.clear();
        loop {
            self.buf.clear();
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(_) => return true,
            }
        }
    }

    /// Takes one complete message off the buffer. Gossip may only send
    /// NOTIFICATIONs of at least 8 bytes to a client like this one.
    fn parse_one(&mut self) -> Option<Notification> {
        if self.buf.len() < 4 {
            return None;
        }
        let size = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
        let msg_type = u16::from_be_bytes([self.buf[2], self.buf[3]]);
        assert_eq!(
            msg_type, NOTIFICATION,
            "gossip sent message type {msg_type}"
        );
        assert!(size >= 8, "gossip sent a NOTIFICATION of size {size}");
        if self.buf.len() < size {
            return None;
        }
        let note = Notification {
            msg_id: u16::from_be_bytes([self.buf[4], self.buf[5]]),
            data_type: u16::from_be_bytes([self.buf[6], self.buf[7]]),
            data: self.buf[8..size].to_vec(),
        };
        self.buf.drain(..size);
        Some(note)
    }

    /// Reads once into the buffer: `Ok(true)` on data, `Ok(false)` at the
    /// deadline, `Err` when the connection is closed or broken.
    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Short printable descriptions of notifications, for assertion messages.
pub fn summary(notes: &[Notification]) -> Vec<String> {
    notes
        .iter()
        .map(|n| {
            let shown = &n.data[..n.data.len().min(40)];
            format!(
                "type {} id {} {} bytes {:?}",
                n.data_type,
                n.msg_id,
                n.data.len(),
                String::from_utf8_lossy(shown)
            )
        })
        .collect()
}
