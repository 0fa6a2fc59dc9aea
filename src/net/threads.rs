//! A registry of the connection threads, so shutdown can wait for them.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The join handles of live connection threads.
///
/// A lock rather than an owner thread because threads are spawned both by the
/// listener thread and by the node thread; it is held only to push or prune.
#[derive(Clone, Default)]
pub struct Threads {
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Threads {
    /// Spawns a named thread and keeps its handle. Finished threads are
    /// pruned on the way, so the list stays as long as the live threads.
    pub fn spawn(&self, name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let handle = std::thread::Builder::new().name(name).spawn(f)?;
        let mut handles = self.handles.lock();
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
        Ok(())
    }

    /// Number of threads not yet finished.
    pub fn live(&self) -> usize {
        self.handles
            .lock()
            .iter()
            .filter(|h| !h.is_finished())
            .count()
    }

    /// Joins every thread that finishes before `deadline`; returns how many
    /// were still running then (they are left to end with the process).
    pub fn join_until(&self, deadline: Instant) -> usize {
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.handles.lock());
        let mut left = 0;
        for h in handles {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                // A panicking connection thread was already logged by the panic hook.
                let _ = h.join();
            } else {
                left += 1;
            }
        }
        left
    }
}
