//! The `p2p_decoder` target: frame bodies between peers and the Hello that
//! travels in the Noise handshake payloads (`gossipd::wire`).
//!
//! The wire format is canonical, so anything that decodes must encode to
//! exactly the same bytes; every error must be consistent with the input.

use std::net::SocketAddr;
use std::sync::Arc;

use gossipd::identity::{self, peer_id_of};
use gossipd::proto::{DataType, Item, ItemId, Message, PeerId, Shuffle, ShuffleReply, Ttl};
use gossipd::wire::{
    self, Hello, MAX_FRAME_LEN, MAX_ITEM_DATA, MAX_PEERS_PER_MESSAGE, MAX_SHUFFLE_SAMPLE,
    MAX_WALK_PATH, WireError,
};

/// Runs every check on one input.
pub fn check(data: &[u8]) {
    check_message(data);
    check_hello(data);
}

fn check_message(data: &[u8]) {
    match wire::decode(data) {
        Ok(msg) => {
            let mut out = Vec::new();
            wire::encode(&msg, &mut out);
            assert_eq!(wire::decode(&out).as_ref(), Ok(&msg), "re-encoding does not decode");
            if matches!(msg, Message::Item(_)) {
                // The sender picks the origin slot; the rest is canonical.
                assert_eq!(out.len(), data.len(), "re-encoding differs in length");
            } else {
                assert_eq!(out, data, "re-encoding differs from the input");
            }
            assert_eq!(wire::encoded_len(&msg), data.len());
            assert!(data.len() <= MAX_FRAME_LEN);
            match &msg {
                Message::Peers(addrs) => assert!(addrs.len() <= MAX_PEERS_PER_MESSAGE),
                Message::Item(item) => assert!(item.data.len() <= MAX_ITEM_DATA),
                Message::Shuffle(s) => {
                    assert!(s.path.len() <= MAX_WALK_PATH);
                    assert!(s.sample.len() <= MAX_SHUFFLE_SAMPLE);
                }
                Message::ShuffleReply(r) => {
                    assert!(r.route.len() <= MAX_WALK_PATH);
                    assert!(r.sample.len() <= MAX_SHUFFLE_SAMPLE);
                }
                _ => {}
            }
        }
        Err(e) => check_error(data, &e),
    }
}

fn check_hello(data: &[u8]) {
    match wire::decode_hello(data) {
        Ok(hello) => {
            let mut out = Vec::new();
            wire::encode_hello(&hello, &mut out);
            assert_eq!(out, data, "re-encoding of a Hello differs from the input");
            assert_eq!(hello.version, wire::PROTOCOL_VERSION);
            assert_eq!(hello.peer_id, peer_id_of(&hello.public_key));
            // What the handshake then does with the sender's key, nonce and
            // signature, all chosen by the sender.
            let _ = identity::verify(&hello.public_key, data, &hello.signature);
            assert!(identity::pow::bits(&hello.public_key, hello.pow_nonce) <= 256);
        }
        Err(e) => check_error(data, &e),
    }
}

/// Errors must be about bytes that are really there (or really missing).
fn check_error(data: &[u8], e: &WireError) {
    let _ = e.to_string();
    match *e {
        WireError::Truncated {
            needed, remaining, ..
        } => assert!(remaining < needed && remaining <= data.len()),
        WireError::TrailingBytes { extra } => assert!(extra > 0 && extra <= data.len()),
        WireError::TooManyPeers { count } => {
            assert!(usize::from(count) > MAX_PEERS_PER_MESSAGE)
        }
        WireError::DataTooLong { len } => assert!(len > MAX_ITEM_DATA && len <= data.len()),
        WireError::TooMany { count, max, .. } => assert!(count > max),
        _ => {}
    }
}

/// Valid encodings for the seed corpus: each message kind and Hellos.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let v4: SocketAddr = "127.0.0.1:7001".parse().expect("literal address");
    let v6: SocketAddr = "[::1]:7002".parse().expect("literal address");
    let item = Message::Item(Item::numbered(7, Ttl(3), DataType(0xbeef), Arc::from(&b"hello"[..])));
    let ihave = Message::IHave((1..40).map(|n| ItemId::from_u64(n * n / 7)).collect());
    let msgs = [
        ("get_peers", Message::GetPeers),
        ("peers_empty", Message::Peers(vec![])),
        ("peers_v4_v6", Message::Peers(vec![v4, v6])),
        ("item", item),
        ("ihave", ihave),
        ("graft", Message::Graft(vec![ItemId::from_u64(3)])),
        ("prune", Message::Prune),
        ("join", Message::Join),
        ("keep_alive", Message::KeepAlive),
        ("disconnect", Message::Disconnect { alive: true }),
        (
            "forward_join",
            Message::ForwardJoin {
                joiner: PeerId([3; 32]),
                addr: v6,
                ttl: 6,
            },
        ),
        (
            "shuffle",
            Message::Shuffle(Shuffle {
                id: 42,
                ttl: 5,
                path: vec![PeerId([1; 32]), PeerId([2; 32])],
                sample: vec![v4, v6],
            }),
        ),
        (
            "shuffle_reply",
            Message::ShuffleReply(ShuffleReply {
                id: 42,
                route: vec![PeerId([1; 32])],
                sample: vec![v4],
            }),
        ),
    ];
    let mut out: Vec<(&'static str, Vec<u8>)> = msgs
        .into_iter()
        .map(|(name, msg)| {
            let mut bytes = Vec::new();
            wire::encode(&msg, &mut bytes);
            (name, bytes)
        })
        .collect();
    for (name, addr, high_priority) in [("hello_v4", v4, false), ("hello_v6", v6, true)] {
        let public_key = [7; 32];
        let hello = Hello {
            version: wire::PROTOCOL_VERSION,
            peer_id: peer_id_of(&public_key),
            listen_addr: addr,
            high_priority,
            public_key,
            pow_nonce: 0x0102_0304_0506_0708,
            signature: [0xab; 64],
        };
        let mut bytes = Vec::new();
        wire::encode_hello(&hello, &mut bytes);
        out.push((name, bytes));
    }
    out
}
