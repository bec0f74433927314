"""``liantu run`` (what ``make run`` starts): migrates, seeds, serves, runs a worker, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.browser import free_port

ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE_SECONDS = 60
STOP_DEADLINE_SECONDS = 30


def _environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANTU_")}
    env.update({"LIANTU_DATA_DIR": str(data_dir), "LIANTU_PORT": str(port), "LIANTU_WORKER_CONCURRENCY": "1"})
    return env


def _wait_ready(url: str, process: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "liantu run exited before it was ready"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response.json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not ready within {START_DEADLINE_SECONDS} s")


@pytest.mark.slow
def test_run_serves_the_platform_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "run"],
        cwd=ROOT,
        env=_environment(tmp_path, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C would reach
    )
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        assert ready["checks"] == {"database": "ok", "store": "ok", "broker": "ok"}
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200
        assert "用户登录" in login.text
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=STOP_DEADLINE_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    for username in ("designer", "clerk", "fire.reviewer", "airdef.lead", "construction.signer", "bureau", "admin"):
        assert f"  {username} " in output
    assert "已停止 / stopped" in output
    assert (tmp_path / "liantu.sqlite3").exists()
