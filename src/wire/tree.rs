//! The dissemination messages (Plumtree): lazy announcements, pulls and
//! prunes.
//!
//! | message | layout                                                   |
//! | ------- | -------------------------------------------------------- |
//! | IHave   | tag `10`, count u16 (≤ 1024), then `count` ids of 16 bytes |
//! | Graft   | tag `11`, count u16 (≤ 1024), then `count` ids of 16 bytes |
//! | Prune   | tag `12`                                                 |

use super::{Reader, WireError};
use crate::proto::{ItemId, Message};

pub(super) const TAG_IHAVE: u8 = 10;
pub(super) const TAG_GRAFT: u8 = 11;
pub(super) const TAG_PRUNE: u8 = 12;

/// Most item ids in one IHave or Graft.
pub const MAX_IDS_PER_MESSAGE: usize = 1024;

/// Appends the encoding of a dissemination message; false for other
/// messages.
pub(super) fn encode(msg: &Message, out: &mut Vec<u8>) -> bool {
    match msg {
        Message::IHave(ids) => encode_ids(TAG_IHAVE, ids, out),
        Message::Graft(ids) => encode_ids(TAG_GRAFT, ids, out),
        Message::Prune => out.push(TAG_PRUNE),
        _ => return false,
    }
    true
}

/// The encoded length of a dissemination message; None for other messages.
pub(super) fn encoded_len(msg: &Message) -> Option<usize> {
    Some(match msg {
        Message::IHave(ids) | Message::Graft(ids) => 3 + 16 * ids.len().min(MAX_IDS_PER_MESSAGE),
        Message::Prune => 1,
        _ => return None,
    })
}

/// Decodes the body of a dissemination message after its tag; None for a
/// tag that is not one.
pub(super) fn decode(tag: u8, r: &mut Reader<'_>) -> Option<Result<Message, WireError>> {
    let msg = match tag {
        TAG_IHAVE => decode_ids(r).map(Message::IHave),
        TAG_GRAFT => decode_ids(r).map(Message::Graft),
        TAG_PRUNE => Ok(Message::Prune),
        _ => return None,
    };
    Some(msg)
}

/// At most [`MAX_IDS_PER_MESSAGE`]: the senders never build longer lists.
fn encode_ids(tag: u8, ids: &[ItemId], out: &mut Vec<u8>) {
    let ids = &ids[..ids.len().min(MAX_IDS_PER_MESSAGE)];
    out.push(tag);
    out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
    for id in ids {
        out.extend_from_slice(&id.0);
    }
}

fn decode_ids(r: &mut Reader<'_>) -> Result<Vec<ItemId>, WireError> {
    let field = "item ids";
    let count = usize::from(r.u16(field)?);
    if count > MAX_IDS_PER_MESSAGE {
        return Err(WireError::TooMany {
            field,
            count,
            max: MAX_IDS_PER_MESSAGE,
        });
    }
    if r.remaining() < count * 16 {
        return Err(r.truncated(field, count * 16));
    }
    (0..count).map(|_| Ok(ItemId(r.array(field)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode;
    use crate::wire::tests::bytes_of;

    fn ids(n: u64) -> Vec<ItemId> {
        (0..n).map(ItemId::from_u64).collect()
    }

    #[test]
    fn every_dissemination_message_round_trips() {
        for msg in [
            Message::IHave(vec![]),
            Message::IHave(ids(MAX_IDS_PER_MESSAGE as u64)),
            Message::Graft(ids(3)),
            Message::Prune,
        ] {
            assert_eq!(decode(&bytes_of(&msg)), Ok(msg));
        }
    }

    #[test]
    fn layouts_match_the_table() {
        assert_eq!(bytes_of(&Message::Prune), [TAG_PRUNE]);
        let mut want = vec![TAG_GRAFT, 0, 1];
        want.extend_from_slice(&ItemId::from_u64(5).0);
        assert_eq!(bytes_of(&Message::Graft(vec![ItemId::from_u64(5)])), want);
    }

    #[test]
    fn too_many_or_missing_ids_are_rejected_before_allocating() {
        let over = (MAX_IDS_PER_MESSAGE as u16 + 1).to_be_bytes();
        assert_eq!(
            decode(&[TAG_IHAVE, over[0], over[1]]),
            Err(WireError::TooMany {
                field: "item ids",
                count: MAX_IDS_PER_MESSAGE + 1,
                max: MAX_IDS_PER_MESSAGE
            })
        );
        assert!(matches!(
            decode(&[TAG_GRAFT, 0, 2, 1, 2, 3]),
            Err(WireError::Truncated {
                field: "item ids",
                ..
            })
        ));
        assert_eq!(
            decode(&[TAG_PRUNE, 0]),
            Err(WireError::TrailingBytes { extra: 1 })
        );
    }
}
