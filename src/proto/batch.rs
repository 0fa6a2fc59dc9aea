//! Signed batches: one origin signature covers up to [`MAX_BATCH`] items.
//!
//! An origin does not sign its items one by one. It signs a **manifest**:
//! its key, the sequence number of the batch's first item, the number of
//! items `k` and, in sequence order, the [`ItemDigest`] of each item (a
//! BLAKE2s-256 hash of everything a relay must not change: sequence number,
//! timestamp, data type and data; the ttl is not covered, every relay lowers
//! it). The items of a batch have consecutive sequence numbers. An item's
//! proof ([`ItemProof`]) is the signed manifest, shared by the batch's items
//! through one `Arc`, and the item's index in it.
//!
//! A host checks a new item by hashing it and comparing the hash with the
//! manifest's entry at the item's index, then checks the manifest's
//! signature, unless it already checked an identical manifest
//! ([`VerifiedBatches`]): one Ed25519 verification per batch and host
//! instead of one per item and host.
//!
//! The origin side ([`Batcher`]) gathers the announcements that arrive
//! together and signs them at once when the burst ends (see
//! [`crate::proto::Core::flush_announcements`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use blake2::{Blake2s256, Digest};

use super::origin::{Hlc, ItemAuth, ItemSignature, OriginKey};
use super::types::{DataType, Item, ItemId, Ttl, hex};

/// Most items one signature covers.
pub const MAX_BATCH: usize = 64;

/// Verified manifests a host remembers (least recently used forgotten
/// first): a guess, far more batches than are in flight at once from the
/// origins of one network.
pub const VERIFIED_MANIFESTS: usize = 256;

/// Domain separation of item digests.
const ITEM_CONTEXT: &[u8] = b"gossipd item v2\0";

/// Domain separation of manifest signatures.
const MANIFEST_CONTEXT: &[u8] = b"gossipd batch v1\0";

/// The BLAKE2s-256 hash of an item's signed fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemDigest(pub [u8; 32]);

impl ItemDigest {
    /// The digest of the item with these fields: a context string, the
    /// sequence number, the timestamp, the data type and the data. The
    /// origin is not hashed: the manifest names it.
    pub fn of(seq: u64, hlc: Hlc, data_type: DataType, data: &[u8]) -> ItemDigest {
        let mut h = Blake2s256::new();
        h.update(ITEM_CONTEXT);
        h.update(seq.to_be_bytes());
        h.update(hlc.0.to_be_bytes());
        h.update(data_type.0.to_be_bytes());
        h.update(data);
        ItemDigest(h.finalize().into())
    }

    /// The digest of `item`.
    pub fn of_item(item: &Item) -> ItemDigest {
        ItemDigest::of(item.seq, item.hlc, item.data_type, &item.data)
    }
}

impl fmt::Debug for ItemDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemDigest({})", hex(&self.0[..8]))
    }
}

/// An origin's signed manifest of a batch of 1 to [`MAX_BATCH`] items with
/// consecutive sequence numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedBatch {
    origin: OriginKey,
    first_seq: u64,
    digests: Box<[ItemDigest]>,
    signature: ItemSignature,
    /// BLAKE2s-256 of the manifest and the signature: equal hashes, equal
    /// signed batches (computed once, where the batch is made or decoded).
    hash: [u8; 32],
}

impl SignedBatch {
    /// The batch `origin` signed as `signature` over the items `digests`
    /// numbered from `first_seq`. None unless it holds 1 to [`MAX_BATCH`]
    /// items whose sequence numbers all fit in a u64. The signature is not
    /// checked here.
    pub fn new(
        origin: OriginKey,
        first_seq: u64,
        digests: Box<[ItemDigest]>,
        signature: ItemSignature,
    ) -> Option<SignedBatch> {
        let k = digests.len();
        if !(1..=MAX_BATCH).contains(&k) || first_seq.checked_add(k as u64 - 1).is_none() {
            return None;
        }
        let mut batch = SignedBatch {
            origin,
            first_seq,
            digests,
            signature,
            hash: [0; 32],
        };
        let mut h = Blake2s256::new();
        h.update(batch.manifest());
        h.update(signature.0);
        batch.hash = h.finalize().into();
        Some(batch)
    }

