//! Unit tests of [`Core`] driven directly: events in, the exact actions out.
//!
//! Host 1 (10.0.0.1:7000) is the core under test; peer `n` listens on
//! 10.0.0.n:7000. Every test uses one fixed seed and offsets from one
//! `Instant`, so the actions are fully determined.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{
    Action, ChecksumAuth, ClientId, Core, DataType, Event, Item, Message, MsgId, OriginKey, PeerId,
    ProtoConfig, Ttl,
};

pub(super) const SEED: u64 = 7;
pub(super) const DATA_TYPE: DataType = DataType(7);
pub(super) const CLIENT_A: ClientId = ClientId(1);
pub(super) const CLIENT_B: ClientId = ClientId(2);

/// Peer `n` of the tests.
pub(super) fn peer(n: u64) -> PeerId {
    PeerId::from_u64(n)
}

/// The P2P address of peer `n`.
pub(super) fn addr(n: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 0, 0, n), 7000))
}

/// An item named `n` whose data is `n` as text.
pub(super) fn item(n: u64, ttl: u8) -> Item {
    Item::numbered(n, Ttl(ttl), DATA_TYPE, Arc::from(n.to_string().as_bytes()))
}

/// The same item with another ttl.
pub(super) fn with_ttl(item: &Item, ttl: u8) -> Item {
    Item {
        ttl: Ttl(ttl),
        ..item.clone()
    }
}

/// `Send { to: peer(n), msg }`.
pub(super) fn send(n: u64, msg: Message) -> Action {
    Action::Send { to: peer(n), msg }
}

/// `Deliver` of `item` under `msg_id`.
pub(super) fn deliver(item: &Item, msg_id: u16) -> Action {
    Action::Deliver {
        item: item.id,
        origin: item.proof.origin,
        seq: item.seq,
        hlc: item.hlc,
        msg_id: MsgId(msg_id),
        data_type: item.data_type,
        data: item.data.clone(),
    }
}

/// Settings for one test: the given degree and cache size, no bootstrapper.
/// Keep-alives and shuffles are kept out of the way (an hour apart); the
/// membership tests cover them.
pub(super) fn config(degree: usize, cache_size: usize) -> ProtoConfig {
    ProtoConfig {
        keepalive_timeout: Duration::from_secs(3600),
        shuffle_interval: Duration::from_secs(3600),
        ..ProtoConfig::new(degree, cache_size)
    }
}

/// One core under test, a time base and a recording outbox.
pub(super) struct Rig {
    pub(super) core: Core<StdRng>,
    pub(super) t0: Instant,
}

impl Rig {
    /// Host 1 started at time 0 with `config` and the fixed seed.
    pub(super) fn new(config: ProtoConfig) -> Rig {
        Rig::with_seed(config, SEED)
    }

    /// Host 1 started at time 0 with `config` and `seed`.
    pub(super) fn with_seed(config: ProtoConfig, seed: u64) -> Rig {
        // Tests need some base instant; only offsets from it matter.
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let rng = StdRng::seed_from_u64(seed);
        let core = Core::new(config, peer(1), addr(1), rng, t0);
        Rig { core, t0 }
    }

    /// The time `ms` milliseconds after the start.
    pub(super) fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Takes every queued action.
    pub(super) fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.core.poll_action()).collect()
    }

    /// Handles `event` at `ms` and returns the actions it caused.
    pub(super) fn handle(&mut self, event: Event, ms: u64) -> Vec<Action> {
        self.core.handle(event, self.at(ms));
        self.actions()
    }

    /// Runs the timeout work due at `ms` and returns the actions it caused.
    pub(super) fn timeout(&mut self, ms: u64) -> Vec<Action> {
        self.core.handle_timeout(self.at(ms));
        self.actions()
    }

    /// Peer `n` connects (inbound, low priority) at time 0 and is taken.
    pub(super) fn link(&mut self, n: u64) {
        let up = inbound(n, false);
        assert_eq!(self.handle(up, 0), vec![send(n, Message::GetPeers)]);
    }

    /// Peer `n` sends `msg` at `ms`.
    pub(super) fn receive(&mut self, n: u64, msg: Message, ms: u64) -> Vec<Action> {
        self.handle(Event::Received { from: peer(n), msg }, ms)
    }

    /// The neighbours' ids, in order.
    pub(super) fn neighbours(&self) -> Vec<PeerId> {
        self.core.neighbours().map(|(p, _)| *p).collect()
    }
}

