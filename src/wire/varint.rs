//! LEB128 variable-length unsigned integers (7 bits per byte, low bits
//! first, high bit set on every byte but the last) and zigzag for signed
//! differences. Decoding is strict: an encoding longer than needed (a last
//! byte of zero after the first) or beyond 64 bits is refused, so every
//! value has exactly one encoding.

use super::{Reader, WireError};

/// Most bytes of one varint (64 bits in 7-bit groups).
pub const MAX_VARINT_LEN: usize = 10;

/// Appends `v`.
pub fn put(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes [`put`] appends for `v`.
pub fn len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads one varint.
pub fn get(r: &mut Reader<'_>, field: &'static str) -> Result<u64, WireError> {
    let mut v = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let b = r.u8(field)?;
        let bits = u64::from(b & 0x7f);
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(WireError::BadVarint { field });
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(WireError::BadVarint { field });
            }
            return Ok(v);
        }
    }
    Err(WireError::BadVarint { field })
}

/// A signed difference as an unsigned number: 0, -1, 1, -2, 2, … become
/// 0, 1, 2, 3, 4, … so small differences either way stay short.
pub fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(v: u64) -> (u64, usize) {
        let mut out = Vec::new();
        put(v, &mut out);
        assert_eq!(out.len(), len(v), "{v}");
        let mut r = Reader::new(&out);
        let back = get(&mut r, "v").unwrap();
        assert_eq!(r.remaining(), 0);
        (back, out.len())
    }

    #[test]
    fn values_round_trip_in_the_fewest_bytes() {
        for (v, n) in [(0, 1), (1, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3)] {
            assert_eq!(round(v), (v, n));
        }
        assert_eq!(round(u64::MAX), (u64::MAX, MAX_VARINT_LEN));
        assert_eq!(round(1 << 58), (1 << 58, 9));
    }

    #[test]
    fn overlong_truncated_and_oversized_encodings_are_refused() {
        let bad = |bytes: &[u8]| get(&mut Reader::new(bytes), "v");
        assert_eq!(bad(&[0x80, 0x00]), Err(WireError::BadVarint { field: "v" }));
        assert_eq!(
            bad(&[0x81, 0x80, 0x00]),
            Err(WireError::BadVarint { field: "v" })
        );
        assert!(matches!(bad(&[0x80]), Err(WireError::Truncated { .. })));
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(bad(&over), Err(WireError::BadVarint { field: "v" }));
        let mut eleven = vec![0xff; 10];
        eleven.push(0x01);
        assert_eq!(bad(&eleven), Err(WireError::BadVarint { field: "v" }));
    }

    #[test]
    fn zigzag_keeps_small_differences_small() {
        for (d, z) in [
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
            (i64::MIN, u64::MAX),
        ] {
            assert_eq!(zigzag(d), z);
            assert_eq!(unzigzag(z), d);
        }
    }
}
