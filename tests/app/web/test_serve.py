"""``liantu serve`` starts uvicorn with the app, also with several worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.browser import free_port

pytestmark = pytest.mark.slow


def test_serve_with_two_workers(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANTU_")}
    env |= {"LIANTU_DATA_DIR": str(tmp_path), "LIANTU_BROKER_URL": "memory://", "LIANTU_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while body is None and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    body = response.read()
            except OSError:
                time.sleep(0.1)  # polling the port until the server answers, with a deadline
        assert body == b'{"status":"ok"}'
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert "用户登录" in response.read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output = process.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0].decode()
    assert "Started parent process" in output or "Uvicorn running" in output
