"""Shared by the Python checks: run a real node binary on loopback ports, talk to it over gRPC
with stubs generated from proto/ alone, sign with `cryptography`'s Ed25519, fetch over HTTP.

Nothing here imports the node's code: the checks stay independent of it.
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
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOMAIN = b"tocsin/v1/message\x00"


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "debug", "tocsin")


class Checks:
    """One line per check, and `N passed, M failed` at the end."""

    def __init__(self):
        self.results = []

    def check(self, name, ok, detail=""):
        self.results.append(bool(ok))
        print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail and not ok else ""),
              flush=True)
        return ok

    def finish(self):
        failed = self.results.count(False)
        print(f"{len(self.results) - failed} passed, {failed} failed")
        sys.exit(1 if failed or not self.results else 0)


def generate_stubs(out):
    """Generates Python stubs from proto/ into `out` and makes them importable."""
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


class Node:
    """`tocsin node run` with gRPC and HTTP on ports the kernel picks; stopped with SIGTERM."""

    def __init__(self, binary, workdir):
        self.workdir = workdir
        config = os.path.join(workdir, "node.toml")
        with open(config, "w") as f:
            f.write("[node]\n"
                    f"data_dir = \"{os.path.join(workdir, 'data')}\"\n"
                    "listen = \"127.0.0.1:0\"\n\n"
                    "[http]\nlisten = \"127.0.0.1:0\"\n")
        self.proc = subprocess.Popen(
            [binary, "node", "run", "--config", config],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1", "RUST_LOG": "info"},
        )
        found = {}
        ready = threading.Event()
        self.log = []

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"web gateway on http://(127\.0\.0\.1:\d+)", line)
                if m:
                    found["http"] = m.group(1)
                m = re.search(r"ready on https?://(127\.0\.0\.1:\d+)", line)
                if m and not ready.is_set():
                    found["grpc"] = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or "grpc" not in found or "http" not in found:
            self.proc.kill()
            sys.exit("the node did not start:\n" + "".join(self.log))
        self.grpc_addr = found["grpc"]
        self.http = "http://" + found["http"]

    def channel(self):
        """A gRPC channel over the node's default TLS, trusting the CA it made for itself."""
        import grpc

        with open(os.path.join(self.workdir, "data", "tls", "ca.crt"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        return grpc.secure_channel(self.grpc_addr, creds)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


class Org:
    """A fictional organisation's key."""

    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, body_bytes):
        return self.key.sign(DOMAIN + body_bytes)


def now_ms():
    return int(time.time() * 1000)


def http_get(url, headers=None, timeout=20):
    """GET `url`; returns (status, headers (case-insensitive), body bytes); 3xx-5xx do not raise."""
    req = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def message_id(body_bytes):
    return hashlib.sha256(body_bytes).hexdigest()


def temp_dir():
    return tempfile.TemporaryDirectory()
