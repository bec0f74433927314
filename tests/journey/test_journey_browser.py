"""The whole journey in a real browser, on the embedded default and on PostgreSQL + Redis + S3.

Each step is done through the pages by the person whose step it is, with a real worker doing the background
work; a screenshot of every step is saved under ``test-output/screenshots/journey-<deployment>-NN-<step>.png``.

designer uploads DXF and PDF sheets → the clerk accepts → the fee is paid through the gateway callback → the clerk
starts the review → three track reviewers look, two mark up and comment → one track passes, two ask for revision →
the designer answers and re-uploads one changed sheet → the reviewers see the carried-over markups, the changed one
flagged, resolve and pass → three departments sign in turn → the bureau verifies and issues the permit → the
public verification page says valid.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import ezdxf
import pytest

from app.seed import DEMO_PASSWORD
from tests.app.intake.makers import layout_dxf, title_block_pdf
from tests.support.browser import SCREENSHOTS
from tests.support.deployments import Deployment

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 30_000
WORK_DEADLINE_S = 120.0
PDF_SHEETS = (
    ("总图-01", "总平面图"),
    ("建施-00", "建筑设计总说明"),
    ("建施-01", "一层平面图"),
    ("建施-03", "1-1 剖面图"),
    ("建施-04", "南立面图"),
    ("结施-01", "结构设计总说明"),
    ("结施-02", "二层结构平面图"),
    ("水施-01", "消火栓及自动喷水灭火系统图"),
    ("消防-01", "消防设计说明"),
    ("人防-01", "人防设计说明"),
    ("人防-02", "人防地下室平面图"),
)
"""A set that meets every essential item of the three tracks' intake checklists (with 建施-02 from the DXF)."""
# A cloud on the sheet, in PDF points from the top-left corner; on 建施-02 it covers model space around
# (-2900..4800, 8100..12600), where the revision adds a circle.
CLOUD = ((200.0, 200.0), (420.0, 200.0), (420.0, 330.0), (200.0, 330.0))


def revised_dxf() -> bytes:
    """建施-02 as revised: the same drawing with a stair added inside the marked region."""
    doc = ezdxf.read(io.StringIO(layout_dxf("建施-02", "二层平面图").decode()))
    doc.modelspace().add_circle((1000, 10000), radius=800)
    doc.modelspace().add_text("新增楼梯", height=400).set_placement((300, 9000))
    out = io.StringIO()
    doc.write(out)
    return out.getvalue().encode()


