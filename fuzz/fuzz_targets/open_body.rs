//! Fuzz target: arbitrary bytes as a message body, signed at fuzz time by a fixed key so the
//! input gets past the signature check and reaches validation and the store-facing accessors.
//!
//! The bytes are first read as a `tocsin.v1.MessageBody`. If they already name the fixed key as
//! author (the seed corpus does), they are signed exactly as they are, unknown fields and
//! non-canonical encodings included. If they name another author, the author is set to the
//! fixed key and the body re-encoded, so the signature verifies. Bytes that do not decode are
//! signed as they are and must be refused.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use sha2::{Digest, Sha256};
use tocsin::message::{Message, Rejection, SecretKey, SignedMessage, Timestamp, validate};
use tocsin::proto;

/// The receiver's clock: 2026-12-01T09:00:00Z, inside the lifetime of every golden vector.
const NOW: Timestamp = Timestamp(1_796_115_600_000);

/// The author of every fuzzed body (a fixed, fictional key).
const SEED: [u8; 32] = [0xF2; 32];

fn open(key: &SecretKey, body: Vec<u8>) -> Result<Message, Rejection> {
    let body = Bytes::from(body);
    let signature = key.sign(&body);
    let signed = SignedMessage::new(body.clone(), &signature)?;
    let message = Message::open(signed.clone(), NOW)?;

    // What the node keeps and serves: the author's bytes, its id, and the same body again
    // when the store reads it back.
    assert_eq!(message.signed().body(), &body);
    assert_eq!(message.id().0, <[u8; 32]>::from(Sha256::digest(&body)));
    assert_eq!(message.author(), &key.public());
    let stored = Message::from_store(message.signed().clone()).expect("stored message decodes");
    assert_eq!(stored.body(), message.body());
    assert_eq!(stored.id(), message.id());
    let untimed = Message::open_untimed(signed).expect("accepted message opens without time rules");
    assert_eq!(untimed.body(), message.body());
    validate(message.body(), NOW).expect("an opened body validates");
    Ok(message)
}

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::from_seed(&SEED);
    match proto::MessageBody::decode(data) {
        Ok(wire) if wire.author == key.public().as_bytes() => {
            let _ = open(&key, data.to_vec());
        }
        Ok(mut wire) => {
            wire.author = key.public().as_bytes().to_vec();
            let _ = open(&key, wire.encode_to_vec());
        }
        Err(_) => {
            assert!(
                open(&key, data.to_vec()).is_err(),
                "undecodable bytes opened"
            );
        }
    }
});
