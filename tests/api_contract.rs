//! Bad input on the API (SPEC §4): each malformed message closes only the
//! connection that sent it; other clients, peers and items carry on.

mod common;

use common::client::{ANNOUNCE, NOTIFICATION, NOTIFY, VALIDATION, announce_msg, header};
use common::{Network, Shape, after, unique};
use std::thread;
use std::time::Duration;

/// The data type the tests announce.
const T: u16 = 4711;
/// Deadline for one delivery or one close.
const DEADLINE: Duration = Duration::from_secs(10);

/// A message with header `size`/`msg_type` followed by `body_len` zero bytes
/// (so `size` may disagree with what follows).
fn message(size: usize, msg_type: u16, body_len: usize) -> Vec<u8> {
    let mut bytes = header(size, msg_type);
    bytes.resize(4 + body_len, 0);
    bytes
}

/// Sends `bytes` from a subscribed client of node1 (then shuts its write half
/// down if `then_eof`), and checks that node1 closes that connection and logs
/// a line containing `reason` (case-insensitive), while another client of
/// node1 keeps getting items from node0.
fn check_rejected(what: &str, bytes: &[u8], then_eof: bool, reason: &str) {
    let mut net = Network::start(2, 2, Shape::Star);
    let mut good = net.client(1, &[T]);
    let mut bad = net.client(1, &[T]);
    net.sync(&mut [&mut good, &mut bad]);
    let mut source = net.client(0, &[]);
    let mark = net.nodes[1].log_mark();
    bad.send_raw(bytes)
        .expect("gossip reads what a client sends");
    if then_eof {
        bad.shutdown_write();
    }
    assert!(
        bad.wait_closed(after(DEADLINE)),
        "gossip kept the connection open after {what}"
    );
    let reason = reason.to_lowercase();
    let logged = net.nodes[1].wait_for_log_since(mark, after(DEADLINE), |line| {
        line.to_lowercase().contains(&reason)
    });
    eprintln!("{what}: node1 logged {logged:?}");
    assert!(logged.is_some(), "no log line with {reason:?} after {what}");
    let item = unique("after-bad-input");
    source.announce(0, T, &item);
    let note = good
        .recv_notification(after(DEADLINE))
        .unwrap_or_else(|| panic!("other client got nothing after {what}"));
    assert_eq!(note.data, item);
    good.validate(note.msg_id, true);
    assert!(net.nodes[1].is_running(), "node1 died after {what}");
}

#[test]
fn size_below_four_closes_the_connection() {
    check_rejected("size 2", &message(2, ANNOUNCE, 0), false, "size");
}

#[test]
fn size_beyond_the_bytes_that_follow_closes_the_connection() {
    check_rejected(
        "size 64 with 8 bytes then EOF",
        &message(64, ANNOUNCE, 8),
        true,
        "64",
    );
}

#[test]
fn notify_of_ten_bytes_closes_the_connection() {
    check_rejected(
        "NOTIFY of size 10",
        &message(10, NOTIFY, 6),
        false,
        "NOTIFY",
    );
}

#[test]
fn validation_of_ten_bytes_closes_the_connection() {
    check_rejected(
        "VALIDATION of size 10",
        &message(10, VALIDATION, 6),
        false,
        "VALIDATION",
    );
}

#[test]
fn announce_of_six_bytes_closes_the_connection() {
    check_rejected(
        "ANNOUNCE of size 6",
        &message(6, ANNOUNCE, 2),
        false,
        "ANNOUNCE",
    );
}

#[test]
fn unknown_type_closes_the_connection() {
    check_rejected("type 599", &message(8, 599, 4), false, "599");
}

#[test]
fn notification_sent_to_gossip_closes_the_connection() {
    check_rejected(
        "a NOTIFICATION",
        &message(8, NOTIFICATION, 4),
        false,
        "NOTIFICATION",
    );
}

#[test]
fn an_announce_followed_by_close_is_still_spread() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[T]);
    net.sync(&mut [&mut client]);
    let item = unique("announce-and-go");
    let mut source = net.client(0, &[]);
    source.announce(0, T, &item);
    drop(source);
    let note = client
        .recv_notification(after(DEADLINE))
        .expect("item arrives");
    assert_eq!(note.data, item);
}

#[test]
fn a_validation_with_an_unknown_id_is_ignored() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[T]);
    net.sync(&mut [&mut client]);
    client.validate(0xbeef, true);
    client.validate(0xbeef, false);
    let item = unique("after-unknown-id");
    let mut source = net.client(0, &[]);
    source.announce(0, T, &item);
    let note = client
        .recv_notification(after(DEADLINE))
        .expect("still connected");
    assert_eq!(note.data, item);
}

#[test]
fn reserved_fields_are_ignored() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[]);
    let mut notify = header(8, NOTIFY);
    notify.extend_from_slice(&[0xff, 0xff]);
    notify.extend_from_slice(&T.to_be_bytes());
    client.send_raw(&notify).expect("send NOTIFY");
    net.sync(&mut [&mut client]);
    let item = unique("reserved-set");
    let mut announce = announce_msg(0, T, &item);
    announce[5] = 0xff;
    let mut source = net.client(0, &[]);
    source.send_raw(&announce).expect("send ANNOUNCE");
    let note = client
        .recv_notification(after(DEADLINE))
        .expect("item arrives");
    assert_eq!((note.data_type, note.data), (T, item));
}

#[test]
fn messages_split_or_coalesced_are_read_whole() {
    let net = Network::start(2, 2, Shape::Star);
    let mut client = net.client(1, &[T]);
    net.sync(&mut [&mut client]);
    let (split, first, second) = (unique("split"), unique("first"), unique("second"));
    let mut source = net.client(0, &[]);
    for byte in announce_msg(0, T, &split) {
        source.send_raw(&[byte]).expect("send one byte");
        thread::sleep(Duration::from_millis(1));
    }
    let mut both = announce_msg(0, T, &first);
    both.extend(announce_msg(0, T, &second));
    source.send_raw(&both).expect("send two messages at once");
    let mut got: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            client
                .recv_notification(after(DEADLINE))
                .expect("3 items arrive")
                .data
        })
        .collect();
    got.sort();
    let mut expected = vec![split, first, second];
    expected.sort();
    assert_eq!(got, expected);
}
