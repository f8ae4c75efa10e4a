#!/usr/bin/env python3
"""A Tocsin client written from proto/ alone, with an independent Ed25519 implementation.

Starts a real node (the binary named on the command line) on a loopback port with its
default TLS, connects trusting the CA the node made for itself, publishes an
alert signed with `cryptography`'s Ed25519, checks the refusal of a tampered copy and of a
duplicate, subscribes and receives the alert byte for byte, publishes a call with a goal and
three action reports by two organisations (one revised) and checks `Get`'s tally, then stops
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
