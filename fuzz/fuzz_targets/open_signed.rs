//! Fuzz target: arbitrary bytes as a `tocsin.v1.SignedMessage` file, through every check a node
//! makes without state (decode, validate at a fixed time, strict verification). It must never
//! panic, and what it accepts must keep the wire rules.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use tocsin::message::{Checked, Message, SignedMessage, Timestamp};

/// The receiver's clock: 2026-12-01T09:00:00Z, inside the lifetime of every golden vector.
const NOW: Timestamp = Timestamp(1_796_115_600_000);

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = SignedMessage::decode(data) else {
        return;
    };
    assert_eq!(
        signed.id().0,
        <[u8; 32]>::from(Sha256::digest(signed.body()))
    );
    // The store's path decodes without the time rules or the signature; it must not panic either.
    let stored = Message::from_store(signed.clone());
    let Ok(checked) = Checked::open(signed.clone(), NOW) else {
        return;
    };
    assert_eq!(checked.id(), signed.id());
    let stored = stored.expect("a body that validates also decodes for the store");
    assert_eq!(stored.body(), checked.body());
    let Ok(message) = checked.verify() else {
        return;
    };
    // Accepted: the same bytes open the same way again, and re-encode to a file that decodes
    // to the same message (the body bytes are carried, never re-encoded).
    assert_eq!(message.signed(), &signed);
    let again = SignedMessage::decode(&signed.encode_to_vec()).expect("re-encoded file decodes");
    assert_eq!(again, signed);
    let reopened = Message::open(again, NOW).expect("an accepted message opens again");
    assert_eq!(reopened.body(), message.body());
});
