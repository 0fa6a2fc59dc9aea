//! The core's vocabulary: identifiers, items, peer messages, events and actions.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, RngExt};

use super::accounting::BanReason;
use super::origin::{ChecksumAuth, Hlc, ItemAuth, OriginKey, OriginProof, signed_bytes};

/// A host's identity on the network.
///
/// Today a random value chosen at start; the security work makes it the hash
/// of the host's public key, proven by the handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 32]);

impl PeerId {
    /// A fresh random identity.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> PeerId {
        PeerId(rng.random())
    }

    /// A small, readable identity for tests and the simulator: `n` in the
    /// last eight bytes, zeros before.
    pub fn from_u64(n: u64) -> PeerId {
        let mut bytes = [0u8; 32];
        bytes[24..].copy_from_slice(&n.to_be_bytes());
        PeerId(bytes)
    }

    /// The first eight bytes as hex: enough to tell peers apart in logs.
    pub fn short(&self) -> String {
        hex(&self.0[..8])
    }

    /// All 32 bytes as hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.short())
    }
}

/// Names one item network-wide: derived from its origin and sequence number
/// ([`ItemId::of`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub [u8; 16]);

impl ItemId {
    /// A small, readable id for tests: item number `n` of the origin whose
    /// key is all zeros.
    pub fn from_u64(n: u64) -> ItemId {
        ItemId::of(&OriginKey([0; 32]), n)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({})", hex(&self.0[..6]))
    }
}

/// A local client (one API connection or one library [`crate::Client`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// Names an item towards the local clients until it is validated or given up
/// (the "message id" of SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId(pub u16);

/// The application-defined type of an item; clients subscribe by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataType(pub u16);

/// How many more hops an item may travel; 0 means no limit.
///
/// An item announced with ttl 1 reaches the announcing host's neighbours only;
/// with ttl 2 also their neighbours, and so on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ttl(pub u8);

impl Ttl {
    /// The ttl to send with when a host that received an item with `self`
    /// forwards it, or `None` when the item must stop here.
    pub fn next_hop(self) -> Option<Ttl> {
        match self.0 {
            0 => Some(Ttl(0)),
            1 => None,
            n => Some(Ttl(n - 1)),
        }
    }
}

/// One data item as it travels between hosts.
///
/// The data is shared (`Arc`) between the cache, every neighbour's outbox and
/// every client's notification, so spreading an item copies it only into the
/// socket buffers. Everything but the ttl is signed by the origin (see
/// [`super::origin`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Item {
    /// Network-wide name: always [`ItemId::of`] the origin and sequence
    /// number (the wire does not carry it; the decoder derives it).
    pub id: ItemId,
    /// The origin's sequence number: one more for each item it announces.
    pub seq: u64,
    /// When the origin announced it (hybrid logical clock).
    pub hlc: Hlc,
    /// Hops left when it is sent (see [`Ttl::next_hop`]).
    pub ttl: Ttl,
    /// What kind of data this is.
    pub data_type: DataType,
    /// The payload, at most [`crate::wire::MAX_ITEM_DATA`] bytes.
    pub data: Arc<[u8]>,
    /// The public key of the host that announced it, and its signature
    /// over [`super::origin::signed_bytes`].
    pub proof: Arc<OriginProof>,
}

impl Item {
    /// The bytes the origin signed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        signed_bytes(
            &self.proof.origin,
            self.seq,
            self.hlc,
            self.data_type,
            &self.data,
        )
    }

    /// An item of `auth`'s host, signed by it.
    pub fn signed(
        auth: &dyn ItemAuth,
        seq: u64,
        hlc: Hlc,
        ttl: Ttl,
        data_type: DataType,
        data: Arc<[u8]>,
    ) -> Item {
        let origin = auth.origin();
        let signature = auth.sign(&signed_bytes(&origin, seq, hlc, data_type, &data));
        Item {
            id: ItemId::of(&origin, seq),
            seq,
            hlc,
            ttl,
            data_type,
            data,
            proof: Arc::new(OriginProof { origin, signature }),
        }
    }
}

