//! HyParView through the core: joins and forward-join walks, shuffles and
//! their replies, keep-alives, disconnects, leaving, and the defences
//! against eclipse (exact actions for a fixed seed).

use std::net::SocketAddr;
use std::time::Duration;

use super::core_tests::{Rig, addr, config, inbound, outbound, peer, send};
use super::{Action, Event, Message, PeerId, ProtoConfig, Shuffle, ShuffleReply};

/// Host 1 is peer 1 (see `Rig::new`).
const ME: u64 = 1;

fn forward_join(joiner: u64, ttl: u8) -> Message {
    Message::ForwardJoin {
        joiner: peer(joiner),
        addr: addr(joiner as u8),
        ttl,
    }
}

fn connect(n: u8, high_priority: bool) -> Action {
    Action::Connect {
        addr: addr(n),
        high_priority,
    }
}

/// Sends of `msg`'s kind in `actions`, by receiver.
fn sent_to(actions: &[Action], kind: fn(&Message) -> bool) -> Vec<PeerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } if kind(msg) => Some(*to),
            _ => None,
        })
        .collect()
}

fn is_forward_join(m: &Message) -> bool {
    matches!(m, Message::ForwardJoin { .. })
}

fn addrs(ns: &[u8]) -> Vec<SocketAddr> {
    ns.iter().map(|&n| addr(n)).collect()
}

#[test]
fn a_join_starts_a_forward_join_walk_through_every_other_neighbour() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.link(4);
    let actions = rig.receive(4, Message::Join, 1);
    assert_eq!(
        actions,
        vec![send(2, forward_join(4, 6)), send(3, forward_join(4, 6))]
    );
    // A second Join on the same link breaks the protocol.
    rig.receive(4, Message::Join, 2);
    assert_eq!(rig.core.stats().misbehaviours, 1);
}

#[test]
fn a_walk_that_ends_here_dials_the_joiner() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    assert_eq!(
        rig.receive(2, forward_join(7, 0), 1),
        vec![connect(7, false)]
    );
    // With a single neighbour the walk ends here whatever its ttl.
    let mut lone = Rig::new(config(4, 10));
    lone.link(2);
    assert_eq!(
        lone.receive(2, forward_join(7, 5), 1),
        vec![connect(7, false)]
    );
}

#[test]
fn a_walk_goes_on_to_another_neighbour_and_leaves_a_backup_at_the_passive_hop() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    // ttl 3 is the passive hop: the joiner becomes a backup here.
    assert_eq!(
        rig.receive(2, forward_join(7, 3), 1),
        vec![send(3, forward_join(7, 2))]
    );
    assert_eq!(rig.core.passive_view(), addrs(&[7]));
    // A ttl beyond the longest walk is cut down to it (6, then 5 onwards).
    assert_eq!(
        rig.receive(3, forward_join(8, 200), 2),
        vec![send(2, forward_join(8, 5))]
    );
}

#[test]
fn a_walk_that_ends_at_a_host_with_its_only_link_keeps_the_joiner_as_a_backup() {
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    assert_eq!(rig.receive(2, forward_join(7, 0), 1), vec![]);
    assert_eq!(rig.core.passive_view(), addrs(&[7]));
    assert_eq!(rig.neighbours(), vec![peer(2)]);
}

#[test]
fn a_walk_that_ends_at_a_full_host_dials_the_joiner_and_makes_room_for_it() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    rig.link(3);
    let dial = Action::Connect {
        addr: addr(7),
        high_priority: false,
    };
    assert_eq!(rig.receive(2, forward_join(7, 0), 1), vec![dial]);
    let actions = rig.handle(outbound(7), 2);
    // One of the two neighbours gave way (told so, with a referral naming
    // the joiner first), and the joiner is in.
    assert_eq!(rig.core.membership_stats().evictions, 1);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::Disconnect { alive: true },
                ..
            }
        )),
        "{actions:?}"
    );
    let neighbours = rig.neighbours();
    assert_eq!(neighbours.len(), 2);
    assert!(neighbours.contains(&peer(7)), "{neighbours:?}");
}

#[test]
fn one_neighbour_cannot_forward_unbounded_joins() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let mut walked = 0;
    for n in 0..40u64 {
        let actions = rig.receive(2, forward_join(100 + n, 2), 1);
        walked += sent_to(&actions, is_forward_join).len();
    }
    // 16 at once, then one per second.
    assert_eq!(walked, 16);
    assert_eq!(rig.core.membership_stats().joins_dropped, 24);
    let actions = rig.receive(2, forward_join(200, 2), 1_001);
    assert_eq!(sent_to(&actions, is_forward_join), vec![peer(3)]);
    // The other neighbour has its own allowance.
    let actions = rig.receive(3, forward_join(201, 2), 1_001);
    assert_eq!(sent_to(&actions, is_forward_join), vec![peer(2)]);
}

