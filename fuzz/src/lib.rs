//! The checks behind gossipd's fuzz targets, in a library so that plain
//! `cargo test` (no fuzzing toolchain) can replay the seed corpora.
//!
//! | target | module | what it feeds |
//! | --- | --- | --- |
//! | `api_decoder` | [`api`] | bytes to the local API codec, both directions |
//! | `p2p_decoder` | [`p2p`] | bytes to the peer-to-peer frame body decoders |
//! | `core_messages` | [`core`] | operations to the protocol core |

pub mod api;
pub mod core;
pub mod p2p;

/// The seed inputs of every target: (target, file name, bytes).
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut all = Vec::new();
    for (target, seeds) in [
        ("api_decoder", api::seeds()),
        ("p2p_decoder", p2p::seeds()),
        ("core_messages", core::seeds()),
    ] {
        all.extend(seeds.into_iter().map(|(name, bytes)| (target, name, bytes)));
    }
    all
}
