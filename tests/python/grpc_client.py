#!/usr/bin/env python3
"""A Tocsin client written from proto/ alone, with an independent Ed25519 implementation.

Starts a real node (the binary named on the command line) on a loopback port with its
default TLS, connects trusting the CA the node made for itself, publishes an
alert signed with `cryptography`'s Ed25519, checks the refusal of a tampered copy and of a
duplicate, subscribes and receives the alert byte for byte, publishes a call with a goal and
three action reports by two organisations (one revised) and checks `Get`'s tally; commits a
union's key to a recovery key (the digest computed here), rotates the key with the recovery key
after a "seizure" and checks `GetKey`'s end (from, successor, rotation) and that `Get` withholds
what the key signed after the seizure, with a reason, and keeps what it signed before; then stops
the node with SIGTERM
and expects a clean exit. Prints one line per check and `N passed, M failed`.
"""
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOMAIN = b"tocsin/v1/message\x00"
RECOVERY_DOMAIN = b"tocsin/v1/recovery\x00"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail and not ok else ""))


def generate_stubs(out):
    from grpc_tools import protoc
    import grpc_tools

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = [
        "protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{include}",
        f"--python_out={out}", f"--grpc_python_out={out}",
        "tocsin/v1/message.proto", "tocsin/v1/relay.proto",
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)


