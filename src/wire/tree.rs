//! The dissemination messages (Plumtree): lazy announcements, pulls and
//! prunes.
//!
//! | message | layout                                                   |
//! | ------- | -------------------------------------------------------- |
//! | IHave   | tag `10`, then an id list                                |
//! | Graft   | tag `11`, then an id list                                |
//! | Prune   | tag `12`                                                 |
//!
//! An **id list** names at most [`MAX_IDS_PER_MESSAGE`] items by origin
//! and sequence number (an item id is the first 8 bytes of its origin's key
//! and its sequence number, see [`ItemId::of`]), as runs of consecutive
//! sequence numbers per origin, so the ids of one origin's stream cost a
//! few bytes per batch instead of 16 bytes each:
//!
//! ```text
//! groups  u16 (≤ 1024)
//! per group, origin tags strictly increasing:
//!   origin tag  8 bytes
//!   runs        varint (≥ 1)
//!   per run:    start  varint: the first run's first seq; later runs: the
//!                      gap after the previous run's last seq, minus 2
//!                      (runs never touch: adjacent runs are one run)
//!               len    varint: the run's length minus 1
//! ```
//!
//! Varints are LEB128 in their shortest form. Every list has exactly one
//! encoding; the decoder refuses any other and counts ids against the
//! limit before it allocates them.

use std::borrow::Cow;

use super::{Reader, WireError, varint};
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
        Message::IHave(ids) => {
            out.push(TAG_IHAVE);
            encode_ids(ids, out);
        }
        Message::Graft(ids) => {
            out.push(TAG_GRAFT);
            encode_ids(ids, out);
        }
        Message::Prune => out.push(TAG_PRUNE),
        _ => return false,
    }
    true
}

/// The encoded length of a dissemination message; None for other messages.
pub(super) fn encoded_len(msg: &Message) -> Option<usize> {
    Some(match msg {
        Message::IHave(ids) | Message::Graft(ids) => 1 + ids_len(ids),
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

/// The ids sorted and without repeats (borrowed when they already are),
/// at most [`MAX_IDS_PER_MESSAGE`] of them.
fn canonical(ids: &[ItemId]) -> Cow<'_, [ItemId]> {
    let ids: Cow<'_, [ItemId]> = if ids.is_sorted_by(|a, b| a < b) {
        Cow::Borrowed(ids)
    } else {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v.dedup();
        Cow::Owned(v)
    };
    match ids {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..b.len().min(MAX_IDS_PER_MESSAGE)]),
        Cow::Owned(mut v) => {
            v.truncate(MAX_IDS_PER_MESSAGE);
            Cow::Owned(v)
        }
    }
}