#[test]
fn a_shuffle_walk_is_passed_on_with_this_host_added_to_its_path() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let shuffle = Shuffle {
        id: 9,
        ttl: 4,
        path: vec![peer(5), peer(2)],
        sample: addrs(&[5]),
    };
    let passed = Shuffle {
        ttl: 3,
        path: vec![peer(5), peer(2), peer(ME)],
        ..shuffle.clone()
    };
    assert_eq!(
        rig.receive(2, Message::Shuffle(shuffle), 1),
        vec![send(3, Message::Shuffle(passed))]
    );
}

#[test]
fn a_shuffle_that_ends_here_is_answered_along_its_path_and_merged() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.receive(2, Message::Peers(addrs(&[20, 21])), 1);
    let shuffle = Shuffle {
        id: 9,
        ttl: 0,
        path: vec![peer(5), peer(2)],
        sample: addrs(&[5, 6]),
    };
    let actions = rig.receive(2, Message::Shuffle(shuffle), 2);
    let [
        Action::Send {
            to,
            msg: Message::ShuffleReply(reply),
        },
    ] = &actions[..]
    else {
        panic!("expected one reply, got {actions:?}");
    };
    assert_eq!(*to, peer(2));
    assert_eq!(reply.id, 9);
    assert_eq!(reply.route, vec![peer(5)]);
    // As many backups as it got, none of those it got.
    let mut got = reply.sample.clone();
    got.sort();
    assert_eq!(got, addrs(&[20, 21]));
    let mut passive = rig.core.passive_view().to_vec();
    passive.sort();
    assert_eq!(passive, addrs(&[5, 6, 20, 21]));
}

#[test]
fn a_shuffle_whose_path_does_not_end_with_its_sender_is_a_violation() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    let forged = Shuffle {
        id: 1,
        ttl: 0,
        path: vec![peer(5)],
        sample: addrs(&[5]),
    };
    assert_eq!(rig.receive(2, Message::Shuffle(forged), 1), vec![]);
    assert_eq!(rig.core.stats().misbehaviours, 1);
    assert!(rig.core.passive_view().is_empty());
}

#[test]
fn a_reply_is_passed_back_hop_by_hop_and_merged_only_by_the_shuffles_origin() {
    let mut cfg = config(4, 10);
    cfg.shuffle_interval = Duration::from_secs(10);
    let mut rig = Rig::new(cfg);
    rig.link(2);
    rig.link(3);
    // A relay: the next hop is the last of the route.
    let relayed = ShuffleReply {
        id: 4,
        route: vec![peer(3)],
        sample: addrs(&[30]),
    };
    let onward = ShuffleReply {
        route: vec![],
        ..relayed.clone()
    };
    assert_eq!(
        rig.receive(2, Message::ShuffleReply(relayed), 1),
        vec![send(3, Message::ShuffleReply(onward))]
    );
    // An unsolicited reply for this host is ignored.
    let unsolicited = ShuffleReply {
        id: 4,
        route: vec![],
        sample: addrs(&[31]),
    };
    rig.receive(2, Message::ShuffleReply(unsolicited), 2);
    assert!(rig.core.passive_view().is_empty());
    // This host's own shuffle: the first tick schedules it, within 5-15 s.
    rig.timeout(200);
    let actions = rig.timeout(15_200);
    let Some((to, sent)) = actions.iter().find_map(|a| match a {
        Action::Send {
            to,
            msg: Message::Shuffle(s),
        } => Some((*to, s.clone())),
        _ => None,
    }) else {
        panic!("no shuffle in {actions:?}");
    };
    assert_eq!(sent.path, vec![peer(ME)]);
    assert_eq!(sent.ttl, 3);
    assert_eq!(sent.sample[0], addr(ME as u8));
    let n = if to == peer(2) { 2 } else { 3 };
    let answer = ShuffleReply {
        id: sent.id,
        route: vec![],
        sample: addrs(&[40, 41]),
    };
    rig.receive(n, Message::ShuffleReply(answer.clone()), 15_300);
    let mut passive = rig.core.passive_view().to_vec();
    passive.sort();
    assert_eq!(passive, addrs(&[40, 41]));
    assert_eq!(rig.core.membership_stats().shuffle_replies, 1);
    // Only once.
    let again = ShuffleReply {
        sample: addrs(&[42]),
        ..answer
    };
    rig.receive(n, Message::ShuffleReply(again), 15_400);
    assert_eq!(rig.core.passive_view().len(), 2);
}

#[test]
fn one_message_places_at_most_a_sixth_of_the_passive_view() {
    // Degree 4: a passive view of 24, at most 4 from one message.
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    let many: Vec<SocketAddr> = (20..36).map(addr).collect();
    rig.receive(2, Message::Peers(many.clone()), 1);
    assert_eq!(rig.core.passive_view().len(), 4);
    let shuffle = Shuffle {
        id: 1,
        ttl: 0,
        path: vec![peer(2)],
        sample: many,
    };
    rig.receive(2, Message::Shuffle(shuffle), 2);
    assert_eq!(rig.core.passive_view().len(), 8);
}

