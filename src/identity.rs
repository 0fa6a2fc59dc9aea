//! A host's long-term identity: an Ed25519 signing key and a proof of work
//! bound to its public key (SPEC §6).
//!
//! The peer id is BLAKE2s-256 of the 32-byte Ed25519 public key
//! ([`peer_id_of`]). Making an identity costs work so that one attacker cannot
//! cheaply become many peers: a nonce such that
//! BLAKE2s-256(`"gossipd-pow-v1"` ‖ public key ‖ nonce as u64 big-endian)
//! starts with at least `pow_difficulty` zero bits ([`pow`]). Finding one takes
//! about 2^difficulty hashes; checking one takes a single hash.
//!
//! # Key file format
//!
//! A PEM file (RFC 7468) with two blocks, in any order (this is the tests'
//! key, public knowledge: never use it):
//!
//! ```text
//! -----BEGIN PRIVATE KEY-----
//! MC4CAQAwBQYDK2VwBCIEIPnWIpoioEMGW+eAOnqkdz97eMbFY7aucmfK26NlhqGG
//! -----END PRIVATE KEY-----
//! -----BEGIN GOSSIPD PROOF OF WORK-----
//! AAAAAAAAGFc=
//! -----END GOSSIPD PROOF OF WORK-----
//! ```
//!
//! - `PRIVATE KEY`: the Ed25519 key as unencrypted PKCS#8 (RFC 8410; version 1,
//!   or version 2 with the public key), exactly what
//!   `openssl genpkey -algorithm ed25519` writes. gossipd writes version 1.
//! - `GOSSIPD PROOF OF WORK`: the base64 of the 8-byte big-endian nonce. The
//!   example's nonce, 6231, gives its key 13 bits.
//!
//! Text outside the blocks and blocks with other labels are ignored. The file
//! is at most [`MAX_KEY_FILE`] bytes. `gossipd --generate-key FILE` writes a
//! complete file (mode 0600); an operator who made the key with OpenSSL adds
//! the proof with `gossipd --add-proof-of-work FILE` ([`add_proof_of_work`]).
//! RSA, EC and other non-Ed25519 keys are refused with a message that says how
//! to make a usable key.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use blake2::{Blake2s256, Digest};
use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes, ObjectIdentifier, PrivateKeyInfo};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use log::warn;
use rand::RngExt;

use crate::proto::PeerId;

mod host_auth;
pub mod pow;

pub use host_auth::HostAuth;

/// Largest key file [`Identity::load`] reads: a real one is about 200 bytes,
/// so anything near this is not a key file.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// PEM label of the block holding the private key (PKCS#8).
pub const KEY_LABEL: &str = "PRIVATE KEY";

/// PEM label of the block holding the proof-of-work nonce.
pub const POW_LABEL: &str = "GOSSIPD PROOF OF WORK";

/// What a usable key is and how to make one; ends every "unsupported" message.
const MAKE_ONE: &str =
    "gossipd identities are Ed25519; create one with `gossipd --generate-key FILE`";

/// DER of the rsaEncryption OID (1.2.840.113549.1.1.1) without its last byte;
/// followed by 0x01 it is rsaEncryption, by 0x0a RSASSA-PSS.
const RSA_OID_DER: [u8; 10] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];

/// Peer ids are BLAKE2s-256 of the Ed25519 public key.
pub fn peer_id_of(public_key: &[u8; 32]) -> PeerId {
    PeerId(Blake2s256::digest(public_key).into())
}

/// Checks an Ed25519 signature with strict verification (no small-order
/// keys or `R`, canonical `s`). A public key that is not a curve point fails.
pub fn verify(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(msg, &Signature::from_bytes(signature))
        .is_ok()
}

