//! Keys, signing and strict verification, exactly as the wire rules say.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{Reason, Rejection};

/// The domain-separation prefix every signature covers before the body:
/// `"tocsin/v1/message" || 0x00`.
pub const SIGNING_DOMAIN: &[u8] = b"tocsin/v1/message\0";

/// The domain-separation prefix of a recovery commitment's digest: `"tocsin/v1/recovery" || 0x00`.
pub const RECOVERY_DOMAIN: &[u8] = b"tocsin/v1/recovery\0";

/// The digest a recovery commitment publishes for a recovery key:
/// SHA-256(`"tocsin/v1/recovery" || 0x00 || public key`). The recovery key itself stays unknown
/// until a rotation it signs shows it.
pub fn recovery_digest(recovery: &AuthorKey) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(RECOVERY_DOMAIN);
    h.update(recovery.as_bytes());
    h.finalize().into()
}

/// The bytes a signature covers: the domain prefix, then the body.
fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(SIGNING_DOMAIN.len() + body.len());
    buf.extend_from_slice(SIGNING_DOMAIN);
    buf.extend_from_slice(body);
    buf
}

/// Keys already decoded and found valid: decompressing a point costs about a fifth of a
/// signature check, and every message (and every read of a stored one) names its author, while
/// a relay sees few distinct authors. Only keys that passed both checks are kept; the cache is
/// emptied when it fills, so its memory is bounded whatever keys arrive.
mod known_keys {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use ed25519_dalek::VerifyingKey;

    const MAX: usize = 4096;

    fn cache() -> &'static Mutex<HashMap<[u8; 32], VerifyingKey>> {
        static CACHE: OnceLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
        CACHE.get_or_init(|| Mutex::new(HashMap::new()))
    }

    pub(super) fn get(bytes: &[u8; 32]) -> Option<VerifyingKey> {
        cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bytes)
            .copied()
    }

    pub(super) fn put(bytes: [u8; 32], key: VerifyingKey) {
        let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= MAX {
            c.clear();
        }
        c.insert(bytes, key);
    }
}

/// An author's (or node's) public key: a valid, non-weak Ed25519 point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthorKey(VerifyingKey);

impl AuthorKey {
    /// Reads a key from 32 bytes, refusing invalid encodings (`bad-key`) and small-order
    /// points (`weak-key`).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Rejection> {
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| {
            Rejection::new(
                Reason::BadKey,
                format!("a key is 32 bytes, not {}", bytes.len()),
            )
        })?;
        if let Some(key) = known_keys::get(arr) {
            return Ok(AuthorKey(key));
        }
        let key = VerifyingKey::from_bytes(arr)
            .map_err(|_| Rejection::new(Reason::BadKey, "not a valid Ed25519 public key"))?;
        if key.is_weak() {
            return Err(Rejection::new(
                Reason::WeakKey,
                "the key is of small order and would accept forged signatures",
            ));
        }
        known_keys::put(*arr, key);
        Ok(AuthorKey(key))
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The key as lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        hex::encode(&self.as_bytes()[..6])
    }

    /// Strict verification of `signature` over the domain prefix and `body`.
    pub fn verify(&self, body: &[u8], signature: &[u8; 64]) -> Result<(), Rejection> {
        let sig = Signature::from_bytes(signature);
        self.0
            .verify_strict(&signed_bytes(body), &sig)
            .map_err(|_| {
                Rejection::new(
                    Reason::BadSignature,
                    "the signature does not verify under the author's key",
                )
            })
    }
}

impl std::hash::Hash for AuthorKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for AuthorKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AuthorKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorKey({})", self.short())
    }
}

impl FromStr for AuthorKey {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out)
            .map_err(|_| Rejection::new(Reason::BadKey, "a public key is 64 hexadecimal digits"))?;
        AuthorKey::from_slice(&out)
    }
}

/// A secret signing key. Its bytes are wiped from memory when it is dropped.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        let key = SecretKey::from_seed(&seed);
        seed.fill(0);
        Ok(key)
    }

    /// The key with this 32-byte seed (the RFC 8032 secret key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for saving to a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> AuthorKey {
        // A key derived from a secret scalar is never of small order and always a valid point.
        AuthorKey(self.0.verifying_key())
    }

    /// Signs a body: Ed25519 over the domain prefix and the body.
    pub fn sign(&self, body: &[u8]) -> [u8; 64] {
        self.0.sign(&signed_bytes(body)).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public().short())
    }
}