    /// `auth`'s host signs the items `digests` numbered from `first_seq`.
    /// Panics unless there are 1 to [`MAX_BATCH`] of them (a bug).
    pub fn sign(auth: &dyn ItemAuth, first_seq: u64, digests: Box<[ItemDigest]>) -> SignedBatch {
        let origin = auth.origin();
        let signature = auth.sign(&manifest(&origin, first_seq, &digests));
        SignedBatch::new(origin, first_seq, digests, signature).expect("a batch of 1 to 64 items")
    }

    /// The origin that signed it.
    pub fn origin(&self) -> OriginKey {
        self.origin
    }

    /// The sequence number of its first item.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Its number of items (1 to [`MAX_BATCH`]).
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Never true: a batch holds at least one item.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The digests of its items, in sequence order.
    pub fn digests(&self) -> &[ItemDigest] {
        &self.digests
    }

    /// The origin's signature over [`SignedBatch::manifest`].
    pub fn signature(&self) -> &ItemSignature {
        &self.signature
    }

    /// The hash of the manifest and signature (see [`VerifiedBatches`]).
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The bytes the origin signs: a context string, the origin's key, the
    /// first sequence number (u64), the item count (u8) and the digests.
    pub fn manifest(&self) -> Vec<u8> {
        manifest(&self.origin, self.first_seq, &self.digests)
    }

    /// True when the signature is the origin's over the manifest.
    pub fn verify(&self, auth: &dyn ItemAuth) -> bool {
        auth.verify(&self.origin, &self.manifest(), &self.signature)
    }
}

impl fmt::Debug for SignedBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignedBatch({:?}, seq {}+{}, {})",
            self.origin,
            self.first_seq,
            self.digests.len(),
            hex(&self.hash[..8])
        )
    }
}

/// The manifest bytes (see [`SignedBatch::manifest`]).
fn manifest(origin: &OriginKey, first_seq: u64, digests: &[ItemDigest]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MANIFEST_CONTEXT.len() + 32 + 8 + 1 + 32 * digests.len());
    out.extend_from_slice(MANIFEST_CONTEXT);
    out.extend_from_slice(&origin.0);
    out.extend_from_slice(&first_seq.to_be_bytes());
    // At most MAX_BATCH (64) digests.
    out.push(digests.len() as u8);
    for d in digests {
        out.extend_from_slice(&d.0);
    }
    out
}

/// An item's proof of origin: its batch's signed manifest, shared by the
/// batch's items, and the item's index in it. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct ItemProof {
    batch: Arc<SignedBatch>,
    index: u8,
}

impl ItemProof {
    /// Item `index` of `batch`; None beyond the batch.
    pub fn new(batch: Arc<SignedBatch>, index: usize) -> Option<ItemProof> {
        (index < batch.len()).then_some(ItemProof {
            batch,
            // Below MAX_BATCH (64) when it is kept.
            index: index as u8,
        })
    }

    /// The origin that signed the batch.
    pub fn origin(&self) -> OriginKey {
        self.batch.origin
    }

    /// The signed batch.
    pub fn batch(&self) -> &Arc<SignedBatch> {
        &self.batch
    }

    /// The item's index in the batch.
    pub fn index(&self) -> usize {
        usize::from(self.index)
    }

    /// The sequence number the batch gives the item.
    pub fn seq(&self) -> u64 {
        self.batch.first_seq + u64::from(self.index)
    }

    /// The digest the batch lists for the item.
    pub fn digest(&self) -> &ItemDigest {
        &self.batch.digests[self.index()]
    }
}

impl fmt::Debug for ItemProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemProof({:?}, index {})", self.batch, self.index)
    }
}

/// An announcement waiting to be signed.
#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    hlc: Hlc,
    ttl: Ttl,
    data_type: DataType,
    data: Arc<[u8]>,
}

/// The origin side: announcements waiting to be signed as one batch.
#[derive(Debug, Default)]
pub struct Batcher {
    pending: Vec<Pending>,
}

