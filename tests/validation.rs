//! Validation and ttl on a chain A–B–C (degrees 1, 2, 1), where every item
//! from A to C passes B: an item goes on only once B's subscribers called it
//! valid, never when one called it invalid or nobody answered in time; an
//! item of a type nobody on B subscribes to is relayed at once.
//!
//! Items from A travel in order over the one path, so when C has a later
//! item it would already have had an earlier one that was spread.

mod common;

use common::client::{VALIDATION, header};
use common::{Client, Network, Node, NodeConfig, Notification, after, summary, unique};
use std::thread;
use std::time::Duration;

/// The data type the tests announce.
const T: u16 = 4711;
/// A type nobody on B subscribes to.
const T2: u16 = 4712;
/// Deadline for one delivery.
const DELIVERY: Duration = Duration::from_secs(10);

/// Starts A (degree 1), B (degree 2, via A, with `b_keys`) and C (degree 1,
/// via B), and waits until an item from A reaches B and C.
fn chain(b_keys: &[(&str, &str)]) -> Network {
    let a = Node::start("A", &NodeConfig::new().degree(1));
    let mut b_config = NodeConfig::new().degree(2).bootstrapper(a.p2p_addr());
    for (key, value) in b_keys {
        b_config = b_config.key(key, value);
    }
    let b = Node::start("B", &b_config);
    let c = Node::start("C", &NodeConfig::new().degree(1).bootstrapper(b.p2p_addr()));
    let net = Network::from_nodes(vec![a, b, c]);
    net.wait_connected(Duration::from_secs(15));
    net
}

/// A client on A, and synced clients on B and C subscribed to `types`.
fn clients(net: &Network, types: &[u16]) -> (Client, Client, Client) {
    let mut b = net.client(1, types);
    let mut c = net.client(2, types);
    net.sync(&mut [&mut b, &mut c]);
    (net.client(0, &[]), b, c)
}

#[test]
fn an_item_called_invalid_is_not_spread_past_the_first_hop() {
    let net = chain(&[]);
    let (mut a, mut b, mut c) = clients(&net, &[T]);
    let x = unique("invalid-x");
    a.announce(0, T, &x);
    let note = b.recv_notification(after(DELIVERY)).expect("B gets X");
    assert_eq!(note.data, x);
    b.validate(note.msg_id, false);
    let y = unique("valid-y");
    a.announce(0, T, &y);
    let note = b
        .recv_notification(after(DELIVERY))
        .expect("B gets Y after calling X invalid (did B drop A for sending X?)");
    assert_eq!(note.data, y);
    b.validate(note.msg_id, true);
    let before = c.until_marker(&y, after(DELIVERY));
    assert!(before.is_empty(), "C got {:?} before Y", summary(&before));
}

#[test]
fn an_item_not_validated_in_time_is_not_spread() {
    let net = chain(&[("validation_timeout_ms", "300")]);
    let (mut a, mut b, mut c) = clients(&net, &[T]);
    let late = unique("unanswered");
    a.announce(0, T, &late);
    let note = b
        .recv_notification(after(DELIVERY))
        .expect("B gets the item");
    assert_eq!(note.data, late);
    // No condition to poll for: the point is that B's 300 ms deadline passes.
    thread::sleep(Duration::from_secs(1));
    // A verdict after the deadline names an expired id and must be ignored.
    b.validate(note.msg_id, true);
    let marker = unique("marker");
    a.announce(0, T, &marker);
    let note = b
        .recv_notification(after(DELIVERY))
        .expect("B gets the marker");
    assert_eq!(note.data, marker);
    b.validate(note.msg_id, true);
    let before = c.until_marker(&marker, after(DELIVERY));
    assert!(
        before.is_empty(),
        "C got {:?} before the marker",
        summary(&before)
    );
}

#[test]
fn an_unsubscribed_type_is_relayed_without_validation() {
    let net = chain(&[]);
    let mut b = net.client(1, &[T]);
    let mut c = net.client(2, &[T2]);
    net.sync(&mut [&mut b, &mut c]);
    let mut a = net.client(0, &[]);
    let item = unique("relayed");
    a.announce(0, T2, &item);
    let note = c
        .recv_notification(after(DELIVERY))
        .expect("C gets the item");
    assert_eq!((note.data_type, note.data), (T2, item));
}

#[test]
fn ttl_limits_the_hops_an_item_travels() {
    let net = chain(&[]);
    let (mut a, mut b, mut c) = clients(&net, &[T]);
    let (one, two, marker) = (unique("ttl1"), unique("ttl2"), unique("marker"));
    a.announce(1, T, &one);
    a.announce(2, T, &two);
    a.announce(0, T, &marker);
    let mut at_b = datas(b.until_marker(&marker, after(DELIVERY)));
    at_b.sort();
    let mut expected = vec![one, two.clone()];
    expected.sort();
    assert_eq!(at_b, expected, "B is one hop from A");
    let at_c = datas(c.until_marker(&marker, after(DELIVERY)));
    assert_eq!(at_c, vec![two], "C is two hops from A");
}

/// The data of each notification.
fn datas(notes: Vec<Notification>) -> Vec<Vec<u8>> {
    notes.into_iter().map(|n| n.data).collect()
}

#[test]
fn a_subscriber_that_leaves_does_not_hold_back_an_item() {
    let net = chain(&[("validation_timeout_ms", "60000")]);
    let mut leaving = net.client(1, &[T]);
    let mut b = net.client(1, &[T]);
    let mut c = net.client(2, &[T]);
    net.sync(&mut [&mut leaving, &mut b, &mut c]);
    let mut a = net.client(0, &[]);
    let item = unique("released");
    a.announce(0, T, &item);
    let note = leaving
        .recv_notification(after(DELIVERY))
        .expect("leaving client gets it");
    assert_eq!(note.data, item);
    let note = b
        .recv_notification(after(DELIVERY))
        .expect("B's other client gets it");
    b.validate(note.msg_id, true);
    // The only verdict missing now is that of a client that is gone; B's
    // 60 s validation deadline is far beyond the 10 s this test waits.
    drop(leaving);
    let note = c
        .recv_notification(after(DELIVERY))
        .expect("C gets the item once the silent subscriber left");
    assert_eq!(note.data, item);
}

#[test]
fn only_the_lowest_bit_of_a_verdict_counts() {
    let net = chain(&[]);
    let (mut a, mut b, mut c) = clients(&net, &[T]);
    let (x, y) = (unique("reserved-invalid"), unique("reserved-valid"));
    for (data, verdict) in [(&x, 0xfffe_u16), (&y, 0x8001)] {
        a.announce(0, T, data);
        let note = b
            .recv_notification(after(DELIVERY))
            .expect("B gets the item");
        assert_eq!(&note.data, data);
        let mut validation = header(8, VALIDATION);
        validation.extend_from_slice(&note.msg_id.to_be_bytes());
        validation.extend_from_slice(&verdict.to_be_bytes());
        b.send_raw(&validation).expect("send VALIDATION");
    }
    let before = c.until_marker(&y, after(DELIVERY));
    assert!(before.is_empty(), "C got {:?} before Y", summary(&before));
}
