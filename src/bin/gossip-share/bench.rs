//! `gossip-share bench`: how fast is the download path on loopback?
//!
//! Writes an N MB file of pseudo-random bytes, starts two piece servers in
//! this process (the same code as `serve`, without gossip, which is not on
//! the data path), then times, `--runs` times each:
//!
//! - **floor**: the file sent over one plain TCP connection and written to a
//!   new file (no protocol, no hashing): what loopback and the disk allow;
//! - **get, 1 holder** and **get, 2 holders**: the downloader of `get`, with
//!   piece verification, the whole-file check and the rename.
//!
//! It prints the best and the median MB/s (1 MB = 10^6 bytes) of each.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::{Duration, Instant};

use getopts::Options;
use parking_lot::Mutex;

use crate::fetch::{FetchOptions, Wanted, fetch};
use crate::hash::{FileDigest, digest_file};
use crate::index::{MAX_ENTRIES, NetworkIndex};
use crate::server::Server;
use crate::shares::{Share, Shares};
use crate::{Failure, number, parse_options, runtime, usage};

/// Copy buffer of the floor.
const COPY_BUF: usize = 1 << 20;

/// Removes the bench directory when the bench ends, also on an error.
struct BenchDir(PathBuf);

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    opts.optopt("", "size-mb", "file size in MB", "N");
    opts.optopt(
        "",
        "dir",
        "where the files go (default: the temp dir)",
        "DIR",
    );
    opts.optopt("", "runs", "runs per mode", "N");
    opts.optopt("", "connections", "connections per holder", "N");
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    let size_mb: u64 = number(&m, "size-mb", 200)?;
    let runs: usize = number(&m, "runs", 3)?;
    let connections: usize = number(&m, "connections", 2)?;
    if size_mb == 0 || runs == 0 || connections == 0 {
        return Err(usage(
            "--size-mb, --runs and --connections must be at least 1",
        ));
    }
    let parent = m
        .opt_str("dir")
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = BenchDir(parent.join(format!("gossip-share-bench-{}", std::process::id())));
    fs::create_dir_all(&dir.0).map_err(|e| runtime(format!("cannot create the bench dir: {e}")))?;
    bench(&dir.0, size_mb * 1_000_000, runs, connections).map_err(|e| runtime(e.to_string()))
}

fn bench(dir: &Path, size: u64, runs: usize, connections: usize) -> io::Result<()> {
    let source = dir.join("source.bin");
    write_random(&source, size)?;
    let started = Instant::now();
    let digest = digest_file(&source)?;
    let hash_rate = rate(size, started.elapsed());
    println!(
        "file: {} MB, {} pieces of {} KiB",
        size / 1_000_000,
        digest.pieces.len(),
        digest.piece_size / 1024
    );
    println!("hashing (BLAKE2b-256, one thread): {hash_rate:.0} MB/s");
    let holders = [
        holder(&source, digest.clone())?,
        holder(&source, digest.clone())?,
    ];
    let target = dir.join("copy.bin");
    let mut rows = Vec::new();
    let floor = repeat(runs, &target, || floor_copy(&source, &target))?;
    rows.push(("floor: 1 plain TCP connection", floor));
    for n in [1, 2] {
        let wanted = Wanted {
            name: "source.bin".into(),
            content: digest.content,
            size,
            piece_size: digest.piece_size,
            holders: holders[..n].to_vec(),
        };
        let opts = FetchOptions {
            connections,
            stall_timeout: Duration::from_secs(30),
            progress: false,
        };
        let times = repeat(runs, &target, || {
            let start = Instant::now();
            fetch(&wanted, &target, &opts).map_err(io::Error::other)?;
            Ok(start.elapsed())
        })?;
        rows.push((
            if n == 1 {
                "get: 1 holder"
            } else {
                "get: 2 holders"
            },
            times,
        ));
    }
    println!("{:<32} {:>10} {:>10}", "mode", "best MB/s", "median MB/s");
    for (name, mut times) in rows {
        times.sort();
        let best = rate(size, times[0]);
        let median = rate(size, times[times.len() / 2]);
        println!("{name:<32} {best:>10.0} {median:>10.0}");
    }
    Ok(())
}

/// Times `body` `runs` times, removing `target` before each run.
fn repeat(
    runs: usize,
    target: &Path,
    mut body: impl FnMut() -> io::Result<Duration>,
) -> io::Result<Vec<Duration>> {
    (0..runs)
        .map(|_| {
            let _ = fs::remove_file(target);
            body()
        })
        .collect()
}

fn rate(size: u64, elapsed: Duration) -> f64 {
    size as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
}

/// Writes `size` pseudo-random (xorshift) bytes.
fn write_random(path: &Path, size: u64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(COPY_BUF, File::create(path)?);
    let mut state = 0x243f_6a88_85a3_08d3u64;
    let mut written = 0u64;
    let mut chunk = vec![0u8; COPY_BUF];
    while written < size {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = (size - written).min(COPY_BUF as u64) as usize;
        out.write_all(&chunk[..n])?;
        written += n as u64;
    }
    out.flush()
}

/// A piece server in this process sharing `source`.
fn holder(source: &Path, digest: FileDigest) -> io::Result<SocketAddr> {
    let shares = Shares::new();
    shares.insert(Share {
        name: "source.bin".into(),
        path: source.to_path_buf(),
        digest,
    });
    let index = Arc::new(Mutex::new(NetworkIndex::new(
        Duration::from_secs(60),
        MAX_ENTRIES,
    )));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = Server {
        shares,
        index,
        corrupt: false,
        open: Arc::new(AtomicUsize::new(0)),
    };
    server.spawn(listener)?;
    Ok(addr)
}

/// The floor: one connection, the sender reads the file, the receiver
/// writes it to `target`.
fn floor_copy(source: &Path, target: &Path) -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let source = source.to_path_buf();
    let sender = thread::spawn(move || -> io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut file = File::open(source)?;
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            stream.write_all(&buf[..n])?;
        }
    });
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = File::create(target)?;
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    let elapsed = start.elapsed();
    sender
        .join()
        .map_err(|_| io::Error::other("the floor's sender panicked"))??;
    Ok(elapsed)
}
