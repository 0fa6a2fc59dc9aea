//! The protocol core: what to send to whom, as a plain state machine.
//!
//! [`Core`] is fed [`Event`]s (a peer connected, a message arrived, a local
//! client announced or judged an item) together with the current time, and
//! answers with [`Action`]s (send this message to that peer, dial that address,
//! deliver this item to the local clients). It never touches a socket, a
//! thread, a channel or the clock: the node thread ([`crate::node`]) owns one
//! `Core`, feeds it and carries out its actions, and a simulator can run
//! thousands of them in one process under simulated time.
//!
//! The core is made of three layers, one file each:
//!
//! - [`membership`]: which peers are neighbours (at most `degree`, the
//!   active view), which addresses are kept as backups (the passive view),
//!   whom to dial: HyParView with shuffles and keep-alives.
//! - [`broadcast`]: the item cache (bounded by `cache_size`), the seen-set
//!   (so an item is handled once per host even after it left the cache) and
//!   forwarding within an item's ttl.
//! - [`tree`]: Plumtree's eager and lazy push: which neighbours get an item
//!   in full, which get its id, and pulling what was announced but did not
//!   come.
//! - [`origin`]: who announced an item and when: origin keys, signatures
//!   (checked once per item, before it counts as seen), per-origin sequence
//!   numbers and the hybrid logical clock.
//! - [`validation`]: items waiting for the verdicts of the local clients that
//!   were notified of them, with message ids and a deadline (SPEC §4).
//!
//! Beside them, [`accounting`] holds each peer to account (SPEC §6): every
//! message is charged to its sender's rate limits before any layer sees it,
//! and malformed frames, invalid items, protocol violations and floods
//! count towards a ban, which the core enforces by refusing the peer and
//! its proven address and ignoring its messages.
//!
//! Time comes in as [`Instant`](std::time::Instant) arguments and randomness from the `R: Rng`
//! the core is built with, so a seeded run is fully deterministic; clippy
//! enforces that here (no `Instant::now`, no `rand::rng`, no sleeping: see
//! `clippy.toml`).

#![deny(clippy::disallowed_methods)]

pub mod accounting;
pub mod broadcast;
pub mod membership;
pub mod origin;
pub mod tree;
pub mod validation;

#[cfg(test)]
mod accounting_tests;
mod core;
#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod membership_tests;
#[cfg(test)]
mod net_tests;
#[cfg(test)]
mod origin_tests;
#[cfg(test)]
mod tree_tests;
mod types;

pub use self::accounting::{AccountingConfig, BanReason};
pub use self::core::{Core, ProtoConfig, Stats};
pub use self::origin::{
    ChecksumAuth, Hlc, HlcClock, ItemAuth, ItemSignature, OriginKey, OriginProof,
};
pub use self::tree::{Dissemination, TreeConfig, TreeStats};
pub use self::types::{
    Action, ClientId, DataType, Event, Item, ItemId, Message, Misbehaviour, MsgId, PeerId, Shuffle,
    ShuffleReply, Ttl, Violation,
};

use std::collections::VecDeque;

/// The actions a layer emits while it handles an event, in order.
///
/// A thin wrapper so the layers share one queue that the driver drains with
/// [`Core::poll_action`].
#[derive(Debug, Default)]
pub struct Outbox {
    actions: VecDeque<Action>,
}

impl Outbox {
    /// Queues one action.
    pub fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    /// Takes the oldest queued action.
    pub fn pop(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Number of queued actions.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Takes every queued action (handy in tests).
    pub fn drain(&mut self) -> Vec<Action> {
        self.actions.drain(..).collect()
    }
}
