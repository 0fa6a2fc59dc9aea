//! Plumtree through the core: pruning on duplicates, lazy announcements,
//! pulls after the graft timeout, serving pulls, the digest a new link
//! starts with, and flooding as the baseline (exact actions, fixed seed).

use super::core_tests::{Rig, config, inbound, item, notified, send, with_ttl};
use super::{Action, Dissemination, Item, ItemId, Message, ProtoConfig};

/// Peer `n` sends `it`, which no local client subscribes to: it spreads at
/// once.
fn relay(rig: &mut Rig, n: u64, it: &Item, ms: u64) -> Vec<Action> {
    rig.receive(n, Message::Item(it.clone()), ms);
    rig.handle(notified(it, &[]), ms)
}

fn ids(ns: &[u64]) -> Vec<ItemId> {
    ns.iter().map(|&n| ItemId::from_u64(n)).collect()
}

#[test]
fn a_pruned_neighbour_hears_of_new_items_by_id_in_batches() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(3, Message::Prune, 1);
    let (a, b) = (item(1, 0), item(2, 0));
    // Item a comes from 2: only 3 is left, and 3 is lazy.
    assert_eq!(relay(&mut rig, 2, &a, 10), vec![]);
    assert_eq!(relay(&mut rig, 2, &b, 20), vec![]);
    // The batch goes 50 ms after the first id was queued.
    assert_eq!(rig.core.poll_timeout(), rig.at(60));
    assert_eq!(rig.timeout(60), vec![send(3, Message::IHave(ids(&[1, 2])))]);
    assert_eq!(rig.core.tree_stats().ids_announced, 2);
}

#[test]
fn an_announced_item_that_does_not_come_is_pulled_from_the_announcers_in_turn() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(2, Message::IHave(ids(&[7])), 0);
    rig.receive(3, Message::IHave(ids(&[7])), 10);
    assert_eq!(rig.timeout(99), vec![]);
    assert_eq!(rig.timeout(100), vec![send(2, Message::Graft(ids(&[7])))]);
    // Peer 2 does not answer: 100 ms later peer 3 is asked.
    assert_eq!(rig.timeout(200), vec![send(3, Message::Graft(ids(&[7])))]);
    assert_eq!(rig.core.tree_stats().grafts, 2);
    // The item comes: it is handled like any new item.
    let it = item(7, 0);
    assert_eq!(rig.receive(3, Message::Item(it.clone()), 210).len(), 1);
    assert_eq!(rig.timeout(400), vec![]);
}

#[test]
fn an_announced_item_that_comes_the_eager_way_is_not_pulled() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(2, Message::IHave(ids(&[7])), 0);
    relay(&mut rig, 3, &item(7, 0), 50);
    let later = rig.timeout(150);
    assert!(
        !later.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::Graft(_),
                ..
            }
        )),
        "{later:?}"
    );
}

#[test]
fn a_pull_is_answered_from_the_cache_with_validated_items_only() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(3, Message::Prune, 0);
    let spread = item(1, 4);
    relay(&mut rig, 2, &spread, 1);
    // Item 2 still waits for a verdict: not served.
    let waiting = item(2, 0);
    rig.receive(2, Message::Item(waiting.clone()), 2);
    rig.handle(notified(&waiting, &[super::core_tests::CLIENT_A]), 2);
    let answer = rig.receive(3, Message::Graft(ids(&[1, 2, 9])), 3);
    assert_eq!(answer, vec![send(3, Message::Item(with_ttl(&spread, 3)))]);
    assert_eq!(rig.core.tree_stats().pulled_out, 1);
    // The Graft made 3 eager again: the next item goes to it in full.
    let next = item(5, 0);
    assert_eq!(
        relay(&mut rig, 2, &next, 4),
        vec![send(3, Message::Item(next))]
    );
}

#[test]
fn a_new_link_starts_with_the_ids_of_the_cache() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    relay(&mut rig, 2, &item(1, 0), 1);
    relay(&mut rig, 2, &item(2, 0), 2);
    rig.handle(inbound(3, false), 3);
    // Sorted by origin and sequence number, as the wire carries them.
    assert_eq!(rig.timeout(60), vec![send(3, Message::IHave(ids(&[1, 2])))]);
}

