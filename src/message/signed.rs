//! The signed unit as it travels (`SignedMessage`), and its checked and verified forms.
//!
//! A message moves through three types, so the compiler keeps the order of the ingest rules:
//! [`SignedMessage`] (bytes, size-checked, id computed) → [`Checked`] (decoded, validated
//! against a time) → [`Message`] (signature verified). The body bytes are a `Bytes` shared
//! by every form and every copy: never re-encoded, never copied.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;

use super::validate::{limits, validate};
use super::{AuthorKey, Body, Id, Kind, Reason, Rejection, SecretKey, Timestamp, convert};
use crate::proto;

/// A message as it travels: the body bytes, the signature, and the id computed from the body.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedMessage {
    body: Bytes,
    signature: [u8; 64],
    id: Id,
}

impl SignedMessage {
    /// Takes a body and a signature off the wire. Refuses bodies over the size limit
    /// (`too-large`) and signatures that are not 64 bytes (`malformed`); computes the id.
    pub fn new(body: Bytes, signature: &[u8]) -> Result<Self, Rejection> {
        if body.len() > limits::MAX_BODY_BYTES {
            return Err(Rejection::new(
                Reason::TooLarge,
                format!(
                    "the body is {} bytes; the limit is {}",
                    body.len(),
                    limits::MAX_BODY_BYTES
                ),
            ));
        }
        let signature: [u8; 64] = signature.try_into().map_err(|_| {
            Rejection::new(
                Reason::Malformed,
                format!("a signature is 64 bytes, not {}", signature.len()),
            )
        })?;
        let id = Id::of(&body);
        Ok(SignedMessage {
            body,
            signature,
            id,
        })
    }

    /// Rebuilds a message whose id was computed when it was first accepted (the store's own
    /// records), without hashing it again.
    pub fn from_trusted_parts(body: Bytes, signature: [u8; 64], id: Id) -> Self {
        debug_assert_eq!(Id::of(&body), id);
        SignedMessage {
            body,
            signature,
            id,
        }
    }

    /// Reads the protobuf encoding of `tocsin.v1.SignedMessage` (the file format of
    /// `tocsin sign` and `export`).
    pub fn decode(bytes: &[u8]) -> Result<Self, Rejection> {
        if bytes.len() > limits::MAX_BODY_BYTES + 128 {
            return Err(Rejection::new(
                Reason::TooLarge,
                format!("{} bytes is larger than any message", bytes.len()),
            ));
        }
        let wire = proto::SignedMessage::decode(bytes)
            .map_err(|e| Rejection::new(Reason::Malformed, format!("not a signed message: {e}")))?;
        SignedMessage::new(wire.body, &wire.signature)
    }

    /// The protobuf encoding of `tocsin.v1.SignedMessage`.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The wire form, sharing the body bytes.
    pub fn to_proto(&self) -> proto::SignedMessage {
        proto::SignedMessage {
            body: self.body.clone(),
            signature: Bytes::copy_from_slice(&self.signature),
        }
    }

    /// The body bytes, exactly as the author produced them.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// `SHA-256(body)`.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The body, decoded without checking the signature or any rule: to order messages on
    /// their way (by kind, target), never to trust one. `None` when it does not decode (the
    /// ingest then refuses it with its reason).
    pub fn claimed_body(&self) -> Option<Body> {
        convert::decode_body(&self.body).ok()
    }
}

impl std::fmt::Debug for SignedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SignedMessage({}, {} bytes)",
            self.id.short(),
            self.body.len()
        )
    }
}

/// A message that decoded and passed validation at a given time, but whose signature has not
/// been checked yet. The cheap checks come first; a node can refuse or dedup here before it
/// pays for the signature.
#[derive(Debug, Clone)]
pub struct Checked {
    signed: SignedMessage,
    body: Body,
}

impl Checked {
    /// Decodes the body and validates it against `now`.
    pub fn open(signed: SignedMessage, now: Timestamp) -> Result<Self, Rejection> {
        let body = convert::decode_body(&signed.body)?;
        validate(&body, now)?;
        Ok(Checked { signed, body })
    }

    /// The id.
    pub fn id(&self) -> Id {
        self.signed.id
    }

    /// The decoded body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The signed form.
    pub fn signed(&self) -> &SignedMessage {
        &self.signed
    }

    /// Verifies the signature strictly under the body's author key.
    pub fn verify(self) -> Result<Message, Rejection> {
        self.body
            .author
            .verify(&self.signed.body, &self.signed.signature)?;
        Ok(Message {
            signed: self.signed,
            body: Arc::new(self.body),
        })
    }
}

/// A decoded message whose signature has been verified (or that was read back from the store,
/// which holds only verified messages). Cheap to clone: the body bytes and the decoded body
/// are shared.
#[derive(Debug, Clone)]
pub struct Message {
    signed: SignedMessage,
    body: Arc<Body>,
}

impl Message {
    /// Every check of the ingest rules that needs no node state: size, decoding, validation
    /// against `now`, strict signature verification.
    pub fn open(signed: SignedMessage, now: Timestamp) -> Result<Self, Rejection> {
        Checked::open(signed, now)?.verify()
    }

    /// Decodes and verifies the signature, without the time rules: for a reader checking what
    /// a relay delivered, whose own clock may be off.
    pub fn open_untimed(signed: SignedMessage) -> Result<Self, Rejection> {
        let body = convert::decode_body(&signed.body)?;
        body.author.verify(&signed.body, &signed.signature)?;
        Ok(Message {
            signed,
            body: Arc::new(body),
        })
    }

    /// Decodes a message the store accepted earlier. No time rules apply (it may have expired
    /// since) and the signature was verified on the way in.
    pub fn from_store(signed: SignedMessage) -> Result<Self, Rejection> {
        let body = convert::decode_stored_body(&signed.body)?;
        Ok(Message {
            signed,
            body: Arc::new(body),
        })
    }

    /// Encodes and signs a body as its author. The caller validates first (with the same
    /// [`validate`] every node applies) so it learns of a problem before anything is sent.
    pub fn sign(body: Body, key: &SecretKey) -> Result<Self, Rejection> {
        if body.author != key.public() {
            return Err(Rejection::new(
                Reason::BadSignature,
                "the body names another author than the signing key",
            ));
        }
        let bytes = Bytes::from(convert::encode_body(&body));
        let signature = key.sign(&bytes);
        let signed = SignedMessage::new(bytes, &signature)?;
        Ok(Message {
            signed,
            body: Arc::new(body),
        })
    }

    /// The id.
    pub fn id(&self) -> Id {
        self.signed.id
    }

    /// The decoded body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The author.
    pub fn author(&self) -> &AuthorKey {
        &self.body.author
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// The signed form, to store or send.
    pub fn signed(&self) -> &SignedMessage {
        &self.signed
    }
}
