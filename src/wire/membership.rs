//! The membership messages (HyParView): join, forward-join walks, shuffles,
//! disconnects and keep-alives.
//!
//! | message      | layout                                                                          |
//! | ------------ | ------------------------------------------------------------------------------- |
//! | Join         | tag `4`                                                                         |
//! | ForwardJoin  | tag `5`, joiner id 32 bytes, joiner address, ttl u8                            |
//! | Shuffle      | tag `6`, id u64, ttl u8, path count u8 (≤ 8), path ids, sample count u8 (≤ 16), addresses |
//! | ShuffleReply | tag `7`, id u64, route count u8 (≤ 8), route ids, sample count u8 (≤ 16), addresses |
//! | Disconnect   | tag `8`, flags u8 (bit 0: alive; the others zero)                              |
//! | KeepAlive    | tag `9`                                                                         |

use std::net::SocketAddr;

use super::{MIN_ADDR_LEN, Reader, WireError, addr_len, decode_addr, encode_addr};
use crate::proto::{Message, PeerId, Shuffle, ShuffleReply};

pub(super) const TAG_JOIN: u8 = 4;
pub(super) const TAG_FORWARD_JOIN: u8 = 5;
pub(super) const TAG_SHUFFLE: u8 = 6;
pub(super) const TAG_SHUFFLE_REPLY: u8 = 7;
pub(super) const TAG_DISCONNECT: u8 = 8;
pub(super) const TAG_KEEP_ALIVE: u8 = 9;

/// Most hosts a shuffle walk records (its origin included); longer walks
/// are malformed.
pub const MAX_WALK_PATH: usize = 8;

/// Most addresses in a shuffle sample.
pub const MAX_SHUFFLE_SAMPLE: usize = 16;

const DISCONNECT_ALIVE: u8 = 1;

/// Appends the encoding of a membership message; false for other messages.
pub(super) fn encode(msg: &Message, out: &mut Vec<u8>) -> bool {
    match msg {
        Message::Join => out.push(TAG_JOIN),
        Message::ForwardJoin { joiner, addr, ttl } => {
            out.push(TAG_FORWARD_JOIN);
            out.extend_from_slice(&joiner.0);
            encode_addr(addr, out);
            out.push(*ttl);
        }
        Message::Shuffle(s) => {
            out.push(TAG_SHUFFLE);
            out.extend_from_slice(&s.id.to_be_bytes());
            out.push(s.ttl);
            encode_ids(&s.path, out);
            encode_sample(&s.sample, out);
        }
        Message::ShuffleReply(r) => {
            out.push(TAG_SHUFFLE_REPLY);
            out.extend_from_slice(&r.id.to_be_bytes());
            encode_ids(&r.route, out);
            encode_sample(&r.sample, out);
        }
        Message::Disconnect { alive } => {
            out.push(TAG_DISCONNECT);
            out.push(if *alive { DISCONNECT_ALIVE } else { 0 });
        }
        Message::KeepAlive => out.push(TAG_KEEP_ALIVE),
        _ => return false,
    }
    true
}

/// The encoded length of a membership message; None for other messages.
pub(super) fn encoded_len(msg: &Message) -> Option<usize> {
    Some(match msg {
        Message::Join | Message::KeepAlive => 1,
        Message::ForwardJoin { addr, .. } => 1 + 32 + addr_len(addr) + 1,
        Message::Shuffle(s) => 1 + 8 + 1 + ids_len(&s.path) + sample_len(&s.sample),
        Message::ShuffleReply(r) => 1 + 8 + ids_len(&r.route) + sample_len(&r.sample),
        Message::Disconnect { .. } => 2,
        _ => return None,
    })
}

