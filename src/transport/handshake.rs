//! The Noise XX handshake, carrying each side's [`Hello`] as its proof of
//! identity.
//!
//! ```text
//!   dialer (initiator)                         acceptor (responder)
//!   | -- e ------------------------------------> |   message 1 (psk first on a private network)
//!   | <------------ e, ee, s, es, Hello(acceptor) |   message 2
//!   |   check the acceptor's Hello               |
//!   | -- s, se, Hello(dialer) -----------------> |   message 3
//!   |                                            |   check the dialer's Hello
//! ```
//!
//! Each handshake message travels as a `u16` big-endian length and the
//! message. A Hello is accepted when its signature over the sender's Noise
//! static key (the one this handshake authenticated) verifies with its
//! identity key, its proof of work reaches this host's `pow_difficulty`, and
//! it is not this host's own identity.
//!
//! With a network key the pattern is `XXpsk0`: the key is mixed in before the
//! first message, so a host without it fails at once and learns nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use snow::{Builder, HandshakeState, StatelessTransportState};

use super::TransportError;
use crate::identity::{self, Identity, pow};
use crate::wire::{self, Hello, PROTOCOL_VERSION};

/// The Noise protocol of an open network.
pub const NOISE_PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// The Noise protocol of a private network (the network key as PSK).
pub const NOISE_PATTERN_PSK: &str = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s";

/// Binds the handshake to this protocol and version.
const PROLOGUE: &[u8] = b"gossipd/4";

/// What an identity signs: this prefix and its Noise static public key.
const STATIC_KEY_CONTEXT: &[u8] = b"gossipd-noise-static-v1";

/// Largest handshake message (the Noise limit).
const MAX_HANDSHAKE_MSG: usize = 65_535;

/// This host's side of every handshake: its identity, a Noise static key
/// made for this run and signed by the identity, and the rules it holds
/// peers to.
pub struct Local {
    identity: Arc<Identity>,
    static_private: Vec<u8>,
    /// The identity's signature over the Noise static public key.
    static_signature: [u8; 64],
    listen_addr: SocketAddr,
    network_key: Option<[u8; 32]>,
    pow_difficulty: u32,
}

impl Local {
    /// Makes a fresh Noise static key for `identity` and signs it.
    /// `pow_difficulty` is what peers' identities must show.
    pub fn new(
        identity: Arc<Identity>,
        listen_addr: SocketAddr,
        network_key: Option<[u8; 32]>,
        pow_difficulty: u32,
    ) -> Result<Local, TransportError> {
        let keypair = builder(network_key.is_some())
            .generate_keypair()
            .map_err(|e| TransportError::Handshake(format!("cannot make a Noise key: {e}")))?;
        let static_signature = identity.sign(&static_key_message(&keypair.public));
        Ok(Local {
            identity,
            static_private: keypair.private,
            static_signature,
            listen_addr,
            network_key,
            pow_difficulty,
        })
    }

    /// This host's Hello.
    fn hello(&self, high_priority: bool) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            peer_id: self.identity.peer_id(),
            listen_addr: self.listen_addr,
            high_priority,
            public_key: self.identity.public_key(),
            pow_nonce: self.identity.pow_nonce(),
            signature: self.static_signature,
        }
    }

    fn start(&self, initiator: bool) -> Result<HandshakeState, snow::Error> {
        let mut b = builder(self.network_key.is_some())
            .local_private_key(&self.static_private)?
            .prologue(PROLOGUE)?;
        if let Some(key) = &self.network_key {
            b = b.psk(0, key)?;
        }
        if initiator {
            b.build_initiator()
        } else {
            b.build_responder()
        }
    }
}

fn builder(private_network: bool) -> Builder<'static> {
    let pattern = if private_network {
        NOISE_PATTERN_PSK
    } else {
        NOISE_PATTERN
    };
    // Both names are valid Noise protocol names that snow supports.
    Builder::new(pattern.parse().expect("valid Noise pattern"))
}

fn static_key_message(static_public: &[u8]) -> Vec<u8> {
    [STATIC_KEY_CONTEXT, static_public].concat()
}

