//! Peer accounting seen through [`Core`](super::Core): bans, refusals,
//! rate limits. Same conventions and helpers as `core_tests`: host 1 under
//! test, peer `n` at 10.0.0.n:7000, one seed, offsets from one `Instant`.

use std::time::Duration;

use super::accounting::{AccountingConfig, BanReason, WINDOW};
use super::core_tests::{
    CLIENT_A, DATA_TYPE, Rig, addr, config, deliver, inbound, item, notified, outbound, peer, send,
    verdict, with_ttl,
};
use super::{Action, Event, Message, Misbehaviour, ProtoConfig, Ttl, Violation};

/// Bans in these tests last 10 s.
const BAN_MS: u64 = 10_000;

/// `config(degree, cache_size)` with 10 s bans and `accounting`.
fn with_accounting(degree: usize, cache_size: usize, accounting: AccountingConfig) -> ProtoConfig {
    ProtoConfig {
        ban_time: Duration::from_millis(BAN_MS),
        accounting,
        ..config(degree, cache_size)
    }
}

/// `Ban` of peer `n` at `ms` for `reason`, its address banned if `addr_banned`.
fn ban(rig: &Rig, n: u64, addr_banned: bool, reason: BanReason, ms: u64) -> Action {
    Action::Ban {
        peer: peer(n),
        addr: addr_banned.then(|| addr(n as u8)),
        reason,
        until: rig.at(ms + BAN_MS),
    }
}

fn reason(what: Misbehaviour, count: u32) -> BanReason {
    BanReason {
        what,
        count,
        window: WINDOW,
    }
}

fn malformed(n: u64) -> Event {
    Event::Misbehaved {
        peer: peer(n),
        what: Misbehaviour::MalformedFrame,
    }
}

/// True when `actions` dial `a`.
fn dials(actions: &[Action], a: std::net::SocketAddr) -> bool {
    actions
        .iter()
        .any(|x| matches!(x, Action::Connect { addr, .. } if *addr == a))
}

/// Peer `n` sends item `id`, which client A is notified of and calls
/// invalid, all at `ms`; returns the actions of the verdict.
fn invalid_item_from(rig: &mut Rig, n: u64, id: u64, msg_id: u16, ms: u64) -> Vec<Action> {
    let it = item(id, 0);
    assert_eq!(
        rig.receive(n, Message::Item(it.clone()), ms),
        vec![deliver(&it, msg_id)]
    );
    assert_eq!(rig.handle(notified(&it, &[CLIENT_A]), ms), vec![]);
    rig.handle(verdict(CLIENT_A, msg_id, false), ms)
}

#[test]
fn a_peer_sending_ten_invalid_items_is_banned_refused_and_taken_back_after_the_ban() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.link(2);
    rig.link(3);
    for n in 0..9 {
        assert_eq!(invalid_item_from(&mut rig, 2, n, n as u16, 10), vec![]);
    }
    let banned = ban(&rig, 2, false, reason(Misbehaviour::InvalidItem, 10), 20);
    assert_eq!(invalid_item_from(&mut rig, 2, 9, 9, 20), vec![banned]);
    assert_eq!(rig.neighbours(), vec![peer(3)], "dropped at once");
    assert_eq!(rig.core.stats().peers_banned, 1);
    assert_eq!(rig.core.stats().misbehaviours, 10);
    // It comes back before the ban ends: refused, and only that.
    assert_eq!(
        rig.handle(inbound(2, true), 5_000),
        vec![Action::Disconnect(peer(2))]
    );
    assert_eq!(rig.neighbours(), vec![peer(3)]);
    assert_eq!(rig.receive(2, Message::Item(item(50, 0)), 5_001), vec![]);
    assert_eq!(rig.core.stats().refused_banned, 1);
    // After the ban it is taken like anyone else.
    rig.timeout(BAN_MS + 20);
    assert_eq!(
        rig.handle(inbound(2, false), BAN_MS + 21),
        vec![send(2, Message::GetPeers)]
    );
    assert_eq!(rig.neighbours(), vec![peer(2), peer(3)]);
}

#[test]
fn invalid_items_count_across_reconnections() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.link(2);
    for n in 0..9 {
        invalid_item_from(&mut rig, 2, n, n as u16, 10);
    }
    rig.handle(Event::PeerDown { peer: peer(2) }, 11);
    rig.handle(inbound(2, false), 12);
    let banned = ban(&rig, 2, false, reason(Misbehaviour::InvalidItem, 10), 13);
    assert_eq!(invalid_item_from(&mut rig, 2, 9, 9, 13), vec![banned]);
}

