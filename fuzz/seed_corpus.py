#!/usr/bin/env python3
"""Writes the fuzz seed corpus from the golden vectors (tests/vectors/v1.json).

corpus/open_signed/seed-NAME  the vector's SignedMessage file, as `tocsin sign` writes it.
corpus/open_body/seed-NAME    the vector's body with its author (field 1, the first 34 bytes)
                              replaced by the fuzz key's public key, so the target signs and
                              opens it byte for byte.

The invalid vectors (refused, each with its reason) are written the same way, as
seed-invalid-NAME: mutations of them land on both sides of a rule (a 31-byte digest, a key
event with an expiry, a rotation to the compromised key).

Needs the `cryptography` package (tests/python/requirements.txt). Run from anywhere:
    python3 fuzz/seed_corpus.py
"""

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FUZZ = Path(__file__).resolve().parent
VECTORS = FUZZ.parent / "tests" / "vectors" / "v1.json"
# The fixed key of fuzz_targets/open_body.rs: seed 0xF2 * 32.
FUZZ_KEY = (
    Ed25519PrivateKey.from_private_bytes(bytes([0xF2] * 32))
    .public_key()
    .public_bytes(Encoding.Raw, PublicFormat.Raw)
)


def main():
    data = json.loads(VECTORS.read_text())
    vectors = [(v["name"], v) for v in data["vectors"]]
    vectors += [(f"invalid-{v['name']}", v) for v in data.get("invalid", [])]
    for target in ("open_signed", "open_body"):
        (FUZZ / "corpus" / target).mkdir(parents=True, exist_ok=True)
    for name, v in vectors:
        (FUZZ / "corpus" / "open_signed" / f"seed-{name}").write_bytes(
            bytes.fromhex(v["signed_message"])
        )
        body = bytes.fromhex(v["body"])
        # Field 1 (author), wire type 2, length 32, first in every vector.
        assert body[:2] == b"\x0a\x20", name
        (FUZZ / "corpus" / "open_body" / f"seed-{name}").write_bytes(
            b"\x0a\x20" + FUZZ_KEY + body[34:]
        )
    print(f"{len(vectors)} vectors written to {FUZZ / 'corpus'}")


if __name__ == "__main__":
    main()
