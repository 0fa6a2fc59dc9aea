//! Downloading one file version from its holders, in parallel pieces.
//!
//! 1. The piece list is fetched from the holders in turn until one list
//!    checks out against the content hash (see hash.rs).
//! 2. `connections` worker threads per holder take piece numbers from one
//!    shared queue, so faster holders serve more pieces (load balancing).
//!    Each piece is checked against its list entry before it is written
//!    (at its offset) into a temp file beside the target.
//! 3. A holder that fails in any way (cannot be reached, times out, sends an
//!    error or a piece that does not match its hash) is dropped for the rest
//!    of the download and the piece goes back to the queue for the others.
//! 4. When every piece is in, the whole file is checked against the content
//!    hash: the content hash is recomputed from the hashes of the bytes
//!    actually written (one per piece, each computed on the buffer that went
//!    to the file), and the temp file is renamed over the target. (The file
//!    is not read back from disk: that would check the disk, not the holders,
//!    and halve the download rate; see docs/SHARE.md.)
//!
//! Every wait has a deadline: sockets time out after `REPLY_TIMEOUT`, and
//! the download fails when no piece arrives for `stall_timeout`.

use std::fs::{self, File, OpenOptions};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use parking_lot::Mutex;

use crate::control::Connection;
use crate::hash::{Hash, content_hash, piece_count, piece_range};
use crate::progress::Progress;
use crate::wire::{Request, Response};

/// Capacity of the queue from the workers to the coordinator; workers wait
/// while it is full, the coordinator drains it continuously.
const OUTCOME_QUEUE: usize = 256;
/// How long an idle worker waits for a piece number before it looks at the
/// done flag again.
const WORKER_POLL: Duration = Duration::from_millis(100);

/// The file version to fetch, as the index describes it.
#[derive(Clone, Debug)]
pub struct Wanted {
    /// The file's name (for messages).
    pub name: String,
    /// Its content hash: what everything is verified against.
    pub content: Hash,
    /// Its size.
    pub size: u64,
    /// Its piece size.
    pub piece_size: u32,
    /// The holders to fetch from.
    pub holders: Vec<SocketAddr>,
}

/// How to fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Connections (worker threads) per holder.
    pub connections: usize,
    /// The download fails when no piece arrives for this long.
    pub stall_timeout: Duration,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// How the download went.
#[derive(Debug)]
pub struct Report {
    /// Time from the first request to the rename.
    pub elapsed: Duration,
    /// Pieces each holder served, in `Wanted::holders` order.
    pub pieces: Vec<u64>,
    /// Holders dropped, with the reason.
    pub dropped: Vec<(SocketAddr, String)>,
}

/// What a worker tells the coordinator.
enum Outcome {
    /// A piece (of `len` bytes) was verified and written.
    Piece { holder: usize, len: u32 },
    /// A holder failed and is dropped.
    Dropped { holder: usize, reason: String },
    /// Writing the temp file failed: the download cannot go on.
    Fatal(String),
    /// A worker ended.
    Exit,
}

/// Removes the temp file unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What the workers share.
struct Job<'a> {
    wanted: &'a Wanted,
    pieces: Vec<Hash>,
    file: &'a File,
    dropped: Vec<AtomicBool>,
    done: AtomicBool,
    /// The hash of the bytes written for each piece, once written; a lock
    /// because workers set entries, each under it for one store.
    written: Mutex<Vec<Option<Hash>>>,
}

/// Downloads `wanted` to `target` (replacing it).
pub fn fetch(wanted: &Wanted, target: &Path, opts: &FetchOptions) -> Result<Report, String> {
    let start = Instant::now();
    if wanted.holders.is_empty() {
        return Err(format!("no holder offers {}", wanted.name));
    }
    let mut dropped = Vec::new();
    let pieces = piece_list(wanted, &mut dropped)?;
    let temp = temp_file(target, wanted.size)?;
    let job = Job {
        wanted,
        pieces,
        file: &temp.file,
        dropped: wanted
            .holders
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect(),
        done: AtomicBool::new(false),
        written: Mutex::new(vec![None; wanted_pieces(wanted)]),
    };
    for (holder, _) in &dropped {
        if let Some(i) = wanted.holders.iter().position(|h| h == holder) {
            job.dropped[i].store(true, Ordering::SeqCst);
        }
    }
    let pieces = run_workers(&job, opts, &mut dropped)?;
    let written: Option<Vec<Hash>> = job.written.into_inner().into_iter().collect();
    let whole = written.map(|w| content_hash(wanted.size, wanted.piece_size, &w));
    if whole != Some(wanted.content) {
        return Err("the downloaded file does not match its content hash".into());
    }
    let mut temp = temp;
    fs::rename(&temp.path, target)
        .map_err(|e| format!("cannot rename the download to {}: {e}", target.display()))?;
    temp.kept = true;
    Ok(Report {
        elapsed: start.elapsed(),
        pieces,
        dropped,
    })
}

