//! How simulated nodes are named: an index, and the peer id and P2P address
//! derived from it (and back).

use std::net::{Ipv4Addr, SocketAddr};

use crate::proto::PeerId;

/// Index of a node in a [`super::Sim`], in the order nodes were added.
/// Indices are never reused: a node started after a kill gets a new one.
pub type NodeIx = usize;

/// Index of an item announced through [`super::Sim::announce`], in
/// announcement order.
pub type ItemIx = usize;

/// The port every simulated node listens on.
const PORT: u16 = 7000;

/// The identity of node `ix`: `ix + 1` in the last eight bytes (see
/// [`PeerId::from_u64`]), so ids sort like indices.
pub fn peer_of(ix: NodeIx) -> PeerId {
    PeerId::from_u64(ix as u64 + 1)
}

/// The node whose identity is `peer`; None for an id the simulator never
/// hands out.
pub fn node_of(peer: &PeerId) -> Option<NodeIx> {
    let (high, low) = peer.0.split_at(24);
    if high.iter().any(|b| *b != 0) {
        return None;
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(low);
    let n = u64::from_be_bytes(n);
    usize::try_from(n.checked_sub(1)?).ok()
}

/// The P2P address of node `ix`: 10.a.b.c:7000, with a.b.c = `ix + 1`
/// (room for 16 million nodes).
pub fn addr_of(ix: NodeIx) -> SocketAddr {
    let [_, a, b, c] = (ix as u32 + 1).to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, a, b, c), PORT))
}

/// The node listening at `addr`; None for an address outside the
/// simulator's scheme (nobody listens there).
pub fn node_at(addr: &SocketAddr) -> Option<NodeIx> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    let [net, a, b, c] = v4.ip().octets();
    if net != 10 || v4.port() != PORT {
        return None;
    }
    let n = u32::from_be_bytes([0, a, b, c]);
    usize::try_from(n.checked_sub(1)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_addresses_map_back_to_their_node() {
        for ix in [0, 1, 255, 256, 65_535, 65_536, 1_000_000] {
            assert_eq!(node_of(&peer_of(ix)), Some(ix));
            assert_eq!(node_at(&addr_of(ix)), Some(ix));
        }
        assert_eq!(addr_of(0), "10.0.0.1:7000".parse().unwrap());
        assert_eq!(addr_of(256), "10.0.1.1:7000".parse().unwrap());
    }

    #[test]
    fn foreign_ids_and_addresses_are_nobody() {
        assert_eq!(node_of(&PeerId([7; 32])), None);
        assert_eq!(node_of(&PeerId::from_u64(0)), None);
        assert_eq!(node_at(&"10.0.0.1:7001".parse().unwrap()), None);
        assert_eq!(node_at(&"192.168.0.1:7000".parse().unwrap()), None);
        assert_eq!(node_at(&"10.0.0.0:7000".parse().unwrap()), None);
        assert_eq!(node_at(&"[::1]:7000".parse().unwrap()), None);
    }
}
