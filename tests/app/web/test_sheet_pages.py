"""Sheet list, intake progress, viewer page and tile routes, on processed sheets of a demo submission."""

from __future__ import annotations

import asyncio
import io
from typing import BinaryIO

import pytest
from sqlalchemy import select

from app.intake.pipeline import process_drawing_file, render_sheet_revision
from app.intake.steps_render import ViewOptions
from app.platform import Platform
from storage.blobstore import BlobStore
from storage.models import DrawingFile, Organization, Project, Submission
from tests.app.intake.makers import title_block_pdf
from tests.support.web import TestClient, sign_in

FAST = ViewOptions(dpi=50, thumbnail_px=128)


def _submission(platform: Platform) -> int:
    from app.seed import DESIGN_INSTITUTE

    with platform.sessions() as db, db.begin():
        institute = db.scalars(select(Organization).where(Organization.name == DESIGN_INSTITUTE)).one()
        project = Project(organization_id=institute.id, code="JC-2026-0301", name="滨江小学")
        db.add(project)
        db.flush()
        submission = Submission(project_id=project.id)
        db.add(submission)
        db.flush()
        return submission.id


def _add_file(platform: Platform, submission_id: int, data: bytes, name: str) -> int:
    info = platform.store.put_original(io.BytesIO(data), content_type="application/pdf")
    assert info.sha256 is not None
    with platform.sessions() as db, db.begin():
        drawing = DrawingFile(
            submission_id=submission_id,
            sha256=info.sha256,
            size=info.size,
            original_name=name,
            media_type="application/pdf",
            object_key=info.key,
            status="stored",
            findings={},
        )
        db.add(drawing)
        db.flush()
        return drawing.id


@pytest.fixture
def processed(web_platform: Platform) -> tuple[int, list[int]]:
    submission_id = _submission(web_platform)
    file_id = _add_file(web_platform, submission_id, title_block_pdf(), "建施.pdf")
    outcome = process_drawing_file(web_platform.sessions, web_platform.store, file_id)
    render_sheet_revision(web_platform.sessions, web_platform.store, outcome.revision_ids[0], options=FAST)
    return submission_id, list(outcome.revision_ids)


def test_the_sheet_list_shows_sheets_status_and_progress(
    client: TestClient, web_platform: Platform, processed: tuple[int, list[int]]
) -> None:
    submission_id, revisions = processed
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/sheets")
    assert page.status_code == 200
    assert "建施-01" in page.text
    assert "一层平面图" in page.text
    assert f"/api/v1/sheet-revisions/{revisions[0]}/thumbnail.png" in page.text
    assert "可以审阅" in page.text  # the first is ready, the second still waits for its tiles
    assert "正在切片" in page.text

    progress = client.get(f"/api/v1/submissions/{submission_id}/intake")
    assert progress.status_code == 200
    data = progress.json()
    assert data["counts"] == {"sheets": 2, "ready": 1}
    assert data["busy"] is True
    assert [s["number"] for s in data["sheets"]] == ["建施-01", "建施-02"]

    viewer = client.get(f"/sheet-revisions/{revisions[0]}")
    assert viewer.status_code == 200
    assert f"/api/v1/sheet-revisions/{revisions[0]}/tiles.dzi" in viewer.text
    assert "/vendor/openseadragon/openseadragon.min.js" in viewer.text
    pending = client.get(f"/sheet-revisions/{revisions[1]}")
    assert "仍在切片" in pending.text


def test_the_sheet_list_reports_numbering_across_all_files(client: TestClient, web_platform: Platform) -> None:
    submission_id = _submission(web_platform)
    first = (("建施-01", "一层平面图"), ("建施-02", "二层平面图"))
    second = (("建施-02", "二层平面图"), ("建施-05", "五层平面图"))
    for name, sheets in (("建施-甲.pdf", first), ("建施-乙.pdf", second)):
        file_id = _add_file(web_platform, submission_id, title_block_pdf(sheets), name)
        process_drawing_file(web_platform.sessions, web_platform.store, file_id)
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/sheets").text
    assert 'data-testid="numbering"' in page
    assert page.count('data-testid="numbering-finding"') == 2
    assert 'data-code="SHEET_NUMBER_DUPLICATE"' in page
    assert "图号重复：建施-02 出现 2 次" in page
    assert "图号不连续：缺少 建施-03、建施-04" in page
    assert "SHEET_NUMBER_UNRECOGNISED" not in page
    english = client.get(f"/submissions/{submission_id}/sheets", headers={"Accept-Language": "en"}).text
    assert "Sheet numbering" in english
    assert "Gap in sheet numbers: 建施-03, 建施-04 missing" in english


def test_one_file_without_gaps_says_so(
    client: TestClient, web_platform: Platform, processed: tuple[int, list[int]]
) -> None:
    submission_id, _ = processed
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/sheets").text
    assert "全部文件的图号中未发现重号、缺号或无法识别的图号。" in page
    assert 'data-testid="numbering-finding"' not in page