/// Peer `n` connected to us.
pub(super) fn inbound(n: u64, high_priority: bool) -> Event {
    Event::PeerUp {
        peer: peer(n),
        addr: addr(n as u8),
        dialed: None,
        high_priority,
    }
}

/// Our dial of peer `n` completed.
pub(super) fn outbound(n: u64) -> Event {
    Event::PeerUp {
        peer: peer(n),
        addr: addr(n as u8),
        dialed: Some(addr(n as u8)),
        high_priority: false,
    }
}

/// `Notified` of `item` to `clients`.
pub(super) fn notified(item: &Item, clients: &[ClientId]) -> Event {
    Event::Notified {
        item: item.id,
        clients: clients.to_vec(),
    }
}

/// `client`'s verdict on `msg_id`.
pub(super) fn verdict(client: ClientId, msg_id: u16, valid: bool) -> Event {
    Event::Validation {
        client,
        msg_id: MsgId(msg_id),
        valid,
    }
}

#[test]
fn the_bootstrapper_is_dialed_at_start_with_high_priority() {
    let mut cfg = config(4, 10);
    cfg.bootstrapper = Some(addr(9));
    let mut rig = Rig::new(cfg);
    let dial = Action::Connect {
        addr: addr(9),
        high_priority: true,
    };
    assert_eq!(rig.actions(), vec![dial]);
}

#[test]
fn without_a_bootstrapper_nothing_happens_at_start() {
    let mut rig = Rig::new(config(4, 10));
    assert_eq!(rig.actions(), vec![]);
    assert_eq!(rig.timeout(200), vec![]);
}

#[test]
fn a_new_neighbour_is_asked_for_peers() {
    let mut cfg = config(4, 10);
    cfg.bootstrapper = Some(addr(9));
    let mut rig = Rig::new(cfg);
    rig.actions();
    let joined = vec![send(9, Message::GetPeers), send(9, Message::Join)];
    assert_eq!(rig.handle(outbound(9), 5), joined);
    assert_eq!(
        rig.handle(inbound(2, false), 6),
        vec![send(2, Message::GetPeers)]
    );
    assert_eq!(rig.neighbours(), vec![peer(2), peer(9)]);
}

#[test]
fn get_peers_is_answered_with_the_other_known_addresses() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let answer = send(2, Message::Peers(vec![addr(3)]));
    assert_eq!(rig.receive(2, Message::GetPeers, 1), vec![answer]);
}

#[test]
fn learned_addresses_are_dialed_on_the_next_tick_while_below_degree() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    assert_eq!(rig.receive(2, Message::Peers(vec![addr(5)]), 1), vec![]);
    let dial = Action::Connect {
        addr: addr(5),
        high_priority: false,
    };
    assert_eq!(rig.timeout(200), vec![dial]);
    assert_eq!(rig.timeout(400), vec![], "a dial under way counts");
}

#[test]
fn nothing_is_dialed_at_degree() {
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    let peers = Message::Peers(vec![addr(5), addr(6)]);
    assert_eq!(rig.receive(2, peers, 1), vec![]);
    assert_eq!(rig.timeout(200), vec![]);
    assert_eq!(rig.timeout(5000), vec![]);
}

