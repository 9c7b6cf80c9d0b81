"""A real S3-compatible server for the object-store tiers: moto's, on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SERVE = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test closes it
server.stop()
"""


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server in a process of its own (in the test's process it would contend for the
    GIL with the pipeline); yields its URL, stops it at the end. The server binds port 0 and
    says which port it got: a port probed free and then handed over can be taken in between by
    another worker's server, and the tests would talk to that one."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.strip().isdigit():
            raise RuntimeError("moto's S3 server did not start")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
