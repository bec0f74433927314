"""Browser fixtures: Debian's Chromium driven by Playwright, and Liantu served by uvicorn on loopback.

No ``playwright install``: the system Chromium is launched with the flags that FINDINGS.md lists.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, service_missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
START_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    """A headless Chromium for the tests of one module.

    Playwright's synchronous API keeps an event loop running in the main thread while it is open;
    closing it with the module keeps that loop from reaching tests of synchronous code that runs
    its own loop (pyHanko signing, for one).
    """
    if not CHROMIUM.exists():
        service_missing(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_server(seeded_database: Path, tmp_path: Path, web_settings_overrides: dict[str, str]) -> Iterator[str]:
    """Liantu on a free loopback port (uvicorn in a thread) against a copy of the seeded database.

    Its data folder is ``tmp_path / "live"``; settings as ``web_settings_overrides`` says."""
    import uvicorn

    from app.web import create_app
    from tests.support.web import make_web_platform  # a sibling plugin; imported late so pytest loads it first

    platform = make_web_platform(seeded_database, tmp_path / "live", **web_settings_overrides)
    port = free_port()
    config = uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="liantu-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the web server did not start")
        time.sleep(0.02)  # polling the server's start flag, with a deadline
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    platform.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