impl Item {
    /// Item number `n` (id [`ItemId::from_u64`]`(n)`, timestamp `n`) of the
    /// origin whose key is all zeros, "signed" with a [`ChecksumAuth`]: for
    /// unit tests, fuzzing and the simulator, whose cores check items with a
    /// [`ChecksumAuth`] too. A real node refuses it.
    pub fn numbered(n: u64, ttl: Ttl, data_type: DataType, data: Arc<[u8]>) -> Item {
        let auth = ChecksumAuth::for_host(PeerId([0; 32]));
        Item::signed(&*auth, n, Hlc(n), ttl, data_type, data)
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .field("hlc", &self.hlc.0)
            .field("ttl", &self.ttl.0)
            .field("data_type", &self.data_type.0)
            .field("len", &self.data.len())
            .finish()
    }
}

/// A protocol message between two hosts, after the handshake.
///
/// Encoded by [`crate::wire`]; the handshake itself belongs to
/// [`crate::transport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Asks the neighbour for addresses of other peers.
    GetPeers,
    /// Addresses of other peers' P2P listeners (at most
    /// [`crate::wire::MAX_PEERS_PER_MESSAGE`]).
    Peers(Vec<SocketAddr>),
    /// One item to handle and, within its ttl, spread.
    Item(Item),
    /// Sent once by a host that joins the network through this neighbour:
    /// announce it to the network with forward-join walks (HyParView JOIN).
    Join,
    /// A random walk announcing a joining host (HyParView FORWARDJOIN).
    ForwardJoin {
        /// The joining host.
        joiner: PeerId,
        /// Its P2P listener.
        addr: SocketAddr,
        /// Hops the walk may still take.
        ttl: u8,
    },
    /// A random walk carrying a sample of its origin's views.
    Shuffle(Shuffle),
    /// The answer to a [`Message::Shuffle`], travelling back along its walk.
    ShuffleReply(ShuffleReply),
    /// The sender closes this link. `alive`: it stays in the network (keep
    /// its address as a backup); otherwise it is leaving for good.
    Disconnect {
        /// False when the sender is shutting down.
        alive: bool,
    },
    /// Nothing to say: keeps the link's keep-alive deadline from expiring.
    KeepAlive,
    /// Ids of items the sender has (lazy push, and the digest a new link
    /// starts with); at most [`crate::wire::MAX_IDS_PER_MESSAGE`].
    IHave(Vec<ItemId>),
    /// "Send me these items, and send me new items in full from now on."
    Graft(Vec<ItemId>),
    /// "Send me only ids from now on": the sender got an item twice.
    Prune,
}

/// A shuffle request on its random walk (see [`Message::Shuffle`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shuffle {
    /// Chosen by the origin; the reply carries it back.
    pub id: u64,
    /// Hops the walk may still take.
    pub ttl: u8,
    /// The hosts the walk passed, origin first; the last one sent it (at
    /// most [`crate::wire::MAX_WALK_PATH`]).
    pub path: Vec<PeerId>,
    /// Addresses from the origin's views, its own first (at most
    /// [`crate::wire::MAX_SHUFFLE_SAMPLE`]).
    pub sample: Vec<SocketAddr>,
}

/// A shuffle reply on its way back (see [`Message::ShuffleReply`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShuffleReply {
    /// The request's id.
    pub id: u64,
    /// The hosts still to pass, in walk order: the last one is the next
    /// hop; empty when the receiver is the origin.
    pub route: Vec<PeerId>,
    /// Addresses from the answering host's passive view.
    pub sample: Vec<SocketAddr>,
}

