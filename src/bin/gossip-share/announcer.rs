//! The announcer thread: turns share changes into index items and ANNOUNCEs
//! them to gossipd on a connection of its own, and re-announces every share
//! each period so newcomers learn the index and entries do not expire.
//!
//! Every item gets the next `seq` (starting from the clock in microseconds
//! at start-up, so a restarted holder's items still supersede its old ones)
//! and is applied to this host's own index too, since gossipd never echoes
//! an item to the host that announced it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, after, select};
use gossipd::api::codec::{self, ApiMessage};

use crate::index::SharedIndex;
use crate::index_item::{IndexItem, Kind};
use crate::shares::{Share, Shares};

/// Capacity of the queue from the watcher to the announcer; the watcher
/// waits (with a deadline) while it is full.
pub const EVENT_QUEUE: usize = 1024;

/// What the announcer is asked to do.
pub enum Event {
    /// Announce that this host serves the share.
    Offer(Arc<Share>),
    /// Announce that this host no longer serves the share.
    Withdraw(Arc<Share>),
    /// Withdraw every share, answer on the channel, and stop.
    Stop(Sender<()>),
}

/// The announcer's state; [`Announcer::run`] owns it on its thread.
pub struct Announcer {
    /// The ANNOUNCE connection to gossipd (written only by this thread).
    pub stream: TcpStream,
    /// The index item data type.
    pub data_type: u16,
    /// The address announced for fetching.
    pub holder: SocketAddr,
    /// The shares, read for the periodic re-announcement.
    pub shares: Shares,
    /// This host's index, where its own items go too.
    pub index: SharedIndex,
    /// Time between two re-announcements of every share.
    pub period: Duration,
}

impl Announcer {
    /// Serves events until `Stop` or a write to gossipd fails (returned).
    pub fn run(mut self, events: Receiver<Event>) -> Result<(), String> {
        let mut seq = start_seq();
        let mut next_refresh = Instant::now() + self.period;
        loop {
            let timer = after(next_refresh.saturating_duration_since(Instant::now()));
            select! {
                recv(events) -> event => match event {
                    Ok(Event::Offer(share)) => self.announce(&share, Kind::Offer, &mut seq)?,
                    Ok(Event::Withdraw(share)) => {
                        self.announce(&share, Kind::Withdrawal, &mut seq)?;
                    }
                    Ok(Event::Stop(done)) => {
                        for share in self.shares.all() {
                            self.announce(&share, Kind::Withdrawal, &mut seq)?;
                        }
                        let _ = done.send(());
                        return Ok(());
                    }
                    Err(_) => return Ok(()),
                },
                recv(timer) -> _ => {
                    let all = self.shares.all();
                    log::debug!("re-announcing {} shares", all.len());
                    for share in all {
                        self.announce(&share, Kind::Offer, &mut seq)?;
                    }
                    next_refresh = Instant::now() + self.period;
                }
            }
        }
    }

    fn announce(&mut self, share: &Share, kind: Kind, seq: &mut u64) -> Result<(), String> {
        *seq += 1;
        let item = IndexItem {
            kind,
            seq: *seq,
            holder: self.holder,
            content: share.digest.content,
            size: share.digest.size,
            piece_size: share.digest.piece_size,
            name: share.name.clone(),
        };
        self.index.lock().apply(&item, Instant::now());
        let msg = ApiMessage::Announce {
            ttl: 0,
            data_type: self.data_type,
            data: item.encode(),
        };
        let mut out = Vec::with_capacity(512);
        // An index item is at most MAX_ITEM_LEN (< MAX_DATA_LEN) bytes.
        codec::encode(&msg, &mut out).map_err(|e| e.to_string())?;
        self.stream
            .write_all(&out)
            .map_err(|e| format!("announcing to gossip failed: {e}"))
    }
}

/// The first seq: microseconds since the Unix epoch, so it grows across
/// restarts.
fn start_seq() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
