"""In a real browser: the review viewer's tools, shortcuts and measuring, and two reviewers working on one sheet.

One server and one set of sheets serve the whole module: a PDF with 建施-01 (its scale made unknown) and 建施-02,
and a DXF layout 建施-03 at 1:100 in millimetres, all in a round whose fire track (消防) is under review.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.intake.pipeline import process_drawing_file, render_sheet_revision
from app.intake.steps_render import ViewOptions
from app.platform import Platform
from app.seed import DEMO_PASSWORD
from app.web import VENDOR_DIR
from storage.models import (
    Markup,
    RevisionComparison,
    Round,
    Sheet,
    SheetRevision,
    SubmissionState,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
)
from tests.app.intake.makers import layout_dxf, title_block_pdf, upload_original
from tests.app.web.test_sheet_pages import _add_file, _submission
from tests.support.browser import free_port
from tests.support.web import make_web_platform
from tests.support.workers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 10_000
MM_PER_POINT_AT_1_100 = 100 * 25.4 / 72
"""Drawing millimetres per sheet point on a 1:100 sheet drawn in millimetres."""


@dataclass
class Site:
    url: str
    platform: Platform
    sheets: dict[str, int]
    """Sheet number → revision id."""
    shots: Path
    states: dict[str, Any] = field(default_factory=dict)
    """Signed-in browser state per user name, so that each user logs in once."""


@pytest.fixture(scope="module")
def site(seeded_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not (VENDOR_DIR / "openseadragon" / "openseadragon.min.js").exists():
        pytest.skip("OpenSeadragon is not installed under app/static/vendor (run make)")
    import uvicorn

    from app.web import create_app

    root = tmp_path_factory.mktemp("review-viewer")
    platform = make_web_platform(seeded_database, root / "live")
    submission_id = _submission(platform)
    revisions: list[int] = []
    pdf = _add_file(platform, submission_id, title_block_pdf(), "建施.pdf")
    revisions += process_drawing_file(platform.sessions, platform.store, pdf).revision_ids
    dxf = upload_original(platform.sessions, platform.store, submission_id, layout_dxf(), "建施-03.dxf")  # type: ignore[arg-type]
    revisions += process_drawing_file(platform.sessions, platform.store, dxf).revision_ids
    for revision_id in revisions:
        render_sheet_revision(platform.sessions, platform.store, revision_id, options=ViewOptions(dpi=72))
    with platform.sessions() as db, db.begin():
        pairs = db.execute(
            select(Sheet.number, SheetRevision).join(SheetRevision).where(SheetRevision.id.in_(revisions))
        ).all()
        sheets = {number: revision.id for number, revision in pairs}
        dxf_revision = db.get_one(SheetRevision, sheets["建施-03"])
        assert dxf_revision.units_per_point == pytest.approx(MM_PER_POINT_AT_1_100, rel=1e-3)
        assert dxf_revision.units == "mm"
        # 建施-01 stands for a PDF whose title block gives no scale: the reviewer calibrates on a known length.
        unscaled = db.get_one(SheetRevision, sheets["建施-01"])
        unscaled.units_per_point, unscaled.units = None, ""
        review = TrackReview(round_id=dxf_revision.round_id, track_code="fire", state=TrackReviewState.IN_REVIEW)
        db.add(review)
        db.flush()
        for username in ("fire.reviewer", "fire.lead"):
            user_id = db.scalars(select(User.id).where(User.username == username)).one()
            db.add(TrackReviewer(track_review_id=review.id, user_id=user_id))
    assert set(sheets) == {"建施-01", "建施-02", "建施-03"}

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="liantu-viewer-server", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=15, what="the web server to start")
    assert thread.is_alive()
    shots = root / "screenshots"
    shots.mkdir()
    yield Site(f"http://127.0.0.1:{port}", platform, sheets, shots)
    server.should_exit = True
    thread.join(timeout=10)
    platform.close()


def _signed_in(chromium, site: Site, username: str):  # type: ignore[no-untyped-def]
    """A page of a new browser context signed in as ``username`` (through the login form once per module)."""
    state = site.states.get(username)
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1440, "height": 960}, storage_state=state)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    if state is None:
        page.goto(f"{site.url}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url(f"{site.url}/")
        site.states[username] = context.storage_state()
    return page


def _open(page, site: Site, number: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site.url}/sheet-revisions/{site.sheets[number]}")
    page.wait_for_selector("body[data-viewer='ready']", timeout=TIMEOUT_MS)
    page.wait_for_function("() => window.liantuViewer.viewer.world.getItemAt(0).getFullyLoaded()", timeout=TIMEOUT_MS)


def _client_point(page, x: float, y: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Where the sheet point (x, y) is on the screen now."""
    found: list[float] = page.evaluate(
        """([x, y]) => {
            const v = window.liantuViewer;
            const OSD = window.OpenSeadragon;
            const w = v.overlay.width;
            const p = v.viewer.viewport.viewportToViewerElementCoordinates(new OSD.Point(x / w, y / w));
            const box = v.viewer.canvas.getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [x, y],
    )
    return found[0], found[1]


def _click_sheet(page, x: float, y: float) -> None:  # type: ignore[no-untyped-def]
    cx, cy = _client_point(page, x, y)
    page.mouse.click(cx, cy)


def _zoom(page) -> float:  # type: ignore[no-untyped-def]
    return float(page.evaluate("() => window.liantuViewer.viewer.viewport.getZoom(true)"))


def _wait_zoom(page, predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 5
    while not predicate(_zoom(page)):
        if time.monotonic() > deadline:
            pytest.fail(f"zoom did not {what}: {_zoom(page)}")
        page.wait_for_timeout(50)  # polling the viewer's animation with a deadline


def _distance(text: str) -> float:
    found = re.search(r"([\d.]+)\s*mm", text)
    assert found, text
    return float(found.group(1))


def test_shortcuts_jump_and_measure_in_millimetres(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _signed_in(chromium, site, "fire.reviewer")
    _open(page, site, "建施-03")
    assert page.get_by_test_id("viewer-number").inner_text().startswith("建施-03")
    assert page.get_by_test_id("viewer-sheet").count() == 3
    assert page.locator("#viewer-strip img").count() == 3

    # ? shows the shortcuts, Escape closes them.
    page.keyboard.press("?")
    page.get_by_test_id("viewer-help").wait_for(state="visible")
    assert "适合窗口" in page.get_by_test_id("viewer-help").inner_text()
    page.screenshot(path=site.shots / "viewer-help.png")
    page.keyboard.press("Escape")
    page.get_by_test_id("viewer-help").wait_for(state="hidden")

    # 1 zooms to one image pixel per screen pixel, 0 and F fit the sheet again.
    home = _zoom(page)
    page.keyboard.press("1")
    actual = float(page.evaluate("() => window.liantuViewer.viewer.viewport.imageToViewportZoom(1)"))
    _wait_zoom(page, lambda z: abs(z - actual) < actual * 0.01, "reach 1:1")
    page.keyboard.press("0")
    _wait_zoom(page, lambda z: abs(z - home) < home * 0.01, "return home")
    page.keyboard.press("1")
    _wait_zoom(page, lambda z: abs(z - actual) < actual * 0.01, "reach 1:1 again")
    page.keyboard.press("f")
    _wait_zoom(page, lambda z: abs(z - home) < home * 0.01, "fit on F")

    # M measures: 200 points across the sheet at 1:100 are 7,056 mm of building.
    page.keyboard.press("m")
    assert page.get_by_test_id("tool-measure").get_attribute("class") is not None
    assert "active" in (page.get_by_test_id("tool-measure").get_attribute("class") or "")
    _click_sheet(page, 300, 300)
    _click_sheet(page, 500, 300)
    result = page.get_by_test_id("measure-result").inner_text()
    assert "mm" in result
    expected = 200 * MM_PER_POINT_AT_1_100
    assert math.isclose(_distance(result), expected, rel_tol=0.02), (result, expected)
    assert page.get_by_test_id("calibrate-form").is_hidden()
    page.screenshot(path=site.shots / "viewer-measure-dxf.png")

    # The jump box takes 建施01 for 建施-01.
    page.get_by_test_id("viewer-jump").fill("建施01")
    page.get_by_test_id("viewer-jump").press("Enter")
    page.wait_for_url(f"{site.url}/sheet-revisions/{site.sheets['建施-01']}")
    page.wait_for_selector("body[data-viewer='ready']", timeout=TIMEOUT_MS)
    page.get_by_test_id("viewer-jump").fill("结施-99")
    page.get_by_test_id("viewer-jump").press("Enter")
    assert "结施-99" in page.get_by_test_id("viewer-jump-error").inner_text()
    # ] goes to the next sheet.
    page.locator("#sheet-viewer").click()
    page.keyboard.press("]")
    page.wait_for_url(f"{site.url}/sheet-revisions/{site.sheets['建施-02']}")
    assert page.errors == []
    page.context.close()


def test_measure_calibrates_a_pdf_sheet_on_a_known_length(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _signed_in(chromium, site, "fire.reviewer")
    _open(page, site, "建施-01")
    page.keyboard.press("m")
    _click_sheet(page, 100, 100)
    _click_sheet(page, 300, 100)
    result = page.get_by_test_id("measure-result").inner_text()
    assert "磅" in result
    assert "mm" not in result
    page.get_by_test_id("calibrate-length").fill("6000")
    page.get_by_test_id("calibrate-save").click()
    assert "30" in page.get_by_test_id("measure-result").inner_text()  # 6000 mm / 200 pt = 30 mm per point
    _click_sheet(page, 100, 400)
    _click_sheet(page, 200, 400)
    assert math.isclose(_distance(page.get_by_test_id("measure-result").inner_text()), 3000, rel_tol=0.02)
    # Kept for this revision after a reload.
    _open(page, site, "建施-01")
    page.keyboard.press("m")
    _click_sheet(page, 100, 500)
    _click_sheet(page, 150, 500)
    assert math.isclose(_distance(page.get_by_test_id("measure-result").inner_text()), 1500, rel_tol=0.02)
    page.screenshot(path=site.shots / "viewer-measure-calibrated.png")
    assert page.errors == []
    page.context.close()


def _api_ready(page, site: Site) -> bool:  # type: ignore[no-untyped-def]
    response = page.request.get(f"{site.url}/api/v1/sheet-revisions/{site.sheets['建施-01']}/context")
    return bool(response.status == 200)


def test_the_cloud_is_drawn_as_the_platform_draws_it(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    """The browser's revision cloud has the same path data as review/markups/geometry.cloud_svg_path."""
    from review.markups.geometry import cloud_svg_path

    page = _signed_in(chromium, site, "fire.reviewer")
    _open(page, site, "建施-01")
    shapes = [
        ((100.0, 100.0), (260.0, 100.0), (260.0, 180.0), (100.0, 180.0)),  # clockwise on screen
        ((10.5, 20.25), (15.0, 90.0), (80.0, 60.0)),  # counter-clockwise, uneven edges
    ]
    for points in shapes:
        for arc in (12.0, 7.5):
            drawn = page.evaluate(
                "async ([points, arc]) => (await import('/static/viewer/geometry.js')).cloudPath(points, arc)",
                [points, arc],
            )
            assert drawn == cloud_svg_path(points, arc)
    page.context.close()


def _markups(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The markups the page shows: id, version and the box on the sheet."""
    found: list[dict[str, Any]] = page.evaluate(
        """() => [...window.liantuViewer.markups.items.values()].map(({info}) => ({
            id: info.id, version: info.version, kind: info.markup.kind, points: info.markup.points,
            shown: document.querySelector(`g[data-markup-id="${info.id}"]`).dataset.version,
        }))"""
    )
    return found


def _wait_markups(page, predicate, what: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 3
    while True:
        found = _markups(page)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: the page shows {found}")
        page.wait_for_timeout(50)  # polling the page's state with a deadline


def _drag_sheet(page, start: tuple[float, float], end: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    sx, sy = _client_point(page, *start)
    ex, ey = _client_point(page, *end)
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move((sx + ex) / 2, (sy + ey) / 2, steps=4)
    page.mouse.move(ex, ey, steps=4)
    page.mouse.up()


def _live(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector("body[data-live='open']", timeout=TIMEOUT_MS)


def test_two_reviewers_see_each_others_markups_and_comments_live(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    a = _signed_in(chromium, site, "fire.reviewer")
    b = _signed_in(chromium, site, "fire.lead")
    if not _api_ready(a, site):
        pytest.skip("the review API does not answer yet")
    for page in (a, b):
        _open(page, site, "建施-01")
        _live(page)
    assert _markups(b) == []

    # A draws a revision cloud: three clicks and a double-click.
    a.keyboard.press("c")
    for x, y in ((200, 200), (420, 200), (420, 330)):
        _click_sheet(a, x, y)
    cx, cy = _client_point(a, 200, 330)
    a.mouse.dblclick(cx, cy)
    mine = _wait_markups(a, lambda found: len(found) == 1, "A's cloud was not created")[0]
    assert mine["kind"] == "cloud"
    assert len(mine["points"]) == 4
    path = a.locator(f'g[data-markup-id="{mine["id"]}"] path').get_attribute("d") or ""
    assert path.count("A") > 20  # bulges along every edge
    # B's open viewer shows it without a reload.
    theirs = _wait_markups(b, lambda found: len(found) == 1, "B did not receive A's cloud")[0]
    assert theirs["id"] == mine["id"]
    assert b.locator(f'g[data-markup-id="{mine["id"]}"].editable').count() == 0

    # A writes a comment on the cloud with a clause of GB 50016; B's panel shows it.
    a.get_by_test_id("clause-search").fill("疏散楼梯")
    a.get_by_test_id("clause-result").first.wait_for(timeout=TIMEOUT_MS)
    clause = a.get_by_test_id("clause-result").first.inner_text()
    a.get_by_test_id("clause-result").first.click()
    assert a.get_by_test_id("clause-chip").count() == 1
    text = "疏散楼梯间的门应采用乙级防火门 <b>并向疏散方向开启</b>"
    a.get_by_test_id("comment-text").fill(text)
    assert "1" in a.get_by_test_id("comment-selection").inner_text()
    a.get_by_test_id("comment-submit").click()
    a.get_by_test_id("comment").first.wait_for(timeout=TIMEOUT_MS)
    b.get_by_test_id("comment").first.wait_for(timeout=3_000)
    for page in (a, b):
        assert page.get_by_test_id("comment-text-shown").first.inner_text() == text  # shown as text, not markup
        assert "GB 50016" in page.get_by_test_id("comment-clause").first.inner_text()
        assert page.locator(".comment-text b").count() == 0
    assert clause.split()[0] in b.get_by_test_id("comment-clause").first.inner_text()

    # The filters narrow the list; the comment leads B to its cloud.
    b.get_by_test_id("comment-filter-status").select_option("resolved")
    assert b.get_by_test_id("comment").count() == 0
    b.get_by_test_id("comment-filter-status").select_option("open")
    assert b.get_by_test_id("comment").count() == 1
    b.get_by_test_id("comment-filter-status").select_option("")
    zoom = _zoom(b)
    b.get_by_test_id("comment-locate").first.click()
    _wait_zoom(b, lambda z: z > zoom * 1.5, "zoom in on the comment's cloud")
    assert b.locator(f'g[data-markup-id="{mine["id"]}"].selected').count() == 1
    b.keyboard.press("0")
    _wait_zoom(b, lambda z: abs(z - zoom) < zoom * 0.01, "return home")
    b.keyboard.press("Escape")

    # B replies in the thread; A sees the reply arrive.
    b.get_by_test_id("comment-action-reply").first.click()
    b.get_by_test_id("comment-action-text").fill("同意，另请核对防火门开启方向")
    b.get_by_test_id("comment-action-send").click()
    a.get_by_test_id("comment-entry").filter(has_text="另请核对").wait_for(timeout=3_000)

    # A keeps the text as a template and picks it again for the next comment.
    a.get_by_test_id("comment-text").fill("消防车道净宽不应小于 4.0 m")
    a.get_by_test_id("template-save").click()
    a.wait_for_function("() => document.getElementById('comment-template').options.length > 1", timeout=TIMEOUT_MS)
    a.get_by_test_id("comment-text").fill("")
    a.get_by_test_id("comment-template").select_option(index=1)
    assert a.get_by_test_id("comment-text").input_value() == "消防车道净宽不应小于 4.0 m"
    template_id = int(a.get_by_test_id("comment-template").input_value())
    a.evaluate("() => document.activeElement.blur()")
    a.keyboard.press("Escape")  # the cloud already has its comment: this one is on the sheet
    # The comment written from the template names it, so that its use is counted.
    with a.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/comments")) as sent:
        a.get_by_test_id("comment-submit").click()
    assert sent.value.request.post_data_json["template_id"] == template_id
    assert sent.value.ok, sent.value.text()
    a.get_by_test_id("comment-text-shown").filter(has_text="消防车道净宽").first.wait_for(timeout=TIMEOUT_MS)
    assert a.get_by_test_id("comment-template").input_value() == ""
    a.get_by_test_id("comment-text").fill("")
    a.screenshot(path=site.shots / "reviewer-a-cloud-comment.png")
    b.screenshot(path=site.shots / "reviewer-b-live.png")

    # A moves the cloud; B's copy follows.
    before = _markups(a)[0]["version"]  # the comment took the cloud in: that counts as a change too
    a.get_by_test_id("tool-select").click()
    _drag_sheet(a, (300, 260), (360, 300))
    moved = _wait_markups(a, lambda found: found[0]["version"] > before, "A's move was not saved")[0]
    assert moved["points"][0] == pytest.approx([260, 240], abs=2)
    followed = _wait_markups(b, lambda found: found[0]["version"] == moved["version"], "B missed the move")[0]
    assert followed["points"] == moved["points"]
    b.screenshot(path=site.shots / "reviewer-b-moved.png")

    # B edits a markup of their own from a window whose live connection is down: that edit is stale.
    b.keyboard.press("r")
    _drag_sheet(b, (600, 500), (700, 560))
    rect = _wait_markups(b, lambda found: len(found) == 2, "B's rectangle was not created")
    own = next(m for m in rect if m["kind"] == "rectangle")
    stale = b.context.new_page()
    stale_errors: list[str] = []
    stale.on("pageerror", lambda exc: stale_errors.append(str(exc)))
    stale.route("**/events", lambda route: route.abort())
    stale.goto(f"{site.url}/sheet-revisions/{site.sheets['建施-01']}")
    stale.wait_for_selector("body[data-viewer='ready']", timeout=TIMEOUT_MS)
    _wait_markups(stale, lambda found: len(found) == 2, "the second window did not load the markups")
    b.keyboard.press("v")
    _drag_sheet(b, (650, 530), (650, 600))
    _wait_markups(b, lambda found: any(m["id"] == own["id"] and m["version"] == 2 for m in found), "B's move")
    stale.keyboard.press("v")
    _drag_sheet(stale, (650, 530), (750, 530))
    notice = stale.get_by_test_id("viewer-notice")
    # (Before the edit it told that live updates were cut off.)
    stale.wait_for_function(
        "() => document.getElementById('viewer-notice').textContent.includes('已被他人修改')", timeout=TIMEOUT_MS
    )
    assert notice.get_attribute("data-level") == "warning"
    assert "已被他人修改" in notice.inner_text()
    assert "Someone else changed this markup" in notice.inner_text()
    # The stale window now shows what the server holds: B's first move, not the refused one.
    reloaded = _wait_markups(
        stale, lambda found: any(m["id"] == own["id"] and m["version"] == 2 for m in found), "reload after 412"
    )
    assert next(m for m in reloaded if m["id"] == own["id"])["points"][0][1] == pytest.approx(570, abs=2)
    stale.screenshot(path=site.shots / "stale-edit-conflict.png")
    assert a.errors == []
    assert b.errors == []
    assert stale_errors == []
    a.context.close()
    b.context.close()


def test_every_tool_draws_a_markup_the_platform_accepts(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _signed_in(chromium, site, "fire.reviewer")
    if not _api_ready(page, site):
        pytest.skip("the review API does not answer yet")
    _open(page, site, "建施-02")
    _live(page)
    page.get_by_test_id("markup-text").fill("见详图 <script>")
    drags = ("rectangle", "ellipse", "highlight", "arrow", "free_text")
    for row, kind in enumerate(drags):
        page.get_by_test_id(f"tool-{kind}").click()
        _drag_sheet(page, (80 + row * 120, 120), (160 + row * 120, 180))
        _wait_markups(page, lambda found, kind=kind: any(m["kind"] == kind for m in found), f"no {kind}")
    for kind in ("polygon", "polyline"):
        page.get_by_test_id(f"tool-{kind}").click()
        y = 300 if kind == "polygon" else 450
        for x, dy in ((100, 0), (220, 40), (160, 100)):
            _click_sheet(page, x, y + dy)
        page.keyboard.press("Enter")
        _wait_markups(page, lambda found, kind=kind: any(m["kind"] == kind for m in found), f"no {kind}")
    page.get_by_test_id("tool-freehand").click()
    sx, sy = _client_point(page, 400, 400)
    page.mouse.move(sx, sy)
    page.mouse.down()
    for step in range(1, 30):
        page.mouse.move(sx + step * 6, sy + 20 * math.sin(step / 4))
    page.mouse.up()
    found = _wait_markups(page, lambda found: any(m["kind"] == "freehand" for m in found), "no freehand")
    assert {m["kind"] for m in found} == {*drags, "polygon", "polyline", "freehand"}
    # Visible text is text: the arrow and the free text show what was typed, nothing runs.
    labels = page.locator("g[data-kind='arrow'] text, g[data-kind='free_text'] text").all_text_contents()
    assert labels == ["见详图 <script>", "见详图 <script>"]
    found = _markups(page)
    # A polygon crossing itself is refused by the platform: a notice says why, nothing is added.
    page.get_by_test_id("tool-polygon").click()
    for x, y in ((600, 550), (700, 650), (700, 550), (600, 650)):
        _click_sheet(page, x, y)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.getElementById('viewer-notice').textContent.includes('自相交')", timeout=TIMEOUT_MS
    )
    assert page.get_by_test_id("viewer-notice").get_attribute("data-level") == "error"
    assert len(_markups(page)) == len(found)
    # Double-clicking the arrow puts its text in the box; Enter saves the new text.
    page.get_by_test_id("tool-select").click()
    arrow = next(m for m in found if m["kind"] == "arrow")
    (x0, y0), (x1, y1) = arrow["points"]
    ax, ay = _client_point(page, (x0 + x1) / 2, (y0 + y1) / 2)
    page.mouse.dblclick(ax, ay)
    assert page.get_by_test_id("markup-text").input_value() == "见详图 <script>"
    page.get_by_test_id("markup-text").fill("见大样 3")
    page.get_by_test_id("markup-text").press("Enter")
    _wait_markups(
        page, lambda now: any(m["id"] == arrow["id"] and m["version"] > arrow["version"] for m in now), "edit"
    )
    assert page.locator(f'g[data-markup-id="{arrow["id"]}"] text').text_content() == "见大样 3"
    page.get_by_test_id("markup-text").blur()
    # Select the polygon, delete it: gone here and on the server.
    polygon = next(m for m in found if m["kind"] == "polygon")
    _click_sheet(page, 160, 340)
    # Its first vertex, dragged, reshapes it.
    assert page.get_by_test_id("vertex-handle").count() == 3
    _drag_sheet(page, (100, 300), (120, 280))
    reshaped = _wait_markups(
        page,
        lambda now: any(m["id"] == polygon["id"] and m["version"] > polygon["version"] for m in now),
        "the vertex was not moved",
    )
    assert next(m for m in reshaped if m["id"] == polygon["id"])["points"][0] == pytest.approx([120, 280], abs=1.5)
    page.keyboard.press("Delete")
    _wait_markups(page, lambda found: all(m["id"] != polygon["id"] for m in found), "the polygon was not deleted")
    listed = page.evaluate(
        "(url) => fetch(url).then(r => r.json()).then(d => d.items.map(a => a.liantu.id))",
        f"/api/v1/sheet-revisions/{site.sheets['建施-02']}/markups",
    )
    assert polygon["id"] not in listed
    assert len(listed) == len(found) - 1
    page.screenshot(path=site.shots / "every-tool.png")
    # Zooming moves the layer by its transform alone: nothing inside the SVG is redrawn frame by frame.
    changes = page.evaluate(
        """() => new Promise((resolve) => {
            const v = window.liantuViewer;
            const before = v.overlay.svg.style.transform;
            let mutations = 0;
            const watch = new MutationObserver((records) => { mutations += records.length; });
            watch.observe(v.overlay.markups, { subtree: true, childList: true, attributes: true, characterData: true });
            let frames = 0;
            v.viewer.addHandler("update-viewport", () => { frames += 1; });
            v.viewer.viewport.zoomBy(3);
            v.viewer.addOnceHandler("animation-finish", () => {
                watch.disconnect();
                resolve({ mutations, frames, moved: v.overlay.svg.style.transform !== before });
            });
        })"""
    )
    assert changes["frames"] > 1
    assert changes["moved"]
    assert changes["mutations"] == 0
    assert page.errors == []
    page.context.close()


def _second_round(site: Site) -> int:
    """A second round in which 建施-01 came back changed, with a markup carried over onto the change."""
    with site.platform.sessions() as db, db.begin():
        old = db.get_one(SheetRevision, site.sheets["建施-01"])
        first = db.get_one(Round, old.round_id)
        second = Round(submission_id=first.submission_id, number=2)
        db.add(second)
        db.flush()
        new = SheetRevision(
            sheet_id=old.sheet_id,
            round_id=second.id,
            drawing_file_id=old.drawing_file_id,
            width_pt=old.width_pt,
            height_pt=old.height_pt,
            scale=old.scale,
            pdf_key=old.pdf_key,
            tiles_key=old.tiles_key,
            thumbnail_key=old.thumbnail_key,
            paper=old.paper,
            status=old.status,
        )
        db.add(new)
        db.flush()
        db.add(
            RevisionComparison(
                sheet_revision_id=new.id,
                previous_revision_id=old.id,
                method="raster",
                regions=[{"x0": 560.0, "y0": 420.0, "x1": 760.0, "y1": 560.0, "what": "changed"}],
            )
        )
        review = TrackReview(round_id=second.id, track_code="fire", state=TrackReviewState.IN_REVIEW)
        db.add(review)
        author = db.scalars(select(User.id).where(User.username == "fire.reviewer")).one()
        db.flush()
        db.add(TrackReviewer(track_review_id=review.id, user_id=author))
        value = {
            "kind": "rectangle",
            "points": [[600.0, 450.0], [700.0, 520.0]],
            "text": "",
            "box": None,
            "colour": "#d92d20",
            "stroke_width": 1.5,
            "opacity": 1.0,
            "cloud_arc": 0.0,
        }
        db.add(
            Markup(
                sheet_revision_id=new.id,
                track_code="fire",
                author_id=author,
                kind="rectangle",
                shape=value,
                region_changed=True,
            )
        )
        return new.id


def _store_overlay(site: Site, revision_id: int) -> None:
    """An overlay image for the comparison, as the compare job stores it (old red, new blue)."""
    import io

    import numpy as np

    from review.compare import overlay_png

    with site.platform.sessions() as db, db.begin():
        comparison = db.get_one(RevisionComparison, revision_id)
        old = np.full((420, 595), 255, dtype=np.uint8)
        new = old.copy()
        old[100:110, 100:300] = 0
        new[200:210, 100:300] = 0
        png = overlay_png(old, new, (), 72 / 36)
        key = f"derived/compare/test-{revision_id}.png"
        site.platform.store.put_stream(key, io.BytesIO(png), content_type="image/png", expected_size=len(png))
        comparison.overlay_key = key


def test_compare_with_the_previous_revision(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _signed_in(chromium, site, "fire.reviewer")
    if not _api_ready(page, site):
        pytest.skip("the review API does not answer yet")
    revision_id = _second_round(site)
    page.goto(f"{site.url}/sheet-revisions/{revision_id}")
    page.wait_for_selector("body[data-viewer='ready']", timeout=TIMEOUT_MS)
    assert page.get_by_test_id("change-region").count() == 1
    page.get_by_test_id("region-changed").first.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_test_id("region-changed").first.text_content() == "区域已修改"
    # Overlay: the old revision is laid over the new one in the same viewer.
    page.get_by_test_id("compare-overlay").click()
    page.wait_for_selector("body[data-compare='overlay']", timeout=TIMEOUT_MS)
    assert page.evaluate("() => window.liantuViewer.viewer.world.getItemCount()") == 2
    # No overlay image was stored for this revision: the old tiles are faded on top, and the legend says so,
    # Chinese first.
    legend = page.get_by_test_id("compare-legend")
    assert legend.is_visible()
    assert legend.inner_text().strip() == "旧版（半透明叠加） / Old revision (faded on top)"
    assert not page.locator("[data-legend='old']").is_visible()
    page.screenshot(path=site.shots / "compare-overlay.png")
    page.get_by_test_id("compare-overlay").click()
    assert page.evaluate("() => window.liantuViewer.viewer.world.getItemCount()") == 1
    assert not page.get_by_test_id("compare-legend").is_visible()
    # Once the platform stored its two-colour image, the legend names the colours.
    _store_overlay(site, revision_id)
    page.get_by_test_id("compare-overlay").click()
    page.wait_for_selector("body[data-compare='overlay']", timeout=TIMEOUT_MS)
    rows = [page.locator(f"[data-legend='{key}']") for key in ("old", "new", "both")]
    assert [row.inner_text().strip() for row in rows] == [
        "旧版独有（红） / Only in the old revision (red)",
        "新版独有（蓝） / Only in the new revision (blue)",
        "两版相同（黑） / In both (black)",
    ]
    assert not page.locator("[data-legend='faded']").is_visible()
    page.screenshot(path=site.shots / "compare-overlay-legend.png")
    page.get_by_test_id("compare-overlay").click()
    # Side by side: a second viewer on the old revision that follows the first one.
    page.get_by_test_id("compare-side").click()
    page.wait_for_selector("body[data-compare='side']", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => window.liantuViewer.compare.other.world.getItemAt(0)?.getFullyLoaded()", timeout=TIMEOUT_MS
    )
    # The change region is drawn on the old half too, at the same place on its sheet.
    old_region = page.locator("#compare-viewer [data-testid='change-region']")
    old_region.wait_for(timeout=TIMEOUT_MS)
    new_region = page.locator("#sheet-viewer [data-testid='change-region']")
    assert page.get_by_test_id("change-region").count() == 2
    old_box, new_box = old_region.bounding_box(), new_region.bounding_box()
    assert old_box is not None
    assert new_box is not None
    assert abs(old_box["width"] - new_box["width"]) < 2
    assert abs(old_box["y"] - new_box["y"]) < 2
    page.screenshot(path=site.shots / "compare-side.png")
    page.keyboard.press("1")
    page.wait_for_function(
        """() => {
            const c = window.liantuViewer.compare.other;
            const z = window.liantuViewer.viewer.viewport.getZoom();
            return c && Math.abs(c.viewport.getZoom() - z) < z * 0.01;
        }""",
        timeout=TIMEOUT_MS,
    )
    page.screenshot(path=site.shots / "compare-side-1to1.png")
    assert page.errors == []
    page.context.close()


def test_the_viewer_speaks_english_second(chromium, site: Site) -> None:  # type: ignore[no-untyped-def]
    state = _signed_in(chromium, site, "fire.reviewer")
    state.context.close()
    context = chromium.new_context(
        locale="en-GB", viewport={"width": 1440, "height": 960}, storage_state=site.states["fire.reviewer"]
    )
    page = context.new_page()
    _open(page, site, "建施-03")
    assert page.get_by_test_id("viewer-fit").inner_text() == "Fit"
    assert "Review comments" in page.locator("#viewer-comments h2").inner_text()
    page.keyboard.press("m")
    _click_sheet(page, 300, 300)
    _click_sheet(page, 400, 300)
    assert page.get_by_test_id("measure-result").inner_text().startswith("Distance ")
    page.screenshot(path=site.shots / "viewer-english.png")
    context.close()


def test_the_designer_answers_an_issued_comment_with_an_attachment(  # type: ignore[no-untyped-def]
    chromium, site: Site, tmp_path: Path
) -> None:
    reviewer = _signed_in(chromium, site, "fire.reviewer")
    if not _api_ready(reviewer, site):
        pytest.skip("the review API does not answer yet")
    _open(reviewer, site, "建施-02")
    text = "首层疏散外门净宽不足 1.10 m，请调整"
    status = reviewer.evaluate(
        """([url, body]) => fetch(url, {
            method: "POST", credentials: "same-origin", body: JSON.stringify(body),
            headers: {"Content-Type": "application/json",
                      "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
        }).then((r) => r.status)""",
        [
            f"/api/v1/sheet-revisions/{site.sheets['建施-02']}/comments",
            {"track": "fire", "severity": "general", "text": text, "clause_ids": [], "markup_ids": []},
        ],
    )
    assert status == 201
    with site.platform.sessions() as db, db.begin():
        round_id = db.get_one(SheetRevision, site.sheets["建施-02"]).round_id
        review = db.scalars(
            select(TrackReview).where(TrackReview.round_id == round_id, TrackReview.track_code == "fire")
        ).one()
        review.comments_issued_at = dt.datetime.now(dt.UTC)  # the track issues its comments of the round
        submission = db.get_one(Round, round_id).submission
        state_before = submission.state
        submission.state = SubmissionState.REVISING  # the designer answers while the submission is with them

    designer = _signed_in(chromium, site, "designer")
    _open(designer, site, "建施-02")
    comment = designer.get_by_test_id("comment").filter(has_text=text)
    comment.wait_for(timeout=TIMEOUT_MS)
    assert designer.locator("#markup-tools").is_hidden()  # designers draw nothing
    assert designer.get_by_test_id("comment-form").is_hidden()
    assert comment.get_by_test_id("comment-action-resolve").count() == 0
    comment.get_by_test_id("comment-action-answer").click()
    attachment = tmp_path / "修改说明.txt"
    attachment.write_text("已将疏散外门净宽调整为 1.20 m。", encoding="utf-8")
    comment.get_by_test_id("comment-action-text").fill("已修改，见建施-02 修改版")
    comment.get_by_test_id("comment-action-file").set_input_files(str(attachment))
    comment.get_by_test_id("comment-action-send").click()
    answered = designer.get_by_test_id("comment").filter(has_text=text)
    answered.get_by_test_id("comment-entry").filter(has_text="已修改").wait_for(timeout=TIMEOUT_MS)
    assert answered.get_by_test_id("comment-status").inner_text() == "已答复"
    assert answered.get_by_role("link", name="修改说明.txt").count() == 1
    designer.screenshot(path=site.shots / "designer-answer.png")
    # The reviewer's open viewer shows the answer without a reload.
    reviewer.get_by_test_id("comment").filter(has_text=text).get_by_test_id("comment-status").filter(
        has_text="已答复"
    ).wait_for(timeout=3_000)
    assert designer.errors == []
    assert reviewer.errors == []
    designer.context.close()
    reviewer.context.close()
    with site.platform.sessions() as db, db.begin():
        db.get_one(Round, round_id).submission.state = state_before  # the site's next tests review again
