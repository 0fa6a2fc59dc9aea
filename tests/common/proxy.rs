//! A man-in-the-middle TCP proxy on loopback: it forwards every connection it
//! accepts to a target and can flip one bit of what the target sends back.
//!
//! A gossipd dialer that bootstraps through the proxy is the "dialer", the
//! node behind it the "target" (the Noise responder). What the target sends
//! is one handshake message (message 2) and then the encrypted stream, and
//! both travel as a `u16` big-endian length and that many bytes (see
//! `src/transport/handshake.rs` and `src/transport/secure.rs`). The proxy
//! follows that framing, so it can flip a bit inside a chunk's ciphertext,
//! away from the length prefixes, and pick the chunk by its size.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long the proxy waits to connect to its target.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the proxy saw of one forwarded connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnReport {
    /// A bit of this connection's target-to-dialer stream was flipped.
    pub tampered: bool,
    /// How reading from the dialer ended (`eof`, an error), if it has.
    pub dialer_end: Option<String>,
    /// How reading from the target ended, if it has.
    pub target_end: Option<String>,
}

impl ConnReport {
    /// True when both directions have ended.
    pub fn closed(&self) -> bool {
        self.dialer_end.is_some() && self.target_end.is_some()
    }
}

/// State shared by the accepting thread and the pumps.
struct Shared {
    target: SocketAddr,
    /// Flip a bit in the first chunk of at least this many bytes (ciphertext
    /// and tag) that any target sends; `None`: never tamper.
    tamper_min: Option<usize>,
    /// Still to tamper (one chunk in the proxy's whole life).
    armed: AtomicBool,
    stopping: AtomicBool,
    conns: Mutex<Vec<ConnReport>>,
    /// Every socket, so dropping the proxy can end every pump.
    sockets: Mutex<Vec<TcpStream>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

/// Locks a mutex; a panicking pump cannot leave the data in a state that
/// matters here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running proxy; dropping it closes every connection and joins its
/// threads.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `target`. With
    /// `tamper_min = Some(n)`, flips the lowest bit of the first ciphertext
    /// byte of the first chunk of at least `n` bytes a target sends after
    /// its handshake message, once; everything else passes unchanged.
    pub fn start(target: SocketAddr, tamper_min: Option<usize>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            target,
            tamper_min,
            armed: AtomicBool::new(tamper_min.is_some()),
            stopping: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            sockets: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(&listener, &shared))
        };
        Proxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Where dialers connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the proxy saw of each connection so far, in accept order.
    pub fn reports(&self) -> Vec<ConnReport> {
        lock(&self.shared.conns).clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for socket in lock(&self.shared.sockets).iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let pumps: Vec<_> = lock(&self.shared.pumps).drain(..).collect();
        for pump in pumps {
            let _ = pump.join();
        }
    }
}

/// Accepts dialers until the proxy is dropped; each gets a connection to
/// the target and two pumps.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for dialer in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(dialer) = dialer else { continue };
        match TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT) {
            Ok(target) => forward(dialer, target, shared),
            Err(_) => {
                let _ = dialer.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Records a new connection and starts its pumps.
fn forward(dialer: TcpStream, target: TcpStream, shared: &Arc<Shared>) {
    let _ = dialer.set_nodelay(true);
    let _ = target.set_nodelay(true);
    let index = {
        let mut conns = lock(&shared.conns);
        conns.push(ConnReport::default());
        conns.len() - 1
    };
    let clone = |s: &TcpStream| s.try_clone().expect("clone proxy socket");
    lock(&shared.sockets).extend([clone(&dialer), clone(&target)]);
    let tamper = shared.tamper_min.map(ChunkTamper::new);
    let up = Pump {
        src: clone(&dialer),
        dst: clone(&target),
        index,
        from_dialer: true,
        tamper: None,
    };
    let down = Pump {
        src: target,
        dst: dialer,
        index,
        from_dialer: false,
        tamper,
    };
    let mut pumps = lock(&shared.pumps);
    for pump in [up, down] {
        let shared = Arc::clone(shared);
        pumps.push(thread::spawn(move || pump.run(&shared)));
    }
}

/// Copies one direction of one connection.
struct Pump {
    src: TcpStream,
    dst: TcpStream,
    index: usize,
    from_dialer: bool,
    tamper: Option<ChunkTamper>,
}

impl Pump {
    /// Copies until the source ends (the destination's write half is then
    /// shut, passing the end on) or either socket fails (both are then shut
    /// down), and records how it ended.
    fn run(mut self, shared: &Shared) {
        let mut buf = vec![0u8; 16 * 1024];
        let end = loop {
            let n = match self.src.read(&mut buf) {
                Ok(0) => {
                    let _ = self.dst.shutdown(Shutdown::Write);
                    break "eof".to_string();
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => break format!("read error: {e}"),
            };
            if let Some(tamper) = &mut self.tamper
                && tamper.scan(&mut buf[..n], &shared.armed)
            {
                lock(&shared.conns)[self.index].tampered = true;
            }
            if let Err(e) = self.dst.write_all(&buf[..n]) {
                break format!("write error: {e}");
            }
        };
        if end != "eof" {
            let _ = self.src.shutdown(Shutdown::Both);
            let _ = self.dst.shutdown(Shutdown::Both);
        }
        let mut conns = lock(&shared.conns);
        let report = &mut conns[self.index];
        if self.from_dialer {
            report.dialer_end = Some(end);
        } else {
            report.target_end = Some(end);
        }
    }
}

/// Follows the length-prefixed framing of a target's stream (handshake
/// message 2, then chunks) to flip a bit inside one chunk.
struct ChunkTamper {
    min: usize,
    prefix: [u8; 2],
    prefix_got: usize,
    body_left: usize,
    frames: u64,
    flip_next: bool,
}

impl ChunkTamper {
    /// Looks for chunks of at least `min` bytes.
    fn new(min: usize) -> ChunkTamper {
        ChunkTamper {
            min,
            prefix: [0; 2],
            prefix_got: 0,
            body_left: 0,
            frames: 0,
            flip_next: false,
        }
    }

    /// Walks the bytes about to be forwarded; flips the lowest bit of the
    /// first body byte of a large enough chunk if `armed` is still set
    /// (clearing it). True when it flipped a bit in `bytes`.
    fn scan(&mut self, bytes: &mut [u8], armed: &AtomicBool) -> bool {
        let mut flipped = false;
        for byte in bytes.iter_mut() {
            if self.body_left > 0 {
                if self.flip_next {
                    *byte ^= 0x01;
                    self.flip_next = false;
                    flipped = true;
                }
                self.body_left -= 1;
                continue;
            }
            self.prefix[self.prefix_got] = *byte;
            self.prefix_got += 1;
            if self.prefix_got == 2 {
                self.prefix_got = 0;
                self.frames += 1;
                self.body_left = usize::from(u16::from_be_bytes(self.prefix));
                // Frame 1 is the handshake message; the rest are chunks.
                self.flip_next = self.frames > 1
                    && self.body_left >= self.min
                    && armed.swap(false, Ordering::SeqCst);
            }
        }
        flipped
    }
}
