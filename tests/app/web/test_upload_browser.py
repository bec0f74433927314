"""In a real browser: the designer creates a project, opens a submission and uploads a DXF and a PDF."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.seed import DEMO_PASSWORD
from tests.app.web.test_upload_api import drawing_dxf, drawing_pdf

pytestmark = [pytest.mark.browser]

TIMEOUT_MS = 15_000


def test_designer_uploads_drawings(chromium, live_server, screenshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dxf = tmp_path / "建施-01 一层平面图.dxf"
    dxf.write_bytes(drawing_dxf())
    pdf = tmp_path / "结施-02 基础平面图.pdf"
    pdf.write_bytes(drawing_pdf(4))

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#username", "designer")
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{live_server}/")

    page.get_by_test_id("project-new").click()
    page.wait_for_url(f"{live_server}/projects/new")
    page.fill("#f-name", "滨江实验小学教学楼")
    page.fill("#f-code", "JC-2026-0088")
    page.fill("#f-construction_unit", "南京市建邺区教育局")
    page.fill("#f-address", "江苏省南京市建邺区江东中路 88 号")
    page.fill("#f-building_use", "教育建筑")
    page.fill("#f-floors_above", "5")
    page.fill("#f-floors_below", "1")
    page.fill("#f-height_m", "23.4")
    page.fill("#f-gross_floor_area_m2", "-15800")  # wrong on purpose: the form comes back with the values kept
    page.select_option("#f-fire_resistance_rating", "二级")
    page.get_by_test_id("project-create").click()
    assert "总建筑面积应大于 0" in page.get_by_test_id("error-gross_floor_area_m2").inner_text()
    assert page.input_value("#f-name") == "滨江实验小学教学楼"
    page.screenshot(path=screenshots / "project-new-errors.png", full_page=True)
    page.fill("#f-gross_floor_area_m2", "15800")
    page.fill("#f-civil_air_defence_area_m2", "2600")
    page.get_by_test_id("project-create").click()
    page.wait_for_url(f"{live_server}/projects/*")
    assert page.get_by_test_id("project-name").inner_text() == "滨江实验小学教学楼"
    page.screenshot(path=screenshots / "project-page.png", full_page=True)

    page.get_by_test_id("submission-new").click()
    page.wait_for_url(f"{live_server}/submissions/*")
    assert "草稿" in page.get_by_test_id("submission-state").inner_text()
    page.get_by_test_id("file-input").set_input_files([str(dxf), str(pdf)])

    items = page.get_by_test_id("upload-item")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=upload-item][data-progress=\"100\"]').length === 2",
        timeout=TIMEOUT_MS,
    )
    assert items.count() == 2
    page.wait_for_function("() => document.querySelectorAll('[data-testid=file-row]').length === 2", timeout=TIMEOUT_MS)
    listing = page.get_by_test_id("file-list").inner_text()
    assert "建施-01 一层平面图.dxf" in listing
    assert "结施-02 基础平面图.pdf" in listing
    assert hashlib.sha256(pdf.read_bytes()).hexdigest()[:12] in listing
    assert "DXF" in listing
    assert "上传完成" in page.get_by_test_id("upload-list").inner_text()
    assert page.get_by_test_id("submit-review").is_enabled()
    page.screenshot(path=screenshots / "submission-uploaded.png", full_page=True)
    context.close()


def _designer_with_a_draft(chromium, live_server: str, code: str):  # type: ignore[no-untyped-def]
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#username", "designer")
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/projects/new")
    for field, value in {
        "name": "Riverside School",
        "code": code,
        "construction_unit": "Riverside Education Board",
        "address": "1 Riverside Road",
        "building_use": "school",
        "floors_above": "3",
        "floors_below": "0",
        "height_m": "12",
        "gross_floor_area_m2": "5000",
    }.items():
        page.fill(f"#f-{field}", value)
    page.select_option("#f-fire_resistance_rating", "二级")
    page.get_by_test_id("project-create").click()
    page.wait_for_url(f"{live_server}/projects/*")
    page.get_by_test_id("submission-new").click()
    page.wait_for_url(f"{live_server}/submissions/*")
    return context, page


def test_an_interrupted_upload_resumes_after_a_reload(chromium, live_server, screenshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pdf = tmp_path / "S-101 foundations.pdf"
    pdf.write_bytes(drawing_pdf(4))
    context, page = _designer_with_a_draft(chromium, live_server, "JC-2026-0099")
    small_chunks = 8192
    assert pdf.stat().st_size > 3 * small_chunks

    def smaller_chunks(route):  # type: ignore[no-untyped-def]
        body = json.loads(route.request.post_data or "{}")
        route.continue_(post_data=json.dumps({**body, "chunk_size": small_chunks}))

    sent: list[int] = []
    network = {"down": True}

    def chunks(route):  # type: ignore[no-untyped-def]
        index = int(route.request.url.rsplit("/", 1)[1])
        if network["down"] and index >= 2:
            route.abort("internetdisconnected")
            return
        sent.append(index)
        route.continue_()

    context.route("**/api/v1/submissions/*/uploads", smaller_chunks)
    context.route("**/api/v1/uploads/*/chunks/*", chunks)
    page.get_by_test_id("file-input").set_input_files(str(pdf))
    page.wait_for_function(
        "() => /retrying/i.test(document.querySelector('[data-testid=upload-state]').textContent)",
        timeout=TIMEOUT_MS,
    )
    assert sent == [0, 1]
    page.screenshot(path=screenshots / "upload-retrying-en.png", full_page=True)

    network["down"] = False
    page.reload()
    sent.clear()
    page.get_by_test_id("file-input").set_input_files(str(pdf))
    page.wait_for_function(
        "() => document.querySelector('[data-testid=upload-item][data-progress=\"100\"]') !== null",
        timeout=TIMEOUT_MS,
    )
    # Only the chunks the server did not hold yet were sent after the reload.
    assert sorted(sent) == list(range(2, -(-pdf.stat().st_size // small_chunks)))
    page.wait_for_function("() => document.querySelectorAll('[data-testid=file-row]').length === 1")
    listing = page.get_by_test_id("file-list").inner_text()
    assert hashlib.sha256(pdf.read_bytes()).hexdigest()[:12] in listing
    assert "Waiting for verification" in listing
    page.screenshot(path=screenshots / "upload-resumed-en.png", full_page=True)
    context.close()
