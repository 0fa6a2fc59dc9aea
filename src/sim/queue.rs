//! The timeline: inputs waiting for their simulated time.
//!
//! A binary heap keyed by (due time, sequence number). The sequence number
//! grows with every push, so inputs due at the same time come out in the
//! order they were pushed: the order of a run depends on nothing but the
//! inputs, never on how the heap happens to break ties. The heap holds only
//! the 24-byte keys; the values wait in a slab, so sifting moves little.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// (due time in nanoseconds, sequence number, slab slot).
type Key = (u64, u64, u32);

/// Values due at simulated times (offsets from the start of the run).
#[derive(Debug)]
pub struct Queue<T> {
    heap: BinaryHeap<Reverse<Key>>,
    /// The values by slot; None for a free slot.
    slab: Vec<Option<T>>,
    /// Free slots, reused last freed first.
    free: Vec<u32>,
    next_seq: u64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<T> Queue<T> {
    /// Queues `value` for time `at`, after everything already queued for
    /// that time.
    pub fn push(&mut self, at: Duration, value: T) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(value);
                slot
            }
            None => {
                self.slab.push(Some(value));
                u32::try_from(self.slab.len() - 1).expect("fewer than 4 billion queued inputs")
            }
        };
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.heap.push(Reverse((nanos, self.next_seq, slot)));
        self.next_seq += 1;
    }

    /// Takes the earliest value if it is due at or before `until`.
    pub fn pop_due(&mut self, until: Duration) -> Option<(Duration, T)> {
        let Reverse((nanos, _, _)) = *self.heap.peek()?;
        if u128::from(nanos) > until.as_nanos() {
            return None;
        }
        let Reverse((_, _, slot)) = self.heap.pop()?;
        self.free.push(slot);
        let value = self.slab[slot as usize].take()?;
        Some((Duration::from_nanos(nanos), value))
    }

    /// Every queued value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slab.iter().flatten()
    }

    /// Number of queued values.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn earliest_first_and_ties_in_push_order() {
        let mut q = Queue::default();
        q.push(ms(5), "late");
        q.push(ms(1), "first at 1");
        q.push(ms(1), "second at 1");
        q.push(ms(3), "middle");
        q.push(ms(1), "third at 1");
        let mut order = Vec::new();
        while let Some((at, v)) = q.pop_due(ms(10)) {
            order.push((at, v));
        }
        let expected = [
            (ms(1), "first at 1"),
            (ms(1), "second at 1"),
            (ms(1), "third at 1"),
            (ms(3), "middle"),
            (ms(5), "late"),
        ];
        assert_eq!(order, expected);
    }

    #[test]
    fn nothing_is_taken_before_it_is_due() {
        let mut q = Queue::default();
        q.push(ms(5), 1);
        assert_eq!(q.pop_due(ms(4)), None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(ms(5)), Some((ms(5), 1)));
        assert_eq!(q.len(), 0);
    }
}
