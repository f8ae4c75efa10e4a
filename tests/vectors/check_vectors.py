#!/usr/bin/env python3
"""Checks the Tocsin wire-format golden vectors independently of the Rust code.

Uses only the standard library and the `cryptography` package. For each vector it checks:
the public key derived from the seed; id = SHA-256(body); the Ed25519 signature over
"tocsin/v1/message" || 0x00 || body; that the body's author field (1) is that key and that
valid_at lies within created_at (2) and expires_at (3); that the body carries its content in
exactly one field of the range kept for kinds (10 to 99), the vector's content_field, and for
kind "unknown" in none of the kinds this version knows (10 to 21); that a report's target
(field 1 of field 19) is the id of another vector; and that signed_message is the
SignedMessage protobuf of body (1) and signature (2).

Key events: a recovery commitment (field 20) never expires, and its digest is computed here
anew, SHA-256("tocsin/v1/recovery" || 0x00 || recovery public key), from the vector's
recovery_public_key; a rotation (field 21) never expires, is signed by the recovery key a
commitment vector commits to, recovers that commitment's author (compromised, field 1) from a
time before the rotation was made, names a successor that is neither the compromised key nor
its signer, and commits the successor to the vector's recovery_public_key (field 4).

Each of `invalid` (messages every node refuses, with their reason code) is checked the same way
for its key, id, signature and SignedMessage, so that the refusal is for its content alone, and
must show, read from its bytes, the fault its reason names: "bad-value" a rotation whose
successor is the compromised key, "malformed" a commitment's digest that is not 32 bytes,
"bad-lifetime" a commitment or rotation with an expiry.

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
RECOVERY_DOMAIN = b"tocsin/v1/recovery\x00"
KIND_FIELDS = range(10, 100)
# The content fields of the kinds this version knows: alert (10) to rotation (21).
KNOWN_KIND_FIELDS = range(10, 22)
REPORT_FIELD = 19
COMMITMENT_FIELD = 20
ROTATION_FIELD = 21
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


def recovery_digest(public_key):
    """What a recovery commitment publishes for a recovery key."""
    return hashlib.sha256(RECOVERY_DOMAIN + public_key).digest()


def public_key_of(seed):
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def commitment_digest(body_fields):
    """A commitment body's recovery digest (field 1 of field 20), or None."""
    content = first(body_fields, COMMITMENT_FIELD)
    if not isinstance(content, bytes):
        return None
    return first(fields(content), 1)


def check_key_event(vector, body_fields, others):
    """Problems with a commitment or rotation vector, from its bytes and the other vectors."""
    problems = []
    if first(body_fields, 3, 0) != 0:
        problems.append("a key event with an expiry")
    recovery = bytes.fromhex(vector.get("recovery_public_key", ""))
    if len(recovery) != 32:
        problems.append("no 32-byte recovery_public_key to compute the digest from")
        return problems
    if vector["content_field"] == COMMITMENT_FIELD:
        digest = commitment_digest(body_fields)
        if digest != recovery_digest(recovery):
            problems.append(
                f"the commitment's digest {digest.hex() if digest else None} is not "
                f"SHA-256(recovery domain || {recovery.hex()})"
            )
        return problems
    rotation = fields(first(body_fields, ROTATION_FIELD))
    signer = bytes.fromhex(vector["public_key"])
    compromised = first(rotation, 1)
    since = first(rotation, 2, 0)
    successor = first(rotation, 3)
    answered = [
        o
        for o in others
        if o.get("content_field") == COMMITMENT_FIELD
        and bytes.fromhex(o["public_key"]) == compromised
        and commitment_digest(fields(bytes.fromhex(o["body"])))
        == recovery_digest(signer)
    ]
    if not answered:
        problems.append(
            "no commitment vector by the compromised key commits to the rotation's signer"
        )
    if compromised == signer:
        problems.append("the rotation is signed by the compromised key itself")
    if successor in (compromised, signer):
        problems.append("the successor is the compromised key or the recovery key")
    if not 0 < since <= first(body_fields, 2, 0):
        problems.append(f"compromised_since {since} is not before the rotation was made")
    if first(rotation, 4) != recovery_digest(recovery):
        problems.append(
            "the successor's recovery digest is not SHA-256(recovery domain || "
            f"{recovery.hex()})"
        )
    return problems


