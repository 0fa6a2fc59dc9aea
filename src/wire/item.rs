//! The Item message, compressed per link: an origin's 32-byte key crosses a
//! link once, then a one-byte slot stands for it, and the sequence number and
//! timestamp travel as differences from the origin's previous item on that
//! link.
//!
//! | field       | layout                                                        |
//! | ----------- | ------------------------------------------------------------- |
//! | tag         | `3`                                                           |
//! | flags       | u8: bit 0 set = the origin key follows; other bits zero        |
//! | slot        | u8 (< [`ORIGIN_SLOTS`]): the origin's slot on this link        |
//! | origin key  | 32 bytes, only with bit 0: the slot now stands for this key   |
//! | seq         | with bit 0: u64; else varint, zigzag of seq − slot's last seq  |
//! | hlc         | with bit 0: u64; else varint, zigzag of hlc − slot's last hlc  |
//! | ttl         | u8                                                            |
//! | data type   | u16                                                           |
//! | signature   | 64 bytes (Ed25519 over the origin's signed bytes)             |
//! | data        | the rest, ≤ 65,527 bytes                                      |
//!
//! The sender picks the slots (least recently used one when all are taken)
//! and sends the key again whenever it reassigns one; the receiver keeps the
//! same table by reading every frame in order, which the transport
//! guarantees (a frame lost or reordered fails authentication and closes
//! the link). A slot used before any key was sent for it is an error.
//! The item id is not sent: the receiver derives it ([`ItemId::of`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::{MAX_ITEM_DATA, Reader, WireError, varint};
use crate::proto::{DataType, Hlc, Item, ItemId, ItemSignature, OriginKey, OriginProof, Ttl};

/// Origin slots per link and direction.
pub const ORIGIN_SLOTS: usize = 64;

/// Flag: the origin key follows.
const KEY_FOLLOWS: u8 = 1;

/// The longest Item header (a new origin): tag, flags, slot, key, seq, hlc,
/// ttl, data type, signature.
pub const MAX_ITEM_HEADER_LEN: usize = 1 + 1 + 1 + 32 + 8 + 8 + 1 + 2 + 64;

/// What one side of a link last sent or read for an origin.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: OriginKey,
    /// The key's [tag](OriginKey::tag), hashed once per key (receiver).
    tag: [u8; 8],
    seq: u64,
    hlc: u64,
    /// When it was last used, for least-recently-used reuse (sender only).
    used: u64,
}

/// The sender's origin table of one link.
#[derive(Debug, Default)]
pub(crate) struct ItemEncoder {
    slots: Vec<Slot>,
    by_key: HashMap<OriginKey, u8>,
    clock: u64,
}

impl ItemEncoder {
    /// Appends `item`, keyed or compressed as the table allows.
    pub(crate) fn encode(&mut self, item: &Item, out: &mut Vec<u8>) {
        debug_assert!(item.data.len() <= MAX_ITEM_DATA, "item data too long");
        self.clock += 1;
        out.push(super::TAG_ITEM);
        let origin = item.proof.origin;
        match self.by_key.get(&origin).copied() {
            Some(ix) => {
                let slot = &mut self.slots[usize::from(ix)];
                out.push(0);
                out.push(ix);
                varint::put(varint::zigzag(item.seq.wrapping_sub(slot.seq) as i64), out);
                varint::put(
                    varint::zigzag(item.hlc.0.wrapping_sub(slot.hlc) as i64),
                    out,
                );
                slot.seq = item.seq;
                slot.hlc = item.hlc.0;
                slot.used = self.clock;
            }
            None => {
                let ix = self.assign(item);
                out.push(KEY_FOLLOWS);
                out.push(ix);
                out.extend_from_slice(&origin.0);
                out.extend_from_slice(&item.seq.to_be_bytes());
                out.extend_from_slice(&item.hlc.0.to_be_bytes());
            }
        }
        out.push(item.ttl.0);
        out.extend_from_slice(&item.data_type.0.to_be_bytes());
        out.extend_from_slice(&item.proof.signature.0);
        out.extend_from_slice(&item.data);
    }

    /// A slot for `item`'s origin: a free one, or the least recently used.
    fn assign(&mut self, item: &Item) -> u8 {
        let slot = Slot {
            key: item.proof.origin,
            tag: [0; 8],
            seq: item.seq,
            hlc: item.hlc.0,
            used: self.clock,
        };
        let ix = if self.slots.len() < ORIGIN_SLOTS {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let (ix, old) = self
                .slots
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .expect("the table is full, so not empty");
            self.by_key.remove(&old.key);
            self.slots[ix] = slot;
            ix
        };
        // ORIGIN_SLOTS ≤ 256.
        self.by_key.insert(item.proof.origin, ix as u8);
        ix as u8
    }
}

/// The receiver's origin table of one link.
#[derive(Debug, Default)]
pub(crate) struct ItemDecoder {
    slots: Vec<Option<Slot>>,
}

