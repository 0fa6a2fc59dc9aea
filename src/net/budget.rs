//! A byte budget shared by the peer readers and the node thread, so the items
//! waiting in the node's net queue never hold more than a set amount of
//! memory, however large they are.

use parking_lot::{Condvar, Mutex};

/// Bytes of peer messages handed to the node thread and not yet taken by it
/// (a guess: a few milliseconds of traffic at full speed, and a bound on
/// memory that suits small hosts).
pub const NET_QUEUE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
struct State {
    used: usize,
    waiting: usize,
    closed: bool,
}

/// Readers [`acquire`](ByteBudget::acquire) before they queue a message and
/// block while the budget is spent; the node thread
/// [`release`](ByteBudget::release)s as it takes messages. A lock and a
/// condition variable rather than a channel because the budget is a count,
/// not a stream; the lock is held only to adjust it.
#[derive(Debug)]
pub struct ByteBudget {
    cap: usize,
    state: Mutex<State>,
    room: Condvar,
}

impl ByteBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> ByteBudget {
        ByteBudget {
            cap: cap.max(1),
            state: Mutex::new(State::default()),
            room: Condvar::new(),
        }
    }

    /// Takes `n` bytes, waiting while that would exceed the budget (a single
    /// message larger than the whole budget is let through when nothing else
    /// is queued). Returns false when the budget was closed (shutdown).
    pub fn acquire(&self, n: usize) -> bool {
        let mut state = self.state.lock();
        while !state.closed && state.used > 0 && state.used + n > self.cap {
            state.waiting += 1;
            self.room.wait(&mut state);
            state.waiting -= 1;
        }
        if state.closed {
            return false;
        }
        state.used += n;
        true
    }

    /// Gives back `n` bytes. Waiting readers are woken once half the budget
    /// is free again, so they resume in a batch rather than one by one.
    pub fn release(&self, n: usize) {
        let mut state = self.state.lock();
        state.used = state.used.saturating_sub(n);
        if state.waiting > 0 && state.used <= self.cap / 2 {
            self.room.notify_all();
        }
    }

    /// Bytes currently taken.
    pub fn used(&self) -> usize {
        self.state.lock().used
    }

    /// Wakes every waiting reader and makes all later acquires fail.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn acquiring_beyond_the_budget_waits_for_a_release() {
        let budget = Arc::new(ByteBudget::new(100));
        assert!(budget.acquire(80));
        let b = budget.clone();
        let waiter = std::thread::spawn(move || b.acquire(30));
        // Poll until the waiter is parked, with a deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while budget.state.lock().waiting == 0 {
            assert!(std::time::Instant::now() < deadline, "waiter never waited");
            std::thread::yield_now();
        }
        budget.release(80);
        assert!(waiter.join().unwrap());
        assert_eq!(budget.used(), 30);
    }

    #[test]
    fn one_oversized_message_passes_when_nothing_is_queued() {
        let budget = ByteBudget::new(10);
        assert!(budget.acquire(1000));
        budget.release(1000);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn closing_wakes_waiters_and_refuses_later_acquires() {
        let budget = Arc::new(ByteBudget::new(10));
        assert!(budget.acquire(10));
        let b = budget.clone();
        let waiter = std::thread::spawn(move || b.acquire(5));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while budget.state.lock().waiting == 0 {
            assert!(std::time::Instant::now() < deadline, "waiter never waited");
            std::thread::yield_now();
        }
        budget.close();
        assert!(!waiter.join().unwrap());
        assert!(!budget.acquire(1));
    }
}
