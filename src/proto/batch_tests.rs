//! Unit tests of signed batches ([`super::batch`]): signing, checking items
//! against their manifest, the table of verified manifests, and how the
//! [`Core`](super::Core) gathers announcements into batches and checks one
//! signature per batch.

use std::sync::Arc;

use super::batch::{Batcher, Checked, VerifiedBatches};
use super::core_tests::{Rig, config, deliver, peer};
use super::origin_tests::reproved;
use super::{
    Action, ChecksumAuth, DataType, Event, Hlc, Item, ItemAuth, ItemProof, ItemSignature,
    MAX_BATCH, Message, OriginKey, SignedBatch, Ttl,
};

/// Items `first..first + k` of host `n`, signed as one batch.
pub(super) fn batch(n: u64, first: u64, k: u64) -> Vec<Item> {
    let auth = ChecksumAuth::for_host(peer(n));
    let mut b = Batcher::default();
    for seq in first..first + k {
        let data = Arc::from(format!("item {seq}").as_bytes());
        b.push(seq, Hlc(seq * 10), Ttl(0), DataType(7), data);
    }
    b.sign(&*auth)
}

/// The same item with a proof in a batch of its own `Arc` (as a copy
/// decoded from another link has).
fn decoded_apart(item: &Item) -> Item {
    let batch = Arc::new(SignedBatch::clone(item.proof.batch()));
    Item {
        proof: ItemProof::new(batch, item.proof.index()).unwrap(),
        ..item.clone()
    }
}

fn auth() -> Arc<dyn ItemAuth> {
    ChecksumAuth::for_host(peer(1))
}

#[test]
fn a_batch_is_signed_once_and_its_items_share_it() {
    let items = batch(5, 100, 3);
    assert_eq!(items.len(), 3);
    let first = items[0].proof.batch();
    for (i, it) in items.iter().enumerate() {
        assert!(Arc::ptr_eq(it.proof.batch(), first));
        assert_eq!(
            (it.proof.index(), it.seq, it.proof.seq()),
            (i, 100 + i as u64, it.seq)
        );
        assert_eq!(it.origin(), OriginKey(peer(5).0));
    }
    assert_eq!((first.first_seq(), first.len()), (100, 3));
    assert!(first.verify(&*auth()));
}

#[test]
fn each_item_of_a_verified_batch_passes_without_another_signature_check() {
    let items = batch(5, 100, 4);
    let mut v = VerifiedBatches::default();
    let auth = auth();
    assert_eq!(v.check(&*auth, &items[2]), Checked::Verified);
    assert_eq!(v.check(&*auth, &items[0]), Checked::AlreadyVerified);
    // A copy decoded on another link: equal, not the same Arc.
    assert_eq!(
        v.check(&*auth, &decoded_apart(&items[3])),
        Checked::AlreadyVerified
    );
    assert_eq!(v.len(), 1);
}

#[test]
fn an_altered_item_or_index_does_not_match_its_manifest() {
    let items = batch(5, 100, 3);
    let mut v = VerifiedBatches::default();
    let auth = auth();
    let mut altered = items[1].clone();
    altered.data = Arc::from(&b"forged"[..]);
    assert_eq!(v.check(&*auth, &altered), Checked::Mismatch);
    let mut later = items[1].clone();
    later.hlc = Hlc(later.hlc.0 + 1);
    assert_eq!(v.check(&*auth, &later), Checked::Mismatch);
    // Another item's place in the batch, with its sequence number or not.
    let wrong_index = Item {
        proof: ItemProof::new(items[1].proof.batch().clone(), 2).unwrap(),
        ..items[1].clone()
    };
    assert_eq!(v.check(&*auth, &wrong_index), Checked::Mismatch);
    let wrong_seq = Item {
        seq: 102,
        ..wrong_index
    };
    assert_eq!(v.check(&*auth, &wrong_seq), Checked::Mismatch);
    // Nothing was verified yet: mismatches cost no signature check.
    assert!(v.is_empty());
}