/// Number of pieces of the wanted file (at most `MAX_PIECES`: the index
/// item's piece size was checked against its size).
fn wanted_pieces(wanted: &Wanted) -> usize {
    piece_count(wanted.size, wanted.piece_size) as usize
}

/// The piece hashes from the first holder whose list matches the content
/// hash; holders with a bad list are dropped.
fn piece_list(
    wanted: &Wanted,
    dropped: &mut Vec<(SocketAddr, String)>,
) -> Result<Vec<Hash>, String> {
    let first = std::process::id() as usize % wanted.holders.len();
    let order = wanted.holders[first..]
        .iter()
        .chain(&wanted.holders[..first]);
    for &holder in order {
        let reply = Connection::open(holder)
            .and_then(|mut conn| conn.call(&Request::PieceList(wanted.content)));
        let reason = match reply {
            Ok(Response::PieceList {
                size,
                piece_size,
                pieces,
            }) if size == wanted.size
                && piece_size == wanted.piece_size
                && content_hash(size, piece_size, &pieces) == wanted.content =>
            {
                return Ok(pieces);
            }
            Ok(Response::PieceList { .. }) => {
                "a piece list that does not match the content hash".into()
            }
            Ok(Response::Error(code, text)) => format!("{code:?}: {text}"),
            Ok(other) => format!("an unexpected reply {other:?}"),
            Err(e) => e.to_string(),
        };
        log::warn!("holder {holder} dropped: piece list: {reason}");
        dropped.push((holder, format!("piece list: {reason}")));
    }
    Err(format!(
        "no holder of {} gave a valid piece list",
        wanted.name
    ))
}

