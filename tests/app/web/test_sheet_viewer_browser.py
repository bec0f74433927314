"""In a real browser: the sheet list shows the processed sheets, and the viewer draws tiles with OpenSeadragon."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.intake.pipeline import process_drawing_file, render_sheet_revision
from app.intake.steps_render import ViewOptions
from app.platform import Platform
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from app.web import VENDOR_DIR
from storage.db import make_engine
from tests.app.intake.makers import title_block_pdf
from tests.app.web.test_sheet_pages import _add_file, _submission
from tests.support.web import web_settings_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_viewer_draws_the_sheet(chromium, live_server, screenshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not (VENDOR_DIR / "openseadragon" / "openseadragon.min.js").exists():
        pytest.skip("OpenSeadragon is not installed under app/static/vendor (run make)")
    # The live server's own database and store, opened beside it; the sheets are split but not yet tiled.
    settings = load_settings(web_settings_env(tmp_path / "live"))
    platform = Platform(settings, _engine=make_engine(settings.effective_database_url))
    submission_id = _submission(platform)
    file_id = _add_file(platform, submission_id, title_block_pdf(), "建施.pdf")
    revisions = process_drawing_file(platform.sessions, platform.store, file_id).revision_ids

    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tiles: list[int] = []
    page.on("response", lambda r: tiles.append(r.status) if "/tiles/" in r.url else None)
    page.goto(f"{live_server}/login")
    page.fill("#username", "designer")
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/submissions/{submission_id}/sheets")
    assert page.get_by_test_id("sheet-row").count() == 2
    assert page.get_by_test_id("intake-counts").inner_text() == "0 / 2"
    try:
        for revision_id in revisions:
            render_sheet_revision(platform.sessions, platform.store, revision_id, options=ViewOptions(dpi=100))
    finally:
        platform.close()
    # The page polls the progress endpoint and shows the rendered sheets by itself.
    page.wait_for_function(
        "() => document.getElementById('intake-counts').textContent.trim() === '2 / 2'", timeout=10_000
    )
    assert page.locator("img.sheet-thumb").count() == 2
    page.screenshot(path=screenshots / "sheet-list.png", full_page=True)

    page.get_by_test_id("sheet-number").first.click()
    page.wait_for_url(f"{live_server}/sheet-revisions/{revisions[0]}")
    page.wait_for_selector("#sheet-viewer canvas", timeout=10_000)
    page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('/tiles/'))")
    page.screenshot(path=screenshots / "sheet-viewer.png")
    assert tiles
    assert all(status in (200, 304) for status in tiles)
    assert not errors
    assert page.get_by_test_id("viewer-missing").is_hidden()