#[test]
fn a_verdict_on_an_item_from_a_peer_that_left_still_counts() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.link(2);
    for n in 0..9 {
        invalid_item_from(&mut rig, 2, n, n as u16, 10);
    }
    let it = item(9, 0);
    rig.receive(2, Message::Item(it.clone()), 10);
    rig.handle(notified(&it, &[CLIENT_A]), 10);
    rig.handle(Event::PeerDown { peer: peer(2) }, 11);
    let banned = ban(&rig, 2, false, reason(Misbehaviour::InvalidItem, 10), 12);
    assert_eq!(rig.handle(verdict(CLIENT_A, 9, false), 12), vec![banned]);
}

#[test]
fn a_malformed_frame_bans_at_once_with_the_address_this_host_dialed() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    assert_eq!(rig.handle(outbound(2), 0), vec![send(2, Message::GetPeers)]);
    rig.link(3);
    let banned = ban(&rig, 2, true, reason(Misbehaviour::MalformedFrame, 1), 5);
    assert_eq!(rig.handle(malformed(2), 5), vec![banned]);
    assert_eq!(rig.neighbours(), vec![peer(3)]);
    assert!(rig.core.is_banned(&peer(2), rig.at(5)));
    assert!(rig.core.is_addr_banned(&addr(2), rig.at(5)));
    // The end of its connection and later reports change nothing.
    assert_eq!(rig.handle(Event::PeerDown { peer: peer(2) }, 6), vec![]);
    assert_eq!(rig.handle(malformed(2), 7), vec![], "banned once");
    assert_eq!(rig.core.stats().peers_banned, 1);
}

#[test]
fn a_peer_that_dialed_in_is_banned_by_id_only() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.link(2);
    let banned = ban(&rig, 2, false, reason(Misbehaviour::MalformedFrame, 1), 5);
    assert_eq!(rig.handle(malformed(2), 5), vec![banned]);
    assert!(
        !rig.core.is_addr_banned(&addr(2), rig.at(5)),
        "an address a peer only claims could be someone else's"
    );
}

#[test]
fn a_banned_address_is_not_dialed_even_when_offered() {
    let mut rig = Rig::new(with_accounting(3, 100, AccountingConfig::default()));
    rig.handle(outbound(2), 0);
    rig.link(3);
    rig.handle(malformed(2), 5);
    let offer = Message::Peers(vec![addr(2), addr(5)]);
    assert_eq!(rig.receive(3, offer, 6), vec![]);
    let tick = rig.timeout(200);
    assert!(dials(&tick, addr(5)), "{tick:?}");
    assert!(!dials(&tick, addr(2)), "{tick:?}");
    // Not even when stuck below degree, when any known address is tried.
    rig.handle(Event::DialFailed { addr: addr(5) }, 201);
    let offer = Message::Peers(vec![addr(2)]);
    rig.receive(3, offer, 202);
    for ms in (400..BAN_MS).step_by(200) {
        let tick = rig.timeout(ms);
        assert!(!dials(&tick, addr(2)), "at {ms} ms: {tick:?}");
    }
}

#[test]
fn a_banned_peer_reached_at_a_new_address_gets_that_address_banned() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.link(2);
    rig.link(3);
    rig.handle(malformed(2), 5);
    // Peer 2 also listens at 10.0.0.7:7000; this host learns and dials it.
    rig.receive(3, Message::Peers(vec![addr(7)]), 6);
    assert!(dials(&rig.timeout(200), addr(7)));
    let up = Event::PeerUp {
        peer: peer(2),
        addr: addr(7),
        dialed: Some(addr(7)),
        high_priority: false,
    };
    assert_eq!(rig.handle(up, 201), vec![Action::Disconnect(peer(2))]);
    assert!(rig.core.is_addr_banned(&addr(7), rig.at(201)));
    rig.receive(3, Message::Peers(vec![addr(7)]), 202);
    for ms in (400..BAN_MS).step_by(200) {
        assert!(!dials(&rig.timeout(ms), addr(7)), "at {ms} ms");
    }
}

#[test]
fn anyone_connecting_from_a_banned_address_is_refused() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.handle(outbound(2), 0);
    rig.handle(malformed(2), 5);
    // A new identity at the banned address, either way round.
    let up = Event::PeerUp {
        peer: peer(9),
        addr: addr(2),
        dialed: None,
        high_priority: false,
    };
    assert_eq!(rig.handle(up, 6), vec![Action::Disconnect(peer(9))]);
    assert!(rig.neighbours().is_empty());
}

#[test]
fn a_banned_peers_referral_is_ignored() {
    let mut rig = Rig::new(with_accounting(4, 100, AccountingConfig::default()));
    rig.link(3);
    rig.link(2);
    rig.handle(malformed(2), 5);
    // Sent before its connection closed.
    assert_eq!(rig.receive(2, Message::Peers(vec![addr(5)]), 6), vec![]);
    assert!(!dials(&rig.timeout(200), addr(5)));
}