/// Creates `.NAME.PID.part` beside the target, at its final size.
fn temp_file(target: &Path, size: u64) -> Result<TempFile, String> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| format!("{} names no file", target.display()))?;
    let path = dir.join(format!(
        ".{}.{}.part",
        name.to_string_lossy(),
        std::process::id()
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let temp = TempFile {
        path,
        file,
        kept: false,
    };
    temp.file
        .set_len(size)
        .map_err(|e| format!("cannot size {}: {e}", temp.path.display()))?;
    Ok(temp)
}

/// Runs the workers until every piece is in (pieces per holder) or the
/// download cannot finish.
fn run_workers(
    job: &Job,
    opts: &FetchOptions,
    dropped: &mut Vec<(SocketAddr, String)>,
) -> Result<Vec<u64>, String> {
    let count = piece_count(job.wanted.size, job.wanted.piece_size);
    // Every piece number is in the queue, in flight or done: never full.
    let (work_tx, work_rx) = bounded::<u64>(count.max(1) as usize);
    for index in 0..count {
        let _ = work_tx.try_send(index);
    }
    let (outcome_tx, outcome_rx) = bounded(OUTCOME_QUEUE);
    thread::scope(|scope| {
        let mut workers = 0;
        for holder in 0..job.wanted.holders.len() {
            if job.dropped[holder].load(Ordering::SeqCst) {
                continue;
            }
            for _ in 0..opts.connections.max(1) {
                let (work_tx, work_rx, outcome_tx) =
                    (work_tx.clone(), work_rx.clone(), outcome_tx.clone());
                scope.spawn(move || worker(job, holder, &work_tx, &work_rx, &outcome_tx));
                workers += 1;
            }
        }
        drop(outcome_tx);
        let result = coordinate(job, opts, count, workers, &outcome_rx, dropped);
        job.done.store(true, Ordering::SeqCst);
        drop(outcome_rx);
        result
    })
}

/// Counts outcomes until all `count` pieces are in.
fn coordinate(
    job: &Job,
    opts: &FetchOptions,
    count: u64,
    mut workers: usize,
    outcomes: &Receiver<Outcome>,
    dropped: &mut Vec<(SocketAddr, String)>,
) -> Result<Vec<u64>, String> {
    let mut per_holder = vec![0u64; job.wanted.holders.len()];
    let (mut done, mut bytes) = (0u64, 0u64);
    let mut progress = opts.progress.then(|| Progress::new(job.wanted.size));
    let mut last_piece = Instant::now();
    while done < count {
        match outcomes.recv_timeout(Duration::from_millis(200)) {
            Ok(Outcome::Piece { holder, len }) => {
                done += 1;
                bytes += u64::from(len);
                per_holder[holder] += 1;
                last_piece = Instant::now();
            }
            Ok(Outcome::Dropped { holder, reason }) => {
                let addr = job.wanted.holders[holder];
                log::warn!("holder {addr} dropped: {reason}");
                dropped.push((addr, reason));
            }
            Ok(Outcome::Fatal(e)) => return Err(e),
            Ok(Outcome::Exit) => {
                workers = workers.saturating_sub(1);
                if workers == 0 {
                    return Err(no_holder_left(count, done));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Err(no_holder_left(count, done)),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Some(progress) = progress.as_mut() {
            progress.update(bytes);
        }
        if last_piece.elapsed() > opts.stall_timeout {
            let stall = opts.stall_timeout;
            return Err(format!(
                "no piece arrived for {stall:?} ({done} of {count} in)"
            ));
        }
    }
    if let Some(progress) = progress.as_mut() {
        progress.finish(bytes);
    }
    Ok(per_holder)
}

fn no_holder_left(count: u64, done: u64) -> String {
    format!("{} of {count} pieces missing: no holder left", count - done)
}

/// One connection to one holder: fetches pieces from the queue until the
/// download is done or the holder is dropped.
fn worker(
    job: &Job,
    holder: usize,
    work_tx: &Sender<u64>,
    work_rx: &Receiver<u64>,
    outcomes: &Sender<Outcome>,
) {
    let addr = job.wanted.holders[holder];
    let drop_holder = |reason: String| {
        if !job.dropped[holder].swap(true, Ordering::SeqCst) {
            let _ = outcomes.send(Outcome::Dropped { holder, reason });
        }
    };
    match Connection::open(addr) {
        Ok(mut conn) => loop {
            if job.done.load(Ordering::SeqCst) || job.dropped[holder].load(Ordering::SeqCst) {
                break;
            }
            let Ok(index) = work_rx.recv_timeout(WORKER_POLL) else {
                continue;
            };
            if job.dropped[holder].load(Ordering::SeqCst) {
                let _ = work_tx.try_send(index);
                break;
            }
            match fetch_piece(job, &mut conn, index) {
                Ok(len) => {
                    if outcomes.send(Outcome::Piece { holder, len }).is_err() {
                        break;
                    }
                }
                Err(PieceError::Holder(reason)) => {
                    let _ = work_tx.try_send(index);
                    drop_holder(reason);
                    break;
                }
                Err(PieceError::Local(e)) => {
                    let _ = outcomes.send(Outcome::Fatal(e));
                    break;
                }
            }
        },
        Err(e) => drop_holder(format!("cannot connect: {e}")),
    }
    let _ = outcomes.send(Outcome::Exit);
}

/// Why a piece did not make it.
enum PieceError {
    /// The holder's fault: drop it, fetch the piece elsewhere.
    Holder(String),
    /// Writing here failed.
    Local(String),
}

/// Fetches, verifies and writes piece `index`; its length on success.
fn fetch_piece(job: &Job, conn: &mut Connection, index: u64) -> Result<u32, PieceError> {
    let (offset, len) = piece_range(job.wanted.size, job.wanted.piece_size, index);
    let request = Request::Piece {
        content: job.wanted.content,
        offset,
        len,
    };
    let data = match conn.call(&request) {
        Ok(Response::Piece(data)) => data,
        Ok(Response::Error(code, text)) => {
            return Err(PieceError::Holder(format!(
                "piece {index}: {code:?}: {text}"
            )));
        }
        Ok(_) => {
            return Err(PieceError::Holder(format!(
                "piece {index}: unexpected reply"
            )));
        }
        Err(e) => return Err(PieceError::Holder(format!("piece {index}: {e}"))),
    };
    let hash = Hash::of(&data);
    if data.len() != len as usize || hash != job.pieces[index as usize] {
        return Err(PieceError::Holder(format!(
            "piece {index} does not match its hash (corrupt or lying holder)"
        )));
    }
    job.file
        .write_all_at(&data, offset)
        .map_err(|e| PieceError::Local(format!("cannot write the download: {e}")))?;
    job.written.lock()[index as usize] = Some(hash);
    Ok(len)
}
