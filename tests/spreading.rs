//! Items announced at one node reach the subscribers on the other nodes:
//! exactly once, byte-exact, only of subscribed types, never echoed.
//!
//! "Nothing else arrived" is checked without fixed sleeps: after the expected
//! items, a marker item is announced along the same path and awaited; an
//! unwanted item would have come before it.

mod common;

use common::{
    Client, MAX_DATA, Network, NodeConfig, Notification, Shape, Subscribers, after, summary, unique,
};
use std::time::Duration;

/// The data type the tests announce.
const T: u16 = 4711;
/// A second data type.
const T2: u16 = 4712;
/// Deadline for one delivery.
const DELIVERY: Duration = Duration::from_secs(10);

/// Asserts that every subscriber got each of `expected` exactly once, of
/// type `T`, and nothing else.
fn assert_exactly(received: &[Vec<Notification>], expected: &[&[u8]]) {
    for (i, notes) in received.iter().enumerate() {
        let node = i + 1;
        let ok = notes.len() == expected.len()
            && notes.iter().all(|n| n.data_type == T)
            && expected
                .iter()
                .all(|data| notes.iter().filter(|n| n.data == *data).count() == 1);
        assert!(
            ok,
            "node{node} should get {} items once each, got {:?}",
            expected.len(),
            summary(notes)
        );
    }
}

/// Announces an empty and a maximal item at node 0 of a fresh network and
/// checks that every other node's subscriber gets each exactly once.
fn delivers_exactly_once(n: usize, degree: usize, shape: Shape) {
    let net = Network::start(n, degree, shape);
    let mut clients: Vec<Client> = (1..n).map(|i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    let mut subscribers = Subscribers::spawn(clients, true);
    let mut source = net.client(0, &[]);
    let big: Vec<u8> = (0..MAX_DATA).map(|i| (i * 7 % 251) as u8).collect();
    source.announce(0, T, &[]);
    source.announce(0, T, &big);
    let arrived = subscribers.wait_until(after(DELIVERY * 2), |received| {
        received.iter().all(|notes| {
            notes.iter().any(|n| n.data.is_empty()) && notes.iter().any(|n| n.data == big)
        })
    });
    let counts: Vec<usize> = subscribers.received().iter().map(Vec::len).collect();
    assert!(
        arrived,
        "empty and maximal items not everywhere: counts {counts:?}"
    );
    let marker = unique("marker");
    source.announce(0, T, &marker);
    assert!(
        subscribers.wait_all_got(&marker, after(DELIVERY)),
        "marker lost"
    );
    assert_exactly(subscribers.received(), &[&[], &big, &marker]);
}

#[test]
fn three_nodes_star_deliver_empty_and_maximal_items_exactly_once() {
    delivers_exactly_once(3, 2, Shape::Star);
}

#[test]
fn ten_nodes_random_deliver_empty_and_maximal_items_exactly_once() {
    delivers_exactly_once(10, 3, Shape::Random(0x5eed_0010));
}

#[test]
fn ten_nodes_star_deliver_empty_and_maximal_items_exactly_once() {
    delivers_exactly_once(10, 3, Shape::Star);
}

#[test]
fn announcer_and_its_host_do_not_get_their_own_item() {
    let net = Network::start(2, 2, Shape::Star);
    let mut announcer = net.client(0, &[T]);
    let mut neighbour = net.client(0, &[T]);
    let mut remote = net.client(1, &[T]);
    net.sync(&mut [&mut announcer, &mut neighbour, &mut remote]);
    let item = unique("item");
    announcer.announce(0, T, &item);
    let note = remote
        .recv_notification(after(DELIVERY))
        .expect("item reaches node1");
    assert_eq!(note.data, item);
    remote.validate(note.msg_id, true);
    // node1 may send the item back to node0 before this marker, never after.
    let marker = unique("marker");
    remote.announce(0, T, &marker);
    let echoed = announcer.until_marker(&marker, after(DELIVERY));
    assert!(echoed.is_empty(), "announcer got {:?}", summary(&echoed));
    let echoed = neighbour.until_marker(&marker, after(DELIVERY));
    assert!(
        echoed.is_empty(),
        "client beside announcer got {:?}",
        summary(&echoed)
    );
}

#[test]
fn unsubscribed_types_are_not_delivered() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[T]);
    net.sync(&mut [&mut client]);
    let mut source = net.client(0, &[]);
    source.announce(0, T2, &unique("other-type"));
    let marker = unique("marker");
    source.announce(0, T, &marker);
    let before = client.until_marker(&marker, after(DELIVERY));
    assert!(
        before.is_empty(),
        "got unsubscribed items {:?}",
        summary(&before)
    );
}

