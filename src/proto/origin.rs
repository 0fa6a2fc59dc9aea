//! Who announced an item and when: the origin's key and signature, its
//! per-origin sequence number and its hybrid logical clock.
//!
//! Every item carries the public key of the host that announced it (its
//! **origin**), a sequence number that grows by one with each item that
//! origin announces, a hybrid logical clock timestamp ([`Hlc`]), and the
//! origin's signature over all of that and the item's data type and data
//! ([`signed_bytes`]). A relay can neither forge nor alter an item; it can
//! only change the ttl, which is not signed (it shrinks at every hop).
//!
//! An item's network-wide id is derived from its origin and sequence number
//! ([`ItemId::of`]), so a host checks whether it has seen an item before it
//! spends a signature check on it: the signature of an item is verified
//! once per host, never per duplicate copy.
//!
//! The core signs and verifies through [`ItemAuth`]: real hosts use their
//! Ed25519 host key ([`crate::identity::HostAuth`]); the simulator and unit
//! tests use [`ChecksumAuth`], a keyless stand-in that is cheap but, unlike a
//! signature, proves nothing.

use std::fmt;
use std::sync::Arc;

use blake2::{Blake2b512, Digest};

use super::types::{DataType, ItemId, PeerId, hex};

/// The Ed25519 public key of the host that announced an item.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginKey(pub [u8; 32]);

impl OriginKey {
    /// The origin's peer id (as its handshake and logs show it).
    pub fn peer_id(&self) -> PeerId {
        crate::identity::peer_id_of(&self.0)
    }

    /// The first eight bytes of the origin's peer id: what item ids name
    /// the origin by (logs show the same bytes as the peer's short id).
    pub fn tag(&self) -> [u8; 8] {
        self.peer_id().0[..8].try_into().unwrap()
    }
}

impl fmt::Debug for OriginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OriginKey({})", PeerId(self.0).short())
    }
}

/// An origin's signature over [`signed_bytes`] of an item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ItemSignature(pub [u8; 64]);

impl fmt::Debug for ItemSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemSignature({})", hex(&self.0[..8]))
    }
}

/// An item's origin and its signature: what a relay cannot change. Shared
/// (`Arc`) by every copy of the item, so a queued message stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginProof {
    /// The origin's public key.
    pub origin: OriginKey,
    /// Its signature over the item's [`signed_bytes`].
    pub signature: ItemSignature,
}

/// A hybrid logical clock timestamp (Kulkarni et al., 2014): milliseconds
/// since the Unix epoch in the upper 48 bits, a logical counter in the lower
/// 16. Ordering items by it respects causality: an item announced by a host
/// after it received another has a larger timestamp, whatever the hosts'
/// clocks say, and the timestamps stay close to wall-clock time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hlc(pub u64);

/// Bits of the logical counter in an [`Hlc`].
const LOGICAL_BITS: u32 = 16;

/// A remote timestamp more than this far ahead of the local clock does not
/// move it: one host with a clock far in the future (or a lie) must not drag
/// every clock of the network along.
pub const MAX_CLOCK_AHEAD_MS: u64 = 60_000;

impl Hlc {
    /// The wall-clock part, in milliseconds since the Unix epoch.
    pub fn millis(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    /// The logical counter.
    pub fn logical(self) -> u16 {
        self.0 as u16
    }

    fn of_millis(ms: u64) -> Hlc {
        Hlc(ms << LOGICAL_BITS)
    }
}

/// A host's hybrid logical clock.
#[derive(Clone, Debug, Default)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// The timestamp of a local event (an announcement) at wall-clock time
    /// `wall_ms`: larger than every timestamp this clock gave or saw.
    pub fn tick(&mut self, wall_ms: u64) -> Hlc {
        let wall = Hlc::of_millis(wall_ms);
        self.last = if wall > self.last {
            wall
        } else {
            Hlc(self.last.0.saturating_add(1))
        };
        self.last
    }

    /// Takes in the timestamp of an item received at wall-clock time
    /// `wall_ms`, unless it is more than [`MAX_CLOCK_AHEAD_MS`] ahead (then
    /// false, and the clock is left alone).
    pub fn observe(&mut self, remote: Hlc, wall_ms: u64) -> bool {
        if remote.millis() > wall_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
            return false;
        }
        self.last = self.last.max(remote);
        true
    }

    /// The latest timestamp given or seen.
    pub fn last(&self) -> Hlc {
        self.last
    }
}

/// Domain separation of item signatures.
const SIGNATURE_CONTEXT: &[u8] = b"gossipd item v1\0";