#[test]
fn a_silent_neighbour_is_dropped_at_the_keepalive_deadline() {
    let mut cfg: ProtoConfig = config(4, 10);
    cfg.keepalive_timeout = Duration::from_secs(3);
    let mut rig = Rig::new(cfg);
    rig.link(2);
    rig.link(3);
    // The first tick schedules keep-alives every second (a third of 3 s).
    assert_eq!(rig.timeout(200), vec![]);
    let beats = rig.timeout(1_200);
    assert_eq!(
        sent_to(&beats, |m| *m == Message::KeepAlive),
        vec![peer(2), peer(3)]
    );
    rig.receive(2, Message::KeepAlive, 2_000);
    let actions = rig.timeout(3_000);
    assert!(
        actions.contains(&Action::Disconnect(peer(3))),
        "{actions:?}"
    );
    assert_eq!(rig.neighbours(), vec![peer(2)]);
    assert_eq!(rig.core.membership_stats().keepalive_timeouts, 1);
    // Not kept as a backup.
    assert!(!rig.core.passive_view().contains(&addr(3)));
}

#[test]
fn a_neighbour_that_disconnects_alive_becomes_a_backup_one_that_leaves_does_not() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let actions = rig.receive(2, Message::Disconnect { alive: true }, 1);
    assert_eq!(actions, vec![Action::Disconnect(peer(2))]);
    assert_eq!(rig.core.passive_view(), addrs(&[2]));
    rig.receive(3, Message::Disconnect { alive: false }, 2);
    assert!(rig.neighbours().is_empty());
    assert_eq!(rig.core.passive_view(), addrs(&[2]));
}

#[test]
fn leaving_tells_every_neighbour() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    rig.core.leave();
    let bye = Message::Disconnect { alive: false };
    assert_eq!(
        rig.actions(),
        vec![
            send(2, bye.clone()),
            Action::Disconnect(peer(2)),
            send(3, bye),
            Action::Disconnect(peer(3)),
        ]
    );
    assert!(rig.neighbours().is_empty());
}

#[test]
fn a_backup_that_cannot_be_dialed_leaves_the_passive_view() {
    let mut rig = Rig::new(config(3, 10));
    rig.link(2);
    rig.receive(2, Message::Peers(addrs(&[5])), 1);
    assert_eq!(rig.timeout(200), vec![connect(5, false)]);
    rig.handle(Event::DialFailed { addr: addr(5) }, 300);
    assert!(rig.core.passive_view().is_empty());
}

#[test]
fn a_host_left_alone_promotes_a_backup_with_high_priority_then_falls_back_to_its_bootstrapper() {
    let mut cfg = config(3, 10);
    cfg.bootstrapper = Some(addr(9));
    let mut rig = Rig::new(cfg);
    rig.actions();
    rig.handle(outbound(9), 1);
    rig.receive(9, Message::Peers(addrs(&[5])), 2);
    // The bootstrapper fails: the backup is dialed with high priority.
    let actions = rig.handle(Event::PeerDown { peer: peer(9) }, 3);
    assert_eq!(actions, vec![connect(5, true)]);
    // It fails too: nothing is left but the bootstrapper, dialed once its
    // back-off (2.5-7.5 s after it failed) is over.
    assert_eq!(rig.handle(Event::DialFailed { addr: addr(5) }, 4), vec![]);
    let actions = rig.timeout(7_600);
    assert!(actions.contains(&connect(9, true)), "{actions:?}");
    // Which joins again once it answers.
    let actions = rig.handle(outbound(9), 7_700);
    assert_eq!(sent_to(&actions, |m| *m == Message::Join), vec![peer(9)]);
}

#[test]
fn a_full_host_refreshes_one_neighbour_now_and_then() {
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    rig.receive(2, Message::Peers(addrs(&[5])), 1);
    rig.timeout(200);
    // Every 10 minutes spread over 50-150 %: by 15 minutes.
    let actions = rig.timeout(900_200);
    assert!(actions.contains(&connect(5, true)), "{actions:?}");
    let actions = rig.handle(outbound(5), 900_300);
    assert!(
        actions.contains(&Action::Disconnect(peer(2))),
        "{actions:?}"
    );
    assert_eq!(rig.neighbours(), vec![peer(5)]);
    assert!(rig.core.passive_view().contains(&addr(2)));
}

#[test]
fn an_inbound_link_is_never_this_host_and_never_a_second_one() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    assert_eq!(rig.handle(inbound(2, true), 1), vec![]);
    assert_eq!(rig.handle(inbound(ME, true), 1), vec![]);
    assert_eq!(rig.neighbours(), vec![peer(2)]);
}

#[test]
fn a_host_left_with_nothing_redials_its_lost_neighbour_after_the_back_off() {
    // No backup, no bootstrapper: the neighbour that failed is all it
    // knows (the first host of a network whose one peer banned it).
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    assert_eq!(rig.handle(Event::PeerDown { peer: peer(2) }, 0), vec![]);
    assert_eq!(rig.timeout(2_400), vec![]);
    let actions = rig.timeout(7_600);
    assert!(actions.contains(&connect(2, true)), "{actions:?}");
}
