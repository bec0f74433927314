"""In a real browser, with a real worker: upload a DXF and a PDF, see the sheets identified and the numbering
checked across both files, find a word on some.

The web server and the Celery worker share one database, object store and broker (the embedded one),
as in a single-machine installation; nothing in the intake is stubbed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.seed import DEMO_PASSWORD, seed_demo
from storage.db import transaction
from tests.app.intake.makers import BODY_TEXT, layout_dxf, title_block_pdf
from tests.support.browser import free_port
from tests.support.workers import WorkerEnvironment, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 15_000
INTAKE_DEADLINE_S = 45.0


@pytest.fixture
def journey_server(worker_environment: WorkerEnvironment) -> Iterator[str]:
    """Liantu served on loopback over the worker environment's platform, with one worker running."""
    import uvicorn

    from app.web import create_app

    with transaction(worker_environment.sessions) as session:
        seed_demo(session)
    worker_environment.start_worker()
    port = free_port()
    app = create_app(worker_environment.platform)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="liantu-journey-server", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=15, what="the web server to start")
    assert thread.is_alive()
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _wait_for_sheets(page, url: str, numbers: set[str]) -> None:  # type: ignore[no-untyped-def]
    """Stay on the sheet list until every sheet is listed and ready; the page reloads itself as work ends."""
    deadline = time.monotonic() + INTAKE_DEADLINE_S
    page.goto(url)
    while True:
        shown = set(page.get_by_test_id("sheet-number").all_inner_texts())
        counts = page.get_by_test_id("intake-counts").inner_text().replace(" ", "")
        if numbers <= shown and counts == f"{len(numbers)}/{len(numbers)}":
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"sheets not ready in {INTAKE_DEADLINE_S} s: shown {shown}, counts {counts}")
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_event("load", timeout=min(remaining, 5.0) * 1000)
        except PlaywrightTimeout:
            # The page stops polling when it was loaded with nothing busy: load it again.
            page.goto(url)


def test_designer_uploads_and_finds_sheets(  # type: ignore[no-untyped-def]
    chromium, journey_server: str, worker_environment: WorkerEnvironment, screenshots, tmp_path: Path
) -> None:
    base = journey_server
    dxf = tmp_path / "建施-02 二层平面图.dxf"
    dxf.write_bytes(layout_dxf("建施-02", "二层平面图"))
    pdf = tmp_path / "建施-01 一层平面图.pdf"
    pdf.write_bytes(title_block_pdf((("建施-01", "一层平面图"), ("建施-04", "四层平面图"))))

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login")
    page.fill("#username", "designer")
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{base}/")

    page.get_by_test_id("project-new").click()
    page.wait_for_url(f"{base}/projects/new")
    for field, value in {
        "name": "江城市第一中学图书馆",
        "code": "JC-2026-0321",
        "construction_unit": "江城市教育局",
        "address": "江城市滨江路 21 号",
        "building_use": "教育建筑",
        "floors_above": "4",
        "floors_below": "1",
        "height_m": "18.6",
        "gross_floor_area_m2": "9800",
    }.items():
        page.fill(f"#f-{field}", value)
    page.select_option("#f-fire_resistance_rating", "二级")
    page.get_by_test_id("project-create").click()
    page.wait_for_url(f"{base}/projects/*")
    page.get_by_test_id("submission-new").click()
    page.wait_for_url(f"{base}/submissions/*")
    submission_url = page.url

    page.get_by_test_id("file-input").set_input_files([str(dxf), str(pdf)])
    page.wait_for_function("() => document.querySelectorAll('[data-testid=file-row]').length === 2")

    sheets_url = f"{submission_url}/sheets"
    _wait_for_sheets(page, sheets_url, {"建施-01", "建施-02", "建施-04"})
    rows = page.get_by_test_id("sheet-row")
    assert rows.count() == 3
    assert page.locator("img.sheet-thumb").count() == 3
    # 建施-02 came from the DXF, 建施-01 and 建施-04 from the PDF: the gap is found across the two files.
    numbering = page.get_by_test_id("numbering-finding").all_inner_texts()
    assert numbering == ["图号不连续：缺少 建施-03"]
    page.screenshot(path=screenshots / "intake-journey-sheets.png", full_page=True)

    word = BODY_TEXT.split()[1]  # 消防车道, printed on the PDF's sheets only
    page.get_by_test_id("search-input").fill(word)
    page.get_by_test_id("search-submit").click()
    page.wait_for_url(f"{submission_url}/search?q=*")
    hits = page.get_by_test_id("search-hit")
    assert hits.count() == 2
    assert sorted(page.get_by_test_id("search-hit-number").all_inner_texts()) == ["建施-01", "建施-04"]
    assert word in hits.first.inner_text()
    page.screenshot(path=screenshots / "intake-journey-search.png", full_page=True)

    page.fill("#search-q", "客厅")  # a room name drawn in the DXF's model space, seen through the layout
    page.get_by_test_id("search-submit").click()
    page.wait_for_url(f"{submission_url}/search?q=*")
    assert page.get_by_test_id("search-hit-number").all_inner_texts() == ["建施-02"]
    assert not errors
    context.close()
