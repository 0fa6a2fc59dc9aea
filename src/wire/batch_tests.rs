//! Tests of the batch fields of the Item message ([`super::batch`]): round
//! trips, the manifest crossing a link once per batch, slot reuse, and every
//! limit refused before anything is allocated.

use std::sync::Arc;

use super::batch::BATCH_SLOTS;
use super::item::MAX_ITEM_HEADER_LEN;
use super::{LinkDecoder, LinkEncoder, WireError, decode, encoded_len};
use crate::proto::batch::Batcher;
use crate::proto::{ChecksumAuth, DataType, Hlc, Item, MAX_BATCH, Message, PeerId, Ttl};

/// Items `first..first + k` of host `n`, signed as one batch.
fn batch(n: u64, first: u64, k: u64) -> Vec<Item> {
    let auth = ChecksumAuth::for_host(PeerId::from_u64(n));
    let mut b = Batcher::default();
    for seq in (0..k).map(|i| first + i) {
        let data = Arc::from(format!("item {seq}").as_bytes());
        b.push(seq, Hlc(seq.wrapping_mul(10)), Ttl(3), DataType(7), data);
    }
    b.sign(&*auth)
}

fn bytes(enc: &mut LinkEncoder, it: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    enc.encode(&Message::Item(it.clone()), &mut out);
    out
}

/// Sends `it` over the link; returns the bytes it took.
fn send(enc: &mut LinkEncoder, dec: &mut LinkDecoder, it: &Item) -> usize {
    let out = bytes(enc, it);
    assert_eq!(dec.decode(&out), Ok(Message::Item(it.clone())));
    out.len()
}

/// Bytes of the header fields before the batch fields of an item with its
/// origin key; the batch slot follows.
const SLOT_AT: usize = MAX_ITEM_HEADER_LEN - 67;

#[test]
fn the_manifest_crosses_a_link_once_then_items_take_two_bytes() {
    let items = batch(1, 1 << 40, 5);
    let (mut enc, mut dec) = (LinkEncoder::default(), LinkDecoder::default());
    // Out of order: the manifest comes with whichever item is first.
    let first = send(&mut enc, &mut dec, &items[3]);
    let data = items[3].data.len();
    assert_eq!(first, MAX_ITEM_HEADER_LEN + 4 * 32 + data);
    let mut decoded = Vec::new();
    for i in [0, 1, 2, 4] {
        let out = bytes(&mut enc, &items[i]);
        // Flags 0, slot, seq and hlc differences, ttl, type, batch slot, index.
        assert!(out.len() <= 1 + 1 + 1 + 2 + 2 + 1 + 2 + 2 + items[i].data.len());
        let Ok(Message::Item(it)) = dec.decode(&out) else {
            panic!("item {i} did not decode");
        };
        assert_eq!(it, items[i]);
        decoded.push(it);
    }
    // The receiver's items of the batch share one manifest.
    assert!(Arc::ptr_eq(
        decoded[0].proof.batch(),
        decoded[3].proof.batch()
    ));
}

#[test]
fn encoded_len_is_the_most_an_item_of_a_batch_takes() {
    for k in [1, 2, 7, MAX_BATCH as u64] {
        let items = batch(1, 1000, k);
        let (mut enc, mut dec) = (LinkEncoder::default(), LinkDecoder::default());
        for (i, it) in items.iter().enumerate() {
            let len = encoded_len(&Message::Item(it.clone()));
            let sent = send(&mut enc, &mut dec, it);
            if i == 0 {
                assert_eq!(sent, len, "k={k}: the first item carries the manifest");
            } else {
                assert!(sent < len, "k={k}");
            }
        }
    }
}

#[test]
fn a_full_table_reuses_the_least_recently_used_batch_slot_and_resends_its_manifest() {
    let (mut enc, mut dec) = (LinkEncoder::default(), LinkDecoder::default());
    let batches: Vec<Vec<Item>> = (0..=BATCH_SLOTS as u64)
        .map(|b| batch(1, b * 10, 3))
        .collect();
    for b in &batches[..BATCH_SLOTS] {
        send(&mut enc, &mut dec, &b[0]);
    }
    // Batch 0 is the least recently used: touch it, so batch 1 goes.
    assert!(send(&mut enc, &mut dec, &batches[0][1]) < 20);
    let bytes_new = send(&mut enc, &mut dec, &batches[BATCH_SLOTS][0]);
    assert!(bytes_new > 64 + 64);
    assert!(send(&mut enc, &mut dec, &batches[1][1]) > 64 + 64);
    assert!(send(&mut enc, &mut dec, &batches[0][2]) < 20);
    for b in &batches {
        send(&mut enc, &mut dec, &b[2]);
    }
}

#[test]
fn another_manifest_under_the_same_numbers_is_sent_whole() {
    let (mut enc, mut dec) = (LinkEncoder::default(), LinkDecoder::default());
    let a = batch(1, 100, 2);
    let auth = ChecksumAuth::for_host(PeerId::from_u64(1));
    let mut other = Batcher::default();
    other.push(100, Hlc(5), Ttl(3), DataType(7), Arc::from(&b"other"[..]));
    other.push(101, Hlc(6), Ttl(3), DataType(7), Arc::from(&b"two"[..]));
    let b = other.sign(&*auth);
    send(&mut enc, &mut dec, &a[0]);
    assert!(send(&mut enc, &mut dec, &b[1]) > 64 + 32);
    assert!(send(&mut enc, &mut dec, &b[0]) < 20);
    assert!(send(&mut enc, &mut dec, &a[1]) > 64 + 32);
}

