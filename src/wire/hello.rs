//! [`Hello`]: what each side proves about itself in the handshake.
//!
//! A Hello travels as the payload of the Noise handshake messages (the
//! responder's in message 2, the dialer's in message 3), so it is encrypted
//! and bound to the handshake. It carries the sender's long-term identity
//! (an Ed25519 public key; the peer id is its hash), the proof of work bound
//! to that key, and a signature by that key over the sender's Noise static
//! key, which ties the identity to this very connection.
//!
//! | field | bytes | meaning |
//! | --- | --- | --- |
//! | magic | 4 | `GSPD` |
//! | version | 1 | [`PROTOCOL_VERSION`] |
//! | flags | 1 | bit 0: high priority (the dialer has no neighbour); other bits 0 |
//! | public key | 32 | Ed25519 identity key |
//! | pow nonce | 8 | proof of work: see [`crate::identity::pow`] |
//! | signature | 64 | Ed25519 over `gossipd-noise-static-v1` ‖ the sender's Noise static key |
//! | listen address | 7 or 19 | where the sender's P2P listener accepts connections |

use std::net::SocketAddr;

use super::{PROTOCOL_VERSION, Reader, WireError, addr_len, decode_addr, encode_addr};
use crate::identity::peer_id_of;
use crate::proto::PeerId;

/// The first bytes of every Hello.
pub const HELLO_MAGIC: [u8; 4] = *b"GSPD";

/// Hello flag: the dialer asks with high priority.
const FLAG_HIGH_PRIORITY: u8 = 1;

/// Bytes of a Hello before the listen address.
const FIXED_LEN: usize = 4 + 1 + 1 + 32 + 8 + 64;

/// What a host proves and says about itself in the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's [`PROTOCOL_VERSION`].
    pub version: u8,
    /// The sender's peer id: the hash of `public_key` (derived, not sent).
    pub peer_id: PeerId,
    /// Where the sender's P2P listener accepts connections.
    pub listen_addr: SocketAddr,
    /// The dialer has no neighbour and asks to be taken even by a full host.
    pub high_priority: bool,
    /// The sender's Ed25519 identity key.
    pub public_key: [u8; 32],
    /// The nonce of the proof of work bound to `public_key`.
    pub pow_nonce: u64,
    /// The identity key's signature over the sender's Noise static key.
    pub signature: [u8; 64],
}

/// Appends the encoding of a Hello to `out` (`peer_id` is not sent).
pub fn encode_hello(h: &Hello, out: &mut Vec<u8>) {
    out.reserve(FIXED_LEN + addr_len(&h.listen_addr));
    out.extend_from_slice(&HELLO_MAGIC);
    out.push(h.version);
    out.push(if h.high_priority {
        FLAG_HIGH_PRIORITY
    } else {
        0
    });
    out.extend_from_slice(&h.public_key);
    out.extend_from_slice(&h.pow_nonce.to_be_bytes());
    out.extend_from_slice(&h.signature);
    encode_addr(&h.listen_addr, out);
}

/// Decodes a Hello of this version; its `peer_id` is computed from the key.
/// Checking the proof of work and the signature is the transport's job.
pub fn decode_hello(body: &[u8]) -> Result<Hello, WireError> {
    let mut r = Reader::new(body);
    let magic = r.array("hello magic")?;
    if magic != HELLO_MAGIC {
        return Err(WireError::BadMagic(magic));
    }
    let version = r.u8("protocol version")?;
    if version != PROTOCOL_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let flags = r.u8("hello flags")?;
    if flags & !FLAG_HIGH_PRIORITY != 0 {
        return Err(WireError::UnknownFlags(flags));
    }
    let public_key = r.array("public key")?;
    let pow_nonce = u64::from_be_bytes(r.array("pow nonce")?);
    let signature = r.array("signature")?;
    let listen_addr = decode_addr(&mut r)?;
    r.finish()?;
    Ok(Hello {
        version,
        peer_id: peer_id_of(&public_key),
        listen_addr,
        high_priority: flags & FLAG_HIGH_PRIORITY != 0,
        public_key,
        pow_nonce,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn hello(addr: &str, key_byte: u8) -> Hello {
        let public_key = [key_byte; 32];
        Hello {
            version: PROTOCOL_VERSION,
            peer_id: peer_id_of(&public_key),
            listen_addr: addr.parse().unwrap(),
            high_priority: key_byte % 2 == 1,
            public_key,
            pow_nonce: 0x0102_0304_0506_0708,
            signature: [0xab; 64],
        }
    }

    fn bytes(h: &Hello) -> Vec<u8> {
        let mut out = Vec::new();
        encode_hello(h, &mut out);
        out
    }

    #[test]
    fn a_hello_round_trips_over_ipv4_and_ipv6() {
        for (addr, key) in [
            ("127.0.0.1:7002", 1),
            ("[::1]:7002", 2),
            ("[fe80::1:2]:9", 3),
        ] {
            let h = hello(addr, key);
            assert_eq!(decode_hello(&bytes(&h)), Ok(h));
        }
    }

    #[test]
    fn the_layout_matches_the_table() {
        let b = bytes(&hello("[::1]:2", 1));
        assert_eq!(b[..6], *b"GSPD\x04\x01");
        assert_eq!(b[6..38], [1; 32]);
        assert_eq!(b[38..46], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b.len(), FIXED_LEN + 19);
    }

    #[test]
    fn the_peer_id_is_the_hash_of_the_key_not_a_field() {
        let h = hello("1.2.3.4:5", 1);
        let mut forged = h.clone();
        forged.peer_id = PeerId::from_u64(1);
        assert_eq!(
            decode_hello(&bytes(&forged)).map(|d| d.peer_id),
            Ok(h.peer_id)
        );
    }

    #[test]
    fn unknown_flags_a_wrong_magic_and_another_version_are_refused() {
        let good = bytes(&hello("1.2.3.4:5", 1));
        let mut b = good.clone();
        b[5] = 0x82;
        assert_eq!(decode_hello(&b), Err(WireError::UnknownFlags(0x82)));
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(decode_hello(&b), Err(WireError::BadMagic(*b"XSPD")));
        let mut b = good;
        b[4] = 1;
        assert_eq!(decode_hello(&b), Err(WireError::UnsupportedVersion(1)));
    }

    #[test]
    fn truncated_or_padded_hellos_are_refused() {
        let b = bytes(&hello("[::1]:9", 1));
        for len in 0..b.len() {
            assert!(matches!(
                decode_hello(&b[..len]),
                Err(WireError::Truncated { .. })
            ));
        }
        let mut padded = b;
        padded.push(0);
        assert_eq!(
            decode_hello(&padded),
            Err(WireError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn random_and_mutated_hellos_never_panic_and_stay_canonical() {
        let mut rng = StdRng::seed_from_u64(0x0004_e110);
        for _ in 0..5_000 {
            let mut b = bytes(&hello("10.1.2.3:4", rng.random()));
            let i = rng.random_range(0..b.len());
            b[i] ^= 1 << rng.random_range(0..8);
            let cut = rng.random_range(0..=b.len());
            for input in [&b[..], &b[..cut]] {
                if let Ok(h) = decode_hello(input) {
                    assert_eq!(bytes(&h), input);
                }
            }
        }
    }
}