#[test]
fn an_item_goes_to_a_peer_at_most_once_however_often_it_asks() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(3, Message::Prune, 0);
    for n in 1..=2 {
        relay(&mut rig, 2, &item(n, 0), 1);
    }
    assert_eq!(rig.receive(3, Message::Graft(ids(&[1, 2])), 2).len(), 2);
    assert_eq!(rig.receive(3, Message::Graft(ids(&[1, 2, 1])), 3), vec![]);
    // Nor back to the peer it came from.
    assert_eq!(rig.receive(2, Message::Graft(ids(&[1])), 4), vec![]);
    assert_eq!(rig.core.tree_stats().pulls_refused, 4);
}

#[test]
fn flooding_sends_every_item_to_every_neighbour_and_never_prunes() {
    let mut cfg: ProtoConfig = config(4, 10);
    cfg.tree.mode = Dissemination::Flood;
    let mut rig = Rig::new(cfg);
    rig.link(2);
    rig.link(3);
    rig.link(4);
    let it = item(1, 0);
    assert_eq!(relay(&mut rig, 2, &it, 1).len(), 2);
    assert_eq!(rig.receive(3, Message::Item(it), 2), vec![]);
    rig.receive(3, Message::Prune, 3);
    let next = item(2, 0);
    assert_eq!(relay(&mut rig, 2, &next, 4).len(), 2);
    assert_eq!(rig.timeout(100), vec![]);
}

#[test]
fn ids_queued_for_a_neighbour_that_was_banned_meanwhile_are_not_sent() {
    // Found by fuzzing: the digest of a new link, queued, went to the peer
    // after it was banned for a malformed frame.
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(3, Message::Prune, 0);
    relay(&mut rig, 2, &item(1, 0), 1);
    let malformed = super::Event::Misbehaved {
        peer: super::core_tests::peer(3),
        what: super::Misbehaviour::MalformedFrame,
    };
    rig.handle(malformed, 2);
    let later = rig.timeout(100);
    assert!(
        !later.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::IHave(_),
                ..
            }
        )),
        "{later:?}"
    );
}

#[test]
fn with_flooding_too_a_new_link_starts_with_the_ids_of_the_cache() {
    // A host that was cut off catches up whatever the dissemination.
    let mut cfg: ProtoConfig = config(4, 10);
    cfg.tree.mode = Dissemination::Flood;
    let mut rig = Rig::new(cfg);
    rig.link(2);
    relay(&mut rig, 2, &item(1, 0), 1);
    rig.handle(inbound(3, false), 2);
    assert_eq!(rig.timeout(60), vec![send(3, Message::IHave(ids(&[1])))]);
    // And what it misses is pulled (after the graft timeout: it is on the
    // tree since item 1).
    rig.receive(3, Message::IHave(ids(&[9])), 70);
    assert_eq!(rig.timeout(319), vec![]);
    assert_eq!(rig.timeout(320), vec![send(3, Message::Graft(ids(&[9])))]);
}

/// The Graft messages among `actions`.
fn grafts(actions: Vec<Action>) -> Vec<Action> {
    (actions.into_iter())
        .filter(|a| {
            matches!(
                a,
                Action::Send {
                    msg: Message::Graft(_),
                    ..
                }
            )
        })
        .collect()
}

#[test]
fn once_on_the_tree_a_new_link_starts_lazy() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    relay(&mut rig, 2, &item(1, 0), 1);
    // Membership replaces links all the time: a new one does not change
    // the tree (no Graft, no eager push).
    assert_eq!(
        rig.handle(inbound(4, false), 5),
        vec![send(4, Message::GetPeers)]
    );
    let next = item(2, 0);
    assert_eq!(
        relay(&mut rig, 2, &next, 10),
        vec![send(3, Message::Item(next))]
    );
    assert_eq!(rig.timeout(55), vec![send(4, Message::IHave(ids(&[1, 2])))]);
}

#[test]
fn a_host_without_another_eager_neighbour_takes_a_new_link_eager_and_asks_for_pushes() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    relay(&mut rig, 2, &item(1, 0), 1);
    rig.receive(2, Message::Prune, 2);
    rig.receive(3, Message::Prune, 3);
    assert_eq!(
        rig.handle(inbound(4, false), 5),
        vec![send(4, Message::GetPeers), send(4, Message::Graft(vec![]))]
    );
    let next = item(2, 0);
    assert_eq!(
        relay(&mut rig, 3, &next, 10),
        vec![send(4, Message::Item(next))]
    );
}