#[test]
fn a_full_host_refuses_a_low_priority_peer_with_a_referral() {
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    let refusal = vec![
        send(3, Message::Peers(vec![addr(2)])),
        send(3, Message::Disconnect { alive: true }),
        Action::Disconnect(peer(3)),
    ];
    assert_eq!(rig.handle(inbound(3, false), 1), refusal);
    assert_eq!(rig.neighbours(), vec![peer(2)]);
}

#[test]
fn a_full_host_takes_a_high_priority_peer_by_dropping_a_neighbour() {
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    let actions = rig.handle(inbound(3, true), 1);
    // A referral to the dropped peer may come first (see the next test).
    let taken = [Action::Disconnect(peer(2)), send(3, Message::GetPeers)];
    assert!(actions.ends_with(&taken), "{actions:?}");
    assert_eq!(rig.neighbours(), vec![peer(3)]);
}

#[test]
fn a_neighbour_dropped_for_a_high_priority_peer_gets_a_referral() {
    let mut rig = Rig::new(config(1, 10));
    rig.link(2);
    let actions = rig.handle(inbound(3, true), 1);
    let referral = actions.iter().position(|a| {
        matches!(a, Action::Send { to, msg: Message::Peers(addrs) }
            if *to == peer(2) && !addrs.is_empty() && !addrs.contains(&addr(2)))
    });
    let dropped = actions
        .iter()
        .position(|a| *a == Action::Disconnect(peer(2)));
    assert!(referral.is_some() && referral < dropped, "{actions:?}");
}

#[test]
fn an_announced_item_goes_to_every_neighbour_and_is_not_delivered_locally() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let data: Arc<[u8]> = Arc::from(&b"hello"[..]);
    let announce = Event::Announce {
        ttl: Ttl(3),
        data_type: DATA_TYPE,
        data: data.clone(),
    };
    let actions = rig.handle(announce, 1);
    let Some(Action::Send {
        msg: Message::Item(sent),
        ..
    }) = actions.first()
    else {
        panic!("expected an item sent first, got {actions:?}");
    };
    assert_eq!(sent.proof.origin, OriginKey(PeerId::from_u64(1).0));
    let expected = Item::signed(
        &*ChecksumAuth::for_host(PeerId::from_u64(1)),
        sent.seq,
        sent.hlc,
        Ttl(3),
        DATA_TYPE,
        data,
    );
    let to_all = vec![
        send(2, Message::Item(expected.clone())),
        send(3, Message::Item(expected)),
    ];
    assert_eq!(actions, to_all);
    assert_eq!(rig.core.pending_validations(), 0);
}

#[test]
fn a_received_item_is_delivered_then_forwarded_to_all_but_the_sender() {
    let mut rig = Rig::new(config(4, 10));
    for n in 2..=4 {
        rig.link(n);
    }
    let it = item(1, 3);
    let got = rig.receive(2, Message::Item(it.clone()), 1);
    assert_eq!(got, vec![deliver(&it, 0)]);
    let forwarded = vec![
        send(3, Message::Item(with_ttl(&it, 2))),
        send(4, Message::Item(with_ttl(&it, 2))),
    ];
    assert_eq!(rig.handle(notified(&it, &[]), 1), forwarded);
}

#[test]
fn an_item_with_ttl_zero_is_forwarded_with_ttl_zero() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let it = item(1, 0);
    assert_eq!(
        rig.receive(2, Message::Item(it.clone()), 1),
        vec![deliver(&it, 0)]
    );
    let forwarded = vec![send(3, Message::Item(it.clone()))];
    assert_eq!(rig.handle(notified(&it, &[]), 1), forwarded);
}

#[test]
fn an_item_with_ttl_one_is_delivered_but_not_forwarded() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    let it = item(1, 1);
    assert_eq!(
        rig.receive(2, Message::Item(it.clone()), 1),
        vec![deliver(&it, 0)]
    );
    assert_eq!(rig.handle(notified(&it, &[]), 1), vec![]);
}

