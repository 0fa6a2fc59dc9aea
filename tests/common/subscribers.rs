//! Clients read on threads of their own, so notifications are taken (and
//! validated) while the test announces: gossip never waits for a verdict that
//! a sequentially polled client would give too late.

use super::client::{Client, Notification, Recv, validation_msg};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A notification and the index of the subscriber that got it.
struct Delivery {
    index: usize,
    note: Notification,
}

/// A set of clients, each read by a thread that validates every item as valid
/// (when `auto_validate`) and reports it. Dropping it closes the sockets and
/// joins the threads.
pub struct Subscribers {
    rx: Receiver<Delivery>,
    threads: Vec<(TcpStream, JoinHandle<()>)>,
    received: Vec<Vec<Notification>>,
}

impl Subscribers {
    /// Starts one reading thread per client; `received()[i]` is client i's.
    pub fn spawn(clients: Vec<Client>, auto_validate: bool) -> Subscribers {
        let (tx, rx) = mpsc::channel();
        let received = vec![Vec::new(); clients.len()];
        let threads = clients
            .into_iter()
            .enumerate()
            .map(|(index, client)| {
                let handle = client.stream_handle();
                let tx = tx.clone();
                let thread = thread::spawn(move || read_loop(client, index, tx, auto_validate));
                (handle, thread)
            })
            .collect();
        Subscribers {
            rx,
            threads,
            received,
        }
    }

    /// Everything each subscriber got so far, in arrival order.
    pub fn received(&self) -> &[Vec<Notification>] {
        &self.received
    }

    /// Collects notifications until `done(received)` holds (true) or the
    /// deadline passes (false). `done` is checked after each batch.
    pub fn wait_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&[Vec<Notification>]) -> bool,
    ) -> bool {
        loop {
            if done(&self.received) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.rx.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(delivery) => self.store(delivery),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return done(&self.received),
            }
            while let Ok(delivery) = self.rx.try_recv() {
                self.store(delivery);
            }
        }
    }

    /// Waits until every subscriber got an item whose data is `data`.
    pub fn wait_all_got(&mut self, data: &[u8], deadline: Instant) -> bool {
        self.wait_until(deadline, |received| {
            received
                .iter()
                .all(|notes| notes.iter().any(|n| n.data == data))
        })
    }

    fn store(&mut self, delivery: Delivery) {
        self.received[delivery.index].push(delivery.note);
    }
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        for (stream, _) in &self.threads {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (_, thread) in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One subscriber's thread: read, validate, report, until the socket closes
/// or the receiving side is gone.
fn read_loop(mut client: Client, index: usize, tx: Sender<Delivery>, auto_validate: bool) {
    loop {
        match client.recv(Instant::now() + Duration::from_secs(1)) {
            Recv::Note(note) => {
                if auto_validate && client.send_raw(&validation_msg(note.msg_id, true)).is_err() {
                    return;
                }
                if tx.send(Delivery { index, note }).is_err() {
                    return;
                }
            }
            Recv::Timeout => {}
            Recv::Closed => return,
        }
    }
}
