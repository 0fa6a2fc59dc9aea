//! `gossip-share serve`: share a directory, keep the network index, serve
//! pieces and answer the local commands.
//!
//! Threads: `watcher` (polls the directory, updates the shares, queues
//! announcements), `announcer` (the ANNOUNCE connection to gossipd),
//! `subscriber` (the NOTIFY connection: validates index items, fills the
//! index), `share-listener` plus one thread per piece-server connection,
//! and the main thread, which waits for a fatal error or a signal. On
//! SIGINT/SIGTERM every share is withdrawn (within 2 s) before exiting.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded, select};
use parking_lot::Mutex;

use crate::announcer::{Announcer, EVENT_QUEUE, Event};
use crate::control::CONNECT_TIMEOUT;
use crate::index::{MAX_ENTRIES, NetworkIndex, SharedIndex};
use crate::server::Server;
use crate::shares::{Share, Shares};
use crate::subscriber;
use crate::watcher::{Change, PollInterval, Watcher};

/// How long the watcher waits for room in the announcer's queue before it
/// gives up (the announcer is stuck writing to gossipd).
const QUEUE_DEADLINE: Duration = Duration::from_secs(30);
/// How long one write to gossipd may block (gossipd slows a client that
/// announces faster than the network carries through TCP; this long
/// without progress means it is stuck, and serve stops with an error).
const GOSSIP_WRITE_DEADLINE: Duration = Duration::from_secs(60);
/// How long a shutdown waits for the withdrawals to be written.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

/// The serve command's settings.
pub struct ServeConfig {
    /// The directory to share.
    pub dir: PathBuf,
    /// gossipd's API address.
    pub gossip: SocketAddr,
    /// Where the piece server listens.
    pub listen: SocketAddr,
    /// The address announced for fetching; the bound listen address if `None`.
    pub advertise: Option<SocketAddr>,
    /// The index item data type.
    pub data_type: u16,
    /// Time between re-announcements.
    pub reannounce: Duration,
    /// Index entries not refreshed for this long expire.
    pub expiry: Duration,
    /// Test only: corrupt every piece served.
    pub corrupt: bool,
}

/// Runs until a fatal error (returned) or a signal (`Ok`).
pub fn serve(config: ServeConfig) -> Result<(), String> {
    let dir = &config.dir;
    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let (listener, holder) = bind(&config)?;
    let (notify_conn, announce_conn) = (dial(&config, "notify")?, dial(&config, "announce")?);
    let index: SharedIndex = Arc::new(Mutex::new(NetworkIndex::new(config.expiry, MAX_ENTRIES)));
    let shares = Shares::new();
    let (fatal_tx, fatal_rx) = bounded::<String>(4);
    let (events_tx, events_rx) = bounded(EVENT_QUEUE);

    let server = Server {
        shares: shares.clone(),
        index: Arc::clone(&index),
        corrupt: config.corrupt,
        open: Arc::new(AtomicUsize::new(0)),
    };
    server.spawn(listener).map_err(|e| e.to_string())?;
    if config.corrupt {
        log::warn!("--corrupt-pieces: every piece served is corrupted (testing only)");
    }
    let (sub_index, sub_fatal) = (Arc::clone(&index), fatal_tx.clone());
    spawn("subscriber", sub_fatal, move || {
        subscriber::run(notify_conn, config.data_type, holder, sub_index)
    })?;
    let announcer = Announcer {
        stream: announce_conn,
        data_type: config.data_type,
        holder,
        shares: shares.clone(),
        index,
        period: config.reannounce,
    };
    spawn("announcer", fatal_tx.clone(), move || {
        announcer.run(events_rx)
    })?;
    let (watch_dir, watch_events) = (config.dir.clone(), events_tx.clone());
    spawn("watcher", fatal_tx, move || {
        watch(watch_dir, shares, watch_events)
    })?;
    log::info!(
        "sharing {} under data type {} through gossip at {}",
        dir.display(),
        config.data_type,
        config.gossip
    );
    wait_for_end(&fatal_rx, &events_tx)
}

/// Binds the piece server; returns it and the address to announce.
fn bind(config: &ServeConfig) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let holder = config.advertise.unwrap_or(bound);
    if holder.ip().is_unspecified() || holder.port() == 0 {
        let hint = "give --advertise HOST:PORT";
        return Err(format!("{holder} cannot be fetched from: {hint}"));
    }
    log::info!("piece server listening on {bound}, announced as {holder}");
    Ok((listener, holder))
}

/// One connection to gossipd's API, with a deadline on every write.
fn dial(config: &ServeConfig, what: &str) -> Result<TcpStream, String> {
    let gossip = config.gossip;
    let failed = |e| format!("cannot connect to gossip at {gossip} ({what}): {e}");
    let stream = TcpStream::connect_timeout(&gossip, CONNECT_TIMEOUT).map_err(failed)?;
    stream
        .set_write_timeout(Some(GOSSIP_WRITE_DEADLINE))
        .map_err(failed)?;
    Ok(stream)
}

/// Starts a named thread whose error, if it returns one, is fatal.
fn spawn(
    name: &str,
    fatal: Sender<String>,
    body: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    let thread_name = name.to_string();
    thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            if let Err(e) = body() {
                let _ = fatal.send(format!("{thread_name}: {e}"));
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))
}

/// Waits for a fatal error or a signal; on a signal, withdraws the shares.
fn wait_for_end(
    fatal: &crossbeam_channel::Receiver<String>,
    events: &Sender<Event>,
) -> Result<(), String> {
    let (signal_tx, signal_rx) = bounded(1);
    ctrlc::set_handler(move || {
        let _ = signal_tx.try_send(());
    })
    .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    select! {
        recv(fatal) -> e => Err(e.unwrap_or_else(|_| "every thread ended".into())),
        recv(signal_rx) -> _ => {
            log::info!("signal received: withdrawing the shares");
            let (done_tx, done_rx) = bounded(1);
            let sent = events.send_timeout(Event::Stop(done_tx), SHUTDOWN_DEADLINE);
            if sent.is_err() || done_rx.recv_timeout(SHUTDOWN_DEADLINE).is_err() {
                log::warn!("the withdrawals were not all sent within {SHUTDOWN_DEADLINE:?}");
            }
            Ok(())
        }
    }
}

/// The watcher thread: polls the directory forever, adaptively.
fn watch(dir: PathBuf, shares: Shares, events: Sender<Event>) -> Result<(), String> {
    let mut watcher = Watcher::new(&dir);
    let mut interval = PollInterval::new();
    loop {
        match watcher.poll() {
            Ok(poll) => {
                for event in poll.changes.into_iter().filter_map(|c| apply(&shares, c)) {
                    events
                        .send_timeout(event, QUEUE_DEADLINE)
                        .map_err(|_| "the announcer took no announcement for 30 s")?;
                }
                interval.after_poll(poll.active);
            }
            Err(e) => {
                log::warn!("cannot list {}: {e}", dir.display());
                interval.after_poll(false);
            }
        }
        thread::sleep(interval.current());
    }
}

/// Updates the shares for one change and says what to announce.
fn apply(shares: &Shares, change: Change) -> Option<Event> {
    match change {
        Change::Offered { name, path, digest } => {
            log::info!(
                "sharing {name} ({} bytes, content {})",
                digest.size,
                digest.content
            );
            Some(Event::Offer(shares.insert(Share { name, path, digest })))
        }
        Change::Removed(name) => {
            log::info!("no longer sharing {name}");
            shares.remove(&name).map(Event::Withdraw)
        }
    }
}