#[test]
fn an_empty_graft_asks_for_items_in_full() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.receive(3, Message::Prune, 0);
    assert_eq!(rig.receive(3, Message::Graft(vec![]), 1), vec![]);
    let it = item(1, 0);
    assert_eq!(relay(&mut rig, 2, &it, 2), vec![send(3, Message::Item(it))]);
}

#[test]
fn on_the_tree_a_host_pulls_later_unless_its_branch_is_broken() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.link(4);
    relay(&mut rig, 2, &item(1, 0), 0);
    // On an intact tree the eager copy gets 250 ms.
    rig.receive(3, Message::IHave(ids(&[7])), 10);
    assert_eq!(grafts(rig.timeout(259)), vec![]);
    assert_eq!(
        grafts(rig.timeout(260)),
        vec![send(3, Message::Graft(ids(&[7])))]
    );
    // It had to pull: for a second, pulls go out after 100 ms.
    rig.receive(3, Message::IHave(ids(&[8])), 300);
    assert_eq!(grafts(rig.timeout(399)), vec![]);
    assert_eq!(
        grafts(rig.timeout(400)),
        vec![send(3, Message::Graft(ids(&[8])))]
    );
    // The repair is over: 250 ms again.
    rig.receive(4, Message::IHave(ids(&[9])), 1500);
    assert_eq!(grafts(rig.timeout(1749)), vec![]);
    assert_eq!(
        grafts(rig.timeout(1750)),
        vec![send(4, Message::Graft(ids(&[9])))]
    );
    // The eager neighbour 2 fails: this branch is broken, pulls go out
    // after 100 ms and a new link starts eager.
    let down = super::Event::PeerDown {
        peer: super::core_tests::peer(2),
    };
    rig.handle(down, 3000);
    rig.receive(3, Message::IHave(ids(&[10])), 3010);
    assert_eq!(grafts(rig.timeout(3109)), vec![]);
    assert_eq!(
        grafts(rig.timeout(3110)),
        vec![send(3, Message::Graft(ids(&[10])))]
    );
    let up = grafts(rig.handle(inbound(5, false), 3120));
    assert_eq!(up, vec![send(5, Message::Graft(vec![]))]);
}

#[test]
fn a_backed_up_neighbour_gets_ids_until_it_drains() {
    let mut config = config(4, 10);
    config.tree.mode = Dissemination::Flood;
    let mut rig = Rig::new(config);
    rig.link(2);
    rig.link(3);
    rig.handle(
        super::Event::PeerBackedUp {
            peer: super::PeerId::from_u64(3),
            backed_up: true,
        },
        1,
    );
    assert_eq!(rig.core.tree_stats().slow_to_lazy, 1);
    let (a, b) = (item(1, 0), item(2, 0));
    assert_eq!(relay(&mut rig, 2, &a, 10), vec![]);
    assert_eq!(rig.timeout(60), vec![send(3, Message::IHave(ids(&[1])))]);
    // Drained: a flooding host sends it items in full again.
    rig.handle(
        super::Event::PeerBackedUp {
            peer: super::PeerId::from_u64(3),
            backed_up: false,
        },
        70,
    );
    assert_eq!(
        relay(&mut rig, 2, &b, 80),
        vec![send(3, Message::Item(b.clone()))]
    );
}

#[test]
fn a_full_cache_holds_announcements_back_while_its_oldest_item_may_be_pulled() {
    let mut rig = Rig::new(config(4, 2));
    rig.link(2);
    let announce = |rig: &mut Rig, ms| {
        let data = std::sync::Arc::from(&b"x"[..]);
        let event = super::Event::Announce {
            ttl: super::Ttl(0),
            data_type: super::DataType(7),
            data,
        };
        rig.handle(event, ms);
    };
    announce(&mut rig, 10);
    assert_eq!(rig.core.announcements_held_until(rig.at(10)), None);
    announce(&mut rig, 20);
    // Full: the next would push out the item spread at 10 ms, pullable
    // until 10 + 50 + 250 + 100 ms.
    assert_eq!(
        rig.core.announcements_held_until(rig.at(20)),
        Some(rig.at(410))
    );
    assert_eq!(rig.core.announcements_held_until(rig.at(410)), None);
    // Flooding never holds back.
    let mut flood = config(4, 2);
    flood.tree.mode = Dissemination::Flood;
    let mut rig = Rig::new(flood);
    rig.link(2);
    announce(&mut rig, 10);
    announce(&mut rig, 20);
    assert_eq!(rig.core.announcements_held_until(rig.at(20)), None);
}
