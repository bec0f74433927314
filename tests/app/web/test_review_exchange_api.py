"""Exchange endpoints through the web stack, on the embedded SQLite and on PostgreSQL; tile caching headers."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pymupdf
import pytest
from sqlalchemy import func, select

from app.intake.pipeline import render_sheet_revision
from app.intake.steps_render import ViewOptions
from app.platform import Platform
from app.settings import load_settings
from app.tracks import CIVIL_AIR_DEFENCE, FIRE
from app.web import create_app
from storage.db import make_engine
from storage.models import (
    Comment,
    CommentEntry,
    Markup,
    User,
)
from tests.app.review_desk.makers import WebCase
from tests.app.review_desk.makers import make_web_case as make_sheet_case
from tests.app.test_review_exchange import ACROBAT_XFDF, BILLION_LAUGHS, SCRIPT, XXE, one_page_pdf
from tests.conftest import seeded_postgres_database
from tests.support.web import TestClient, csrf_token, make_web_platform, sign_in, web_settings_env

API = "/api/v1"
FAST = ViewOptions(dpi=50, thumbnail_px=64)


@pytest.fixture(scope="module")
def seeded_postgres() -> Iterator[str]:
    """A migrated PostgreSQL database with the demo accounts, for this module."""
    with seeded_postgres_database("liantu_exchange") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def platform(request: pytest.FixtureRequest, seeded_database: Path, tmp_path: Path) -> Iterator[Platform]:
    if request.param == "sqlite":
        built = make_web_platform(seeded_database, tmp_path / "data")
    else:
        url: str = request.getfixturevalue("seeded_postgres")
        settings = load_settings(web_settings_env(tmp_path / "data", database_url=url))
        built = Platform(settings, _engine=make_engine(url))
    yield built
    built.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), follow_redirects=False) as test_client:
        yield test_client


def _user_id(db, username: str) -> int:  # type: ignore[no-untyped-def]
    found = db.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return int(found)


def make_web_case(platform: Platform, *, pdf: bytes | None = None) -> WebCase:
    """A sheet in review whose PDF is stored: exports read it."""
    return make_sheet_case(platform, pdf=pdf or one_page_pdf())


def browser(client: TestClient, platform: Platform, username: str) -> dict[str, str]:
    sign_in(client, platform, username)
    return {"X-CSRF-Token": csrf_token(client, "/")}


def markups_of(platform: Platform, revision_id: int) -> int:
    with platform.sessions() as db:
        return db.scalar(select(func.count()).select_from(Markup).where(Markup.sheet_revision_id == revision_id)) or 0


def test_xfdf_import_export_and_annotated_pdf(client: TestClient, platform: Platform) -> None:
    case = make_web_case(platform)
    headers = browser(client, platform, "fire.reviewer")
    url = f"{API}/sheet-revisions/{case.revision_id}/markups.xfdf"

    imported = client.post(f"{url}?track={FIRE}", content=ACROBAT_XFDF.encode(), headers=headers)
    assert imported.status_code == 201, imported.text
    report = imported.json()
    assert report["imported"] == 4
    assert sorted(s["code"] for s in report["skipped"]) == [
        "MARKUP_OUTSIDE_SHEET",
        "XFDF_OTHER_PAGE",
        "XFDF_UNSUPPORTED_TYPE",
    ]
    assert all(s["message_zh"] and s["message_en"] for s in report["skipped"])
    assert report["notes"] == [{"markup_id": report["markup_ids"][0], "text": "疏散距离不满足要求"}]

    exported = client.get(url)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/vnd.adobe.xfdf"
    assert "filename*=UTF-8''%E5%BB%BA%E6%96%BD-01.xfdf" in exported.headers["content-disposition"]
    assert exported.headers["cache-control"] == "private, no-store"
    assert exported.content.count(b"<square ") == 1
    assert b"&lt;script&gt;" in exported.content
    assert b"<script>" not in exported.content

    # Round trip: what was exported, imported by the civil air defence reviewer, doubles the set.
    airdef = browser(client, platform, "airdef.reviewer")
    again = client.post(f"{url}?track={CIVIL_AIR_DEFENCE}", content=exported.content, headers=airdef)
    assert again.status_code == 201, again.text
    assert again.json()["imported"] == 4
    assert again.json()["skipped"] == []
    assert markups_of(platform, case.revision_id) == 8

    pdf = client.get(f"{API}/sheet-revisions/{case.revision_id}/annotated.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    with pymupdf.open(stream=pdf.content, filetype="pdf") as document:
        annots = list(document[0].annots())
        assert len(annots) == 8
        assert {a.info["title"] for a in annots} == {"赵磊", "孙丽"}
        assert "防火门应为甲级 <script>" in {a.info["content"] for a in annots}


def test_hostile_or_oversized_xfdf_is_422_and_nothing_is_stored(client: TestClient, platform: Platform) -> None:
    case = make_web_case(platform)
    headers = browser(client, platform, "fire.reviewer")
    url = f"{API}/sheet-revisions/{case.revision_id}/markups.xfdf?track={FIRE}"
    for body, code in (
        (XXE, "XML_DOCTYPE_REFUSED"),
        (BILLION_LAUGHS, "XML_DOCTYPE_REFUSED"),
        (b"<a>" + b"x" * 10_000_001 + b"</a>", "XML_TOO_LARGE"),
        (b"not xml at all", "XFDF_REJECTED"),
    ):
        answer = client.post(url, content=body, headers=headers)
        assert answer.status_code == 422, (code, answer.text)
        error = answer.json()["error"]
        assert error["code"] == code
        assert error["message_zh"]
        assert error["message_en"]
    # Sent in chunks, without a length: reading stops one byte past the limit.
    chunked = client.post(url, content=iter([b"<a>"] + [b"x" * 1_000_000] * 11), headers=headers)
    assert chunked.status_code == 422
    assert chunked.json()["error"]["code"] == "XML_TOO_LARGE"
    assert markups_of(platform, case.revision_id) == 0
    empty = client.post(url, content=b"", headers=headers)
    assert empty.status_code == 400
    assert empty.json()["error"]["message_zh"] == "请求正文应为 XFDF 文件"


def test_import_needs_the_csrf_token_the_track_and_a_reviewer(client: TestClient, platform: Platform) -> None:
    case = make_web_case(platform)
    url = f"{API}/sheet-revisions/{case.revision_id}/markups.xfdf"
    headers = browser(client, platform, "fire.reviewer")
    assert client.post(f"{url}?track={FIRE}", content=ACROBAT_XFDF.encode()).status_code == 403  # no CSRF token
    assert client.post(url, content=ACROBAT_XFDF.encode(), headers=headers).status_code == 400  # no track
    assert (
        client.post(f"{url}?track={CIVIL_AIR_DEFENCE}", content=ACROBAT_XFDF.encode(), headers=headers).status_code
        == 403
    )
    designer = browser(client, platform, "designer")
    assert client.post(f"{url}?track={FIRE}", content=ACROBAT_XFDF.encode(), headers=designer).status_code == 403
    outsider = browser(client, platform, "fire.signer")
    assert client.post(f"{url}?track={FIRE}", content=ACROBAT_XFDF.encode(), headers=outsider).status_code == 404
    assert client.get(url).status_code == 404
    assert client.get(f"{API}/sheet-revisions/{case.revision_id}/annotated.pdf").status_code == 404
    assert client.get(f"{API}/submissions/{case.submission_id}/comments.csv").status_code == 404
    assert markups_of(platform, case.revision_id) == 0


def test_two_reviewers_importing_at_once_both_keep_their_markups(platform: Platform) -> None:
    case = make_web_case(platform)
    app = create_app(platform)
    url = f"{API}/sheet-revisions/{case.revision_id}/markups.xfdf"
    start = threading.Barrier(2)
    answers: dict[str, int] = {}

    def importing(username: str, track: str) -> None:
        with TestClient(app, follow_redirects=False) as own:
            headers = browser(own, platform, username)
            start.wait(timeout=30)
            answers[username] = own.post(
                f"{url}?track={track}", content=ACROBAT_XFDF.encode(), headers=headers
            ).status_code

    threads = [
        threading.Thread(target=importing, args=("fire.reviewer", FIRE)),
        threading.Thread(target=importing, args=("airdef.reviewer", CIVIL_AIR_DEFENCE)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == {"fire.reviewer": 201, "airdef.reviewer": 201}
    assert markups_of(platform, case.revision_id) == 8


def _comments(platform: Platform, case: WebCase) -> None:
    with platform.sessions() as db, db.begin():
        fire, designer = _user_id(db, "fire.reviewer"), _user_id(db, "designer")
        answered = Comment(
            submission_id=case.submission_id,
            round_id=case.round_id,
            track_code=FIRE,
            sheet_id=case.sheet_id,
            sheet_revision_id=case.revision_id,
            author_id=fire,
            severity="mandatory",
            text=f"疏散楼梯间应采用防烟楼梯间 {SCRIPT}",
            clause_ids=["GB 50016-2014:5.5.17"],
            status="answered",
        )
        answered.entries.append(CommentEntry(author_id=designer, role="designer", action="answer", text="已修改"))
        db.add(answered)
        db.add(
            Comment(
                submission_id=case.submission_id,
                round_id=case.round_id,
                track_code=FIRE,
                author_id=fire,
                severity="suggestion",
                text='=HYPERLINK("http://evil","点击")',
            )
        )


def test_comment_list_as_csv_and_xlsx(client: TestClient, platform: Platform) -> None:
    case = make_web_case(platform)
    _comments(platform, case)
    sign_in(client, platform, "bureau")
    answer = client.get(f"{API}/submissions/{case.submission_id}/comments.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "意见编号", "轮次", "图号"]
    assert len(rows) == 3
    second, first = rows[1], rows[2]  # whole-submission comments come first
    assert first[3] == "建施-01"
    assert first[5] == "消防审查"
    assert first[6] == "强制性条文"
    assert first[7].startswith("《建筑设计防火规范》GB 50016-2014")
    assert first[8] == f"疏散楼梯间应采用防烟楼梯间 {SCRIPT}"
    assert first[9] == "已答复"
    assert "王建国 (答复): 已修改" in first[11]
    assert second[3] == "（整体）"
    assert second[8] == '\'=HYPERLINK("http://evil","点击")'

    english = client.get(
        f"{API}/submissions/{case.submission_id}/comments.xlsx?track={FIRE}", headers={"Accept-Language": "en"}
    )
    assert english.status_code == 200
    assert english.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    book = openpyxl.load_workbook(io.BytesIO(english.content))
    sheet = book["Review comments"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["No.", "Comment ID", "Round"]
    assert values[1][3] == "(whole submission)"
    assert values[1][8] == '\'=HYPERLINK("http://evil","点击")'
    assert values[2][6] == "Mandatory clause"
    assert values[2][8] == f"疏散楼梯间应采用防烟楼梯间 {SCRIPT}"
    assert {cell.data_type for row in sheet.iter_rows() for cell in row if cell.value is not None} == {"s"}
    assert client.get(f"{API}/submissions/{case.submission_id}/comments.csv?round=x").status_code == 400

    sign_in(client, platform, "designer")  # nothing issued yet: the designer's list is empty
    designer_rows = list(
        csv.reader(io.StringIO(client.get(f"{API}/submissions/{case.submission_id}/comments.csv").text))
    )
    assert len(designer_rows) == 1


def test_tiles_carry_an_immutable_etag_and_answer_304(client: TestClient, platform: Platform) -> None:
    case = make_web_case(platform, pdf=one_page_pdf(200, 150))
    render_sheet_revision(platform.sessions, platform.store, case.revision_id, options=FAST)
    sign_in(client, platform, "fire.reviewer")
    url = f"{API}/sheet-revisions/{case.revision_id}/tiles/0/0_0.png"
    tile = client.get(url)
    assert tile.status_code == 200
    assert tile.content.startswith(b"\x89PNG")
    assert tile.headers["cache-control"] == "private, max-age=31536000, immutable"
    etag = tile.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    for presented in (etag, f"W/{etag}", f'"other", {etag}'):
        again = client.get(url, headers={"If-None-Match": presented})
        assert again.status_code == 304, presented
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # The tag of another revision's tile does not match this one.
    other = make_web_case(platform, pdf=one_page_pdf(210, 150))
    render_sheet_revision(platform.sessions, platform.store, other.revision_id, options=FAST)
    other_tile = client.get(f"{API}/sheet-revisions/{other.revision_id}/tiles/0/0_0.png")
    assert other_tile.headers["etag"] != etag
    # A 304 is no shortcut around access: someone who may not see the sheet gets 404 even with the tag.
    sign_in(client, platform, "fire.signer")
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 404