def check_content(vector, body_fields, others):
    """Problems with where a vector's body carries its content."""
    ids = frozenset(o.get("id") for o in others if "id" in o)
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
    if expected in (COMMITMENT_FIELD, ROTATION_FIELD):
        problems.extend(check_key_event(vector, body_fields, others))
    return problems


def check_signed(vector, domain):
    """Problems with a vector's key, id, signature and SignedMessage, and its body's fields
    (None if they do not parse)."""
    problems = []
    seed = bytes.fromhex(vector["seed"])
    public_key = bytes.fromhex(vector["public_key"])
    body = bytes.fromhex(vector["body"])
    signature = bytes.fromhex(vector["signature"])
    signed_message = bytes.fromhex(vector["signed_message"])

    derived = public_key_of(seed)
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
        wrapper = fields(signed_message)
        if wrapper != [(1, body), (2, signature)]:
            problems.append("signed_message is not SignedMessage{body, signature}")
    except ValueError as e:
        problems.append(f"signed_message does not parse: {e}")

    try:
        body_fields = fields(body)
    except ValueError as e:
        problems.append(f"body does not parse: {e}")
        return problems, None
    if first(body_fields, 1) != public_key:
        problems.append("body field 1 (author) is not the public key")
    if not first(body_fields, 2, 0) <= vector["valid_at"]:
        problems.append(f"valid_at {vector['valid_at']} is before created_at")
    return problems, body_fields


def check(vector, domain, others=()):
    """Returns a list of problems with one vector (empty if it is sound). `others` are the
    file's other vectors, which a reference may name."""
    problems, body_fields = check_signed(vector, domain)
    if body_fields is None:
        return problems
    try:
        created_at = first(body_fields, 2, 0)
        expires_at = first(body_fields, 3, 0)
        valid_at = vector["valid_at"]
        if expires_at and not valid_at < expires_at:
            problems.append(
                f"valid_at {valid_at} is not within [{created_at}, {expires_at})"
            )
        problems.extend(check_content(vector, body_fields, others))
    except ValueError as e:
        problems.append(f"body does not parse: {e}")
    return problems


def shows_fault(reason, content_field, body_fields):
    """Whether an invalid vector's body, read from its bytes, has the fault `reason` names."""
    content = first(body_fields, content_field)
    if not isinstance(content, bytes):
        return False
    inner = fields(content)
    if reason == "bad-value" and content_field == ROTATION_FIELD:
        # Neither signed by the compromised key nor anything else wrong that reads as it.
        return (
            first(inner, 1) is not None
            and first(inner, 1) == first(inner, 3)
            and first(body_fields, 1) != first(inner, 1)
        )
    if reason == "malformed" and content_field == COMMITMENT_FIELD:
        digest = first(inner, 1)
        return isinstance(digest, bytes) and 0 < len(digest) != 32
    if reason == "bad-lifetime" and content_field in (COMMITMENT_FIELD, ROTATION_FIELD):
        return first(body_fields, 3, 0) != 0
    return False


def check_invalid(vector, domain):
    """Problems with one invalid vector: it must be soundly signed and show its fault."""
    problems, body_fields = check_signed(vector, domain)
    if body_fields is None:
        return problems
    try:
        content = [n for n, _ in body_fields if n in KIND_FIELDS]
        if content != [vector["content_field"]]:
            problems.append(f"content fields are {content}, not [{vector['content_field']}]")
        elif not shows_fault(vector["reason"], vector["content_field"], body_fields):
            problems.append(f"its bytes do not show the fault of {vector['reason']!r}")
    except ValueError as e:
        problems.append(f"content does not parse: {e}")
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
        others = [v for v in data["vectors"] if v is not vector]
        try:
            problems = check(vector, SIGNING_DOMAIN, others)
        except (KeyError, ValueError, TypeError) as e:
            problems = [f"unreadable: {e!r}"]
        name = vector.get("name", "?")
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name} (id {vector['id'][:12]})")
    for vector in data.get("invalid", []):
        try:
            problems = check_invalid(vector, SIGNING_DOMAIN)
        except (KeyError, ValueError, TypeError) as e:
            problems = [f"unreadable: {e!r}"]
        name = vector.get("name", "?")
        if problems:
            failed += 1
            print(f"FAIL invalid {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   invalid {name} (refused {vector['reason']})")
    if passed == 0 and failed == 0:
        print("FAIL: no vectors")
        failed = 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