/// The encoding of the first item of a batch of `k` on a fresh link.
fn first_of(k: u64) -> (Vec<Item>, Vec<u8>) {
    let items = batch(1, 100, k);
    let out = bytes(&mut LinkEncoder::default(), &items[0]);
    (items, out)
}

#[test]
fn a_manifest_beyond_its_limits_is_refused() {
    let (_, out) = first_of(2);
    // Batch slot beyond the table.
    let mut b = out.clone();
    b[SLOT_AT] = BATCH_SLOTS as u8;
    assert_eq!(decode(&b), Err(WireError::BadBatchSlot(BATCH_SLOTS as u8)));
    // Counts 0 and 65, whatever follows.
    for count in [0, MAX_BATCH as u8 + 1, 255] {
        let mut b = out.clone();
        b[SLOT_AT + 2] = count;
        assert!(
            matches!(
                decode(&b),
                Err(WireError::TooMany {
                    field: "batch items",
                    ..
                })
            ),
            "count {count}"
        );
    }
    // Index at or beyond the count.
    let mut b = out.clone();
    b[SLOT_AT + 1] = 2;
    assert!(matches!(decode(&b), Err(WireError::BadBatch(_))));
    // A count that promises more digests than there are bytes: refused
    // before the digests are read.
    let mut b = out[..SLOT_AT + 3 + 64].to_vec();
    b[SLOT_AT + 2] = MAX_BATCH as u8;
    assert_eq!(
        decode(&b),
        Err(WireError::Truncated {
            field: "batch digests",
            needed: 63 * 32,
            remaining: 0
        })
    );
    // Every cut is a truncation.
    for cut in 1..SLOT_AT + 3 + 64 + 32 {
        assert!(
            matches!(decode(&out[..cut]), Err(WireError::Truncated { .. })),
            "cut at {cut}"
        );
    }
}

#[test]
fn a_manifest_whose_numbers_do_not_fit_is_refused() {
    // Index above the sequence number: the batch would start before 0.
    let items = batch(1, 0, 3);
    let mut out = bytes(&mut LinkEncoder::default(), &items[1]);
    out[SLOT_AT + 1] = 2;
    assert!(matches!(decode(&out), Err(WireError::BadBatch(_))));
    // A batch running past u64::MAX.
    let items = batch(1, u64::MAX - 1, 2);
    let mut out = bytes(&mut LinkEncoder::default(), &items[0]);
    assert_eq!(decode(&out), Ok(Message::Item(items[0].clone())));
    out[35..43].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(decode(&out), Err(WireError::BadBatch(_))));
}

#[test]
fn a_slot_reference_that_does_not_fit_the_item_is_refused() {
    let items = batch(1, 100, 3);
    let mut enc = LinkEncoder::default();
    let first = bytes(&mut enc, &items[0]);
    let second = bytes(&mut enc, &items[1]);
    // Compressed: [tag, flags, origin slot, seq diff, hlc diff, ttl, type, type].
    let slot_at = 8;
    assert_eq!(second[slot_at..slot_at + 2], [0, 1]);
    let follows = |patch: &dyn Fn(&mut Vec<u8>)| {
        let mut dec = LinkDecoder::default();
        dec.decode(&first).unwrap();
        let mut b = second.clone();
        patch(&mut b);
        dec.decode(&b)
    };
    assert!(follows(&|_| ()).is_ok());
    // A slot never assigned, beyond the table, an index beyond the batch,
    // another item's index (its sequence number does not match).
    assert_eq!(
        follows(&|b| b[slot_at] = 1),
        Err(WireError::BadBatchSlot(1))
    );
    assert_eq!(
        follows(&|b| b[slot_at] = BATCH_SLOTS as u8),
        Err(WireError::BadBatchSlot(BATCH_SLOTS as u8))
    );
    for index in [2, 3, 255] {
        assert!(
            matches!(
                follows(&|b| b[slot_at + 1] = index),
                Err(WireError::BadBatch(_))
            ),
            "index {index}"
        );
    }
    // Without any manifest before it on the link.
    assert_eq!(
        LinkDecoder::default().decode(&second),
        Err(WireError::BadOriginSlot(0))
    );
    // A batch slot holding another origin's batch.
    let theirs = batch(2, 100, 1);
    let mut enc = LinkEncoder::default();
    let mut dec = LinkDecoder::default();
    dec.decode(&bytes(&mut enc, &theirs[0])).unwrap();
    let mine = bytes(&mut enc, &items[0]);
    // Mine went to batch slot 1 with a manifest; point a reference at slot 0.
    dec.decode(&mine).unwrap();
    let mut b = bytes(&mut enc, &items[1]);
    let at = b.len() - items[1].data.len() - 2;
    assert_eq!(b[at..at + 2], [1, 1]);
    b[at] = 0;
    assert!(matches!(dec.decode(&b), Err(WireError::BadBatch(_))));
}

#[test]
fn an_item_not_listed_in_its_manifest_still_decodes_but_is_refused_by_the_core() {
    // The wire does not check digests: the receiving core does (once per
    // item), against the manifest the first item carried.
    let items = batch(1, 100, 2);
    let mut enc = LinkEncoder::default();
    let mut dec = LinkDecoder::default();
    dec.decode(&bytes(&mut enc, &items[0])).unwrap();
    let mut b = bytes(&mut enc, &items[1]);
    *b.last_mut().unwrap() ^= 1;
    let Ok(Message::Item(it)) = dec.decode(&b) else {
        panic!("should decode");
    };
    assert_ne!(crate::proto::ItemDigest::of_item(&it), *it.proof.digest());
}
