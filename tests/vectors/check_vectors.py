#!/usr/bin/env python3
"""Checks the Tocsin wire-format golden vectors independently of the Rust code.

Uses only the standard library and the `cryptography` package. For each vector it checks:
the public key derived from the seed; id = SHA-256(body); the Ed25519 signature over
"tocsin/v1/message" || 0x00 || body; that the body's author field (1) is that key and that
valid_at lies within created_at (2) and expires_at (3); that the body carries its content in
exactly one field of the range kept for kinds (10 to 99), the vector's content_field, and for
kind "unknown" in none of the kinds this version knows (10 to 19); that a report's target
(field 1 of field 19) is the id of another vector; and that signed_message is the
SignedMessage protobuf of body (1) and signature (2).

Usage: python3 tests/vectors/check_vectors.py [path/to/v1.json]
Prints one line per vector and a final "N passed, M failed"; exits 1 if any failed.
"""

import hashlib
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNING_DOMAIN = b"tocsin/v1/message\x00"
KIND_FIELDS = range(10, 100)
# The content fields of the kinds this version knows: alert (10) to report (19).
KNOWN_KIND_FIELDS = range(10, 20)
REPORT_FIELD = 19
DEFAULT_PATH = Path(__file__).with_name("v1.json")


def read_varint(buf, pos):
    """Reads a protobuf varint at pos; returns (value, next position)."""
    value = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or over-long varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(buf):
    """The top-level fields of a protobuf message, as (number, value) pairs in order.
    Varints are ints, length-delimited fields bytes; other wire types are refused."""
    pos = 0
    out = []
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(buf, pos)
        elif wire_type == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError(f"field {number} runs past the end")
            value = bytes(buf[pos : pos + length])
            pos += length
        else:
            raise ValueError(f"field {number} has unexpected wire type {wire_type}")
        out.append((number, value))
    return out


def first(pairs, number, default=None):
    for n, v in pairs:
        if n == number:
            return v
    return default


def check_content(vector, body_fields, ids):
    """Problems with where a vector's body carries its content."""
    problems = []
    content = [(n, v) for n, v in body_fields if n in KIND_FIELDS]
    expected = vector["content_field"]
    if [n for n, _ in content] != [expected]:
        problems.append(
            f"content fields are {[n for n, _ in content]}, not [{expected}]"
        )
        return problems
    if not isinstance(content[0][1], bytes):
        problems.append(f"content field {expected} is not length-delimited")
        return problems
    if vector["kind"] == "unknown" and expected in KNOWN_KIND_FIELDS:
        problems.append(f"kind unknown in field {expected}, which is a known kind's")
    if vector["kind"] == "report":
        if expected != REPORT_FIELD:
            problems.append(f"a report in field {expected}, not {REPORT_FIELD}")
        else:
            target = first(fields(content[0][1]), 1)
            if not isinstance(target, bytes) or target.hex() not in ids:
                problems.append("the report's target is not the id of another vector")
    return problems


def check(vector, domain, ids=frozenset()):
    """Returns a list of problems with one vector (empty if it is sound). `ids` are the ids
    of the file's other vectors, which a reference may name."""
    problems = []
    seed = bytes.fromhex(vector["seed"])
    public_key = bytes.fromhex(vector["public_key"])
    body = bytes.fromhex(vector["body"])
    signature = bytes.fromhex(vector["signature"])
    signed_message = bytes.fromhex(vector["signed_message"])

    derived = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    if derived != public_key:
        problems.append(f"public key from seed is {derived.hex()}")

    digest = hashlib.sha256(body).hexdigest()
    if digest != vector["id"]:
        problems.append(f"sha256(body) is {digest}, not the id")

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, domain + body)
    except InvalidSignature:
        problems.append("signature does not verify over domain || body")

    try:
        body_fields = fields(body)
        if first(body_fields, 1) != public_key:
            problems.append("body field 1 (author) is not the public key")
        created_at = first(body_fields, 2, 0)
        expires_at = first(body_fields, 3, 0)
        valid_at = vector["valid_at"]
        if not created_at <= valid_at or (expires_at and not valid_at < expires_at):
            problems.append(
                f"valid_at {valid_at} is not within [{created_at}, {expires_at})"
            )
        problems.extend(check_content(vector, body_fields, ids))
    except ValueError as e:
        problems.append(f"body does not parse: {e}")

    try:
        wrapper = fields(signed_message)
        if wrapper != [(1, body), (2, signature)]:
            problems.append("signed_message is not SignedMessage{body, signature}")
    except ValueError as e:
        problems.append(f"signed_message does not parse: {e}")
    return problems


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PATH
    data = json.loads(path.read_text(encoding="utf-8"))
    domain = bytes.fromhex(data["signing_domain"])
    passed = failed = 0
    if domain != SIGNING_DOMAIN:
        print(f"FAIL signing_domain: {domain!r} is not {SIGNING_DOMAIN!r}")
        failed += 1
    for vector in data["vectors"]:
        others = frozenset(
            v.get("id") for v in data["vectors"] if v is not vector and "id" in v
        )
        try:
            problems = check(vector, SIGNING_DOMAIN, others)
        except (KeyError, ValueError) as e:
            problems = [f"unreadable: {e!r}"]
        name = vector.get("name", "?")
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name} (id {vector['id'][:12]})")
    if passed == 0 and failed == 0:
        print("FAIL: no vectors")
        failed = 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
