//! Pacing what one connection's reader hands to the node: two token
//! buckets (messages and bytes) per connection, a little below peer
//! accounting's rate limits.
//!
//! A reader that runs out of tokens sleeps until it has them again instead
//! of passing the message on: the peer's writes then back up through TCP,
//! and its own flow control holds its sources back. So a peer sending more
//! than the limits allow is slowed down, not dropped from and banned. That
//! matters because a host cannot tell a flooder from an honest relay that
//! forwards what two flooders send it: banning for rate got honest hubs
//! banned by their leaves (`tests/hostile_peer.rs`, release build). Peer
//! accounting's limits stay as a backstop the pacer keeps a peer under.

use std::time::{Duration, Instant};

use crate::proto::AccountingConfig;

/// The share of accounting's rates the pacer allows: below them, so that
/// measuring at read time rather than at processing time cannot make the
/// core drop what the pacer let through.
const PACE_SHARE: f64 = 0.8;

/// The rates a reader paces to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceConfig {
    /// Messages per second.
    pub message_rate: f64,
    /// Messages at once.
    pub message_burst: f64,
    /// Bytes per second.
    pub byte_rate: f64,
    /// Bytes at once.
    pub byte_burst: f64,
}

impl PaceConfig {
    /// 80 % (`PACE_SHARE`) of accounting's rates and bursts.
    pub fn below(accounting: &AccountingConfig) -> PaceConfig {
        PaceConfig {
            message_rate: f64::from(accounting.message_rate) * PACE_SHARE,
            message_burst: f64::from(accounting.message_burst) * PACE_SHARE,
            byte_rate: accounting.byte_rate as f64 * PACE_SHARE,
            byte_burst: accounting.byte_burst as f64 * PACE_SHARE,
        }
    }
}

/// The buckets of one connection.
#[derive(Debug)]
pub struct Pacer {
    config: PaceConfig,
    messages: f64,
    bytes: f64,
    last: Instant,
}

impl Pacer {
    /// Full buckets at `now`.
    pub fn new(config: PaceConfig, now: Instant) -> Pacer {
        Pacer {
            messages: config.message_burst,
            bytes: config.byte_burst,
            config,
            last: now,
        }
    }

    /// Takes one message of `len` bytes at `now`; returns how long the
    /// reader must wait before passing it on (zero when the buckets had
    /// enough). The buckets may go negative: that debt is the wait.
    pub fn take(&mut self, len: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let c = &self.config;
        self.messages = (self.messages + elapsed * c.message_rate).min(c.message_burst) - 1.0;
        self.bytes = (self.bytes + elapsed * c.byte_rate).min(c.byte_burst) - len as f64;
        let wait = f64::max(
            -self.messages / c.message_rate.max(1.0),
            -self.bytes / c.byte_rate.max(1.0),
        );
        Duration::from_secs_f64(wait.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PaceConfig {
        PaceConfig {
            message_rate: 100.0,
            message_burst: 10.0,
            byte_rate: 1000.0,
            byte_burst: 1000.0,
        }
    }

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_burst_passes_then_messages_wait_their_turn() {
        let start = t0();
        let mut p = Pacer::new(config(), start);
        for _ in 0..10 {
            assert_eq!(p.take(1, start), Duration::ZERO);
        }
        // The 11th at once waits one message's time (10 ms at 100/s).
        let wait = p.take(1, start);
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
        // After waiting, the next waits its own turn only.
        let wait = p.take(1, start + Duration::from_millis(10));
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn bytes_are_paced_too() {
        let start = t0();
        let mut p = Pacer::new(config(), start);
        assert_eq!(p.take(1000, start), Duration::ZERO);
        let wait = p.take(500, start);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_only() {
        let start = t0();
        let mut p = Pacer::new(config(), start);
        let later = start + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(p.take(1, later), Duration::ZERO);
        }
        assert!(p.take(1, later) > Duration::ZERO);
    }

    #[test]
    fn the_pace_is_below_the_accounting_limits() {
        let a = AccountingConfig::default();
        let c = PaceConfig::below(&a);
        assert!(c.message_rate < f64::from(a.message_rate));
        assert!(c.byte_rate < a.byte_rate as f64);
        assert!(c.message_burst < f64::from(a.message_burst));
    }
}