/// Decodes the body of a membership message after its tag; None for a tag
/// that is not one.
pub(super) fn decode(tag: u8, r: &mut Reader<'_>) -> Option<Result<Message, WireError>> {
    let msg = match tag {
        TAG_JOIN => Ok(Message::Join),
        TAG_FORWARD_JOIN => decode_forward_join(r),
        TAG_SHUFFLE => decode_shuffle(r),
        TAG_SHUFFLE_REPLY => decode_shuffle_reply(r),
        TAG_DISCONNECT => decode_disconnect(r),
        TAG_KEEP_ALIVE => Ok(Message::KeepAlive),
        _ => return None,
    };
    Some(msg)
}

fn decode_forward_join(r: &mut Reader<'_>) -> Result<Message, WireError> {
    let joiner = PeerId(r.array("joiner id")?);
    let addr = decode_addr(r)?;
    let ttl = r.u8("ttl")?;
    Ok(Message::ForwardJoin { joiner, addr, ttl })
}

fn decode_shuffle(r: &mut Reader<'_>) -> Result<Message, WireError> {
    let id = u64::from_be_bytes(r.array("shuffle id")?);
    let ttl = r.u8("ttl")?;
    let path = decode_ids(r, "walk path")?;
    let sample = decode_sample(r)?;
    Ok(Message::Shuffle(Shuffle {
        id,
        ttl,
        path,
        sample,
    }))
}

fn decode_shuffle_reply(r: &mut Reader<'_>) -> Result<Message, WireError> {
    let id = u64::from_be_bytes(r.array("shuffle id")?);
    let route = decode_ids(r, "walk route")?;
    let sample = decode_sample(r)?;
    Ok(Message::ShuffleReply(ShuffleReply { id, route, sample }))
}

fn decode_disconnect(r: &mut Reader<'_>) -> Result<Message, WireError> {
    let flags = r.u8("disconnect flags")?;
    if flags & !DISCONNECT_ALIVE != 0 {
        return Err(WireError::UnknownFlags(flags));
    }
    Ok(Message::Disconnect {
        alive: flags & DISCONNECT_ALIVE != 0,
    })
}

fn ids_len(ids: &[PeerId]) -> usize {
    1 + 32 * ids.len().min(MAX_WALK_PATH)
}

fn sample_len(sample: &[SocketAddr]) -> usize {
    1 + sample
        .iter()
        .take(MAX_SHUFFLE_SAMPLE)
        .map(addr_len)
        .sum::<usize>()
}

/// At most [`MAX_WALK_PATH`] ids: the senders never build longer lists.
fn encode_ids(ids: &[PeerId], out: &mut Vec<u8>) {
    let ids = &ids[..ids.len().min(MAX_WALK_PATH)];
    out.push(ids.len() as u8);
    for id in ids {
        out.extend_from_slice(&id.0);
    }
}

/// At most [`MAX_SHUFFLE_SAMPLE`] addresses.
fn encode_sample(sample: &[SocketAddr], out: &mut Vec<u8>) {
    let sample = &sample[..sample.len().min(MAX_SHUFFLE_SAMPLE)];
    out.push(sample.len() as u8);
    for addr in sample {
        encode_addr(addr, out);
    }
}

