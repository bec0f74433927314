"""The whole journey in a real browser, on the embedded default and on PostgreSQL + Redis + S3.

Each step is done through the pages by the person whose step it is; a screenshot of every step is saved
under ``test-output/screenshots/journey-<deployment>-NN-<step>.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.seed import DEMO_PASSWORD
from tests.app.intake.makers import layout_dxf, title_block_pdf
from tests.support.deployments import Deployment

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 20_000
INTAKE_DEADLINE_S = 60.0
PDF_SHEETS = (("建施-01", "一层平面图"), ("人防-01", "人防地下室平面图"), ("消防-01", "消防设计说明"))


class Journey:
    """A browser context per person, and the numbered screenshots of one deployment's journey."""

    def __init__(self, chromium, deployment: Deployment, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
        self.chromium = chromium
        self.base = deployment.base_url
        self.name = deployment.name
        self.screenshots = screenshots
        self.step = 0
        self.errors: list[str] = []

    def page_of(self, username: str):  # type: ignore[no-untyped-def]
        context = self.chromium.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{username}: {exc}"))
        page.goto(f"{self.base}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url(f"{self.base}/")
        return page

    def shot(self, page, what: str) -> None:  # type: ignore[no-untyped-def]
        self.step += 1
        page.screenshot(path=self.screenshots / f"journey-{self.name}-{self.step:02d}-{what}.png", full_page=True)


def _wait_for_sheets(page, url: str, count: int) -> set[str]:  # type: ignore[no-untyped-def]
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + INTAKE_DEADLINE_S
    page.goto(url)
    while True:
        counts = page.get_by_test_id("intake-counts").inner_text().replace(" ", "")
        if counts == f"{count}/{count}":
            return set(page.get_by_test_id("sheet-number").all_inner_texts())
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"sheets not ready in {INTAKE_DEADLINE_S} s: {counts}")
        try:
            page.wait_for_event("load", timeout=min(remaining, 5.0) * 1000)
        except PlaywrightTimeout:
            page.goto(url)


def test_whole_journey(chromium, deployment: Deployment, screenshots: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journey = Journey(chromium, deployment, screenshots)
    base = journey.base

    # 1. The designer creates the project and uploads a DXF and a PDF set.
    designer = journey.page_of("designer")
    designer.get_by_test_id("project-new").click()
    for field, value in {
        "name": "江城市第一中学综合楼",
        "code": f"JC-2026-J-{deployment.name}",
        "address": "江城市滨江路 88 号",
        "building_use": "教育建筑",
        "floors_above": "5",
        "floors_below": "1",
        "height_m": "23.4",
        "gross_floor_area_m2": "12800",
        "civil_air_defence_area_m2": "2100",
    }.items():
        designer.fill(f"#f-{field}", value)
    designer.select_option("#f-fire_resistance_rating", "二级")
    designer.get_by_test_id("project-create").click()
    designer.wait_for_url(f"{base}/projects/*")
    designer.get_by_test_id("submission-new").click()
    designer.wait_for_url(f"{base}/submissions/*")
    submission_url = designer.url
    dxf = tmp_path / "建施-02 二层平面图.dxf"
    dxf.write_bytes(layout_dxf("建施-02", "二层平面图"))
    pdf = tmp_path / "综合楼图纸.pdf"
    pdf.write_bytes(title_block_pdf(PDF_SHEETS))
    designer.get_by_test_id("file-input").set_input_files([str(dxf), str(pdf)])
    designer.wait_for_function("() => document.querySelectorAll('[data-testid=file-row]').length === 2")
    numbers = _wait_for_sheets(designer, f"{submission_url}/sheets", 4)
    assert numbers == {"建施-01", "建施-02", "人防-01", "消防-01"}
    journey.shot(designer, "designer-sheets")
    designer.goto(submission_url)
    designer.get_by_test_id("submit-review").click()
    designer.wait_for_url(submission_url)
    assert designer.get_by_test_id("submission-state").inner_text() == "已提交"
    journey.shot(designer, "designer-submitted")

    assert journey.errors == []
