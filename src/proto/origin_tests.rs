//! Unit tests of signed items in [`Core`](super::Core): a signature is
//! checked once per item, a forged or altered item is dropped and counted
//! against its sender, sequence numbers and timestamps grow.

use std::sync::Arc;

use super::core_tests::{Rig, config, deliver, item, notified, send};
use super::{
    Action, ChecksumAuth, DataType, Event, Hlc, Item, ItemSignature, Message, OriginProof, PeerId,
    Ttl,
};

fn announce(rig: &mut Rig, ms: u64) -> Item {
    let event = Event::Announce {
        ttl: Ttl(0),
        data_type: DataType(7),
        data: Arc::from(&b"x"[..]),
    };
    let sent = rig.handle(event, ms);
    match sent.first() {
        Some(Action::Send {
            msg: Message::Item(it),
            ..
        }) => it.clone(),
        other => panic!("expected an item sent, got {other:?}"),
    }
}

#[test]
fn a_forged_item_is_dropped_and_the_genuine_one_still_gets_through() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let genuine = item(1, 0);
    let mut forged = genuine.clone();
    forged.data = Arc::from(&b"forged"[..]);
    assert_eq!(rig.receive(2, Message::Item(forged), 1), vec![]);
    let mut unsigned = genuine.clone();
    unsigned.proof = Arc::new(OriginProof {
        origin: genuine.proof.origin,
        signature: ItemSignature([0; 64]),
    });
    assert_eq!(rig.receive(2, Message::Item(unsigned), 2), vec![]);
    assert_eq!(rig.core.stats().bad_signatures, 2);
    assert_eq!(rig.core.stats().misbehaviours, 2);
    // Not marked seen: the real item is delivered when it comes.
    let got = rig.receive(3, Message::Item(genuine.clone()), 3);
    assert_eq!(got, vec![deliver(&genuine, 0)]);
    let forwarded = vec![send(2, Message::Item(genuine.clone()))];
    assert_eq!(rig.handle(notified(&genuine, &[]), 3), forwarded);
}

#[test]
fn a_signature_is_checked_once_per_item_never_per_duplicate() {
    let mut rig = Rig::new(config(4, 10));
    for n in 2..=4 {
        rig.link(n);
    }
    for n in 1..=3 {
        for from in 2..=4 {
            rig.receive(from, Message::Item(item(n, 0)), n);
        }
    }
    let stats = rig.core.stats();
    assert_eq!(
        (stats.verified, stats.received, stats.duplicates),
        (3, 3, 6)
    );
}

#[test]
fn an_item_claiming_another_origin_does_not_verify() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    let by_two = ChecksumAuth::for_host(PeerId::from_u64(2));
    let mut it = Item::signed(
        &*by_two,
        1,
        Hlc(1),
        Ttl(0),
        DataType(7),
        Arc::from(&b"a"[..]),
    );
    let origin = ChecksumAuth::for_host(PeerId::from_u64(3)).origin();
    it.proof = Arc::new(OriginProof {
        origin,
        signature: it.proof.signature,
    });
    it.id = super::ItemId::of(&origin, 1);
    assert_eq!(rig.receive(2, Message::Item(it), 1), vec![]);
    assert_eq!(rig.core.stats().bad_signatures, 1);
}

#[test]
fn sequence_numbers_count_up_and_timestamps_follow_what_was_received() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    let first = announce(&mut rig, 5);
    let second = announce(&mut rig, 5);
    assert_eq!(second.seq, first.seq + 1);
    assert!(second.hlc > first.hlc);
    assert_eq!(first.hlc.millis(), 5);
    // An item stamped 40 s ahead (within the allowed skew) moves the clock.
    let ahead = Item::signed(
        &*ChecksumAuth::for_host(PeerId::from_u64(2)),
        1,
        Hlc(40_000 << 16),
        Ttl(0),
        DataType(7),
        Arc::from(&b"b"[..]),
    );
    rig.receive(2, Message::Item(ahead.clone()), 6);
    let third = announce(&mut rig, 7);
    assert!(
        third.hlc > ahead.hlc,
        "{:?} after {:?}",
        third.hlc,
        ahead.hlc
    );
    assert_eq!(third.seq, second.seq + 1);
    // One stamped beyond the skew is delivered but leaves the clock alone.
    let far = Item::signed(
        &*ChecksumAuth::for_host(PeerId::from_u64(2)),
        2,
        Hlc(1_000_000 << 16),
        Ttl(0),
        DataType(7),
        Arc::from(&b"c"[..]),
    );
    assert_eq!(
        rig.receive(2, Message::Item(far.clone()), 8),
        vec![deliver(&far, 1)]
    );
    assert_eq!(rig.core.stats().clock_ahead, 1);
    assert!(announce(&mut rig, 9).hlc < far.hlc);
}

#[test]
fn an_own_item_that_comes_back_is_never_delivered_even_when_forgotten() {
    let mut cfg = config(4, 2);
    cfg.seen_capacity = 2;
    let mut rig = Rig::new(cfg);
    rig.link(2);
    let own = announce(&mut rig, 1);
    for ms in 2..6 {
        announce(&mut rig, ms);
    }
    // Left the cache and the seen-set long ago: still not delivered.
    assert_eq!(rig.receive(2, Message::Item(own), 10), vec![]);
    assert_eq!(rig.core.stats().received, 0);
}