fn decode_ids(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<PeerId>, WireError> {
    let count = usize::from(r.u8(field)?);
    if count > MAX_WALK_PATH {
        return Err(WireError::TooMany {
            field,
            count,
            max: MAX_WALK_PATH,
        });
    }
    if r.remaining() < count * 32 {
        return Err(r.truncated(field, count * 32));
    }
    (0..count).map(|_| Ok(PeerId(r.array(field)?))).collect()
}

fn decode_sample(r: &mut Reader<'_>) -> Result<Vec<SocketAddr>, WireError> {
    let field = "shuffle sample";
    let count = usize::from(r.u8(field)?);
    if count > MAX_SHUFFLE_SAMPLE {
        return Err(WireError::TooMany {
            field,
            count,
            max: MAX_SHUFFLE_SAMPLE,
        });
    }
    if r.remaining() < count * MIN_ADDR_LEN {
        return Err(r.truncated(field, count * MIN_ADDR_LEN));
    }
    let mut sample = Vec::with_capacity(count);
    for _ in 0..count {
        sample.push(decode_addr(r)?);
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode;
    use crate::wire::tests::bytes_of;

    fn addrs(n: usize) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)))
            .collect()
    }

    fn ids(n: usize) -> Vec<PeerId> {
        (0..n).map(|i| PeerId([i as u8; 32])).collect()
    }

    #[test]
    fn every_membership_message_round_trips() {
        let msgs = [
            Message::Join,
            Message::KeepAlive,
            Message::Disconnect { alive: true },
            Message::Disconnect { alive: false },
            Message::ForwardJoin {
                joiner: PeerId([9; 32]),
                addr: "[::1]:7002".parse().unwrap(),
                ttl: 6,
            },
            Message::Shuffle(Shuffle {
                id: u64::MAX,
                ttl: 6,
                path: ids(MAX_WALK_PATH),
                sample: addrs(MAX_SHUFFLE_SAMPLE),
            }),
            Message::ShuffleReply(ShuffleReply {
                id: 1,
                route: vec![],
                sample: vec![],
            }),
        ];
        for msg in msgs {
            assert_eq!(decode(&bytes_of(&msg)), Ok(msg));
        }
    }

    #[test]
    fn layouts_match_the_table() {
        assert_eq!(bytes_of(&Message::Join), [TAG_JOIN]);
        assert_eq!(bytes_of(&Message::KeepAlive), [TAG_KEEP_ALIVE]);
        assert_eq!(
            bytes_of(&Message::Disconnect { alive: true }),
            [TAG_DISCONNECT, 1]
        );
        let reply = Message::ShuffleReply(ShuffleReply {
            id: 0x0102,
            route: ids(1),
            sample: addrs(1),
        });
        let mut want = vec![TAG_SHUFFLE_REPLY, 0, 0, 0, 0, 0, 0, 1, 2, 1];
        want.extend_from_slice(&[0; 32]);
        want.extend_from_slice(&[1, 4, 127, 0, 0, 1, 0x1b, 0x58]);
        assert_eq!(bytes_of(&reply), want);
    }

    #[test]
    fn lists_beyond_their_limits_are_rejected_before_allocating() {
        let mut path = vec![TAG_SHUFFLE, 0, 0, 0, 0, 0, 0, 0, 0, 3];
        path.push(MAX_WALK_PATH as u8 + 1);
        assert_eq!(
            decode(&path),
            Err(WireError::TooMany {
                field: "walk path",
                count: MAX_WALK_PATH + 1,
                max: MAX_WALK_PATH
            })
        );
        let mut sample = vec![TAG_SHUFFLE_REPLY, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        sample.push(MAX_SHUFFLE_SAMPLE as u8 + 1);
        assert_eq!(
            decode(&sample),
            Err(WireError::TooMany {
                field: "shuffle sample",
                count: MAX_SHUFFLE_SAMPLE + 1,
                max: MAX_SHUFFLE_SAMPLE
            })
        );
        // A count the remaining bytes cannot hold is truncated, checked
        // before any allocation.
        let route = [TAG_SHUFFLE_REPLY, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0];
        assert!(matches!(
            decode(&route),
            Err(WireError::Truncated {
                field: "walk route",
                ..
            })
        ));
    }

    #[test]
    fn unknown_disconnect_flags_and_trailing_bytes_are_rejected() {
        assert_eq!(
            decode(&[TAG_DISCONNECT, 3]),
            Err(WireError::UnknownFlags(3))
        );
        assert_eq!(
            decode(&[TAG_KEEP_ALIVE, 0]),
            Err(WireError::TrailingBytes { extra: 1 })
        );
        assert!(matches!(
            decode(&[TAG_FORWARD_JOIN, 1, 2]),
            Err(WireError::Truncated { .. })
        ));
    }
}