/// Why a key file cannot be read, used or written. Displays as one line that
/// names the file (when there is one) and, where it helps, what to do.
#[derive(Debug)]
pub enum KeyError {
    /// The file cannot be opened or read.
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// The file is larger than [`MAX_KEY_FILE`].
    TooLarge {
        /// The key file.
        path: PathBuf,
    },
    /// The file is not PEM text (no block, or a block without its end line).
    NotPem {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A private key of an algorithm other than Ed25519 (RSA, EC, ...), or in
    /// a form gossipd does not read (encrypted, OpenSSH).
    Unsupported {
        /// The key file.
        path: PathBuf,
        /// What kind of key, e.g. `RSA`.
        kind: String,
    },
    /// PEM, but the key or proof inside is not usable.
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An Ed25519 key without a `GOSSIPD PROOF OF WORK` block.
    MissingProof {
        /// The key file.
        path: PathBuf,
    },
    /// The identity's proof of work is below the required difficulty
    /// ([`Identity::check_difficulty`]).
    WeakProof {
        /// Bits the proof has.
        bits: u32,
        /// Bits required.
        required: u32,
    },
    /// [`Identity::save_new`] found the file already there; nothing was written.
    Exists {
        /// The key file.
        path: PathBuf,
    },
    /// Writing the file failed; the previous file, if any, is unchanged.
    Unwritable {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Unreadable { path, error } => {
                write!(f, "cannot read key file {}: {error}", path.display())
            }
            KeyError::TooLarge { path } => write!(
                f,
                "key file {} is larger than {MAX_KEY_FILE} bytes: not a gossipd key file",
                path.display()
            ),
            KeyError::NotPem { path, reason } => write!(
                f,
                "key file {} is not a PEM file ({reason}); {MAKE_ONE}",
                path.display()
            ),
            KeyError::Unsupported { path, kind } => write!(
                f,
                "key file {}: {kind} host keys are not supported: {MAKE_ONE}",
                path.display()
            ),
            KeyError::Malformed { path, reason } => {
                write!(f, "key file {} is malformed: {reason}", path.display())
            }
            KeyError::MissingProof { path } => write!(
                f,
                "key file {} has an Ed25519 key but no proof of work: add one with \
                 `gossipd --add-proof-of-work {}` (`gossipd --generate-key FILE` makes \
                 a complete key file)",
                path.display(),
                path.display()
            ),
            KeyError::WeakProof { bits, required } => write!(
                f,
                "the host key's proof of work has {bits} bits but {required} are required: \
                 redo it with `gossipd --add-proof-of-work FILE --pow-difficulty {required}` \
                 (same identity) or make a new key with \
                 `gossipd --generate-key FILE --pow-difficulty {required}`"
            ),
            KeyError::Exists { path } => write!(
                f,
                "{} already exists; gossipd never overwrites a key file (remove it or \
                 choose another FILE)",
                path.display()
            ),
            KeyError::Unwritable { path, error } => {
                write!(f, "cannot write key file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Unreadable { error, .. } | KeyError::Unwritable { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A host's identity: its Ed25519 signing key and the proof-of-work nonce
/// bound to the public key. `Debug` shows the peer id, never the secret.
#[derive(Clone)]
pub struct Identity {
    signing_key: SigningKey,
    public_key: [u8; 32],
    peer_id: PeerId,
    pow_nonce: u64,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("peer_id", &self.peer_id)
            .field("pow_nonce", &self.pow_nonce)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh random key (from the OS-seeded CSPRNG) and its proof of work at
    /// `difficulty`, searched on every core.
    pub fn generate(difficulty: u32) -> Identity {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(rand::rng().random());
        let signing_key = SigningKey::from_bytes(&seed);
        let public_key = signing_key.verifying_key().to_bytes();
        let nonce = pow::solve(&public_key, difficulty, cores());
        Identity::with_nonce(signing_key, nonce)
    }

    /// Reads a key file written by [`Identity::save`] or
    /// `gossipd --generate-key` (see the [module docs](self) for the format).
    /// Does not check the difficulty: see [`Identity::check_difficulty`].
    pub fn load(path: &Path) -> Result<Identity, KeyError> {
        let bytes = read_bounded(path)?;
        warn_if_shared(path);
        let blocks = pem_blocks(path, &bytes)?;
        let signing_key = private_key(path, &blocks)?;
        let nonce = proof(path, &blocks)?.ok_or_else(|| KeyError::MissingProof {
            path: path.to_path_buf(),
        })?;
        Ok(Identity::with_nonce(signing_key, nonce))
    }

    /// Writes the key file, replacing any file at `path`: mode 0600 on Unix,
    /// written to a temporary file in the same directory and renamed over
    /// `path`, so readers see the old file or the new one, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_key_file(path, &self.to_pem(path)?, Place::Replace)
    }

    /// Like [`Identity::save`], but fails with [`KeyError::Exists`] when
    /// `path` already exists, atomically: never replaces a file.
    pub fn save_new(&self, path: &Path) -> Result<(), KeyError> {
        write_key_file(path, &self.to_pem(path)?, Place::New)
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The peer id: [`peer_id_of`] the public key.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The proof-of-work nonce.
    pub fn pow_nonce(&self) -> u64 {
        self.pow_nonce
    }

    /// Bits of work this identity's nonce achieves ([`pow::bits`]).
    pub fn pow_bits(&self) -> u32 {
        pow::bits(&self.public_key, self.pow_nonce)
    }

    /// Checks that the proof of work has at least `required` bits.
    pub fn check_difficulty(&self, required: u32) -> Result<(), KeyError> {
        match self.pow_bits() {
            bits if bits >= required => Ok(()),
            bits => Err(KeyError::WeakProof { bits, required }),
        }
    }

    /// Signs `msg` (Ed25519, deterministic).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing_key.sign(msg).to_bytes()
    }

    fn with_nonce(signing_key: SigningKey, pow_nonce: u64) -> Identity {
        let public_key = signing_key.verifying_key().to_bytes();
        Identity {
            signing_key,
            public_key,
            peer_id: peer_id_of(&public_key),
            pow_nonce,
        }
    }

    /// The key file's text: PKCS#8 v1, as OpenSSL writes, then the proof.
    fn to_pem(&self, path: &Path) -> Result<Zeroizing<String>, KeyError> {
        let encoding = |error: String| KeyError::Unwritable {
            path: path.to_path_buf(),
            error: io::Error::other(error),
        };
        let keypair = KeypairBytes {
            secret_key: self.signing_key.to_bytes(),
            public_key: None,
        };
        let key = keypair
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| encoding(e.to_string()))?;
        let proof = pem::encode_string(POW_LABEL, LineEnding::LF, &self.pow_nonce.to_be_bytes())
            .map_err(|e| encoding(e.to_string()))?;
        // Sized up front so no copy of the key is left in a freed buffer.
        let mut text = Zeroizing::new(String::with_capacity(key.len() + proof.len()));
        text.push_str(&key);
        text.push_str(&proof);
        Ok(text)
    }
}

/// Makes the key file at `path` complete: reads its Ed25519 key, finds a
/// proof of work of at least `difficulty` bits (keeping the file's own proof
/// when it is good enough) and rewrites the file as [`Identity::save`] does.
/// For keys made with `openssl genpkey -algorithm ed25519`; the identity (and
/// so the peer id) stays the same.
pub fn add_proof_of_work(path: &Path, difficulty: u32) -> Result<Identity, KeyError> {
    let bytes = read_bounded(path)?;
    let blocks = pem_blocks(path, &bytes)?;
    let signing_key = private_key(path, &blocks)?;
    let public_key = signing_key.verifying_key().to_bytes();
    // A malformed old proof is about to be replaced, so it is no error here.
    let nonce = match proof(path, &blocks) {
        Ok(Some(nonce)) if pow::bits(&public_key, nonce) >= difficulty => nonce,
        _ => pow::solve(&public_key, difficulty, cores()),
    };
    let identity = Identity::with_nonce(signing_key, nonce);
    identity.save(path)?;
    Ok(identity)
}

/// Threads for a proof-of-work search: one per core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The file's bytes, refused past [`MAX_KEY_FILE`] before more is read.
fn read_bounded(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let unreadable = |error| KeyError::Unreadable {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(unreadable)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(KeyError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Warns when other users may read the key (Unix permission bits).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warn!(
                    "key file {} is accessible by other users (mode {mode:o}); `chmod 600` it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// One `-----BEGIN label-----` ... `-----END label-----` block of a PEM file.
struct Block<'a> {
    label: &'a str,
    /// The block from its BEGIN line through its END line.
    text: &'a str,
}

/// Splits PEM text into its blocks; text between blocks is ignored
/// (RFC 7468 §5.2 allows explanatory text).
fn pem_blocks<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<Block<'a>>, KeyError> {
    let not_pem = |reason: String| KeyError::NotPem {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| not_pem("not text".into()))?;
    let (mut blocks, mut open, mut offset) = (Vec::new(), None, 0);
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end();
        match open {
            None => {
                if let Some(label) = boundary(trimmed, "BEGIN") {
                    open = Some((label, start));
                }
            }
            Some((label, begin)) => match boundary(trimmed, "END") {
                Some(end) if end == label => {
                    blocks.push(Block {
                        label,
                        text: &text[begin..offset],
                    });
                    open = None;
                }
                Some(end) => return Err(not_pem(format!("BEGIN {label} ended by END {end}"))),
                None if boundary(trimmed, "BEGIN").is_some() => {
                    return Err(not_pem(format!("BEGIN {label} has no END line")));
                }
                None => {}
            },
        }
    }
    match (open, blocks.is_empty()) {
        (Some((label, _)), _) => Err(not_pem(format!("BEGIN {label} has no END line"))),
        (None, true) => Err(not_pem("no -----BEGIN line".into())),
        (None, false) => Ok(blocks),
    }
}

/// The label of a `-----BEGIN label-----` (or END) line.
fn boundary<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

/// The file's one private key, which must be Ed25519 PKCS#8.
fn private_key(path: &Path, blocks: &[Block]) -> Result<SigningKey, KeyError> {
    let malformed = |reason: String| KeyError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut keys = blocks.iter().filter(|b| b.label.ends_with(KEY_LABEL));
    let Some(block) = keys.next() else {
        return Err(malformed(format!("no -----BEGIN {KEY_LABEL}----- block")));
    };
    if keys.next().is_some() {
        return Err(malformed("more than one private key".into()));
    }
    if block.label != KEY_LABEL {
        return Err(unsupported(path, label_kind(block.label)));
    }
    let (_, der) = pem::decode_vec(block.text.as_bytes())
        .map_err(|e| malformed(format!("{KEY_LABEL} block: {e}")))?;
    let der = Zeroizing::new(der);
    match PrivateKeyInfo::try_from(der.as_slice()) {
        Ok(info) if info.algorithm.oid == ed25519_dalek::pkcs8::ALGORITHM_OID => {
            SigningKey::try_from(info).map_err(|e| malformed(format!("Ed25519 key: {e}")))
        }
        Ok(info) => Err(unsupported(path, oid_kind(info.algorithm.oid))),
        // Damaged or truncated, but recognisably RSA: say so rather than
        // "malformed", since the advice differs.
        Err(_) if der.windows(RSA_OID_DER.len()).any(|w| w == RSA_OID_DER) => {
            Err(unsupported(path, "RSA".into()))
        }
        Err(e) => Err(malformed(format!("not a PKCS#8 private key: {e}"))),
    }
}

fn unsupported(path: &Path, kind: String) -> KeyError {
    KeyError::Unsupported {
        path: path.to_path_buf(),
        kind,
    }
}

/// The kind of key a `... PRIVATE KEY` label other than PKCS#8's announces.
fn label_kind(label: &str) -> String {
    match label {
        "RSA PRIVATE KEY" => "RSA".into(),
        "EC PRIVATE KEY" => "EC".into(),
        "DSA PRIVATE KEY" => "DSA".into(),
        "ENCRYPTED PRIVATE KEY" => "password-protected (ENCRYPTED PRIVATE KEY)".into(),
        "OPENSSH PRIVATE KEY" => "OpenSSH-format".into(),
        other => format!("\"{other}\""),
    }
}

/// The kind of key a PKCS#8 algorithm OID names.
fn oid_kind(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "RSA".into(),
        "1.2.840.10045.2.1" => "EC".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.3.101.110" => "X25519".into(),
        "1.3.101.111" => "X448".into(),
        "1.3.101.113" => "Ed448".into(),
        other => format!("non-Ed25519 (algorithm {other})"),
    }
}

/// The nonce of the file's proof-of-work block, if it has one.
fn proof(path: &Path, blocks: &[Block]) -> Result<Option<u64>, KeyError> {
    let malformed = |reason: String| KeyError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut proofs = blocks.iter().filter(|b| b.label == POW_LABEL);
    let Some(block) = proofs.next() else {
        return Ok(None);
    };
    if proofs.next().is_some() {
        return Err(malformed(format!("more than one {POW_LABEL} block")));
    }
    let (_, bytes) = pem::decode_vec(block.text.as_bytes())
        .map_err(|e| malformed(format!("{POW_LABEL} block: {e}")))?;
    let nonce: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
        malformed(format!(
            "{POW_LABEL} block holds {} bytes, expected 8",
            bytes.len()
        ))
    })?;
    Ok(Some(u64::from_be_bytes(nonce)))
}

/// Where [`write_key_file`] puts the finished file.
#[derive(Clone, Copy)]
enum Place {
    /// Rename over whatever is at the path.
    Replace,
    /// Link into place; fail if the path exists.
    New,
}

/// Distinguishes temporary files of concurrent saves in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `text` to a fresh mode-0600 temporary file beside `path`, syncs it,
/// then moves it into place; the temporary file is removed on any failure.
fn write_key_file(path: &Path, text: &str, place: Place) -> Result<(), KeyError> {
    let unwritable = |error| KeyError::Unwritable {
        path: path.to_path_buf(),
        error,
    };
    let name = path.file_name().ok_or_else(|| {
        unwritable(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.{n}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = write_new(&temp, text.as_bytes()).and_then(|()| match place {
        Place::Replace => fs::rename(&temp, path),
        Place::New => fs::hard_link(&temp, path).and_then(|()| fs::remove_file(&temp)),
    });
    result.map_err(|error| {
        let _ = fs::remove_file(&temp);
        match (place, error.kind()) {
            (Place::New, io::ErrorKind::AlreadyExists) => KeyError::Exists {
                path: path.to_path_buf(),
            },
            _ => unwritable(error),
        }
    })
}

/// Creates `path` (which must not exist) readable by its owner only, writes
/// `bytes` and syncs them to disk.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl genpkey -algorithm ed25519` (OpenSSL 3.0.19); its public key,
    /// by `openssl pkey -noout -text`, is [`OPENSSL_PUBLIC`].
    const OPENSSL_ED25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIPnWIpoioEMGW+eAOnqkdz97eMbFY7aucmfK26NlhqGG
-----END PRIVATE KEY-----
";
    const OPENSSL_PUBLIC: &str = "c4f5c5abccedf2dfa369a66562830ba7ad77d6dde222f92ff5b57557e3128ff7";
    /// Nonce 6231 (13 bits for the key above), as in the module docs.
    const PROOF_6231: &str = "-----BEGIN GOSSIPD PROOF OF WORK-----
AAAAAAAAGFc=
-----END GOSSIPD PROOF OF WORK-----
";
    /// `openssl genrsa -traditional 512`: PKCS#1.
    const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIBOwIBAAJBAOcg9zlRJtBjhS+GRMyzIBVD3sBRvgJzdvrWmlRJkqqUaVy2Edz1
vXtdMmXjt0RC+VerMaSSuxRjIV6FFOT1l9UCAwEAAQJBAI+n/8GSXQudL8TwMYcB
tulAvAzRQcaIOeWCyX2mFREL6zRL8MqVXGH0jyXgrkqbkFd70+rrifgaDfMmOoIj
XekCIQD8QqX2Dy1uzJYugkeOpecGQQEDV2KkqtTvW8ImwIx71wIhAOqOHwJPVXSC
GZn6HDbTkO+c4RZqQGjYKmT1maeWkPQzAiBKMSP0kZQwMTW+agy3tK2U1kuA+xOF
EMVdvKQGl7z5swIhAJoDkjb5Etq65salZUtW5m9/6ojGYd62Ojgq0KcrhajjAiAW
hXnUwq0QUMGDbrDwS8AgYuluiAxn8LTvnDwlyu8WCw==
-----END RSA PRIVATE KEY-----
";
    /// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512`: PKCS#8
    /// with the rsaEncryption OID.
    const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAxD828VA3cGHfvvk8
Yq5HwIPENviUTXbLLw/Ng4JhCLJrKETMgFQ9A/ugsc4sZX2bREd8oquutruEJ9kX
RzZixwIDAQABAkAc9ZMfAw5bSCYjYVYW3c76yrb+wano0HnlRPi3ylqVVLSXCbJN
xaTWyK8gmsZ79pBCCWrZKjTZx+zfYadT3QAJAiEA7UaS7m+LpuJj+F1ELGLMYGYA
vgohrSbdqs9iqj6ToRMCIQDTu8fonXOE8Laat2/YLcJZy/5Zg7tEnPL7YQZ2NJhh
/QIhAIkVF/hnO3CcJROtlqBqKBeddtpUciZeaPyxOhiPdK0/AiEAlXKrreLE0Qbe
vOHRTfMuhRdZlnFG0y08zHY1i2WgUTkCIF5jyCkcZ45mpGCwufd2c3Iuqlp7FcYH
NZFYYiAToX++
-----END PRIVATE KEY-----
";
    /// The first line of [`RSA_PKCS8`] only: not valid DER, still RSA.
    const RSA_PKCS8_TRUNCATED: &str = "-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAxD828VA3cGHfvvk8
-----END PRIVATE KEY-----
";
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZXYZ0A49qDF+XHeA
WClZbAZu/GwSDtRNiKvwZOUVsIGhRANCAAS3OmBGXeaw3vAUwuA4oXDtpBNN2XC7
yIhPOhvhZ9moDDdSFzsYIzKAwWAwZePLUzE5WX+EIbMUr40khiRqC8pz
-----END PRIVATE KEY-----
";
    const RSA_ADVICE: &str = "RSA host keys are not supported: gossipd identities are \
        Ed25519; create one with `gossipd --generate-key FILE`";

    /// A unique path in the temp dir, removed when dropped.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(name: &str) -> TempPath {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let file = format!("gossipd-identity-{}-{n}-{name}", std::process::id());
            TempPath(std::env::temp_dir().join(file))
        }

        fn with(name: &str, contents: impl AsRef<[u8]>) -> TempPath {
            let path = TempPath::new(name);
            fs::write(&path.0, contents).expect("temp dir is writable");
            path
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    fn load_text(text: impl AsRef<[u8]>) -> Result<Identity, KeyError> {
        let file = TempPath::with("key.pem", text);
        Identity::load(&file.0)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn generate_save_load_round_trip() {
        let identity = Identity::generate(8);
        assert!(identity.pow_bits() >= 8);
        assert!(identity.check_difficulty(8).is_ok());
        let file = TempPath::new("round-trip.pem");
        identity.save(&file.0).expect("save");
        let loaded = Identity::load(&file.0).expect("load");
        assert_eq!(loaded.public_key(), identity.public_key());
        assert_eq!(loaded.peer_id(), identity.peer_id());
        assert_eq!(loaded.pow_nonce(), identity.pow_nonce());
        assert_eq!(loaded.sign(b"m"), identity.sign(b"m"));
        let text = fs::read_to_string(&file.0).expect("read back");
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(text.contains("-----BEGIN GOSSIPD PROOF OF WORK-----\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&file.0).expect("saved").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn save_replaces_a_file_but_save_new_refuses_one() {
        let (first, second) = (Identity::generate(0), Identity::generate(0));
        let file = TempPath::new("replace.pem");
        first.save_new(&file.0).expect("a new file");
        let refused = second.save_new(&file.0);
        assert!(
            matches!(refused, Err(KeyError::Exists { .. })),
            "{refused:?}"
        );
        let kept = Identity::load(&file.0).expect("load");
        assert_eq!(kept.public_key(), first.public_key());
        second.save(&file.0).expect("replace");
        let replaced = Identity::load(&file.0).expect("load");
        assert_eq!(replaced.public_key(), second.public_key());
        let dir = std::env::temp_dir();
        let leftovers = fs::read_dir(&dir)
            .expect("temp dir")
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.ends_with(".tmp") && name.contains("replace.pem")
            })
            .count();
        assert_eq!(leftovers, 0, "temporary files left in {}", dir.display());
    }

    #[test]
    fn signatures_verify_and_a_flipped_bit_does_not() {
        let identity = Identity::generate(0);
        let key = identity.public_key();
        let signature = identity.sign(b"hello");
        assert!(verify(&key, b"hello", &signature));
        assert!(!verify(&key, b"hellp", &signature));
        for byte in [0, 31, 32, 63] {
            let mut bad = signature;
            bad[byte] ^= 1;
            assert!(!verify(&key, b"hello", &bad), "flipped byte {byte}");
        }
        let mut other_key = key;
        other_key[0] ^= 1;
        assert!(!verify(&other_key, b"hello", &signature));
        assert!(!verify(&[0; 32], b"hello", &signature));
    }

    #[test]
    fn peer_id_is_blake2s_of_the_public_key() {
        let id = peer_id_of(&public_of(OPENSSL_PUBLIC));
        assert_eq!(
            id.to_hex(),
            "4a2f95d04d84bfd1ac9e26707a4240df86127fafc8dd24329c6fadafaf9c4504"
        );
    }

    fn public_of(hex_key: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex_key[2 * i..2 * i + 2], 16).expect("hex");
        }
        key
    }

    #[test]
    fn rsa_keys_are_refused_with_advice() {
        for (name, text) in [
            ("PKCS#1", RSA_PKCS1),
            ("PKCS#8", RSA_PKCS8),
            ("truncated PKCS#8", RSA_PKCS8_TRUNCATED),
        ] {
            let with_proof = format!("{text}{PROOF_6231}");
            let error = load_text(&with_proof).expect_err(name);
            assert!(
                matches!(error, KeyError::Unsupported { .. }),
                "{name}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.ends_with(RSA_ADVICE), "{name}: {message}");
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn other_algorithms_are_refused_by_name() {
        let error = load_text(EC_PKCS8).expect_err("EC");
        assert!(
            error
                .to_string()
                .contains(": EC host keys are not supported")
        );
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let error = load_text(sec1).expect_err("SEC1");
        assert!(
            error
                .to_string()
                .contains(": EC host keys are not supported")
        );
        let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(matches!(
            load_text(ssh),
            Err(KeyError::Unsupported { kind, .. }) if kind == "OpenSSH-format"
        ));
    }

    #[test]
    fn garbage_is_refused() {
        let not_pem = |text: &[u8]| matches!(load_text(text), Err(KeyError::NotPem { .. }));
        assert!(not_pem(b""));
        assert!(not_pem(b"hostkey = 42\n"));
        assert!(not_pem(&[0xff, 0xfe, 0x00, 0x80]));
        assert!(not_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"));
        assert!(not_pem(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        ));
        let malformed = |text: &str| matches!(load_text(text), Err(KeyError::Malformed { .. }));
        let bad_base64 = "-----BEGIN PRIVATE KEY-----\nnot*base64\n-----END PRIVATE KEY-----\n";
        assert!(malformed(bad_base64));
        let not_der = "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n";
        assert!(malformed(not_der));
        // Ed25519 OID, but a 31-byte key.
        let short = "-----BEGIN PRIVATE KEY-----\n\
            MC0CAQAwBQYDK2VwBCEEH/nWIpoioEMGW+eAOnqkdz97eMbFY7aucmfK26NlhqE=\n\
            -----END PRIVATE KEY-----\n";
        assert!(malformed(short));
        let public_only = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(malformed(public_only));
        assert!(malformed(&format!("{OPENSSL_ED25519}{OPENSSL_ED25519}")));
        assert!(malformed(&format!(
            "{OPENSSL_ED25519}{PROOF_6231}{PROOF_6231}"
        )));
        let short_proof = "-----BEGIN GOSSIPD PROOF OF WORK-----\nAAAAAAAAGA==\n\
            -----END GOSSIPD PROOF OF WORK-----\n";
        assert!(malformed(&format!("{OPENSSL_ED25519}{short_proof}")));
    }

    #[test]
    fn a_missing_proof_is_refused_with_advice() {
        let error = load_text(OPENSSL_ED25519).expect_err("no proof");
        assert!(matches!(error, KeyError::MissingProof { .. }));
        let message = error.to_string();
        assert!(message.contains("no proof of work: add one with `gossipd --add-proof-of-work "));
        assert!(message.contains("`gossipd --generate-key FILE`"));
    }

    #[test]
    fn an_openssl_ed25519_key_is_accepted_with_a_proof_block() {
        for text in [
            format!("{OPENSSL_ED25519}{PROOF_6231}"),
            format!("{PROOF_6231}\nexplanatory text\n{OPENSSL_ED25519}"),
            format!("{OPENSSL_ED25519}{PROOF_6231}").replace('\n', "\r\n"),
        ] {
            let identity = load_text(&text).expect("OpenSSL key");
            assert_eq!(hex(&identity.public_key()), OPENSSL_PUBLIC);
            assert_eq!((identity.pow_nonce(), identity.pow_bits()), (6231, 13));
        }
    }

    #[test]
    fn add_proof_of_work_completes_an_openssl_key_file() {
        let file = TempPath::with("openssl.pem", OPENSSL_ED25519);
        let identity = add_proof_of_work(&file.0, 8).expect("add proof");
        assert_eq!(hex(&identity.public_key()), OPENSSL_PUBLIC);
        let loaded = Identity::load(&file.0).expect("complete now");
        assert_eq!(loaded.pow_nonce(), identity.pow_nonce());
        assert!(loaded.pow_bits() >= 8);
        // A good enough proof is kept; a stronger requirement redoes it.
        let same = add_proof_of_work(&file.0, 8).expect("again");
        assert_eq!(same.pow_nonce(), identity.pow_nonce());
        let stronger = add_proof_of_work(&file.0, 14).expect("stronger");
        assert!(stronger.pow_bits() >= 14);
        assert_eq!(stronger.peer_id(), identity.peer_id());
    }

    #[test]
    fn a_pkcs8_v2_key_is_accepted_and_checked_against_its_public_key() {
        let identity = Identity::generate(0);
        let v2 = identity
            .signing_key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encode v2");
        let proof = pem::encode_string(POW_LABEL, LineEnding::LF, &[0; 8]).expect("encode");
        let loaded = load_text(format!("{}{proof}", v2.as_str())).expect("v2");
        assert_eq!(loaded.public_key(), identity.public_key());
        let wrong_public = KeypairBytes {
            secret_key: identity.signing_key.to_bytes(),
            public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes([9; 32])),
        }
        .to_pkcs8_pem(LineEnding::LF)
        .expect("encode");
        let error = load_text(format!("{}{proof}", wrong_public.as_str()));
        assert!(
            matches!(error, Err(KeyError::Malformed { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn unreadable_and_oversized_files_are_refused() {
        let missing = TempPath::new("missing.pem");
        let error = Identity::load(&missing.0).expect_err("missing");
        assert!(matches!(error, KeyError::Unreadable { .. }));
        assert!(error.to_string().starts_with("cannot read key file "));
        assert!(error.to_string().contains("No such file"));
        let mut big = format!("{OPENSSL_ED25519}{PROOF_6231}").into_bytes();
        big.resize(MAX_KEY_FILE as usize + 1, b'\n');
        assert!(matches!(load_text(&big), Err(KeyError::TooLarge { .. })));
        big.truncate(MAX_KEY_FILE as usize);
        assert!(load_text(&big).is_ok(), "exactly the limit is fine");
    }

    #[test]
    fn check_difficulty_names_the_bits_and_how_to_fix_it() {
        let identity = load_text(format!("{OPENSSL_ED25519}{PROOF_6231}")).expect("load");
        assert!(identity.check_difficulty(13).is_ok());
        let error = identity.check_difficulty(14).expect_err("13 < 14");
        let message = error.to_string();
        assert!(
            message.contains("has 13 bits but 14 are required"),
            "{message}"
        );
        assert!(message.contains("--add-proof-of-work FILE --pow-difficulty 14"));
        assert!(message.contains("--generate-key FILE --pow-difficulty 14"));
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let identity = load_text(format!("{OPENSSL_ED25519}{PROOF_6231}")).expect("load");
        let debug = format!("{identity:?}");
        assert!(debug.contains("peer_id") && debug.contains("6231"));
        assert!(!debug.to_lowercase().contains("f9d6229a"), "{debug}");
    }
}