impl Batcher {
    /// Queues an announcement; true when the batch is full and must be
    /// signed now. Sequence numbers must follow each other by one.
    pub fn push(
        &mut self,
        seq: u64,
        hlc: Hlc,
        ttl: Ttl,
        data_type: DataType,
        data: Arc<[u8]>,
    ) -> bool {
        debug_assert!(
            self.pending.last().is_none_or(|p| p.seq + 1 == seq),
            "sequence numbers of a batch follow each other"
        );
        self.pending.push(Pending {
            seq,
            hlc,
            ttl,
            data_type,
            data,
        });
        self.pending.len() >= MAX_BATCH
    }

    /// Announcements waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Signs every waiting announcement as one batch (`auth`'s host) and
    /// returns the items, in sequence order; empty when none waits.
    pub fn sign(&mut self, auth: &dyn ItemAuth) -> Vec<Item> {
        let Some(first) = self.pending.first() else {
            return Vec::new();
        };
        let first_seq = first.seq;
        let digests: Box<[ItemDigest]> = (self.pending.iter())
            .map(|p| ItemDigest::of(p.seq, p.hlc, p.data_type, &p.data))
            .collect();
        let batch = Arc::new(SignedBatch::sign(auth, first_seq, digests));
        let origin = batch.origin();
        (self.pending.drain(..).enumerate())
            .map(|(index, p)| Item {
                id: ItemId::of(&origin, p.seq),
                seq: p.seq,
                hlc: p.hlc,
                ttl: p.ttl,
                data_type: p.data_type,
                data: p.data,
                proof: ItemProof::new(batch.clone(), index).expect("within the batch"),
            })
            .collect()
    }
}

/// What checking an item's proof found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// Its manifest's signature was checked now, and holds.
    Verified,
    /// Its manifest is one already verified: no signature check.
    AlreadyVerified,
    /// Its digest or sequence number is not what the manifest lists at its
    /// index (no signature check).
    Mismatch,
    /// Its manifest's signature was checked now, and fails.
    BadSignature,
}

/// A verified manifest remembered.
#[derive(Clone, Copy, Debug)]
struct Verified {
    /// The [`SignedBatch::hash`].
    hash: [u8; 32],
    /// When last used, for least-recently-used forgetting.
    used: u64,
}

/// The manifests this host verified, at most [`VERIFIED_MANIFESTS`], keyed
/// by origin and first sequence number (the least recently used forgotten
/// first).
#[derive(Debug)]
pub struct VerifiedBatches {
    entries: HashMap<(OriginKey, u64), Verified>,
    capacity: usize,
    clock: u64,
}

impl Default for VerifiedBatches {
    fn default() -> Self {
        VerifiedBatches::new(VERIFIED_MANIFESTS)
    }
}

impl VerifiedBatches {
    /// A table of at most `capacity` manifests (at least 1).
    pub fn new(capacity: usize) -> VerifiedBatches {
        VerifiedBatches {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// Manifests remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks that `item` is what its origin signed: its own digest and
    /// sequence number must be those its manifest lists at its index, and
    /// the manifest's signature must hold, which is checked (with `auth`)
    /// unless an identical manifest was verified before. A different
    /// manifest under the same origin and first sequence number is checked
    /// on its own (a forgery fails; an origin that signed two both pass).
    pub fn check(&mut self, auth: &dyn ItemAuth, item: &Item) -> Checked {
        let proof = &item.proof;
        if proof.seq() != item.seq || ItemDigest::of_item(item) != *proof.digest() {
            return Checked::Mismatch;
        }
        let batch = proof.batch();
        let key = (batch.origin, batch.first_seq);
        self.clock += 1;
        if let Some(v) = self.entries.get_mut(&key)
            && v.hash == batch.hash
        {
            v.used = self.clock;
            return Checked::AlreadyVerified;
        }
        if !batch.verify(auth) {
            return Checked::BadSignature;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let oldest = (self.entries.iter())
                .min_by_key(|(_, v)| v.used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        let verified = Verified {
            hash: batch.hash,
            used: self.clock,
        };
        self.entries.insert(key, verified);
        Checked::Verified
    }
}