def start_node(binary, data):
    # The web gateway on a port the kernel picks too, so that runs side by side do not collide.
    config = data + ".toml"
    with open(config, "w") as f:
        f.write("[http]\nlisten = \"127.0.0.1:0\"\n")
    proc = subprocess.Popen(
        [binary, "node", "run", "--config", config, "--data", data, "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "RUST_LOG": "info"},
    )
    found = {}
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            m = re.search(r"ready on (https?)://(127\.0\.0\.1:\d+)", line)
            if m and not ready.is_set():
                found["tls"] = m.group(1) == "https"
                found["addr"] = m.group(2)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60) or "addr" not in found:
        proc.kill()
        sys.exit("the node did not start")
    return proc, found["addr"], found["tls"]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/tocsin")
    with tempfile.TemporaryDirectory() as tmp:
        stubs = os.path.join(tmp, "stubs")
        os.makedirs(stubs)
        generate_stubs(stubs)
        import grpc
        from tocsin.v1 import message_pb2 as m
        from tocsin.v1 import relay_pb2 as r
        from tocsin.v1 import relay_pb2_grpc as rg

        data = os.path.join(tmp, "data")
        proc, addr, tls = start_node(binary, data)
        try:
            key = Ed25519PrivateKey.generate()
            public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            now = int(time.time() * 1000)
            body = m.MessageBody(
                author=public, created_at=now, expires_at=now + 86_400_000,
                topics=["union-rights"], countries=["AZ"],
                alert=m.Alert(
                    status=m.STATUS_ACTUAL, category=m.CATEGORY_ARREST,
                    urgency=m.URGENCY_IMMEDIATE, severity=m.SEVERITY_SEVERE,
                    certainty=m.CERTAINTY_OBSERVED,
                    info=[m.Info(language="en", headline="Four dockworkers' leaders detained in Eastport",
                                 description="The Eastland Dockworkers' Union reports four arrests at dawn.")],
                ),
            ).SerializeToString()
            signature = key.sign(DOMAIN + body)
            msg_id = hashlib.sha256(body).digest()

            # TLS by default: trust the CA the node made for itself, as a local client does.
            check("the node serves TLS by default", tls)
            with open(os.path.join(data, "tls", "ca.crt"), "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            channel = grpc.secure_channel(addr, creds)
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = rg.RelayStub(channel)

            reply = stub.Publish(m.SignedMessage(body=body, signature=signature), timeout=10)
            check("publish is accepted", reply.status == r.PUBLISH_STATUS_ACCEPTED and reply.seq >= 1,
                  str(reply))
            check("the id is SHA-256 of the body", reply.id == msg_id)

            again = stub.Publish(m.SignedMessage(body=body, signature=signature), timeout=10)
            check("a second publish is a duplicate", again.status == r.PUBLISH_STATUS_DUPLICATE
                  and again.seq == reply.seq, str(again))

            tampered = bytearray(body)
            tampered[-1] ^= 0x01
            try:
                stub.Publish(m.SignedMessage(body=bytes(tampered), signature=signature), timeout=10)
                check("a tampered body is refused", False, "it was accepted")
            except grpc.RpcError as e:
                reason = dict(e.trailing_metadata() or ()).get("tocsin-reason")
                check("a tampered body is refused with bad-signature",
                      e.code() == grpc.StatusCode.INVALID_ARGUMENT and reason == "bad-signature",
                      f"{e.code()} {reason}")

            events = stub.Subscribe(r.SubscribeRequest(since=0), timeout=20)
            delivered, caught_up = None, None
            for ev in events:
                which = ev.WhichOneof("event")
                if which == "delivery" and delivered is None:
                    delivered = ev.delivery
                elif which == "caught_up":
                    caught_up = ev.caught_up.seq
                    break
            events.cancel()
            check("subscribe delivers the alert", delivered is not None
                  and delivered.seq == reply.seq)
            check("the delivered body is byte for byte what was signed",
                  delivered is not None and delivered.message.body == body
                  and delivered.message.signature == signature)
            check("a caught-up marker follows the backfill", caught_up == reply.seq, str(caught_up))

            # A petition call with a goal, and action reports by two organisations (one revised):
            # Get gives the tally, each organisation's latest report counted once.
            def publish(author_key, body_msg):
                raw = body_msg.SerializeToString()
                sent = stub.Publish(m.SignedMessage(body=raw, signature=author_key.sign(DOMAIN + raw)),
                                    timeout=10)
                return sent, hashlib.sha256(raw).digest()

            def key_bytes(k):
                return k.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw)

            call_body = m.MessageBody(
                author=public, created_at=now + 1, expires_at=now + 86_400_000,
                call=m.ActionCall(
                    base=m.Alert(
                        status=m.STATUS_ACTUAL, category=m.CATEGORY_ARREST,
                        urgency=m.URGENCY_IMMEDIATE, severity=m.SEVERITY_SEVERE,
                        certainty=m.CERTAINTY_OBSERVED,
                        info=[m.Info(language="en", headline="Write for the four Eastport leaders",
                                     description="Letters to the Presidential Administration of Eastland.")],
                    ),
                    actions=[m.ACTION_TYPE_LETTER],
                    target="The Presidential Administration of Eastland",
                    goals=[m.Goal(measure=m.MEASURE_LETTERS, target=3000)],
                ),
            )
            sent, call_id = publish(key, call_body)
            check("a call with a goal is accepted", sent.status == r.PUBLISH_STATUS_ACCEPTED, str(sent))

            def report(author_key, created_at, letters):
                return m.MessageBody(
                    author=key_bytes(author_key), created_at=created_at,
                    expires_at=now + 86_400_000,
                    report=m.ActionReport(
                        target=call_id,
                        counts=[m.Count(measure=m.MEASURE_LETTERS, value=letters)],
                        statement="Letters from our members",
                    ),
                )

            dockers, teachers = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
            statuses = [publish(k, report(k, at, n))[0].status for k, at, n in
                        [(dockers, now + 2, 300), (teachers, now + 3, 2000), (dockers, now + 4, 340)]]
            check("three reports are accepted",
                  statuses == [r.PUBLISH_STATUS_ACCEPTED] * 3, str(statuses))
            state = stub.Get(r.GetRequest(id=call_id), timeout=10)
            tally = state.tally
            totals = {(t.measure, t.currency): t.value for t in tally.totals}
            check("Get has a tally", state.HasField("tally"), str(state))
            check("the tally adds each organisation's latest report once",
                  totals == {(m.MEASURE_LETTERS, ""): 2340}, str(totals))
            check("the tally counts two reporting organisations", tally.reporters == 2,
                  str(tally.reporters))
            check("the tally's reports are the ones that count",
                  sorted(bytes(x.author) for x in tally.reports)
                  == sorted([key_bytes(dockers), key_bytes(teachers)]), str(tally.reports))
            check("the goal's progress is against its target",
                  len(tally.goals) == 1 and tally.goals[0].goal.target == 3000
                  and tally.goals[0].reached == 2340, str(tally.goals))

            # A union commits its key to a recovery key kept abroad; the key is seized at
            # `seized`, the thief posts with it, and the recovery key rotates it to a successor.
            def digest_of(k):
                return hashlib.sha256(RECOVERY_DOMAIN + key_bytes(k)).digest()

            def alert_by(author_key, created_at, headline):
                return m.MessageBody(
                    author=key_bytes(author_key), created_at=created_at,
                    expires_at=created_at + 86_400_000, topics=["union-rights"],
                    alert=m.Alert(
                        status=m.STATUS_ACTUAL, category=m.CATEGORY_STRIKE,
                        urgency=m.URGENCY_IMMEDIATE, severity=m.SEVERITY_SEVERE,
                        certainty=m.CERTAINTY_OBSERVED,
                        info=[m.Info(language="en", headline=headline,
                                     description="The Eastland Dockworkers' Union reports.")],
                    ),
                )

            union, recovery = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
            successor, successor_recovery = (Ed25519PrivateKey.generate(),
                                             Ed25519PrivateKey.generate())
            start = int(time.time() * 1000)
            # A commitment never expires: expires_at is left unset.
            sent, commitment_id = publish(union, m.MessageBody(
                author=key_bytes(union), created_at=start,
                commitment=m.RecoveryCommitment(recovery_digest=digest_of(recovery)),
            ))
            check("a recovery commitment is accepted", sent.status == r.PUBLISH_STATUS_ACCEPTED,
                  str(sent))
            sent, before_id = publish(union, alert_by(union, start + 1, "Eastport strike: day one"))
            check("the union's alert before the seizure is accepted",
                  sent.status == r.PUBLISH_STATUS_ACCEPTED, str(sent))
            seized = start + 10
            sent, forged_id = publish(union, alert_by(union, seized + 5, "The strike is called off"))
            check("the thief's alert after the seizure is accepted (nothing says otherwise yet)",
                  sent.status == r.PUBLISH_STATUS_ACCEPTED, str(sent))

            # Signed by the recovery key: the author is the recovery key, the key it recovers
            # is `compromised`.
            sent, rotation_id = publish(recovery, m.MessageBody(
                author=key_bytes(recovery), created_at=int(time.time() * 1000),
                rotation=m.Rotation(
                    compromised=key_bytes(union), compromised_since=seized,
                    successor=key_bytes(successor),
                    successor_recovery_digest=digest_of(successor_recovery),
                    reason="the union's laptop was seized in a raid",
                ),
            ))
            check("a rotation signed by the recovery key is accepted",
                  sent.status == r.PUBLISH_STATUS_ACCEPTED, str(sent))

            k = stub.GetKey(r.GetKeyRequest(key=key_bytes(union)), timeout=10)
            check("GetKey has the commitment in force, with the digest computed here",
                  k.HasField("commitment") and k.commitment.id == commitment_id
                  and k.commitment.recovery_digest == digest_of(recovery), str(k))
            # `from` is a Python keyword: read through getattr.
            check("GetKey: the key ends at the seizure, by the rotation",
                  k.HasField("end") and getattr(k.end, "from") == seized
                  and k.end.by == rotation_id and k.end.by_kind == r.KIND_ROTATION
                  and k.end.compromised_since == seized, str(k))
            check("GetKey names the successor and the rotation in force",
                  k.end.successor == key_bytes(successor) and k.end.rotation == rotation_id,
                  str(k.end))
            s_key = stub.GetKey(r.GetKeyRequest(key=key_bytes(successor)), timeout=10)
            check("GetKey of the successor names the key it carries on for",
                  s_key.predecessor == key_bytes(union)
                  and s_key.commitment.recovery_digest == digest_of(successor_recovery)
                  and s_key.commitment.by_rotation, str(s_key))

            forged = stub.Get(r.GetRequest(id=forged_id), timeout=10)
            check("Get of the thief's alert: withheld, with a reason, and no content",
                  forged.withheld and "recovery key" in forged.withheld_reason
                  and not forged.HasField("message") and not forged.HasField("current"),
                  str(forged))
            before = stub.Get(r.GetRequest(id=before_id), timeout=10)
            check("Get of the alert before the seizure: served as it was",
                  not before.withheld and before.HasField("message")
                  and hashlib.sha256(before.message.body).digest() == before_id, str(before))
            channel.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = None
        check("SIGTERM stops the node cleanly (exit 0)", code == 0, str(code))

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