#[test]
fn a_duplicate_item_is_neither_delivered_nor_forwarded_and_prunes_its_sender_once() {
    let mut rig = Rig::new(config(4, 10));
    for n in 2..=4 {
        rig.link(n);
    }
    let it = item(1, 0);
    rig.receive(2, Message::Item(it.clone()), 1);
    rig.handle(notified(&it, &[]), 1);
    let pruned = vec![send(3, Message::Prune)];
    assert_eq!(rig.receive(3, Message::Item(it.clone()), 2), pruned);
    assert_eq!(rig.receive(3, Message::Item(it.clone()), 2), vec![]);
    assert_eq!(
        rig.receive(2, Message::Item(it), 3),
        vec![send(2, Message::Prune)]
    );
    assert_eq!(rig.core.stats().duplicates, 3);
}

#[test]
fn a_duplicate_is_dropped_even_after_it_left_the_cache() {
    let mut rig = Rig::new(config(4, 1));
    rig.link(2);
    rig.link(3);
    let (first, second) = (item(1, 0), item(2, 0));
    for (it, msg_id) in [(&first, 0), (&second, 1)] {
        let got = rig.receive(2, Message::Item(it.clone()), 1);
        assert_eq!(got, vec![deliver(it, msg_id)]);
        rig.handle(notified(it, &[]), 1);
    }
    assert_eq!(
        rig.receive(3, Message::Item(first), 2),
        vec![send(3, Message::Prune)]
    );
}

#[test]
fn an_item_is_forwarded_only_after_every_notified_client_said_valid() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    rig.link(3);
    let it = item(1, 0);
    assert_eq!(
        rig.receive(2, Message::Item(it.clone()), 1),
        vec![deliver(&it, 0)]
    );
    assert_eq!(rig.handle(notified(&it, &[CLIENT_A, CLIENT_B]), 1), vec![]);
    assert_eq!(rig.handle(verdict(CLIENT_A, 0, true), 2), vec![]);
    let forwarded = vec![send(3, Message::Item(it))];
    assert_eq!(rig.handle(verdict(CLIENT_B, 0, true), 3), forwarded);
    assert_eq!(rig.core.pending_validations(), 0);
}

#[test]
fn an_invalid_verdict_counts_against_the_sender_and_stops_the_item() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    rig.link(3);
    let it = item(1, 0);
    rig.receive(2, Message::Item(it.clone()), 1);
    rig.handle(notified(&it, &[CLIENT_A, CLIENT_B]), 1);
    assert_eq!(rig.handle(verdict(CLIENT_A, 0, false), 2), vec![]);
    assert_eq!(rig.core.stats().misbehaviours, 1, "one of ten before a ban");
    assert_eq!(rig.handle(verdict(CLIENT_B, 0, true), 3), vec![]);
    let pruned = vec![send(3, Message::Prune)];
    assert_eq!(rig.receive(3, Message::Item(it), 4), pruned, "still seen");
    assert_eq!(rig.neighbours(), vec![peer(2), peer(3)]);
}

#[test]
fn a_client_leaving_releases_items_that_waited_only_for_it() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    rig.link(3);
    let (only_a, a_and_b) = (item(1, 0), item(2, 0));
    rig.receive(2, Message::Item(only_a.clone()), 1);
    rig.handle(notified(&only_a, &[CLIENT_A]), 1);
    rig.receive(2, Message::Item(a_and_b.clone()), 1);
    rig.handle(notified(&a_and_b, &[CLIENT_A, CLIENT_B]), 1);
    let released = vec![send(3, Message::Item(only_a))];
    let gone = Event::ClientGone { client: CLIENT_A };
    assert_eq!(rig.handle(gone, 2), released);
    let forwarded = vec![send(3, Message::Item(a_and_b))];
    assert_eq!(rig.handle(verdict(CLIENT_B, 1, true), 3), forwarded);
}