/// The runs of consecutive sequence numbers of one origin's ids, as
/// (first, last).
fn runs(ids: &[ItemId]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for id in ids {
        let seq = id.seq();
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(seq) => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}

/// The varint fields of each run, in order: (start, length − 1), where a
/// later run's start is its gap after the previous run minus 2.
fn run_fields(runs: &[(u64, u64)]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let previous = std::iter::once(None).chain(runs.iter().map(|&(_, last)| Some(last)));
    runs.iter()
        .zip(previous)
        .map(|(&(first, last), prev_last)| {
            let start = prev_last.map_or(first, |p| first - p - 2);
            (start, last - first)
        })
}

/// The ids of each origin, in canonical order.
fn groups(ids: &[ItemId]) -> impl Iterator<Item = &[ItemId]> {
    ids.chunk_by(|a, b| a.origin_tag() == b.origin_tag())
}

fn encode_ids(ids: &[ItemId], out: &mut Vec<u8>) {
    let ids = canonical(ids);
    // At most MAX_IDS_PER_MESSAGE groups, so it fits in a u16.
    out.extend_from_slice(&(groups(&ids).count() as u16).to_be_bytes());
    for group in groups(&ids) {
        out.extend_from_slice(&group[0].origin_tag());
        let runs = runs(group);
        varint::put(runs.len() as u64 - 1, out);
        for (start, extra) in run_fields(&runs) {
            varint::put(start, out);
            varint::put(extra, out);
        }
    }
}

/// The bytes [`encode_ids`] appends, computed without encoding.
fn ids_len(ids: &[ItemId]) -> usize {
    let ids = canonical(ids);
    let group_len = |group: &[ItemId]| {
        let runs = runs(group);
        let fields: usize = run_fields(&runs)
            .map(|(start, extra)| varint::len(start) + varint::len(extra))
            .sum();
        8 + varint::len(runs.len() as u64 - 1) + fields
    };
    2 + groups(&ids).map(group_len).sum::<usize>()
}

fn decode_ids(r: &mut Reader<'_>) -> Result<Vec<ItemId>, WireError> {
    let field = "item ids";
    let too_many = |count| WireError::TooMany {
        field,
        count,
        max: MAX_IDS_PER_MESSAGE,
    };
    let groups = usize::from(r.u16(field)?);
    if groups > MAX_IDS_PER_MESSAGE {
        return Err(too_many(groups));
    }
    let mut ids = Vec::new();
    let mut prev_tag: Option<[u8; 8]> = None;
    for _ in 0..groups {
        let tag: [u8; 8] = r.array("origin tag")?;
        if prev_tag.is_some_and(|p| p >= tag) {
            return Err(WireError::NotCanonical { field });
        }
        prev_tag = Some(tag);
        let runs = varint::get(r, "run count")?.saturating_add(1);
        let mut prev_last: Option<u64> = None;
        for _ in 0..runs {
            let start = varint::get(r, "run start")?;
            let extra = varint::get(r, "run length")?;
            let first = match prev_last {
                None => Some(start),
                Some(p) => p.checked_add(2).and_then(|x| x.checked_add(start)),
            };
            let count = extra.saturating_add(1);
            let room = (MAX_IDS_PER_MESSAGE - ids.len()) as u64;
            if count > room {
                return Err(too_many(ids.len().saturating_add(count as usize)));
            }
            let Some(last) = first.and_then(|f| f.checked_add(extra)) else {
                return Err(WireError::NotCanonical { field });
            };
            let first = last - extra;
            ids.extend((first..=last).map(|seq| ItemId::from_parts(tag, seq)));
            prev_last = Some(last);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::OriginKey;
    use crate::wire::decode;
    use crate::wire::tests::bytes_of;

    fn ids(n: u64) -> Vec<ItemId> {
        (0..n).map(ItemId::from_u64).collect()
    }

    #[test]
    fn every_dissemination_message_round_trips() {
        let a = OriginKey([1; 32]);
        let b = OriginKey([2; 32]);
        let mixed: Vec<ItemId> = [(&a, 5), (&a, 6), (&a, 9), (&b, u64::MAX), (&a, 0)]
            .iter()
            .map(|(o, s)| ItemId::of(o, *s))
            .collect();
        let mut sorted = mixed.clone();
        sorted.sort();
        for msg in [
            Message::IHave(vec![]),
            Message::IHave(ids(MAX_IDS_PER_MESSAGE as u64)),
            Message::Graft(ids(3)),
            Message::Graft(sorted.clone()),
            Message::Prune,
        ] {
            assert_eq!(decode(&bytes_of(&msg)), Ok(msg));
        }
        // Unsorted lists travel sorted.
        assert_eq!(
            decode(&bytes_of(&Message::IHave(mixed))),
            Ok(Message::IHave(sorted))
        );
    }

    #[test]
    fn layouts_match_the_table() {
        assert_eq!(bytes_of(&Message::Prune), [TAG_PRUNE]);
        let zero = |seq| ItemId::from_parts([0; 8], seq);
        let one = bytes_of(&Message::Graft(vec![zero(5)]));
        assert_eq!(one, [TAG_GRAFT, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0]);
        // A stream of 1024 ids of one origin: one run.
        let all: Vec<ItemId> = (0..MAX_IDS_PER_MESSAGE as u64).map(zero).collect();
        let stream = bytes_of(&Message::IHave(all));
        assert_eq!(
            stream,
            [TAG_IHAVE, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x07]
        );
        // 1, 2, 3 and 7: two runs, the second 7 - 3 - 2 = 2 after the first.
        let gaps: Vec<ItemId> = [1, 2, 3, 7].into_iter().map(zero).collect();
        let two = bytes_of(&Message::IHave(gaps));
        assert_eq!(two[3..], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 0]);
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
        // One run of 2^63 ids.
        let mut huge = vec![TAG_IHAVE, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(decode(&huge), Err(WireError::TooMany { .. })));
        assert!(matches!(
            decode(&[TAG_GRAFT, 0, 2, 1, 2, 3]),
            Err(WireError::Truncated {
                field: "origin tag",
                ..
            })
        ));
        assert_eq!(
            decode(&[TAG_PRUNE, 0]),
            Err(WireError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn only_the_canonical_form_decodes() {
        // Two groups with the same origin tag.
        let mut twice = vec![TAG_IHAVE, 0, 2];
        for _ in 0..2 {
            twice.extend_from_slice(&[0; 8]);
            twice.extend_from_slice(&[0, 1, 0]);
        }
        assert_eq!(
            decode(&twice),
            Err(WireError::NotCanonical { field: "item ids" })
        );
        // A run that runs past the largest sequence number.
        let mut wraps = vec![TAG_IHAVE, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        wraps.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        wraps.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            decode(&wraps),
            Err(WireError::NotCanonical { field: "item ids" })
        );
    }
}