/// Runs the handshake over `stream` (timeouts already set); returns the
/// peer's checked Hello and the keys for the encrypted stream.
pub(super) fn run(
    stream: &mut TcpStream,
    local: &Local,
    initiator: bool,
    high_priority: bool,
) -> Result<(Hello, StatelessTransportState), TransportError> {
    let noise = |e: snow::Error| TransportError::Handshake(describe(e, local));
    let mut hs = local.start(initiator).map_err(noise)?;
    let mut hello = Vec::new();
    wire::encode_hello(&local.hello(high_priority), &mut hello);
    let remote = if initiator {
        send(stream, &mut hs, &[], local)?;
        let payload = receive(stream, &mut hs, local)?;
        let remote = check(&payload, &hs, local)?;
        send(stream, &mut hs, &hello, local)?;
        remote
    } else {
        receive(stream, &mut hs, local)?;
        send(stream, &mut hs, &hello, local)?;
        let payload = receive(stream, &mut hs, local)?;
        check(&payload, &hs, local)?
    };
    let cipher = hs.into_stateless_transport_mode().map_err(noise)?;
    Ok((remote, cipher))
}

fn send(
    stream: &mut TcpStream,
    hs: &mut HandshakeState,
    payload: &[u8],
    local: &Local,
) -> Result<(), TransportError> {
    let mut msg = vec![0u8; MAX_HANDSHAKE_MSG];
    let len = hs
        .write_message(payload, &mut msg)
        .map_err(|e| TransportError::Handshake(describe(e, local)))?;
    let mut framed = Vec::with_capacity(2 + len);
    // `len` ≤ MAX_HANDSHAKE_MSG, which fits a u16.
    framed.extend_from_slice(&(len as u16).to_be_bytes());
    framed.extend_from_slice(&msg[..len]);
    stream.write_all(&framed)?;
    Ok(())
}

fn receive(
    stream: &mut TcpStream,
    hs: &mut HandshakeState,
    local: &Local,
) -> Result<Vec<u8>, TransportError> {
    let mut prefix = [0u8; 2];
    read_all(stream, &mut prefix)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    read_all(stream, &mut msg)?;
    let mut payload = vec![0u8; msg.len()];
    let len = hs
        .read_message(&msg, &mut payload)
        .map_err(|e| TransportError::Handshake(describe(e, local)))?;
    payload.truncate(len);
    Ok(payload)
}

fn read_all(stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), TransportError> {
    stream.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => TransportError::Closed,
        _ => TransportError::Io(e),
    })
}

/// Checks the peer's Hello against the static key this handshake proved.
fn check(payload: &[u8], hs: &HandshakeState, local: &Local) -> Result<Hello, TransportError> {
    let bad = |why: String| TransportError::BadProof(why);
    let hello = wire::decode_hello(payload).map_err(|e| bad(e.to_string()))?;
    let remote_static = hs
        .get_remote_static()
        .ok_or_else(|| bad("no static key in the handshake".into()))?;
    let message = static_key_message(remote_static);
    if !identity::verify(&hello.public_key, &message, &hello.signature) {
        return Err(bad(
            "its signature over the handshake key does not verify".into()
        ));
    }
    let bits = pow::bits(&hello.public_key, hello.pow_nonce);
    if bits < local.pow_difficulty {
        return Err(bad(format!(
            "proof of work of {bits} bits, {} required",
            local.pow_difficulty
        )));
    }
    if hello.peer_id == local.identity.peer_id() {
        return Err(TransportError::SelfConnection);
    }
    Ok(hello)
}

/// A snow error in words, with the likely cause of a failed decryption.
fn describe(e: snow::Error, local: &Local) -> String {
    match e {
        snow::Error::Decrypt if local.network_key.is_some() => {
            "decryption failed (the peer does not have this network key?)".into()
        }
        snow::Error::Decrypt => {
            "decryption failed (the peer may be on a private network with a key)".into()
        }
        other => other.to_string(),
    }
}