#[test]
fn a_flooding_peer_loses_its_excess_and_is_banned_while_others_get_through() {
    let accounting = AccountingConfig {
        message_rate: 1,
        message_burst: 5,
        ban_after_dropped: 3,
        ..AccountingConfig::default()
    };
    let mut rig = Rig::new(with_accounting(4, 100, accounting));
    for n in 2..=4 {
        rig.link(n);
    }
    for n in 0..5 {
        let it = item(n, 0);
        let got = rig.receive(2, Message::Item(it.clone()), 10);
        assert_eq!(got, vec![deliver(&it, n as u16)]);
    }
    for n in 5..7 {
        assert_eq!(rig.receive(2, Message::Item(item(n, 0)), 10), vec![]);
    }
    assert_eq!(rig.core.stats().dropped_over_rate, 2);
    // Peer 3's item gets through meanwhile: delivered, then forwarded.
    let other = item(100, 0);
    let got = rig.receive(3, Message::Item(other.clone()), 10);
    assert_eq!(got, vec![deliver(&other, 5)]);
    let forwarded = vec![
        send(2, Message::Item(other.clone())),
        send(4, Message::Item(other)),
    ];
    assert_eq!(rig.handle(notified(&item(100, 0), &[]), 10), forwarded);
    // The third drop makes peer 2 a flooder.
    let banned = ban(&rig, 2, false, reason(Misbehaviour::Flooding, 3), 11);
    assert_eq!(rig.receive(2, Message::Item(item(7, 0)), 11), vec![banned]);
    assert_eq!(rig.core.stats().dropped_over_rate, 3);
    // A dropped item was never seen: it still comes through from others.
    let dropped = item(5, 2);
    let got = rig.receive(3, Message::Item(dropped.clone()), 12);
    assert_eq!(got, vec![deliver(&dropped, 6)]);
    let forwarded = vec![send(4, Message::Item(with_ttl(&dropped, 1)))];
    assert_eq!(rig.handle(notified(&dropped, &[]), 12), forwarded);
}

#[test]
fn a_peer_over_the_byte_limit_is_dropped_too() {
    let accounting = AccountingConfig {
        byte_rate: 1,
        byte_burst: 200,
        ..AccountingConfig::default()
    };
    let mut rig = Rig::new(with_accounting(4, 100, accounting));
    rig.link(2);
    // 178 bytes each (118 of header with the origin key, 60 of data).
    let big = |n: u64| {
        let data = std::sync::Arc::from(&[0u8; 60][..]);
        Message::Item(super::Item::numbered(n, Ttl(0), DATA_TYPE, data))
    };
    assert_eq!(rig.receive(2, big(1), 10).len(), 1);
    assert_eq!(rig.receive(2, big(2), 10), vec![]);
    assert_eq!(rig.core.stats().dropped_over_rate, 1);
}

#[test]
fn a_neighbour_asking_for_peers_too_often_is_banned_for_violations() {
    let accounting = AccountingConfig {
        peer_requests_per_window: 2,
        ..AccountingConfig::default()
    };
    let mut rig = Rig::new(with_accounting(4, 100, accounting));
    rig.link(2);
    rig.link(3);
    let answer = send(2, Message::Peers(vec![addr(3)]));
    // The first request of a link is free, then two per window.
    for ms in 0..3 {
        assert_eq!(rig.receive(2, Message::GetPeers, ms), vec![answer.clone()]);
    }
    assert_eq!(rig.receive(2, Message::GetPeers, 3), vec![], "ignored");
    assert_eq!(rig.receive(2, Message::GetPeers, 4), vec![]);
    let what = Misbehaviour::ProtocolViolation(Violation::TooManyPeerRequests);
    let banned = ban(&rig, 2, false, reason(what, 3), 5);
    assert_eq!(rig.receive(2, Message::GetPeers, 5), vec![banned]);
}

#[test]
fn the_first_request_of_every_new_link_is_free() {
    let accounting = AccountingConfig {
        peer_requests_per_window: 0,
        ..AccountingConfig::default()
    };
    let mut rig = Rig::new(with_accounting(4, 100, accounting));
    for ms in 0..10 {
        rig.link(2);
        assert_eq!(rig.receive(2, Message::GetPeers, ms).len(), 1);
        rig.handle(Event::PeerDown { peer: peer(2) }, ms);
    }
    assert_eq!(rig.core.stats().misbehaviours, 0);
}

#[test]
fn requests_from_a_connection_that_is_not_a_neighbour_are_no_violation() {
    let accounting = AccountingConfig {
        peer_requests_per_window: 0,
        ..AccountingConfig::default()
    };
    let mut rig = Rig::new(with_accounting(1, 100, accounting));
    rig.link(2);
    for ms in 1..10 {
        assert_eq!(rig.receive(9, Message::GetPeers, ms), vec![]);
        assert_eq!(rig.receive(9, Message::Item(item(ms, 0)), ms), vec![]);
    }
    assert_eq!(rig.core.stats().misbehaviours, 0);
}