/// Ways a peer can break the rules, counted by peer accounting
/// ([`super::accounting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// A local client judged an item this peer sent invalid.
    InvalidItem,
    /// A frame that arrived intact (it passed the transport) but does not
    /// decode, or announced a length beyond the limit: the sender built it
    /// wrong on purpose or is broken, never an accident of the network.
    MalformedFrame,
    /// A well-formed message that the protocol does not allow here.
    ProtocolViolation(Violation),
    /// More messages or bytes than the rate limits allow: the excess was
    /// dropped unread.
    Flooding,
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misbehaviour::InvalidItem => f.write_str("sent an item a local client judged invalid"),
            Misbehaviour::MalformedFrame => f.write_str("sent a malformed frame"),
            Misbehaviour::ProtocolViolation(v) => write!(f, "broke the protocol: {v}"),
            Misbehaviour::Flooding => f.write_str("sent more than the rate limits allow"),
        }
    }
}

/// Well-formed messages the protocol does not allow.
///
/// Only what no honest host ever does belongs here. Much that looks odd is
/// honest: an item or a request from a connection that is not a neighbour
/// (it crossed our refusal on the wire), an unsolicited `Peers` (a referral
/// from a host that refused or dropped us), the same item twice (it left the
/// sender's seen-set), an oversized `Peers` (the codec refuses it before the
/// core sees it). The membership and dissemination work adds variants for
/// their messages (a `Graft` for an item never announced, a shuffle reply
/// without a shuffle, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A neighbour asked for addresses ([`Message::GetPeers`]) more often
    /// than this host's peer exchange ever does (see
    /// [`super::accounting::AccountingConfig::peer_requests_per_window`]).
    TooManyPeerRequests,
    /// A neighbour sent [`Message::Join`] twice on one link.
    RepeatedJoin,
    /// A shuffle walk whose path does not end with the neighbour that sent
    /// it, or that is longer than any walk this host starts.
    BadWalk,
    /// An item whose origin signature does not verify: honest hosts check
    /// every item before they forward it, so the sender forged or altered it.
    BadSignature,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TooManyPeerRequests => f.write_str("asked for peers too often"),
            Violation::RepeatedJoin => f.write_str("joined twice on one link"),
            Violation::BadWalk => f.write_str("sent a malformed random walk"),
            Violation::BadSignature => f.write_str("sent an item with a bad origin signature"),
        }
    }
}

/// Something that happened, fed to [`crate::proto::Core::handle`].
#[derive(Clone, Debug)]
pub enum Event {
    /// A connection to `peer` completed its handshake. May repeat for a peer
    /// that is already up (a second connection): the core then only notes
    /// that the dial ended.
    PeerUp {
        /// Who.
        peer: PeerId,
        /// Where its P2P listener is (as it advertised it).
        addr: SocketAddr,
        /// The address this host dialed, when this host dialed (answers an
        /// [`Action::Connect`]); None for an inbound connection.
        dialed: Option<SocketAddr>,
        /// The dialer had no other neighbour and asks to be taken even by a
        /// full host (HyParView's high-priority neighbour request).
        high_priority: bool,
    },
    /// The connection to `peer` is gone.
    PeerDown {
        /// Who.
        peer: PeerId,
    },
    /// A dial asked for by [`Action::Connect`] failed before the handshake.
    DialFailed {
        /// The address that was dialed.
        addr: SocketAddr,
    },
    /// The driver saw `peer` misbehave on a connection (e.g. a malformed
    /// frame). Reported before the [`Event::PeerDown`] of that connection.
    Misbehaved {
        /// Who.
        peer: PeerId,
        /// What it did.
        what: Misbehaviour,
    },
    /// A neighbour sent a message.
    Received {
        /// The neighbour.
        from: PeerId,
        /// What it sent.
        msg: Message,
    },
    /// A local client announced an item.
    Announce {
        /// Hops the item may travel (0: no limit).
        ttl: Ttl,
        /// Its data type.
        data_type: DataType,
        /// Its data.
        data: Arc<[u8]>,
    },
    /// Answer to [`Action::Deliver`]: these clients were handed the item and
    /// owe a verdict. Empty when no client subscribes to its type.
    Notified {
        /// The item delivered.
        item: ItemId,
        /// The clients that received it.
        clients: Vec<ClientId>,
    },
    /// A local client judged an item.
    Validation {
        /// Who judged.
        client: ClientId,
        /// The message id it was notified with.
        msg_id: MsgId,
        /// Its verdict.
        valid: bool,
    },
    /// Some peer outbox became congested (or no longer is). While it is, a
    /// silent client is not blamed for the full validation window: its
    /// verdicts may be stuck behind its own announcements.
    Congestion {
        /// True while an outbox is congested.
        congested: bool,
    },
    /// The outbox towards `peer` reached its high-water mark (or drained
    /// again). While it is backed up the peer is sent ids instead of items
    /// (it pulls what it misses once it catches up): a slow peer is moved to
    /// lazy before it is dropped.
    PeerBackedUp {
        /// Who.
        peer: PeerId,
        /// True when the outbox is backed up, false when it has drained.
        backed_up: bool,
    },
    /// A local client went away: it owes no more verdicts.
    ClientGone {
        /// Who.
        client: ClientId,
    },
}