/// The bytes an origin signs: a context string, the origin's key, the
/// sequence number, the timestamp, the data type and the data. The ttl is
/// not signed: every relay lowers it.
pub fn signed_bytes(
    origin: &OriginKey,
    seq: u64,
    hlc: Hlc,
    data_type: DataType,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNATURE_CONTEXT.len() + 32 + 8 + 8 + 2 + data.len());
    out.extend_from_slice(SIGNATURE_CONTEXT);
    out.extend_from_slice(&origin.0);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&hlc.0.to_be_bytes());
    out.extend_from_slice(&data_type.0.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Signs what this host announces and checks what others announced.
pub trait ItemAuth: fmt::Debug + Send + Sync {
    /// This host's origin key.
    fn origin(&self) -> OriginKey;
    /// Signs `msg` (the [`signed_bytes`] of an item) with this host's key.
    fn sign(&self, msg: &[u8]) -> ItemSignature;
    /// True when `signature` is `origin`'s over `msg`.
    fn verify(&self, origin: &OriginKey, msg: &[u8], signature: &ItemSignature) -> bool;
}

/// A keyless stand-in for signatures, for the simulator and unit tests: the
/// "signature" is a BLAKE2b-512 hash of the origin and the signed bytes, so a
/// relay that alters an item by accident is caught, but anyone can compute
/// it. Never used by a real node (it uses [`crate::identity::HostAuth`]).
#[derive(Clone, Debug)]
pub struct ChecksumAuth {
    origin: OriginKey,
}

impl ChecksumAuth {
    /// Stands in for the host `me`: its origin key is `me`'s bytes.
    pub fn for_host(me: PeerId) -> Arc<dyn ItemAuth> {
        Arc::new(ChecksumAuth {
            origin: OriginKey(me.0),
        })
    }

    fn checksum(origin: &OriginKey, msg: &[u8]) -> ItemSignature {
        let mut h = Blake2b512::new();
        h.update(origin.0);
        h.update(msg);
        ItemSignature(h.finalize().into())
    }
}

impl ItemAuth for ChecksumAuth {
    fn origin(&self) -> OriginKey {
        self.origin
    }

    fn sign(&self, msg: &[u8]) -> ItemSignature {
        ChecksumAuth::checksum(&self.origin, msg)
    }

    fn verify(&self, origin: &OriginKey, msg: &[u8], signature: &ItemSignature) -> bool {
        ChecksumAuth::checksum(origin, msg) == *signature
    }
}

impl ItemId {
    /// The id of `origin`'s item number `seq`: the origin's
    /// [tag](OriginKey::tag), then the sequence number (big-endian). Ids of
    /// one origin sort by sequence number, which keeps lists of ids compact
    /// on the wire. Finding a key whose tag is another origin's takes about
    /// 2^64 tries.
    pub fn of(origin: &OriginKey, seq: u64) -> ItemId {
        ItemId::from_parts(origin.tag(), seq)
    }

    /// The id made of an origin tag and a sequence number.
    pub fn from_parts(tag: [u8; 8], seq: u64) -> ItemId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&tag);
        id[8..].copy_from_slice(&seq.to_be_bytes());
        ItemId(id)
    }

    /// The origin's tag.
    pub fn origin_tag(&self) -> [u8; 8] {
        self.0[..8].try_into().unwrap()
    }

    /// The origin's sequence number.
    pub fn seq(&self) -> u64 {
        u64::from_be_bytes(self.0[8..].try_into().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_never_goes_back_and_stays_near_the_wall() {
        let mut c = HlcClock::default();
        let a = c.tick(1_000);
        assert_eq!((a.millis(), a.logical()), (1_000, 0));
        // The wall clock stands still or goes back: the counter moves.
        let b = c.tick(1_000);
        let d = c.tick(900);
        assert!(a < b && b < d);
        assert_eq!((d.millis(), d.logical()), (1_000, 2));
        // The wall moves on: the counter starts over.
        assert_eq!(c.tick(1_001), Hlc::of_millis(1_001));
    }

    #[test]
    fn a_received_timestamp_orders_later_events_after_it() {
        let mut c = HlcClock::default();
        c.tick(1_000);
        let remote = Hlc(Hlc::of_millis(5_000).0 + 7);
        assert!(c.observe(remote, 1_000));
        let next = c.tick(1_001);
        assert!(next > remote);
        assert_eq!((next.millis(), next.logical()), (5_000, 8));
    }

    #[test]
    fn a_timestamp_far_ahead_leaves_the_clock_alone() {
        let mut c = HlcClock::default();
        let now = 1_000_000;
        let far = Hlc::of_millis(now + MAX_CLOCK_AHEAD_MS + 1);
        assert!(!c.observe(far, now));
        assert!(c.tick(now) < far);
        assert!(c.observe(Hlc::of_millis(now + MAX_CLOCK_AHEAD_MS), now));
    }

    #[test]
    fn ids_name_origin_and_sequence_and_sort_by_sequence() {
        let origin = OriginKey([7; 32]);
        let id = ItemId::of(&origin, 42);
        assert_eq!((id.origin_tag(), id.seq()), (origin.tag(), 42));
        assert_eq!(id.origin_tag(), origin.peer_id().0[..8]);
        assert!(ItemId::of(&origin, 255) < ItemId::of(&origin, 256));
        assert_eq!(ItemId::of(&OriginKey([0; 32]), 9), ItemId::from_u64(9));
    }

    #[test]
    fn checksums_catch_any_change() {
        let auth = ChecksumAuth::for_host(PeerId::from_u64(1));
        let o = auth.origin();
        let msg = signed_bytes(&o, 1, Hlc(5), DataType(3), b"hello");
        let sig = auth.sign(&msg);
        assert!(auth.verify(&o, &msg, &sig));
        let other = signed_bytes(&o, 1, Hlc(5), DataType(3), b"hellO");
        assert!(!auth.verify(&o, &other, &sig));
        assert!(!auth.verify(&OriginKey([9; 32]), &msg, &sig));
    }
}