#[test]
fn an_item_without_verdict_is_dropped_at_the_deadline() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    rig.link(3);
    let it = item(1, 0);
    rig.receive(2, Message::Item(it.clone()), 0);
    rig.handle(notified(&it, &[CLIENT_A]), 0);
    assert_eq!(rig.timeout(4999), vec![]);
    assert_eq!(rig.core.pending_validations(), 1);
    assert_eq!(rig.core.poll_timeout(), rig.at(5000));
    assert_eq!(rig.timeout(5000), vec![]);
    assert_eq!(rig.core.pending_validations(), 0);
    assert_eq!(rig.handle(verdict(CLIENT_A, 0, true), 5001), vec![]);
    let pruned = vec![send(3, Message::Prune)];
    assert_eq!(rig.receive(3, Message::Item(it), 5002), pruned);
    assert_eq!(rig.core.stats().expired, 1);
}

#[test]
fn two_items_get_different_msg_ids() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    let (first, second) = (item(1, 0), item(2, 0));
    let got_first = rig.receive(2, Message::Item(first.clone()), 1);
    let got_second = rig.receive(2, Message::Item(second.clone()), 1);
    assert_eq!(got_first, vec![deliver(&first, 0)]);
    assert_eq!(got_second, vec![deliver(&second, 1)]);
}

#[test]
fn messages_from_a_non_neighbour_are_ignored() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    let it = item(1, 0);
    assert_eq!(rig.receive(9, Message::GetPeers, 1), vec![]);
    assert_eq!(rig.receive(9, Message::Item(it.clone()), 1), vec![]);
    let got = rig.receive(2, Message::Item(it.clone()), 2);
    assert_eq!(got, vec![deliver(&it, 0)], "the ignored copy was not seen");
}

#[test]
fn a_referral_from_a_non_neighbour_is_used() {
    let mut rig = Rig::new(config(2, 10));
    assert_eq!(rig.receive(9, Message::Peers(vec![addr(5)]), 1), vec![]);
    let dial = Action::Connect {
        addr: addr(5),
        high_priority: true,
    };
    assert_eq!(rig.timeout(200), vec![dial]);
}

#[test]
fn a_peer_that_went_down_gets_no_more_items() {
    let mut rig = Rig::new(config(4, 10));
    rig.link(2);
    rig.link(3);
    assert_eq!(rig.handle(Event::PeerDown { peer: peer(2) }, 1), vec![]);
    assert_eq!(rig.neighbours(), vec![peer(3)]);
    let announce = Event::Announce {
        ttl: Ttl(0),
        data_type: DATA_TYPE,
        data: Arc::from(&b"x"[..]),
    };
    let actions = rig.handle(announce, 2);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(matches!(&actions[0], Action::Send { to, .. } if *to == peer(3)));
}

#[test]
fn a_failed_neighbour_is_no_backup_but_is_probed_with_high_priority_later() {
    let mut rig = Rig::new(config(2, 10));
    rig.link(2);
    rig.link(3);
    assert_eq!(rig.handle(Event::PeerDown { peer: peer(2) }, 0), vec![]);
    assert!(rig.core.passive_view().is_empty());
    // The first tick schedules the probes: every 30 s spread over 50-150 %.
    assert_eq!(rig.timeout(200), vec![]);
    assert_eq!(rig.timeout(15_100), vec![]);
    let probe = Action::Connect {
        addr: addr(2),
        high_priority: true,
    };
    assert_eq!(rig.timeout(45_300), vec![probe]);
    assert_eq!(rig.core.membership_stats().probes, 1);
}

#[test]
fn a_host_stuck_below_degree_escalates_to_high_priority() {
    let mut rig = Rig::new(config(3, 10));
    rig.link(2);
    // Peer 3 is known but refuses (a referral, then the connection closes).
    rig.receive(2, Message::Peers(vec![addr(3)]), 1);
    let first = rig.timeout(200);
    let low = Action::Connect {
        addr: addr(3),
        high_priority: false,
    };
    assert!(first.contains(&low), "{first:?}");
    rig.handle(outbound(3), 210);
    rig.receive(3, Message::Disconnect { alive: true }, 220);
    // Still below degree 30 s after the last gain (peer 3 at 210 ms): the
    // next dial asks with high priority, back-off or not.
    let escalated = rig.timeout(30_400);
    let high = Action::Connect {
        addr: addr(3),
        high_priority: true,
    };
    assert!(escalated.contains(&high), "{escalated:?}");
}