/// Something the core wants done, taken with [`crate::proto::Core::poll_action`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` to the neighbour `to`.
    Send {
        /// The neighbour.
        to: PeerId,
        /// What to send.
        msg: Message,
    },
    /// Dial a peer's P2P listener. The driver answers every `Connect` with
    /// exactly one [`Event::PeerUp`] (with `dialed` set) or
    /// [`Event::DialFailed`].
    Connect {
        /// Where to dial.
        addr: SocketAddr,
        /// Ask the remote to take this host even when it is full (this host
        /// has no neighbour at all).
        high_priority: bool,
    },
    /// Close the connection to a neighbour (after sending what is queued).
    Disconnect(PeerId),
    /// Hand a new item to the local clients subscribed to its data type;
    /// answered at once by [`Event::Notified`].
    Deliver {
        /// The item.
        item: ItemId,
        /// Who announced it.
        origin: OriginKey,
        /// The origin's sequence number of it.
        seq: u64,
        /// When the origin announced it.
        hlc: Hlc,
        /// The message id the clients see.
        msg_id: MsgId,
        /// Its data type.
        data_type: DataType,
        /// Its data.
        data: Arc<[u8]>,
    },
    /// Disconnect a local client that holds the full validation window shut
    /// (it owes verdicts and stopped giving them); the core already treats it
    /// as gone.
    DropClient {
        /// Who.
        client: ClientId,
    },
    /// `peer` broke the rules past a threshold: close every connection to
    /// it at once (dropping what is queued), log the reason, refuse it until
    /// `until`. The core already dropped it from its neighbours and ignores
    /// what still arrives from it; no [`Event::PeerDown`] is needed.
    Ban {
        /// Who.
        peer: PeerId,
        /// Its P2P listen address, banned as well, when this host proved it
        /// (it dialed that address and reached `peer`); None when the peer
        /// only claimed it (it dialed in).
        addr: Option<SocketAddr>,
        /// Why, for the log.
        reason: BanReason,
        /// When the ban ends.
        until: Instant,
    },
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        write!(s, "{b:02x}").unwrap();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_one_stops_after_first_hop() {
        assert_eq!(Ttl(1).next_hop(), None);
        assert_eq!(Ttl(2).next_hop(), Some(Ttl(1)));
        assert_eq!(Ttl(0).next_hop(), Some(Ttl(0)));
        assert_eq!(Ttl(255).next_hop(), Some(Ttl(254)));
    }

    #[test]
    fn small_peer_ids_read_well() {
        assert_eq!(PeerId::from_u64(7).to_hex().len(), 64);
        assert!(PeerId::from_u64(1) < PeerId::from_u64(2));
    }
}