#[test]
fn an_altered_manifest_or_a_forged_signature_fails_even_under_a_verified_key() {
    let items = batch(5, 100, 3);
    let genuine = items[0].proof.batch();
    let mut v = VerifiedBatches::default();
    let auth = auth();
    assert_eq!(v.check(&*auth, &items[0]), Checked::Verified);
    // A forger lists its own item in the origin's manifest: the signature
    // no longer holds.
    let mut forged = items[1].clone();
    forged.data = Arc::from(&b"forged"[..]);
    let mut digests = genuine.digests().to_vec();
    digests[1] = super::ItemDigest::of_item(&forged);
    let manifest =
        SignedBatch::new(genuine.origin(), 100, digests.into(), *genuine.signature()).unwrap();
    forged.proof = ItemProof::new(Arc::new(manifest), 1).unwrap();
    assert_eq!(v.check(&*auth, &forged), Checked::BadSignature);
    let zero = reproved(&items[2], genuine.origin(), ItemSignature([0; 64]));
    assert_eq!(v.check(&*auth, &zero), Checked::BadSignature);
    // The genuine manifest is still the verified one.
    assert_eq!(v.check(&*auth, &items[2]), Checked::AlreadyVerified);
}

#[test]
fn two_manifests_an_origin_signed_for_the_same_numbers_both_pass() {
    let a = batch(5, 100, 2);
    let auth5 = ChecksumAuth::for_host(peer(5));
    let mut b = Batcher::default();
    b.push(100, Hlc(1), Ttl(0), DataType(7), Arc::from(&b"other"[..]));
    let other = b.sign(&*auth5);
    let mut v = VerifiedBatches::default();
    let auth = auth();
    assert_eq!(v.check(&*auth, &a[0]), Checked::Verified);
    assert_eq!(v.check(&*auth, &other[0]), Checked::Verified);
    assert_eq!(v.check(&*auth, &a[1]), Checked::Verified);
}

#[test]
fn the_table_of_verified_manifests_is_bounded_and_forgets_the_least_recently_used() {
    let mut v = VerifiedBatches::new(2);
    let auth = auth();
    let (one, two, three) = (batch(5, 0, 2), batch(5, 2, 2), batch(5, 4, 2));
    assert_eq!(v.check(&*auth, &one[0]), Checked::Verified);
    assert_eq!(v.check(&*auth, &two[0]), Checked::Verified);
    assert_eq!(v.check(&*auth, &one[1]), Checked::AlreadyVerified);
    assert_eq!(v.check(&*auth, &three[0]), Checked::Verified);
    assert_eq!(v.len(), 2);
    assert_eq!(v.check(&*auth, &one[0]), Checked::AlreadyVerified);
    assert_eq!(v.check(&*auth, &two[1]), Checked::Verified);
}

#[test]
fn a_manifest_holds_one_to_64_items_whose_numbers_fit() {
    let sig = ItemSignature([0; 64]);
    let o = OriginKey([1; 32]);
    let d = |k: usize| vec![super::ItemDigest([0; 32]); k].into_boxed_slice();
    assert!(SignedBatch::new(o, 0, d(0), sig).is_none());
    assert!(SignedBatch::new(o, 0, d(MAX_BATCH + 1), sig).is_none());
    assert!(SignedBatch::new(o, 0, d(MAX_BATCH), sig).is_some());
    assert!(SignedBatch::new(o, u64::MAX, d(1), sig).is_some());
    assert!(SignedBatch::new(o, u64::MAX, d(2), sig).is_none());
    let one = Arc::new(SignedBatch::new(o, 0, d(1), sig).unwrap());
    assert!(ItemProof::new(one, 1).is_none());
}

