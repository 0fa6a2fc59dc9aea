//! The floor: what one loopback TCP hop between two processes costs.
//!
//! The benchmark re-executes itself as `gossip-bench floor-echo ADDR` and the
//! two processes share one TCP connection (blocking sockets, TCP_NODELAY).
//! Every message is a 4-byte length prefix and `size` bytes whose first byte
//! says what it is: `P` ping (echoed back), `S` stream (counted), `E` end of a
//! stream (answered with `A` and the count). Each message is written with one
//! `write` and read through a 64 KiB buffer, as a gossip hop at best would be.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::procfs::Proc;
use crate::stats::Distribution;
use crate::{Result, check_interrupted, fail};

/// Round trips before the measured ones (connection and caches warm up).
const WARM_UP: usize = 200;
/// Deadline of every read, write and of the child's start.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message the echo child accepts.
const MAX_MESSAGE: usize = 1 << 20;

/// What the floor measured.
#[derive(Clone, Debug)]
pub struct Floor {
    /// Message size without the length prefix.
    pub size: usize,
    /// One-way latency (round trip ÷ 2) of each measured round trip, ns.
    pub one_way: Distribution,
    /// CPU of both processes per one-way message during the ping-pong, µs.
    pub ping_cpu_us_per_msg: f64,
    /// Messages in the one-way stream.
    pub stream_count: usize,
    /// Messages per second of the stream (until the child's count arrived).
    pub stream_msgs_per_s: f64,
    /// CPU of both processes per streamed message, µs.
    pub stream_cpu_us_per_msg: f64,
}

/// The echo child; killed when dropped if it has not exited by then.
struct EchoChild(Child);

impl Drop for EchoChild {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Measures the floor for messages of `size` bytes: `round_trips` ping-pongs,
/// then a stream of `stream_count` messages.
pub fn measure(
    size: usize,
    round_trips: usize,
    stream_count: usize,
    ticks_per_s: u64,
) -> Result<Floor> {
    let size = size.max(16);
    let (child, stream) = start_echo()?;
    let pid = child.0.id();
    let mut reader = BufReader::with_capacity(1 << 16, stream.try_clone()?);
    let mut writer = stream;
    let ping = frame(b'P', size);
    for _ in 0..WARM_UP {
        round_trip(&mut writer, &mut reader, &ping)?;
    }
    let cpu_before = both_cpu(pid)?;
    let mut one_way = Vec::with_capacity(round_trips);
    for i in 0..round_trips {
        if i % 1000 == 0 {
            check_interrupted()?;
        }
        one_way.push(round_trip(&mut writer, &mut reader, &ping)? / 2);
    }
    let ping_ticks = both_cpu(pid)? - cpu_before;
    let (elapsed, stream_ticks) =
        one_way_stream(&mut writer, &mut reader, size, stream_count, pid)?;
    drop(writer);
    let to_us = |ticks: u64, n: usize| ticks as f64 * 1e6 / ticks_per_s as f64 / n.max(1) as f64;
    Ok(Floor {
        size,
        one_way: Distribution::new(one_way),
        ping_cpu_us_per_msg: to_us(ping_ticks, 2 * round_trips),
        stream_count,
        stream_msgs_per_s: stream_count as f64 / elapsed.as_secs_f64(),
        stream_cpu_us_per_msg: to_us(stream_ticks, stream_count),
    })
}

/// CPU ticks of this process and the child together.
fn both_cpu(child: u32) -> Result<u64> {
    let me = Proc::Me
        .cpu_ticks()
        .ok_or_else(|| fail("cannot read /proc/self/stat"))?;
    let other = Proc::Pid(child)
        .cpu_ticks()
        .ok_or_else(|| fail("cannot read the echo child's /proc/PID/stat"))?;
    Ok(me + other)
}

/// Starts the echo child and accepts its connection.
fn start_echo() -> Result<(EchoChild, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .arg("floor-echo")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot start the floor echo child: {e}")))?;
    let mut child = EchoChild(child);
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(fail(format!(
                "the floor echo child exited early ({status})"
            )));
        }
        if Instant::now() >= deadline {
            return Err(fail("the floor echo child did not connect within 10 s"));
        }
        thread::sleep(Duration::from_millis(5));
    };
    configure(&stream)?;
    Ok((child, stream))
}

/// Blocking mode, TCP_NODELAY and the I/O deadlines.
fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))
}

/// Sends one ping frame and waits for its echo; returns the round trip in ns.
fn round_trip(writer: &mut TcpStream, reader: &mut impl Read, ping: &[u8]) -> Result<u64> {
    let start = Instant::now();
    writer.write_all(ping)?;
    let echo = read_message(reader)?;
    let rtt = start.elapsed();
    if echo.len() + 4 != ping.len() {
        return Err(fail("the floor echo child sent back a different message"));
    }
    Ok(u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX))
}

/// Streams `count` messages and waits for the child's count. Returns the time
/// from the first write to the count's arrival and the CPU ticks of both.
fn one_way_stream(
    writer: &mut TcpStream,
    reader: &mut impl Read,
    size: usize,
    count: usize,
    pid: u32,
) -> Result<(Duration, u64)> {
    let message = frame(b'S', size);
    let cpu_before = both_cpu(pid)?;
    let start = Instant::now();
    for _ in 0..count {
        writer.write_all(&message)?;
    }
    writer.write_all(&frame(b'E', size))?;
    let ack = read_message(reader)?;
    let elapsed = start.elapsed();
    let ticks = both_cpu(pid)? - cpu_before;
    let counted = ack
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes);
    if ack.first() != Some(&b'A') || counted != Some(count as u64) {
        return Err(fail(format!(
            "the floor echo child counted {counted:?} of {count} messages"
        )));
    }
    Ok((elapsed, ticks))
}

/// A length-prefixed message of `size` bytes starting with `kind`.
fn frame(kind: u8, size: usize) -> Vec<u8> {
    let mut body = vec![0u8; size];
    body[0] = kind;
    framed(&body)
}

/// `body` behind its 4-byte length prefix, ready for one write.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// Reads one length-prefixed message.
fn read_message(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad message length",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// The child side (`gossip-bench floor-echo ADDR`): connects, echoes pings,
/// counts stream messages, answers an end with the count; exits at EOF.
pub fn echo_main(addr: &str) -> Result<()> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| fail(format!("floor-echo: '{addr}' is not an address")))?;
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    configure(&stream)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::with_capacity(1 << 16, stream.try_clone()?);
    let mut writer = stream;
    let mut counted: u64 = 0;
    loop {
        let body = match read_message(&mut reader) {
            Ok(body) => body,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match body[0] {
            b'P' => writer.write_all(&framed(&body))?,
            b'S' => counted += 1,
            b'E' => {
                let mut ack = vec![b'A'];
                ack.extend_from_slice(&counted.to_be_bytes());
                writer.write_all(&framed(&ack))?;
                counted = 0;
            }
            other => return Err(fail(format!("floor-echo: unknown message kind {other}"))),
        }
    }
}
