//! Blocking channel operations that park at once.
//!
//! crossbeam's blocking `recv` and `send` (and a `select!` with a single
//! operation, which the macro turns into them) spin and then call
//! `sched_yield` four times before they park the thread. With many more
//! threads than cores (every host has a reader and a writer per connection
//! and per API client, and many hosts may share a machine), each yield that
//! finds another thread runnable is a context switch, and the message these
//! threads wait for is rarely a few nanoseconds away. A [`Select`] with one
//! operation tries it once and then parks, which is what these threads want.

use crossbeam_channel::{Receiver, RecvError, Select, SendError, Sender};

/// Like [`Receiver::recv`], but parks as soon as the channel is empty.
pub fn recv<T>(rx: &Receiver<T>) -> Result<T, RecvError> {
    if let Ok(msg) = rx.try_recv() {
        return Ok(msg);
    }
    let mut sel = Select::new();
    sel.recv(rx);
    sel.select().recv(rx)
}

/// Like [`Sender::send`], but parks as soon as the channel is full.
pub fn send<T>(tx: &Sender<T>, msg: T) -> Result<(), SendError<T>> {
    let msg = match tx.try_send(msg) {
        Ok(()) => return Ok(()),
        Err(e) if e.is_disconnected() => return Err(SendError(e.into_inner())),
        Err(e) => e.into_inner(),
    };
    let mut sel = Select::new();
    sel.send(tx);
    sel.select().send(tx, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    #[test]
    fn waits_for_room_and_for_messages() {
        let (tx, rx) = bounded(1);
        send(&tx, 1).unwrap();
        let sender = std::thread::spawn(move || send(&tx, 2));
        assert_eq!(recv(&rx), Ok(1));
        assert_eq!(recv(&rx), Ok(2));
        sender.join().unwrap().unwrap();
        assert_eq!(recv(&rx), Err(RecvError));
    }

    #[test]
    fn a_send_to_a_closed_channel_hands_the_message_back() {
        let (tx, rx) = bounded(1);
        drop(rx);
        assert_eq!(send(&tx, 7), Err(SendError(7)));
    }
}