#[test]
fn the_items_of_a_batch_cost_one_signature_check_over_several_links() {
    let mut rig = Rig::new(config(4, 10));
    for n in 2..=4 {
        rig.link(n);
    }
    let items = batch(5, 100, 4);
    // Each item comes first from another neighbour, each copy decoded on
    // its own link; duplicates follow.
    for (i, it) in items.iter().enumerate() {
        for j in 0..3 {
            let from = 2 + (i as u64 + j) % 3;
            rig.receive(from, Message::Item(decoded_apart(it)), i as u64);
        }
    }
    let s = rig.core.stats();
    assert_eq!((s.received, s.duplicates), (4, 4 * 2));
    assert_eq!(
        (s.verified, s.verified_by_batch, s.bad_signatures),
        (1, 3, 0)
    );
}

#[test]
fn an_item_its_manifest_does_not_list_is_dropped_unseen_and_counted() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let items = batch(5, 100, 2);
    let mut forged = items[1].clone();
    forged.data = Arc::from(&b"forged"[..]);
    assert_eq!(rig.receive(2, Message::Item(forged), 1), vec![]);
    let s = rig.core.stats();
    assert_eq!((s.verified, s.bad_signatures, s.misbehaviours), (0, 1, 1));
    // The genuine item still gets in, from another neighbour.
    assert_eq!(
        rig.receive(3, Message::Item(items[1].clone()), 2),
        vec![deliver(&items[1], 0)]
    );
}

fn announce(data: &'static [u8]) -> Event {
    Event::Announce {
        ttl: Ttl(0),
        data_type: DataType(7),
        data: Arc::from(data),
    }
}

/// The items sent to `peer(n)` among `actions`.
fn sent_to(actions: &[Action], n: u64) -> Vec<Item> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                msg: Message::Item(it),
            } if *to == peer(n) => Some(it.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_burst_of_announcements_becomes_one_batch() {
    let mut rig = Rig::new(config(4, 100));
    rig.link(2);
    for data in [&b"a"[..], b"b", b"c"] {
        rig.core.handle(announce(data), rig.at(1));
    }
    assert_eq!(rig.actions(), vec![]);
    assert_eq!(rig.core.pending_announcements(), 3);
    rig.core.flush_announcements(rig.at(1));
    let sent = sent_to(&rig.actions(), 2);
    assert_eq!(sent.len(), 3);
    let b = sent[0].proof.batch();
    assert_eq!((b.len(), b.first_seq()), (3, sent[0].seq));
    assert!(sent.iter().all(|it| Arc::ptr_eq(it.proof.batch(), b)));
    let s = rig.core.stats();
    assert_eq!((s.announced, s.batches_signed, s.largest_batch), (3, 1, 3));
    assert_eq!(rig.core.pending_announcements(), 0);
}

#[test]
fn an_idle_announcement_is_a_batch_of_one_sent_at_once() {
    let mut rig = Rig::new(config(4, 100));
    rig.link(2);
    // Rig::handle flushes after the event, as the driver does when no
    // other announcement is ready.
    let sent = sent_to(&rig.handle(announce(b"a"), 1), 2);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].proof.batch().len(), 1);
    assert_eq!(rig.core.stats().batches_signed, 1);
}

#[test]
fn a_full_batch_is_signed_without_waiting_for_the_burst_to_end() {
    let mut rig = Rig::new(config(4, 1000));
    rig.link(2);
    for _ in 0..MAX_BATCH + 3 {
        rig.core.handle(announce(b"x"), rig.at(1));
    }
    let sent = sent_to(&rig.actions(), 2);
    assert_eq!(sent.len(), MAX_BATCH);
    assert_eq!(sent[0].proof.batch().len(), MAX_BATCH);
    assert_eq!(rig.core.pending_announcements(), 3);
    rig.core.flush_announcements(rig.at(2));
    let rest = sent_to(&rig.actions(), 2);
    assert_eq!(rest.len(), 3);
    assert_eq!(
        rest[0].proof.batch().first_seq(),
        sent[0].seq + MAX_BATCH as u64
    );
}