def test_an_empty_submission_says_so_in_english(client: TestClient, web_platform: Platform) -> None:
    submission_id = _submission(web_platform)
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/sheets", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "No drawing files uploaded yet" in page.text


def test_tiles_are_served_with_a_strong_etag_and_revalidated(
    client: TestClient, web_platform: Platform, processed: tuple[int, list[int]]
) -> None:
    _, revisions = processed
    sign_in(client, web_platform, "designer")
    base = f"/api/v1/sheet-revisions/{revisions[0]}"
    dzi = client.get(f"{base}/tiles.dzi")
    assert dzi.status_code == 200
    assert b"<Image" in dzi.content
    tile = client.get(f"{base}/tiles/0/0_0.png")
    assert tile.status_code == 200
    assert tile.content.startswith(b"\x89PNG")
    etag = tile.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    assert tile.headers["cache-control"] == "private, max-age=31536000, immutable"
    again = client.get(f"{base}/tiles/0/0_0.png", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    weakened = client.get(f"{base}/tiles/0/0_0.png", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weakened.status_code == 304
    assert client.get(f"{base}/tiles/0/0_0.png", headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(f"{base}/tiles/0/0_9.png").status_code == 404
    assert client.get(f"{base}/thumbnail.png").status_code == 200
    assert client.get(f"/api/v1/sheet-revisions/{revisions[1]}/tiles.dzi").status_code == 404


@pytest.mark.parametrize("without_blocking", [True, False])
def test_a_tile_is_read_on_the_event_loop_only_from_a_store_that_reads_without_blocking(
    client: TestClient,
    web_platform: Platform,
    processed: tuple[int, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    without_blocking: bool,
) -> None:
    _, revisions = processed
    store = web_platform.store
    opened = type(store).open
    on_event_loop: list[bool] = []

    def open_and_note(self: BlobStore, key: str) -> BinaryIO:
        try:
            asyncio.get_running_loop()
            on_event_loop.append(True)
        except RuntimeError:  # a worker thread runs no loop
            on_event_loop.append(False)
        return opened(self, key)

    monkeypatch.setattr(type(store), "reads_without_blocking", property(lambda self: without_blocking))
    monkeypatch.setattr(type(store), "open", open_and_note)
    sign_in(client, web_platform, "designer")
    tile = client.get(f"/api/v1/sheet-revisions/{revisions[0]}/tiles/0/0_0.png")
    assert tile.status_code == 200
    assert tile.content.startswith(b"\x89PNG")
    assert on_event_loop == [without_blocking]


def test_another_organisation_gets_404(
    client: TestClient, web_platform: Platform, processed: tuple[int, list[int]]
) -> None:
    submission_id, revisions = processed
    sign_in(client, web_platform, "fire.signer")
    assert client.get(f"/api/v1/sheet-revisions/{revisions[0]}/tiles/0/0_0.png").status_code == 404
    assert client.get(f"/api/v1/sheet-revisions/{revisions[0]}/tiles.dzi").status_code == 404
    assert client.get(f"/submissions/{submission_id}/sheets").status_code == 404
    assert client.get(f"/api/v1/submissions/{submission_id}/intake").status_code == 404
    assert client.get(f"/sheet-revisions/{revisions[0]}").status_code == 404


def test_tile_access_is_remembered_per_user_and_forgotten_with_the_user(
    client: TestClient, web_platform: Platform, processed: tuple[int, list[int]]
) -> None:
    from sqlalchemy import event

    from app.identity import find_user, set_user_active
    from storage.db import transaction

    _, revisions = processed
    base = f"/api/v1/sheet-revisions/{revisions[0]}/tiles"
    sign_in(client, web_platform, "designer")
    first = client.get(f"{base}/0/0_0.png")
    assert first.status_code == 200
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(web_platform.engine, "before_cursor_execute", count)
    try:
        again = client.get(f"{base}/0/0_0.png")
        revalidated = client.get(f"{base}/0/0_0.png", headers={"If-None-Match": f"W/{first.headers['etag']}"})
    finally:
        event.remove(web_platform.engine, "before_cursor_execute", count)
    assert statements == []  # the session's principal and the access decision are both remembered
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert again.headers["content-type"] == "image/png"
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == first.headers["etag"]

    # What the designer may read is remembered for the designer only.
    sign_in(client, web_platform, "fire.signer")
    assert client.get(f"{base}/0/0_0.png").status_code == 404
    client.cookies.clear()
    assert client.get(f"{base}/0/0_0.png").status_code == 401

    sign_in(client, web_platform, "designer")
    assert client.get(f"{base}/0/0_0.png").status_code == 200
    with transaction(web_platform.sessions) as db:
        set_user_active(db, find_user(db, "designer"), False)
    assert client.get(f"{base}/0/0_0.png").status_code == 401
