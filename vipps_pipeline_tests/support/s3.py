"""A real S3-compatible server for the object-store tiers: moto's, on a free loopback port."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

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


def fresh_bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket's data directory (``s3://.../data``); the endpoint only in
    VIPPS_STORAGE_OPTIONS (the pipeline's own option, as fsspec takes it), every other AWS
    setting local, so nothing can reach the internet."""
    import s3fs

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "VIPPS_STORAGE_OPTIONS": json.dumps({"endpoint_url": endpoint}),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"vipps-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/data"
