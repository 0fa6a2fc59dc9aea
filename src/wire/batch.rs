//! The per-link batch slots of the Item message: the first item of a signed
//! batch sent on a link carries the batch's manifest (signature and the
//! digests of the batch's other items) and puts it in one of
//! [`BATCH_SLOTS`] slots; later items of that batch on the link name the
//! slot and their index only.
//!
//! Like the origin slots ([`super::item`]), the sender picks the slot (a
//! free one, else the least recently used) and the receiver follows: it
//! stores every manifest it reads in the slot the frame names, in frame
//! order, which the transport guarantees.
//!
//! | field     | layout                                                          |
//! | --------- | --------------------------------------------------------------- |
//! | slot      | u8 (< [`BATCH_SLOTS`])                                          |
//! | index     | u8: the item's index in its batch                               |
//! | count     | u8 (1..=64), only with a manifest: the batch's items            |
//! | signature | 64 bytes, only with a manifest                                  |
//! | digests   | (count − 1) × 32 bytes, only with a manifest: the other items'  |
//!
//! Without a manifest the slot must hold a batch of the item's origin,
//! longer than the index, whose first sequence number plus the index is
//! the item's sequence number. With one, the index must be below the
//! count and not above the item's sequence number (the batch's first).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Reader, WireError};
use crate::proto::{Item, ItemDigest, ItemProof, ItemSignature, MAX_BATCH, OriginKey, SignedBatch};

/// Batch slots per link and direction.
pub const BATCH_SLOTS: usize = 16;

/// Bytes of the batch fields of an item with the manifest of a batch of
/// one: slot, index, count, signature.
pub(super) const MANIFEST_LEN: usize = 3 + 64;

/// Bytes a manifest's batch fields take for a batch of `k` items.
pub(super) fn manifest_len(k: usize) -> usize {
    MANIFEST_LEN + 32 * k.saturating_sub(1)
}

/// What the sender last put in a slot.
#[derive(Clone, Copy, Debug)]
struct Sent {
    key: (OriginKey, u64),
    hash: [u8; 32],
    used: u64,
}

/// The sender's batch table of one link.
#[derive(Debug, Default)]
pub(super) struct BatchEncoder {
    slots: Vec<Sent>,
    by_key: HashMap<(OriginKey, u64), u8>,
    clock: u64,
}

impl BatchEncoder {
    /// Appends the batch fields of `item`; true when they carry the
    /// manifest (the caller sets the item's flag that says so).
    pub(super) fn encode(&mut self, item: &Item, out: &mut Vec<u8>) -> bool {
        let proof = &item.proof;
        let batch = proof.batch();
        let (ix, known) = self.slot(batch);
        out.push(ix);
        // Below MAX_BATCH (64).
        out.push(proof.index() as u8);
        if known {
            return false;
        }
        out.push(batch.len() as u8);
        out.extend_from_slice(&batch.signature().0);
        for (i, d) in batch.digests().iter().enumerate() {
            if i != proof.index() {
                out.extend_from_slice(&d.0);
            }
        }
        true
    }

    /// The slot of `batch`, and whether it held it already; a new batch
    /// takes a free slot or the least recently used one.
    fn slot(&mut self, batch: &SignedBatch) -> (u8, bool) {
        self.clock += 1;
        let key = (batch.origin(), batch.first_seq());
        let sent = Sent {
            key,
            hash: *batch.hash(),
            used: self.clock,
        };
        if let Some(&ix) = self.by_key.get(&key) {
            let slot = &mut self.slots[usize::from(ix)];
            let known = slot.hash == sent.hash;
            *slot = sent;
            return (ix, known);
        }
        let ix = if self.slots.len() < BATCH_SLOTS {
            self.slots.push(sent);
            self.slots.len() - 1
        } else {
            let (ix, old) = (self.slots.iter().enumerate())
                .min_by_key(|(_, s)| s.used)
                .expect("the table is full, so not empty");
            self.by_key.remove(&old.key);
            self.slots[ix] = sent;
            ix
        };
        // BATCH_SLOTS ≤ 256.
        self.by_key.insert(key, ix as u8);
        (ix as u8, false)
    }
}