impl ItemDecoder {
    /// Decodes an Item body after its tag.
    pub(crate) fn decode(&mut self, r: &mut Reader<'_>) -> Result<Item, WireError> {
        let flags = r.u8("item flags")?;
        if flags & !KEY_FOLLOWS != 0 {
            return Err(WireError::UnknownFlags(flags));
        }
        let ix = usize::from(r.u8("origin slot")?);
        if ix >= ORIGIN_SLOTS {
            return Err(WireError::BadOriginSlot(ix as u8));
        }
        let (origin, tag, seq, hlc) = if flags & KEY_FOLLOWS != 0 {
            let key = OriginKey(r.array("origin key")?);
            let seq = u64::from_be_bytes(r.array("seq")?);
            let hlc = u64::from_be_bytes(r.array("hlc")?);
            (key, None, seq, hlc)
        } else {
            let Some(Some(slot)) = self.slots.get(ix) else {
                return Err(WireError::BadOriginSlot(ix as u8));
            };
            let seq = slot
                .seq
                .wrapping_add(varint::unzigzag(varint::get(r, "seq")?) as u64);
            let hlc = slot
                .hlc
                .wrapping_add(varint::unzigzag(varint::get(r, "hlc")?) as u64);
            (slot.key, Some(slot.tag), seq, hlc)
        };
        let ttl = Ttl(r.u8("ttl")?);
        let data_type = DataType(r.u16("data type")?);
        let signature = ItemSignature(r.array("signature")?);
        let data = r.rest();
        if data.len() > MAX_ITEM_DATA {
            return Err(WireError::DataTooLong { len: data.len() });
        }
        if self.slots.len() <= ix {
            self.slots.resize(ix + 1, None);
        }
        let tag = tag.unwrap_or_else(|| origin.tag());
        self.slots[ix] = Some(Slot {
            key: origin,
            tag,
            seq,
            hlc,
            used: 0,
        });
        Ok(Item {
            id: ItemId::from_parts(tag, seq),
            seq,
            hlc: Hlc(hlc),
            ttl,
            data_type,
            data: Arc::from(data),
            proof: Arc::new(OriginProof { origin, signature }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ChecksumAuth, Message, PeerId};
    use crate::wire::{LinkDecoder, LinkEncoder, decode, encoded_len};

    fn item(origin: u64, seq: u64, data: &[u8]) -> Item {
        let auth = ChecksumAuth::for_host(PeerId::from_u64(origin));
        let hlc = Hlc((1_700_000_000_000 << 16) + seq * 3);
        Item::signed(&*auth, seq, hlc, Ttl(4), DataType(9), Arc::from(data))
    }

    fn send(enc: &mut LinkEncoder, dec: &mut LinkDecoder, it: &Item) -> usize {
        let mut out = Vec::new();
        enc.encode(&Message::Item(it.clone()), &mut out);
        assert_eq!(dec.decode(&out), Ok(Message::Item(it.clone())));
        out.len()
    }

    #[test]
    fn the_key_crosses_once_then_a_slot_and_small_differences_do() {
        let (mut enc, mut dec) = (LinkEncoder::default(), LinkDecoder::default());
        let first = item(1, 1 << 50, b"abc");
        let full = send(&mut enc, &mut dec, &first);
        assert_eq!(full, MAX_ITEM_HEADER_LEN + 3);
        assert_eq!(full, encoded_len(&Message::Item(first)));
        // seq + 1 and hlc + 3: one byte each.
        let next = item(1, (1 << 50) + 1, b"abc");
        assert_eq!(
            send(&mut enc, &mut dec, &next),
            MAX_ITEM_HEADER_LEN - 32 - 14 + 3
        );
        // Out of order on the link: negative differences work too.
        let older = item(1, (1 << 50) - 5, b"");
        send(&mut enc, &mut dec, &older);
        // Another origin takes another slot.
        let other = item(2, 7, b"x");
        assert_eq!(send(&mut enc, &mut dec, &other), MAX_ITEM_HEADER_LEN + 1);
        send(&mut enc, &mut dec, &item(2, 8, b"y"));
        send(&mut enc, &mut dec, &item(1, 1 << 51, b"z"));
    }

    #[test]
    fn a_full_table_reuses_the_least_recently_used_slot_and_resends_its_key() {
        let (mut enc, mut dec) = (LinkEncoder::default(), LinkDecoder::default());
        for o in 0..ORIGIN_SLOTS as u64 {
            send(&mut enc, &mut dec, &item(o, 1, b""));
        }
        // Origin 0 is the least recently used: touch it, so 1 goes instead.
        assert!(send(&mut enc, &mut dec, &item(0, 2, b"")) < MAX_ITEM_HEADER_LEN);
        let newcomer = item(1000, 1, b"");
        assert_eq!(send(&mut enc, &mut dec, &newcomer), MAX_ITEM_HEADER_LEN);
        assert_eq!(
            send(&mut enc, &mut dec, &item(1, 2, b"")),
            MAX_ITEM_HEADER_LEN
        );
        assert!(send(&mut enc, &mut dec, &item(1000, 2, b"")) < MAX_ITEM_HEADER_LEN);
        for o in 0..ORIGIN_SLOTS as u64 {
            send(&mut enc, &mut dec, &item(o, 3, b"o"));
        }
    }

    #[test]
    fn an_unknown_slot_or_a_bad_field_is_refused() {
        let mut body = vec![super::super::TAG_ITEM, 0, 5, 2, 2];
        body.extend_from_slice(&[0; 67]);
        assert_eq!(decode(&body), Err(WireError::BadOriginSlot(5)));
        assert_eq!(
            decode(&[super::super::TAG_ITEM, KEY_FOLLOWS, ORIGIN_SLOTS as u8]),
            Err(WireError::BadOriginSlot(ORIGIN_SLOTS as u8))
        );
        assert_eq!(
            decode(&[super::super::TAG_ITEM, 2, 0]),
            Err(WireError::UnknownFlags(2))
        );
        let mut out = Vec::new();
        LinkEncoder::default().encode(&Message::Item(item(1, 1, b"")), &mut out);
        for cut in 1..out.len() {
            assert!(
                matches!(decode(&out[..cut]), Err(WireError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut long = out.clone();
        long.extend_from_slice(&vec![0; MAX_ITEM_DATA + 1]);
        assert_eq!(
            decode(&long),
            Err(WireError::DataTooLong {
                len: MAX_ITEM_DATA + 1
            })
        );
    }
}
