"""Search within a submission: number, title and drawing text; Chinese substrings; escaping; access."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Invalid, NotFound
from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.search import escape_like, search_sheets, snippet
from app.tracks import ensure_tracks
from app.web.api import API_PREFIX
from storage.models import DrawingFile, OrgKind, Project, Role, Round, Sheet, SheetRevision, SheetText, Submission, User
from tests.support.web import sign_in

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from app.platform import Platform

PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"
SHEETS = (
    ("建施-01", "一层平面图", "说明：本层设防火分区两个，消防车道宽 4 m。Fire Lane 4 m"),
    ("建施-02", "二层平面图", "卫生间 楼梯间 100%_完成"),
    ("结施-01", "基础平面图", "独立基础 JC-1"),
)


def _designer(session: Session, organization_name: str, username: str) -> Principal:
    institute = create_organization(session, organization_name, OrgKind.DESIGN_INSTITUTE)
    new = check_new_user(session, institute, username, username, [(Role.DESIGNER, None)])
    return principal_from_user(insert_user(session, institute, new, PASSWORD_HASH))


def add_sheets(session: Session, organization_id: int) -> int:
    """A submission of ``organization_id`` with the three sheets above, each with its drawing text."""
    project = Project(organization_id=organization_id, code="JC-2026-0707", name="江城图书馆")
    session.add(project)
    session.flush()
    submission = Submission(project_id=project.id)
    session.add(submission)
    session.flush()
    round_ = Round(submission_id=submission.id, number=1)
    drawing = DrawingFile(
        submission_id=submission.id,
        sha256="0" * 64,
        size=1,
        original_name="建施.pdf",
        media_type="application/pdf",
        object_key="originals/00/" + "0" * 64,
        status="split",
        findings={},
    )
    session.add_all([round_, drawing])
    session.flush()
    for index, (number, title, text) in enumerate(SHEETS):
        sheet = Sheet(submission_id=submission.id, number=number, title=title)
        session.add(sheet)
        session.flush()
        revision = SheetRevision(sheet_id=sheet.id, round_id=round_.id, drawing_file_id=drawing.id, source_index=index)
        session.add(revision)
        session.flush()
        session.add(SheetText(sheet_revision_id=revision.id, submission_id=submission.id, text=f"{title} {text}"))
    session.flush()
    return submission.id


@pytest.fixture
def designer(session: Session) -> Principal:
    ensure_tracks(session)
    return _designer(session, "检索测试设计院", "d.sun")


@pytest.fixture
def submission_id(session: Session, designer: Principal) -> int:
    return add_sheets(session, designer.organization_id)


def _numbers(session: Session, designer: Principal, submission_id: int, query: str) -> list[str]:
    return [hit.number for hit in search_sheets(session, designer, submission_id, query)]


def test_chinese_words_are_found_inside_the_drawing_text(
    session: Session, designer: Principal, submission_id: int
) -> None:
    [hit] = search_sheets(session, designer, submission_id, "消防车道")
    assert hit.number == "建施-01"
    assert hit.title == "一层平面图"
    assert "消防车道" in hit.snippet
    assert len(hit.snippet) < 80
    revision = session.get_one(SheetRevision, hit.revision_id)
    assert revision.sheet.number == "建施-01"


def test_numbers_and_titles_match_and_results_are_ordered(
    session: Session, designer: Principal, submission_id: int
) -> None:
    assert _numbers(session, designer, submission_id, "建施") == ["建施-01", "建施-02"]
    assert _numbers(session, designer, submission_id, "平面图") == ["建施-01", "建施-02", "结施-01"]
    assert _numbers(session, designer, submission_id, "基础平面") == ["结施-01"]
    assert _numbers(session, designer, submission_id, "没有这个词") == []
    assert [h.snippet for h in search_sheets(session, designer, submission_id, "结施-01")] == ["结施-01"]
    assert len(search_sheets(session, designer, submission_id, "平面图", limit=2)) == 2


def test_latin_text_matches_without_regard_to_case(session: Session, designer: Principal, submission_id: int) -> None:
    assert _numbers(session, designer, submission_id, "fire lane") == ["建施-01"]
    assert _numbers(session, designer, submission_id, "FIRE LANE") == ["建施-01"]
    assert _numbers(session, designer, submission_id, "jc-1") == ["结施-01"]


def test_percent_and_underscore_match_only_themselves(
    session: Session, designer: Principal, submission_id: int
) -> None:
    assert _numbers(session, designer, submission_id, "100%_") == ["建施-02"]
    assert _numbers(session, designer, submission_id, "%") == ["建施-02"]
    assert _numbers(session, designer, submission_id, "_") == ["建施-02"]
    assert _numbers(session, designer, submission_id, "建施_01") == []
    assert escape_like("a%b_c\\") == "%a\\%b\\_c\\\\%"


@pytest.mark.parametrize("query", ["", "   ", "图" * 101])
def test_the_query_must_hold_1_to_100_characters(
    session: Session, designer: Principal, submission_id: int, query: str
) -> None:
    with pytest.raises(Invalid) as refused:
        search_sheets(session, designer, submission_id, query)
    assert "100" in refused.value.zh
    assert "100" in refused.value.en
    assert _numbers(session, designer, submission_id, "图" * 1) == ["建施-01", "建施-02", "结施-01"]


def test_only_viewers_of_the_submission_may_search(session: Session, designer: Principal, submission_id: int) -> None:
    outsider = _designer(session, "另一设计院", "d.qian")
    with pytest.raises(NotFound):
        search_sheets(session, outsider, submission_id, "建施")
    with pytest.raises(NotFound):
        search_sheets(session, designer, submission_id + 1000, "建施")


def test_a_snippet_is_cut_around_the_first_match() -> None:
    text = "甲" * 100 + "消防车道" + "乙" * 100
    cut = snippet(text, "消防车道", context=5)
    assert cut == "…甲甲甲甲甲消防车道乙乙乙乙乙…"
    assert snippet("Fire  lane\nnorth", "LANE") == "Fire lane north"


# --- web ------------------------------------------------------------------------------------------------


def _web_submission(platform: Platform) -> int:
    with platform.sessions() as db, db.begin():
        designer = db.scalars(select(User).where(User.username == "designer")).one()
        return add_sheets(db, designer.organization_id)


def test_the_api_returns_hits_as_json(client: TestClient, web_platform: Platform) -> None:
    submission_id = _web_submission(web_platform)
    sign_in(client, web_platform, "designer")
    response = client.get(f"{API_PREFIX}/submissions/{submission_id}/search", params={"q": "消防车道"})
    assert response.status_code == 200
    [hit] = response.json()["hits"]
    assert hit["number"] == "建施-01"
    assert "消防车道" in hit["snippet"]
    assert isinstance(hit["revision_id"], int)
    too_long = client.get(f"{API_PREFIX}/submissions/{submission_id}/search", params={"q": "x" * 101})
    assert too_long.status_code == 400
    sign_in(client, web_platform, "fire.signer")
    hidden = client.get(f"{API_PREFIX}/submissions/{submission_id}/search", params={"q": "建施"})
    assert hidden.status_code == 404


def test_the_page_shows_a_search_box_and_the_hits(client: TestClient, web_platform: Platform) -> None:
    submission_id = _web_submission(web_platform)
    sign_in(client, web_platform, "designer")
    listing = client.get(f"/submissions/{submission_id}/sheets")
    assert listing.status_code == 200
    assert f'action="/submissions/{submission_id}/search"' in listing.text
    page = client.get(f"/submissions/{submission_id}/search", params={"q": "基础"})
    assert page.status_code == 200
    assert page.text.count('data-testid="search-hit"') == 1
    assert "结施-01" in page.text
    empty = client.get(f"/submissions/{submission_id}/search")
    assert empty.status_code == 200
    assert 'data-testid="search-hit"' not in empty.text
    refused = client.get(f"/submissions/{submission_id}/search", params={"q": "x" * 101})
    assert 'data-testid="search-error"' in refused.text