/// The batch fields of an item, read before its data.
pub(super) enum BatchFields {
    /// A batch already in a slot.
    Known {
        /// Its slot.
        slot: usize,
        /// The item's index in it.
        index: usize,
    },
    /// A manifest to put in a slot.
    Manifest {
        /// The slot.
        slot: usize,
        /// The item's index.
        index: usize,
        /// The signature.
        signature: ItemSignature,
        /// The other items' digests, in order.
        others: Vec<ItemDigest>,
    },
}

/// The receiver's batch table of one link.
#[derive(Debug, Default)]
pub(super) struct BatchDecoder {
    slots: Vec<Option<Arc<SignedBatch>>>,
}

impl BatchDecoder {
    /// Reads the batch fields (with a manifest when `manifest`), checking
    /// every count against its limit before anything is allocated.
    pub(super) fn read(
        &self,
        r: &mut Reader<'_>,
        manifest: bool,
    ) -> Result<BatchFields, WireError> {
        let slot = r.u8("batch slot")?;
        if usize::from(slot) >= BATCH_SLOTS {
            return Err(WireError::BadBatchSlot(slot));
        }
        let index = usize::from(r.u8("batch index")?);
        let slot = usize::from(slot);
        if !manifest {
            return Ok(BatchFields::Known { slot, index });
        }
        let count = usize::from(r.u8("batch count")?);
        if !(1..=MAX_BATCH).contains(&count) {
            return Err(WireError::TooMany {
                field: "batch items",
                count,
                max: MAX_BATCH,
            });
        }
        if index >= count {
            return Err(WireError::BadBatch("index beyond the batch"));
        }
        let signature = ItemSignature(r.array("batch signature")?);
        let needed = 32 * (count - 1);
        if r.remaining() < needed {
            return Err(r.truncated("batch digests", needed));
        }
        let others = (0..count - 1)
            .map(|_| r.array("batch digest").map(ItemDigest))
            .collect::<Result<_, _>>()?;
        Ok(BatchFields::Manifest {
            slot,
            index,
            signature,
            others,
        })
    }

    /// The proof of the item of `origin` numbered `seq` whose own digest is
    /// `digest`, from `fields`: a manifest completed with `digest` and
    /// stored in its slot, or the batch its slot holds.
    pub(super) fn proof(
        &mut self,
        fields: BatchFields,
        origin: OriginKey,
        seq: u64,
        digest: impl FnOnce() -> ItemDigest,
    ) -> Result<ItemProof, WireError> {
        match fields {
            BatchFields::Known { slot, index } => {
                let Some(Some(batch)) = self.slots.get(slot) else {
                    return Err(WireError::BadBatchSlot(slot as u8));
                };
                if batch.origin() != origin {
                    return Err(WireError::BadBatch("batch of another origin"));
                }
                let proof = ItemProof::new(batch.clone(), index)
                    .ok_or(WireError::BadBatch("index beyond the batch"))?;
                if proof.seq() != seq {
                    return Err(WireError::BadBatch("sequence number not the batch's"));
                }
                Ok(proof)
            }
            BatchFields::Manifest {
                slot,
                index,
                signature,
                mut others,
            } => {
                let first = (seq.checked_sub(index as u64))
                    .ok_or(WireError::BadBatch("sequence number before the batch"))?;
                others.insert(index, digest());
                let batch = SignedBatch::new(origin, first, others.into(), signature)
                    .ok_or(WireError::BadBatch("sequence numbers beyond 64 bits"))?;
                let batch = Arc::new(batch);
                if self.slots.len() <= slot {
                    self.slots.resize(slot + 1, None);
                }
                self.slots[slot] = Some(batch.clone());
                Ok(ItemProof::new(batch, index).expect("index checked against the count"))
            }
        }
    }
}
