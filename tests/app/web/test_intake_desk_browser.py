"""In a real browser: the intake clerk corrects a sheet and accepts a case on the designer's commitment."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.platform import Platform
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from storage.db import make_engine
from tests.app.test_intake_desk import COMPLETE
from tests.app.web.test_intake_desk_pages import make_submission
from tests.support.web import web_settings_env

pytestmark = [pytest.mark.browser]

TIMEOUT_MS = 15_000


def test_clerk_accepts_on_commitment(chromium, live_server, screenshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(web_settings_env(tmp_path / "live"))
    platform = Platform(settings, _engine=make_engine(settings.effective_database_url))
    sheets = (*(s for s in COMPLETE if s[0] != "电施-01"), ("未识别-1-3", "屋顶平面图"))
    try:
        submission_id = make_submission(platform, sheets)
    finally:
        platform.close()

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#username", "clerk")
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{live_server}/")
    page.get_by_test_id("intake-link").first.click()
    page.wait_for_url(f"{live_server}/intake/submissions/{submission_id}")
    assert page.get_by_test_id("decision-summary").get_attribute("data-decision") == "accept_with_commitment"
    assert page.get_by_test_id("accept").is_disabled()
    page.screenshot(path=screenshots / "intake-desk.png", full_page=True)

    row = page.locator('[data-testid="sheet-row"][data-number="未识别-1-3"]')
    row.locator('input[name="number"]').fill("建施-08")
    row.get_by_test_id("save-sheet").click()
    page.wait_for_url(f"{live_server}/intake/submissions/{submission_id}?done=corrected")
    renamed = page.locator('[data-testid="sheet-row"][data-number="建施-08"]')
    assert renamed.locator('input[name="tracks"][value="fire"]').is_checked()  # routed again by its number

    page.get_by_test_id("commitment").fill("设计单位承诺十五日内补交火灾自动报警及电气施工图")
    page.get_by_test_id("accept-commitment").click()
    page.wait_for_url(f"{live_server}/intake/submissions/{submission_id}?done=accepted_on_commitment")
    assert "容缺受理" in page.get_by_test_id("done").inner_text()
    record = page.get_by_test_id("intake-record").inner_text()
    assert "设计单位承诺十五日内补交火灾自动报警及电气施工图" in record
    assert "未识别-1-3 → 建施-08" in record
    page.screenshot(path=screenshots / "intake-desk-accepted.png", full_page=True)
    context.close()
