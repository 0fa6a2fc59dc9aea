//! The proof of work bound to a public key: a nonce such that
//! BLAKE2s-256(`"gossipd-pow-v1"` ‖ public key ‖ nonce as u64 big-endian)
//! starts with at least `difficulty` zero bits. Finding one takes about
//! 2^difficulty hashes; checking one takes a single hash. The domain prefix
//! keeps these hashes apart from any other BLAKE2s use of the same key.

use std::sync::atomic::{AtomicBool, Ordering};

use blake2::{Blake2s256, Digest};

/// Domain separation: the hash input starts with these bytes.
pub const DOMAIN: &[u8] = b"gossipd-pow-v1";

/// Nonces a solving thread tries between looks at whether another thread
/// has already found one (about a millisecond of work).
const CHECK_EVERY: u32 = 4096;

/// Leading zero bits of
/// BLAKE2s-256("gossipd-pow-v1" ‖ public_key ‖ nonce as u64 big-endian).
pub fn bits(public_key: &[u8; 32], nonce: u64) -> u32 {
    bits_after(&prefix(public_key), nonce)
}

/// Finds a nonce with at least `difficulty` bits, using `threads` threads
/// (at least one), thread `t` trying `t`, `t + threads`, `t + 2·threads`, ...
///
/// Takes about 2^difficulty hashes in all. It never returns when
/// `difficulty` exceeds 256, and takes years long before that; the
/// `pow_difficulty` config key is capped at 40.
pub fn solve(public_key: &[u8; 32], difficulty: u32, threads: usize) -> u64 {
    let prefix = prefix(public_key);
    let stride = threads.max(1) as u64;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let searches: Vec<_> = (0..stride)
            .map(|first| {
                let (prefix, done) = (&prefix, &done);
                scope.spawn(move || search(prefix, difficulty, first, stride, done))
            })
            .collect();
        searches
            .into_iter()
            .filter_map(|search| match search.join() {
                Ok(found) => found,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .min()
            // Every search runs until one of them finds a nonce and only
            // then sets `done`, so at least one returns `Some`.
            .expect("a search thread found a nonce")
    })
}

/// One thread's share of [`solve`]: `first`, `first + stride`, ... until
/// a nonce qualifies (`Some`) or another thread found one (`None`).
fn search(
    prefix: &Blake2s256,
    difficulty: u32,
    first: u64,
    stride: u64,
    done: &AtomicBool,
) -> Option<u64> {
    let mut nonce = first;
    loop {
        for _ in 0..CHECK_EVERY {
            if bits_after(prefix, nonce) >= difficulty {
                done.store(true, Ordering::Relaxed);
                return Some(nonce);
            }
            nonce = nonce.wrapping_add(stride);
        }
        if done.load(Ordering::Relaxed) {
            return None;
        }
    }
}

/// The hash state after the domain and the key: every nonce shares it.
fn prefix(public_key: &[u8; 32]) -> Blake2s256 {
    Blake2s256::new()
        .chain_update(DOMAIN)
        .chain_update(public_key)
}

fn bits_after(prefix: &Blake2s256, nonce: u64) -> u32 {
    let digest = prefix.clone().chain_update(nonce.to_be_bytes()).finalize();
    leading_zero_bits(&digest)
}

/// Leading zero bits of a big-endian bit string.
fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut bits = 0;
    for &byte in bytes {
        if byte != 0 {
            return bits + byte.leading_zeros();
        }
        bits += 8;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public key of the OpenSSL-made test key in `identity`'s tests.
    const KEY: [u8; 32] = [
        0xc4, 0xf5, 0xc5, 0xab, 0xcc, 0xed, 0xf2, 0xdf, 0xa3, 0x69, 0xa6, 0x65, 0x62, 0x83, 0x0b,
        0xa7, 0xad, 0x77, 0xd6, 0xdd, 0xe2, 0x22, 0xf9, 0x2f, 0xf5, 0xb5, 0x75, 0x57, 0xe3, 0x12,
        0x8f, 0xf7,
    ];

    #[test]
    fn bits_match_pinned_vectors() {
        // Computed independently with Python's hashlib.blake2s.
        assert_eq!(bits(&KEY, 0), 1);
        assert_eq!(bits(&KEY, 637), 8);
        assert_eq!(bits(&KEY, 6231), 13);
        assert_eq!(bits(&KEY, 184_224), 18);
        assert_eq!(bits(&[0; 32], 5), 2);
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0, 0x10]), 19);
        assert_eq!(leading_zero_bits(&[0; 4]), 32);
    }

    #[test]
    fn solve_meets_the_difficulty_on_any_thread_count() {
        assert_eq!(solve(&KEY, 0, 4), 0);
        for (difficulty, threads) in [(8, 1), (10, 2), (12, 3), (1, 0)] {
            let nonce = solve(&KEY, difficulty, threads);
            assert!(bits(&KEY, nonce) >= difficulty, "{difficulty}/{threads}");
        }
        // One thread scans from 0, so it finds the smallest qualifying nonce.
        assert_eq!(solve(&KEY, 8, 1), 637);
    }
}