#[test]
fn one_connection_gets_items_of_both_its_types() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[T, T2]);
    net.sync(&mut [&mut client]);
    let mut source = net.client(0, &[]);
    let (first, second, marker) = (unique("first"), unique("second"), unique("marker"));
    source.announce(0, T, &first);
    source.announce(0, T2, &second);
    source.announce(0, T, &marker);
    let mut got = client.until_marker(&marker, after(DELIVERY));
    got.sort_by_key(|n| n.data_type);
    let got: Vec<(u16, Vec<u8>)> = got.into_iter().map(|n| (n.data_type, n.data)).collect();
    assert_eq!(got, vec![(T, first), (T2, second)]);
}

#[test]
fn subscribing_twice_delivers_once() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[T, T]);
    net.sync(&mut [&mut client]);
    let mut source = net.client(0, &[]);
    let (item, marker) = (unique("item"), unique("marker"));
    source.announce(0, T, &item);
    source.announce(0, T, &marker);
    let got = client.until_marker(&marker, after(DELIVERY));
    assert_eq!(summary(&got).len(), 1, "got {:?}", summary(&got));
    assert_eq!(got[0].data, item);
}

#[test]
fn subscribers_on_one_host_see_the_same_message_id() {
    let net = Network::start(2, 2, Shape::Star);
    let mut first = net.client(1, &[T]);
    let mut second = net.client(1, &[T]);
    net.sync(&mut [&mut first, &mut second]);
    let item = unique("item");
    let mut source = net.client(0, &[]);
    source.announce(0, T, &item);
    let a = first
        .recv_notification(after(DELIVERY))
        .expect("first gets it");
    let b = second
        .recv_notification(after(DELIVERY))
        .expect("second gets it");
    assert_eq!((a.data_type, &a.data), (T, &item));
    assert_eq!((b.data_type, &b.data), (T, &item));
    assert_eq!(a.msg_id, b.msg_id, "one item, one message id on one host");
    first.validate(a.msg_id, true);
    second.validate(b.msg_id, true);
}

#[test]
fn items_that_left_every_cache_are_still_delivered_at_most_once() {
    let config = NodeConfig::new().degree(3).key("cache_size", 5);
    let net = Network::start_with(8, &config, Shape::Random(0xcace));
    let mut clients: Vec<Client> = (1..8).map(|i| net.client(i, &[T])).collect();
    net.sync(&mut clients.iter_mut().collect::<Vec<_>>());
    let mut subscribers = Subscribers::spawn(clients, true);
    let mut source = net.client(0, &[]);
    let items: Vec<Vec<u8>> = (0..300).map(|_| unique("small-cache")).collect();
    for item in &items {
        source.announce(0, T, item);
    }
    let marker = unique("marker");
    source.announce(0, T, &marker);
    assert!(
        subscribers.wait_all_got(&marker, after(DELIVERY)),
        "marker lost"
    );
    for (i, notes) in subscribers.received().iter().enumerate() {
        let delivered = items
            .iter()
            .filter(|item| notes.iter().any(|n| n.data == **item));
        eprintln!(
            "small cache: node{} got {} of 300 items",
            i + 1,
            delivered.count()
        );
        for item in &items {
            let copies = notes.iter().filter(|n| n.data == *item).count();
            assert!(copies <= 1, "node{} got {copies} copies of an item", i + 1);
        }
    }
}