class Journey:
    """Browser contexts per person, and the numbered screenshots of one deployment's journey."""

    def __init__(self, chromium, deployment: Deployment, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
        self.chromium = chromium
        self.base = deployment.base_url
        self.name = deployment.name
        self.screenshots = screenshots
        self.step = 0
        self.errors: list[str] = []
        self.contexts: list[Any] = []

    def page_of(self, username: str):  # type: ignore[no-untyped-def]
        context = self.chromium.new_context(locale="zh-CN", viewport={"width": 1440, "height": 960})
        self.contexts.append(context)
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

    def close(self) -> None:
        """Close every person's browser: an open viewer's live-update stream would keep the server waiting."""
        for context in self.contexts:
            context.close()


def _reload_until(page, url: str, ready, what: str) -> None:  # type: ignore[no-untyped-def]
    """Load ``url`` again until ``ready(page)`` holds: the worker finishes in its own time.

    Some pages reload themselves while work is under way; a load they abort is simply tried again.
    """
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + WORK_DEADLINE_S
    while True:
        try:
            page.goto(url)
            if ready(page):
                return
        except PlaywrightError:
            pass
        if time.monotonic() > deadline:
            page.screenshot(path=str(SCREENSHOTS / "journey-failure.png"), full_page=True)
            pytest.fail(f"{what} not done in {WORK_DEADLINE_S} s; the page is in journey-failure.png")
        page.wait_for_timeout(500)  # polling a page the worker's progress changes, with a deadline


def _sheets_ready(count: int):  # type: ignore[no-untyped-def]
    def ready(page) -> bool:  # type: ignore[no-untyped-def]
        return bool(page.get_by_test_id("intake-counts").inner_text().replace(" ", "") == f"{count}/{count}")

    return ready


def _viewer_url(page, number: str) -> str:  # type: ignore[no-untyped-def]
    link = page.locator('[data-testid="sheet-number"]', has_text=re.compile(f"^{re.escape(number)}$")).first
    href = link.get_attribute("href")
    assert href, number
    return str(page.url.split("/submissions/")[0] + href)


def _open_viewer(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_selector("body[data-viewer='ready']")
    page.wait_for_function("() => window.liantuViewer.viewer.world.getItemAt(0).getFullyLoaded()")
    page.wait_for_selector("body[data-live='open']")


def _client_point(page, x: float, y: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    found: list[float] = page.evaluate(
        """([x, y]) => {
            const v = window.liantuViewer;
            const w = v.overlay.width;
            const point = new window.OpenSeadragon.Point(x / w, y / w);
            const p = v.viewer.viewport.viewportToViewerElementCoordinates(point);
            const box = v.viewer.canvas.getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [x, y],
    )
    return found[0], found[1]


def _markups(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    found: list[dict[str, Any]] = page.evaluate(
        """() => [...window.liantuViewer.markups.items.values()].map(({info}) => ({
            id: info.id, kind: info.markup.kind, region_changed: info.region_changed,
            carried_from_id: info.carried_from_id}))"""
    )
    return found


def _cloud_and_comment(page, text: str, clause_query: str) -> None:  # type: ignore[no-untyped-def]
    """Draw a revision cloud and write a comment on it citing the first clause found for ``clause_query``."""
    page.keyboard.press("c")
    for x, y in CLOUD[:-1]:
        page.mouse.click(*_client_point(page, x, y))
    page.mouse.dblclick(*_client_point(page, *CLOUD[-1]))
    page.wait_for_function("() => window.liantuViewer.markups.items.size === 1")
    page.get_by_test_id("clause-search").fill(clause_query)
    page.get_by_test_id("clause-result").first.click()
    page.get_by_test_id("comment-text").fill(text)
    page.get_by_test_id("comment-submit").click()
    page.get_by_test_id("comment").first.wait_for()


def _conclude(journey: Journey, page, submission_id: int, track: str, outcome: str, note: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{journey.base}/rounds/submissions/{submission_id}")
    journey.shot(page, f"{track}-lead-{outcome}")
    form = page.locator(f'[data-testid="conclude-form"][data-track="{track}"]')
    form.locator(f'input[value="{outcome}"]').check()
    form.locator("textarea").fill(note)
    form.get_by_test_id("conclude").click()
    page.wait_for_url(re.compile(r".*done=concluded.*"))


def _intake(page, base: str, submission_id: int) -> None:  # type: ignore[no-untyped-def]
    """The clerk accepts (on the designer's commitment when a non-essential item is missing)."""
    page.goto(f"{base}/intake/submissions/{submission_id}")
    if page.get_by_test_id("accept").is_enabled():
        page.get_by_test_id("accept").click()
    else:
        page.get_by_test_id("commitment").fill("设计单位承诺十个工作日内补交所缺图纸")
        page.get_by_test_id("accept-commitment").click()
    page.get_by_test_id("done").wait_for()


def test_whole_journey(chromium, deployment: Deployment, screenshots: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journey = Journey(chromium, deployment, screenshots)
    base = journey.base

    # 1. The designer creates the project and uploads a DXF and a PDF set, then submits.
    designer = journey.page_of("designer")
    designer.get_by_test_id("project-new").click()
    for field, value in {
        "name": "江城市第一中学综合楼",
        "code": f"JC-2026-J-{deployment.name}",
        "construction_unit": "江城市教育局",
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
    submission_id = int(submission_url.rstrip("/").rsplit("/", 1)[1])
    dxf = tmp_path / "建施-02 二层平面图.dxf"
    dxf.write_bytes(layout_dxf("建施-02", "二层平面图"))
    pdf = tmp_path / "综合楼图纸.pdf"
    pdf.write_bytes(title_block_pdf(PDF_SHEETS))
    designer.get_by_test_id("file-input").set_input_files([str(dxf), str(pdf)])
    designer.wait_for_function("() => document.querySelectorAll('[data-testid=file-row]').length === 2")
    sheets_url = f"{submission_url}/sheets"
    _reload_until(designer, sheets_url, _sheets_ready(len(PDF_SHEETS) + 1), "intake of the sheets")
    expected = {number for number, _ in PDF_SHEETS} | {"建施-02"}
    assert set(designer.get_by_test_id("sheet-number").all_inner_texts()) == expected
    journey.shot(designer, "designer-sheets")
    designer.goto(submission_url)
    designer.get_by_test_id("submit-review").click()
    designer.wait_for_url(submission_url)
    assert designer.get_by_test_id("submission-state").inner_text() == "已提交"

    # 2. The clerk accepts; an invoice is issued.
    clerk = journey.page_of("clerk")
    _intake(clerk, base, submission_id)
    journey.shot(clerk, "clerk-accepted")

    # 3. The designer pays through the gateway; its signed callback marks the invoice paid.
    designer.goto(f"{base}/submissions/{submission_id}/fee")
    designer.get_by_test_id("pay").click()
    designer.get_by_test_id("gateway-pay").click()
    designer.get_by_test_id("fee-state").wait_for()
    assert designer.get_by_test_id("fee-state").get_attribute("data-state") == "paid"
    journey.shot(designer, "designer-paid")

    # 4. The clerk starts the review.
    clerk.goto(f"{base}/intake/submissions/{submission_id}")
    clerk.get_by_test_id("start-review").click()
    clerk.wait_for_url(re.compile(r".*done=review_started.*"))

    # 5. Fire and construction reviewers mark up and comment; civil air defence finds nothing.
    fire = journey.page_of("fire.reviewer")
    fire.goto(sheets_url)
    _open_viewer(fire, _viewer_url(fire, "消防-01"))
    _cloud_and_comment(fire, "消防车道净宽不应小于 4.0 m，请复核总平面", "消防车道")
    journey.shot(fire, "fire-reviewer-comment")
    construction = journey.page_of("construction.reviewer")
    construction.goto(sheets_url)
    construction_viewer = _viewer_url(construction, "建施-02")
    _open_viewer(construction, construction_viewer)
    _cloud_and_comment(construction, "楼梯间位置与疏散距离不符，请补充楼梯", "疏散楼梯")
    journey.shot(construction, "construction-reviewer-comment")

    # 6. One track passes, two ask for revision. The leads stay signed in for round 2.
    leads: dict[str, Any] = {}
    for lead, track, outcome in (
        ("airdef.lead", "civil_air_defence", "passed"),
        ("fire.lead", "fire", "revise"),
        ("construction.lead", "construction", "revise"),
    ):
        page = leads[lead] = journey.page_of(lead)
        _conclude(journey, page, submission_id, track, outcome, "本轮审查结论")
        if track == "construction":
            assert page.get_by_test_id("submission-state").inner_text() == "修改中"

    # 7. The designer answers every comment, uploads the changed sheet only, and resubmits.
    answers_url = f"{base}/rounds/submissions/{submission_id}/answers"
    designer.goto(answers_url)
    while designer.locator('[data-testid="answer-form"]').count():
        designer.locator('[data-testid="answer-form"] textarea').first.fill("已按意见修改，见修改后的图纸")
        designer.get_by_test_id("answer").first.click()
        designer.wait_for_url(re.compile(r".*done=answered.*"))
    journey.shot(designer, "designer-answered")
    designer.goto(submission_url)
    revised = tmp_path / "建施-02 二层平面图（修改）.dxf"
    revised.write_bytes(revised_dxf())
    designer.get_by_test_id("file-input").set_input_files([str(revised)])
    designer.wait_for_function("() => document.querySelectorAll('[data-testid=file-row]').length === 3")

    def resubmitted(page) -> bool:  # type: ignore[no-untyped-def]
        # Refused (with the reason shown) while the revised file is still being split into sheets.
        page.get_by_test_id("resubmit").click()
        page.wait_for_load_state()
        return "done=resubmitted" in page.url

    _reload_until(designer, answers_url, resubmitted, "the resubmission")
    journey.shot(designer, "designer-resubmitted")

    # 8. Round 2: accepted and started by the clerk (the fee is paid already).
    _intake(clerk, base, submission_id)
    clerk.goto(f"{base}/intake/submissions/{submission_id}")
    clerk.get_by_test_id("start-review").click()
    clerk.wait_for_url(re.compile(r".*done=review_started.*"))

    # 9. The reviewers see their markups carried over, the one on the changed region flagged; they resolve and pass.
    def compared(page) -> bool:  # type: ignore[no-untyped-def]
        _open_viewer(page, _viewer_url(page, "建施-02"))
        flagged = any(m["region_changed"] for m in _markups(page))
        return flagged and page.get_by_test_id("change-region").count() >= 1

    def round_2_rendered(page) -> bool:  # type: ignore[no-untyped-def]
        # The viewer opens only on a rendered sheet; the clerk may start the round before the revised one is.
        progress = page.get_by_test_id("intake-progress")
        idle = progress.get_attribute("data-busy") == "false"
        return bool(idle and progress.get_attribute("data-ready") == progress.get_attribute("data-count"))

    construction.goto(sheets_url)
    _reload_until(
        construction, sheets_url, lambda page: "第 2 轮" in page.content() and round_2_rendered(page), "round 2 sheets"
    )
    deadline = time.monotonic() + WORK_DEADLINE_S
    while not compared(construction):
        assert time.monotonic() < deadline, "the carried-over markup was never flagged as changed"
        construction.goto(sheets_url)
    assert construction.get_by_test_id("region-changed").count() >= 1
    assert construction.get_by_test_id("change-region").count() >= 1
    journey.shot(construction, "construction-region-changed")
    fire.goto(sheets_url)
    _open_viewer(fire, _viewer_url(fire, "消防-01"))
    carried = _markups(fire)
    assert len(carried) == 1
    assert not carried[0]["region_changed"]
    for page in (fire, construction):
        page.get_by_test_id("comment-action-resolve").first.click()
        page.get_by_test_id("comment-action-send").click()
        page.get_by_test_id("comment-action-resolve").wait_for(state="detached")
    # Every routed track reviews the new round; civil air defence, which passed before, passes again.
    for lead, track in (
        ("airdef.lead", "civil_air_defence"),
        ("fire.lead", "fire"),
        ("construction.lead", "construction"),
    ):
        _conclude(journey, leads[lead], submission_id, track, "passed", "复审通过")
        leads[lead].context.close()

    # 10. The result is composed by the worker (签章中); three departments sign it in turn.
    progress_url = f"{base}/submissions/{submission_id}/progress"
    try:
        _reload_until(
            designer,
            progress_url,
            lambda p: p.get_by_test_id("progress-state").inner_text() == "签章中",
            "composing the result",
        )
    except BaseException:
        print(deployment.workers.workers[0].output()[-6000:])
        raise
    journey.shot(designer, "designer-progress-sealing")
    for index, signer in enumerate(("fire.signer", "airdef.signer", "construction.signer")):
        page = journey.page_of(signer)
        result_url = f"{base}/submissions/{submission_id}/result"
        _reload_until(page, result_url, lambda p: p.get_by_test_id("sign").count() == 1, "the result to sign")
        page.get_by_test_id("sign").click()
        page.get_by_test_id("sealing-done").wait_for(timeout=90_000)
        assert page.locator('[data-testid="seal-step"][data-signed="true"]').count() == index + 1
        journey.shot(page, f"signed-{index + 1}")
        page.context.close()

    # 11. The bureau verifies the result and issues the permit.
    bureau = journey.page_of("bureau")
    bureau.get_by_test_id("nav-verification").click()
    row = bureau.locator(f'[data-testid="result-row"][data-submission="{submission_id}"]')
    row.get_by_test_id("verify-stored").click()
    assert bureau.get_by_test_id("verdict").get_attribute("data-valid") == "true"
    journey.shot(bureau, "bureau-verified")
    bureau.get_by_test_id("issue-permit").click()
    bureau.get_by_test_id("permit-issued").wait_for()
    journey.shot(bureau, "bureau-permit")

    # 12. The designer sees the permit issued; the public verification page says the result is valid.
    designer.goto(f"{base}/submissions/{submission_id}/progress")
    assert designer.get_by_test_id("progress-state").inner_text() == "已发证"
    found = re.search(r"审查编号\s*(\S+)", designer.locator("main").inner_text())
    assert found
    journey.shot(designer, "designer-progress")
    journey.close()
    public = chromium.new_context(locale="zh-CN").new_page()
    public.goto(f"{base}/verify/{found.group(1)}")
    assert public.get_by_test_id("verdict").get_attribute("data-valid") == "true"
    journey.shot(public, "public-valid")
    public.context.close()

    assert journey.errors == []