/// A fixed run of events through a core seeded with `seed`; every action.
fn scripted_run(seed: u64) -> Vec<Action> {
    let mut cfg = config(3, 4);
    cfg.bootstrapper = Some(addr(9));
    let mut rig = Rig::with_seed(cfg, seed);
    let mut all = rig.actions();
    all.extend(rig.handle(outbound(9), 1));
    let peers = Message::Peers((2..=8).map(addr).collect());
    all.extend(rig.receive(9, peers, 2));
    all.extend(rig.timeout(200));
    all.extend(rig.handle(outbound(4), 210));
    for n in 0..3 {
        let announce = Event::Announce {
            ttl: Ttl(n),
            data_type: DATA_TYPE,
            data: Arc::from(&[n][..]),
        };
        all.extend(rig.handle(announce, 300));
    }
    all.extend(rig.receive(9, Message::GetPeers, 400));
    all.extend(rig.timeout(2400));
    all
}

#[test]
fn the_same_seed_gives_the_same_actions() {
    let first = scripted_run(SEED);
    assert!(first.len() > 10, "the script does something: {first:?}");
    assert_eq!(first, scripted_run(SEED));
    assert_ne!(first, scripted_run(SEED + 1), "the seed matters");
}

#[test]
fn a_full_validation_window_stops_taking_items_and_drops_the_silent_client() {
    // cache_size 4: a window of 2 items waiting for verdicts.
    let mut rig = Rig::new(config(4, 4));
    rig.link(2);
    rig.link(3);
    let (first, second) = (item(1, 0), item(2, 0));
    for (n, it) in [&first, &second].into_iter().enumerate() {
        let got = rig.receive(2, Message::Item(it.clone()), 1);
        assert_eq!(got, vec![deliver(it, n as u16)]);
        let notified = Event::Notified {
            item: it.id,
            clients: vec![CLIENT_A, CLIENT_B],
        };
        assert_eq!(rig.handle(notified, 1), vec![]);
    }
    assert!(!rig.core.wants_items());
    // B keeps answering, A says nothing.
    let verdict = Event::Validation {
        client: CLIENT_B,
        msg_id: MsgId(0),
        valid: true,
    };
    assert_eq!(rig.handle(verdict, 1500), vec![]);
    // A was notified at 1 ms: silent for 2 s at 2001 ms.
    let at_2s = rig.timeout(2001);
    assert!(
        at_2s.contains(&Action::DropClient { client: CLIENT_A }),
        "{at_2s:?}"
    );
    assert!(
        !at_2s.contains(&Action::DropClient { client: CLIENT_B }),
        "B gave a verdict at 1.5 s"
    );
    // With A gone, the item B judged valid spreads; the window has room again.
    assert!(
        at_2s.contains(&send(3, Message::Item(first.clone()))),
        "{at_2s:?}"
    );
    assert!(rig.core.wants_items());
    assert_eq!(rig.core.stats().slow_clients, 1);
}

#[test]
fn a_slow_client_is_not_dropped_while_the_window_has_room() {
    let mut rig = Rig::new(config(4, 100));
    rig.link(2);
    let it = item(1, 0);
    rig.receive(2, Message::Item(it.clone()), 1);
    let notified = Event::Notified {
        item: it.id,
        clients: vec![CLIENT_A],
    };
    rig.handle(notified, 1);
    assert!(rig.core.wants_items());
    let later = rig.timeout(4000);
    assert!(!later.iter().any(|a| matches!(a, Action::DropClient { .. })));
}
