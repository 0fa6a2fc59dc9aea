//! [`HostAuth`]: items signed with the host's Ed25519 key and checked
//! against their origin's.

use std::collections::HashMap;
use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use parking_lot::Mutex;

use super::Identity;
use crate::proto::{ItemAuth, ItemSignature, OriginKey};

/// Origin keys kept decompressed; beyond, the table starts over (a guess:
/// far more origins than one network of small hosts has at once).
const KEY_CACHE: usize = 1024;

/// Signs this host's items with its identity and verifies others' with
/// strict Ed25519 verification (no small-order keys or `R`, canonical `s`).
#[derive(Debug)]
pub struct HostAuth {
    identity: Arc<Identity>,
    /// Decompressed origin keys (a curve point decompression per item would
    /// cost a fifth of a verification); only the node thread uses it.
    keys: Mutex<HashMap<[u8; 32], Option<VerifyingKey>>>,
}

impl HostAuth {
    /// Signs as `identity`.
    pub fn for_identity(identity: Arc<Identity>) -> Arc<dyn ItemAuth> {
        Arc::new(HostAuth {
            identity,
            keys: Mutex::new(HashMap::new()),
        })
    }

    fn key(&self, origin: &OriginKey) -> Option<VerifyingKey> {
        let mut keys = self.keys.lock();
        if let Some(k) = keys.get(&origin.0) {
            return *k;
        }
        if keys.len() >= KEY_CACHE {
            keys.clear();
        }
        let key = VerifyingKey::from_bytes(&origin.0).ok();
        keys.insert(origin.0, key);
        key
    }
}

impl ItemAuth for HostAuth {
    fn origin(&self) -> OriginKey {
        OriginKey(self.identity.public_key())
    }

    fn sign(&self, msg: &[u8]) -> ItemSignature {
        ItemSignature(self.identity.sign(msg))
    }

    fn verify(&self, origin: &OriginKey, msg: &[u8], signature: &ItemSignature) -> bool {
        self.key(origin).is_some_and(|key| {
            key.verify_strict(msg, &Signature::from_bytes(&signature.0))
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{DataType, Hlc, Item, Ttl};

    #[test]
    fn items_verify_under_their_origin_only_and_not_when_altered() {
        let a = HostAuth::for_identity(Arc::new(Identity::generate(0)));
        let b = HostAuth::for_identity(Arc::new(Identity::generate(0)));
        let item = Item::signed(&*a, 9, Hlc(77), Ttl(2), DataType(1), Arc::from(&b"hi"[..]));
        let (origin, signature) = (item.proof.origin, item.proof.signature);
        assert_eq!(origin, a.origin());
        assert_eq!(origin.peer_id(), crate::identity::peer_id_of(&a.origin().0));
        assert!(b.verify(&origin, &item.signed_bytes(), &signature));
        let mut altered = item.clone();
        altered.data = Arc::from(&b"ho"[..]);
        assert!(!b.verify(&origin, &altered.signed_bytes(), &signature));
        let mut later = item.clone();
        later.hlc = Hlc(78);
        assert!(!b.verify(&origin, &later.signed_bytes(), &signature));
        // Claimed by someone else.
        assert!(!a.verify(&b.origin(), &item.signed_bytes(), &signature));
        // Not a curve point.
        let bogus = OriginKey([0xff; 32]);
        assert!(!a.verify(&bogus, &item.signed_bytes(), &signature));
    }
}
