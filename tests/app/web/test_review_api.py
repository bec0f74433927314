"""Online review API through the web stack, on the embedded SQLite and on PostgreSQL; live updates over real servers."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.responses import JSONResponse

from app.platform import Platform
from app.settings import load_settings
from app.tracks import CIVIL_AIR_DEFENCE, FIRE
from app.web import create_app, review_api
from app.web.sessions import COOKIE_NAME, encode_session
from storage.db import make_engine
from storage.models import (
    Comment,
    Markup,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
    User,
)
from tests.app.review_desk.makers import CLAUSE, RECT, SCRIPT, WebCase, make_web_case
from tests.conftest import seeded_postgres_database
from tests.support.browser import free_port
from tests.support.web import TEST_SECRET_KEY, TestClient, make_web_platform, web_settings_env

API = "/api/v1"
START_SECONDS = 10.0
LIVE_SECONDS = 1.0
"""Another viewer sees a change within this time."""


@pytest.fixture(scope="module")
def seeded_postgres() -> Iterator[str]:
    """A migrated PostgreSQL database with the demo accounts, for this module."""
    with seeded_postgres_database("liantu_review") as url:
        yield url


def _platform(kind: str, request: pytest.FixtureRequest, seeded: Path, data_dir: Path) -> Platform:
    if kind == "sqlite":
        return make_web_platform(seeded, data_dir)
    url: str = request.getfixturevalue("seeded_postgres")
    settings = load_settings(web_settings_env(data_dir, database_url=url))
    return Platform(settings, _engine=make_engine(url))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def platform(request: pytest.FixtureRequest, seeded_database: Path, tmp_path: Path) -> Iterator[Platform]:
    built = _platform(request.param, request, seeded_database, tmp_path / "data")
    yield built
    built.close()


def session_cookie(platform: Platform, username: str) -> tuple[str, str]:
    """A signed-in session cookie for ``username`` and its CSRF token."""
    with platform.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
    assert user_id is not None, username
    token = secrets.token_urlsafe(32)
    return encode_session(TEST_SECRET_KEY, {"uid": user_id, "csrf": token, "iat": int(time.time())}), token


class Browser:
    """One signed-in user's test client, sending the CSRF header as the pages' scripts do."""

    def __init__(self, platform: Platform, username: str) -> None:
        self.client = TestClient(create_app(platform), follow_redirects=False)
        cookie, self.token = session_cookie(platform, username)
        self.client.cookies.set(COOKIE_NAME, cookie)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(API + path, **kwargs)

    def send(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.request(
            method, API + path, headers={"X-CSRF-Token": self.token, **(headers or {})}, **kwargs
        )

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def browsers(platform: Platform) -> Iterator[dict[str, Browser]]:
    opened: dict[str, Browser] = {}

    class Lazy(dict[str, Browser]):
        def __missing__(self, username: str) -> Browser:
            opened[username] = self[username] = Browser(platform, username)
            return opened[username]

    yield Lazy()
    for browser in opened.values():
        browser.close()


def error_code(response: httpx.Response) -> str:
    body = response.json()["error"]
    assert body["message_zh"]
    assert body["message_en"]
    return str(body["code"])


def hand_to_designer(platform: Platform, case: WebCase) -> None:
    """Put the submission in the designer's hands (修改中)."""
    with platform.sessions() as db, db.begin():
        db.get_one(Submission, case.submission_id).state = SubmissionState.REVISING


def draw(browser: Browser, case: WebCase, track: str = FIRE, value: dict[str, Any] | None = None) -> httpx.Response:
    return browser.send(
        "POST", f"/sheet-revisions/{case.revision_id}/markups", json={"track": track, "markup": value or RECT}
    )


def test_access_matrix(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    fire, airdef, designer = browsers["fire.reviewer"], browsers["airdef.reviewer"], browsers["designer"]
    created = draw(fire, case)
    assert created.status_code == 201, created.text
    markup_id = created.json()["liantu"]["id"]
    comment = fire.send(
        "POST",
        f"/sheet-revisions/{case.revision_id}/comments",
        json={"track": FIRE, "severity": "general", "text": "疏散宽度不足", "markup_ids": [markup_id]},
    )
    assert comment.status_code == 201, comment.text

    # Another track's reviewer reads, and may not write in the fire track.
    listed = airdef.get(f"/sheet-revisions/{case.revision_id}/markups").json()["items"]
    assert [(m["liantu"]["id"], m["liantu"]["editable"]) for m in listed] == [(markup_id, False)]
    assert draw(airdef, case).status_code == 403
    assert draw(airdef, case, CIVIL_AIR_DEFENCE).status_code == 201
    assert len(browsers["bureau"].get(f"/sheet-revisions/{case.revision_id}/comments").json()["items"]) == 1

    # The designer sees the fire track once it is issued.
    assert designer.get(f"/sheet-revisions/{case.revision_id}/comments").json()["items"] == []
    assert designer.get(f"/comments/{comment.json()['id']}").status_code == 404
    with platform.sessions() as db, db.begin():
        from app.identity.principal import principal_for_user
        from app.review_desk.comments import issue_comments

        lead_id = db.scalar(select(User.id).where(User.username == "fire.lead"))
        lead = principal_for_user(db, lead_id or 0)
        assert lead is not None
        assert issue_comments(db, lead, case.round_id, FIRE) == 1
    seen = designer.get(f"/sheet-revisions/{case.revision_id}/comments").json()["items"]
    assert [c["track"] for c in seen] == [FIRE]
    assert seen[0]["allowed_actions"] == []  # answered only once the submission is in the designer's hands
    designer_markups = designer.get(f"/sheet-revisions/{case.revision_id}/markups").json()["items"]
    assert [m["liantu"]["track"] for m in designer_markups] == [FIRE]
    assert draw(designer, case).status_code == 403

    # Strangers: 404 everywhere.
    for stranger in (browsers["clerk"], browsers["fire.signer"]):
        assert stranger.get(f"/sheet-revisions/{case.revision_id}/markups").status_code == 404
        assert stranger.get(f"/sheet-revisions/{case.revision_id}/comments").status_code == 404
        assert stranger.get(f"/sheet-revisions/{case.revision_id}/context").status_code == 404
        assert stranger.get(f"/markups/{markup_id}").status_code == 404
        assert stranger.get(f"/submissions/{case.submission_id}/comments").status_code == 404
    assert fire.get("/sheet-revisions/999999/markups").status_code == 404


def test_two_edits_of_one_markup_one_wins_the_other_gets_412(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    first = browsers["fire.reviewer"]
    second = Browser(platform, "fire.reviewer")  # the same reviewer in a second window
    try:
        created = draw(first, case)
        url = f"/markups/{created.json()['liantu']['id']}"
        etag = created.headers["etag"]
        assert etag == '"1"'
        assert second.get(url).headers["etag"] == etag

        left = {**RECT, "points": [[10, 10], [60, 60]]}
        right = {**RECT, "points": [[300, 200], [400, 300]]}
        assert first.send("PUT", url, json={"markup": left}).status_code == 428
        won = first.send("PUT", url, json={"markup": left}, headers={"If-Match": etag})
        assert won.status_code == 200, won.text
        assert won.headers["etag"] == '"2"'
        lost = second.send("PUT", url, json={"markup": right}, headers={"If-Match": etag})
        assert lost.status_code == 412
        assert error_code(lost) == "precondition_failed"
        assert lost.headers["etag"] == '"2"'
        assert second.send("DELETE", url, headers={"If-Match": etag}).status_code == 412
        assert second.send("DELETE", url).status_code == 428

        # Nothing was lost: the winner's shape is stored, the markup lives.
        stored = second.get(url).json()["liantu"]["markup"]
        assert stored["points"] == [[10.0, 10.0], [60.0, 60.0]]

        # Another reviewer of the track may not touch it at all.
        assert (
            browsers["fire.lead"].send("PUT", url, json={"markup": right}, headers={"If-Match": '"2"'}).status_code
            == 403
        )
        assert second.send("DELETE", url, headers={"If-Match": '"2"'}).status_code == 204
        assert first.get(url).status_code == 404
        with platform.sessions() as db:
            deleted = (
                select(func.count())
                .select_from(Markup)
                .where(Markup.sheet_revision_id == case.revision_id, Markup.deleted_at.is_not(None))
            )
            assert db.scalar(deleted) == 1
    finally:
        second.close()


def test_an_unchanged_list_is_304_and_any_change_is_200(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    fire, airdef, lead = browsers["fire.reviewer"], browsers["airdef.reviewer"], browsers["fire.lead"]
    markups_url = f"/sheet-revisions/{case.revision_id}/markups"
    comments_url = f"/sheet-revisions/{case.revision_id}/comments"
    created = draw(fire, case).json()
    markup_url = f"/markups/{created['liantu']['id']}"
    comment = fire.send(
        "POST", comments_url, json={"track": FIRE, "severity": "general", "text": "疏散宽度不足", "markup_ids": []}
    ).json()
    tags = {markups_url: "", comments_url: ""}

    def unchanged(url: str) -> None:
        again = fire.get(url, headers={"If-None-Match": tags[url]})
        assert again.status_code == 304, again.text
        assert again.content == b""
        assert again.headers["etag"] == tags[url]

    def changed(url: str) -> None:
        """A 200 with a new ETag and the very body a request without ``If-None-Match`` gets; then 304 on it."""
        fresh = fire.get(url, headers={"If-None-Match": tags[url]} if tags[url] else {})
        assert fresh.status_code == 200, fresh.text
        assert fresh.headers["etag"].startswith('W/"')
        assert fresh.headers["etag"] != tags[url]
        assert fresh.headers["cache-control"] == "private, no-cache"
        assert fresh.json() == fire.get(url).json()
        assert fresh.content == JSONResponse(fresh.json()).body  # the bytes Starlette writes for it
        tags[url] = fresh.headers["etag"]
        unchanged(url)

    changed(markups_url)
    changed(comments_url)
    assert fire.get(markups_url, headers={"If-None-Match": f'"x", {tags[markups_url]}'}).status_code == 304
    assert fire.get(markups_url, headers={"If-None-Match": '"x"'}).status_code == 200
    # Another reviewer's list of the same revision has its own ETag (editable differs).
    other = airdef.get(markups_url)
    assert other.headers["etag"] != tags[markups_url]

    # Another reviewer draws in their track; the first reviewer's list changes.
    assert draw(airdef, case, CIVIL_AIR_DEFENCE).status_code == 201
    changed(markups_url)
    unchanged(comments_url)
    # The reviewer changes their markup (its version moves), then links it to a comment.
    moved = fire.send(
        "PUT", markup_url, json={"markup": {**RECT, "points": [[10, 10], [60, 60]]}}, headers={"If-Match": '"1"'}
    )
    assert moved.status_code == 200, moved.text
    changed(markups_url)
    linked = fire.send(
        "POST",
        comments_url,
        json={"track": FIRE, "severity": "general", "text": "门宽不足", "markup_ids": [created["liantu"]["id"]]},
    )
    assert linked.status_code == 201, linked.text
    changed(markups_url)  # the markup now carries the comment's text
    changed(comments_url)
    # The track lead replies to the first comment: the thread changes.
    etag = lead.get(f"/comments/{comment['id']}").headers["etag"]
    reply = lead.send(
        "POST",
        f"/comments/{comment['id']}/actions",
        headers={"If-Match": etag},
        json={"action": "reply", "text": "同意"},
    )
    assert reply.status_code == 200, reply.text
    changed(comments_url)
    unchanged(markups_url)
    # Deleting the linked markup changes both lists (the comment's markup_ids).
    current = fire.get(markup_url).headers["etag"]
    assert fire.send("DELETE", markup_url, headers={"If-Match": current}).status_code == 204
    changed(markups_url)
    changed(comments_url)
    # The round's state changes what the reviewer may do, though no row of the lists changed.
    with platform.sessions() as db, db.begin():
        review = db.scalars(
            select(TrackReview).where(TrackReview.round_id == case.round_id, TrackReview.track_code == FIRE)
        ).one()
        review.state = TrackReviewState.PASSED
    changed(markups_url)
    changed(comments_url)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ({"kind": "polygon", "points": [[10, 10], [100, 100], [100, 10], [10, 100]]}, "MARKUP_SELF_INTERSECTING"),
        ({"kind": "rectangle", "points": [[500, 300], [900, 700]]}, "MARKUP_OUTSIDE_SHEET"),
        (
            {"kind": "polyline", "points": [[10 + i * 0.05, 10 + (i % 2)] for i in range(6000)]},
            "MARKUP_TOO_MANY_VERTICES",
        ),
        ({"kind": "rectangle", "points": "10,10"}, "MARKUP_VALUE_INVALID"),
    ],
)
def test_bad_geometry_is_422_with_its_code(
    platform: Platform, browsers: dict[str, Browser], value: dict[str, Any], code: str
) -> None:
    case = make_web_case(platform)
    answer = draw(browsers["fire.reviewer"], case, value=value)
    assert answer.status_code == 422
    assert error_code(answer) == code
    assert browsers["fire.reviewer"].get(f"/sheet-revisions/{case.revision_id}/markups").json()["items"] == []


def test_comment_rules_script_text_and_a_megabyte(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    fire = browsers["fire.reviewer"]
    url = f"/sheet-revisions/{case.revision_id}/comments"

    huge = fire.send("POST", url, json={"track": FIRE, "severity": "general", "text": "疏" * (1024 * 1024)})
    assert huge.status_code == 422
    assert error_code(huge) == "COMMENT_TEXT_TOO_LONG"
    assert "1048576" in huge.json()["error"]["message_zh"]
    unknown = fire.send(
        "POST", url, json={"track": FIRE, "severity": "general", "text": "x", "clause_ids": ["GB 1-1:1"]}
    )
    assert error_code(unknown) == "COMMENT_CLAUSE_UNKNOWN"
    assert fire.send("POST", url, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    with platform.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Comment).where(Comment.sheet_id == case.sheet_id)) == 0

    created = fire.send(
        "POST", url, json={"track": FIRE, "severity": "mandatory", "text": SCRIPT, "clause_ids": [CLAUSE]}
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    assert created.json()["text"] == SCRIPT
    assert created.json()["clauses"][0]["code"] == "GB 50016-2014"
    assert created.headers["etag"] == f'"{created.json()["version"]}"'


def test_comment_state_machine_over_http(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    fire, lead, designer = browsers["fire.reviewer"], browsers["fire.lead"], browsers["designer"]
    created = fire.send(
        "POST",
        f"/sheet-revisions/{case.revision_id}/comments",
        json={"track": FIRE, "severity": "general", "text": "楼梯间应设置防火门"},
    ).json()
    url = f"/comments/{created['id']}/actions"

    def act(who: Browser, action: str, words: str = "", **extra: Any) -> httpx.Response:
        etag = who.get(f"/comments/{created['id']}").headers.get("etag", '"0"')
        return who.send("POST", url, headers={"If-Match": etag}, json={"action": action, "text": words}, **extra)

    assert fire.send("POST", url, json={"action": "reply", "text": "补充"}).status_code == 428
    assert fire.send("POST", url, json={"action": "reply"}, headers={"If-Match": '"99"'}).status_code == 412
    with platform.sessions() as db, db.begin():
        from app.identity.principal import principal_for_user
        from app.review_desk.comments import issue_comments

        lead_principal = principal_for_user(db, db.scalar(select(User.id).where(User.username == "fire.lead")) or 0)
        assert lead_principal is not None
        issue_comments(db, lead_principal, case.round_id, FIRE)

    # Still in review: the designer may read, not answer nor reply.
    for action in ("answer", "reply"):
        early = act(designer, action, "已改为甲级防火门")
        assert early.status_code == 409, early.text
        assert error_code(early) == "conflict"
    hand_to_designer(platform, case)
    etag = designer.get(f"/comments/{created['id']}").headers["etag"]
    answered = designer.send(
        "POST",
        url,
        headers={"If-Match": etag},
        data={"action": "answer", "text": "已改为甲级防火门"},
        files={"attachment": ("修改说明.pdf", b"%PDF-1.7 note", "application/pdf")},
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "answered"
    attachment = body["entries"][0]["attachment"]
    assert attachment["name"] == "修改说明.pdf"
    download = designer.client.get(attachment["url"])
    assert download.status_code == 200
    assert download.content == b"%PDF-1.7 note"
    assert browsers["clerk"].client.get(attachment["url"]).status_code == 404

    refused = act(designer, "resolve")
    assert refused.status_code == 403
    assert act(fire, "reopen").status_code == 422  # a reopening says why
    assert act(fire, "reopen", "门的开启方向不对").json()["status"] == "reopened"
    assert act(designer, "reply", "收到").json()["status"] == "reopened"
    assert act(designer, "answer", "已调整开启方向").json()["status"] == "answered"
    done = act(lead, "resolve")
    assert done.json()["status"] == "resolved"
    assert act(fire, "withdraw").status_code == 409
    assert act(fire, "jump").status_code == 422

    listed = designer.get(f"/submissions/{case.submission_id}/comments", params={"round": 1, "track": FIRE}).json()
    assert [(e["action"], e["role"]) for e in listed["items"][0]["entries"]] == [
        ("answer", "designer"),
        ("reopen", "reviewer"),
        ("reply", "designer"),
        ("answer", "designer"),
        ("resolve", "track_lead"),
    ]
    assert designer.get(f"/submissions/{case.submission_id}/comments", params={"status": "open"}).json()["items"] == []
    assert designer.get(f"/submissions/{case.submission_id}/comments", params={"round": "x"}).status_code == 400


def test_comments_on_the_whole_submission(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    fire, airdef, designer = browsers["fire.reviewer"], browsers["airdef.reviewer"], browsers["designer"]
    url = f"/submissions/{case.submission_id}/comments"
    kept = fire.send(
        "POST", "/comment-templates", json={"track": FIRE, "severity": "general", "text": "总平面消防车道"}
    )
    template_id = kept.json()["id"]
    body = {"track": FIRE, "severity": "general", "text": "消防车道宽度不足 4 m", "template_id": template_id}

    created = fire.send("POST", url, json=body)
    assert created.status_code == 201, created.text
    made = created.json()
    assert (made["sheet_id"], made["sheet_revision_id"], made["sheet_number"]) == (None, None, None)
    assert (made["round_number"], made["track"], made["status"]) == (1, FIRE, "open")
    assert created.headers["etag"] == f'"{made["version"]}"'
    assert fire.get(f"/comments/{made['id']}").json() == made  # the answer is what a later read gives
    mine = fire.get("/comment-templates", params={"track": FIRE}).json()["items"]
    assert [(t["id"], t["use_count"]) for t in mine] == [(template_id, 1)]
    unknown = fire.send("POST", url, json={**body, "template_id": template_id + 1000})
    assert unknown.status_code == 422
    assert error_code(unknown) == "COMMENT_TEMPLATE_UNKNOWN"

    # The same rules as on a sheet: one's own track, while its review is under way; others are not told it exists.
    assert airdef.send("POST", url, json=body).status_code == 403
    assert designer.send("POST", url, json=body).status_code == 403
    assert browsers["construction.reviewer"].send("POST", url, json=body).status_code == 404  # not routed to them
    assert [c["id"] for c in airdef.get(url).json()["items"]] == [made["id"]]
    assert designer.get(url).json()["items"] == []  # not issued yet
    with platform.sessions() as db, db.begin():
        review = db.scalars(
            select(TrackReview).where(TrackReview.round_id == case.round_id, TrackReview.track_code == FIRE)
        ).one()
        review.state = TrackReviewState.PASSED
    late = fire.send("POST", url, json=body)
    assert late.status_code == 409
    assert error_code(late) == "conflict"
    assert [c["id"] for c in fire.get(url).json()["items"]] == [made["id"]]
    assert fire.get(f"/sheet-revisions/{case.revision_id}/comments").json()["items"] == []  # on no sheet
    assert fire.send("DELETE", f"/comment-templates/{template_id}").status_code == 204  # PostgreSQL's is shared


def test_what_a_create_answers_is_what_a_read_gives(platform: Platform, browsers: dict[str, Browser]) -> None:
    """Created markups and comments are answered from the rows in hand: the same documents as a later read."""
    case = make_web_case(platform)
    fire = browsers["fire.reviewer"]
    drawn = draw(fire, case)
    assert drawn.status_code == 201
    assert fire.get(f"/markups/{drawn.json()['liantu']['id']}").json() == drawn.json()
    written = fire.send(
        "POST",
        f"/sheet-revisions/{case.revision_id}/comments",
        json={"track": FIRE, "severity": "general", "text": "见大样", "markup_ids": [drawn.json()["liantu"]["id"]]},
    )
    assert written.status_code == 201
    assert written.json()["markup_ids"] == [drawn.json()["liantu"]["id"]]
    assert fire.get(f"/comments/{written.json()['id']}").json() == written.json()


def test_clauses_templates_and_context(platform: Platform, browsers: dict[str, Browser]) -> None:
    case = make_web_case(platform)
    fire = browsers["fire.reviewer"]
    found = fire.get("/clauses", params={"q": "疏散 距离", "limit": 5}).json()["items"]
    assert CLAUSE in [c["id"] for c in found]
    assert set(found[0]) == {"id", "code", "clause", "title_zh", "title_en", "mandatory"}

    kept = fire.send(
        "POST",
        "/comment-templates",
        json={"track": FIRE, "severity": "mandatory", "text": "疏散距离不满足规范要求", "clause_ids": [CLAUSE]},
    )
    assert kept.status_code == 201, kept.text
    template_id = kept.json()["id"]
    assert (
        fire.send(
            "POST", "/comment-templates", json={"track": CIVIL_AIR_DEFENCE, "severity": "general", "text": "x"}
        ).status_code
        == 403
    )
    fire.send(
        "POST",
        f"/sheet-revisions/{case.revision_id}/comments",
        json={
            "track": FIRE,
            "severity": "mandatory",
            "text": "疏散距离不满足规范要求",
            "clause_ids": [CLAUSE],
            "template_id": template_id,
        },
    )
    mine = fire.get("/comment-templates", params={"track": FIRE}).json()["items"]
    assert [(t["id"], t["use_count"]) for t in mine] == [(template_id, 1)]
    assert browsers["fire.lead"].get("/comment-templates").json()["items"] == []
    assert browsers["fire.lead"].send("DELETE", f"/comment-templates/{template_id}").status_code == 404
    assert fire.send("DELETE", f"/comment-templates/{template_id}").status_code == 204

    context = fire.get(f"/sheet-revisions/{case.revision_id}/context").json()
    assert context["number"] == "建施-01"
    assert context["scale"] == "1:100"
    assert context["dzi"] == f"/api/v1/sheet-revisions/{case.revision_id}/tiles.dzi"
    assert {t["code"]: t["writable"] for t in context["tracks"]} == {FIRE: True, CIVIL_AIR_DEFENCE: False}
    assert [s["revision_id"] for s in context["sheets"]] == [case.revision_id]
    assert context["previous_revision_id"] is None
    designer = browsers["designer"].get(f"/sheet-revisions/{case.revision_id}/context").json()
    assert designer["tracks"] == []


# Live updates over two real servers on one database ----------------------------------------------------------


class Server:
    """Liantu served by uvicorn in a thread, on its own platform (its own engine: a separate web process's view)."""

    def __init__(self, platform: Platform) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(platform),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self.thread = threading.Thread(target=self.server.run, name=f"liantu-review-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self.server.started:
            assert self.thread.is_alive(), "the web server stopped"
            assert time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.02)  # polling the server's start flag, with a deadline

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _listen(url: str, cookie: str, lines: queue.Queue[str], stop: threading.Event) -> None:
    try:
        with (
            httpx.Client(cookies={COOKIE_NAME: cookie}, timeout=httpx.Timeout(10.0, read=30.0)) as client,
            client.stream("GET", url) as response,
        ):
            lines.put(f"status {response.status_code} {response.headers.get('content-type')}")
            for line in response.iter_lines():
                lines.put(line)
                if stop.is_set():
                    return
    except httpx.TransportError:
        if not stop.is_set():  # the servers going away at the end of the test is expected
            raise


def _next_event(lines: queue.Queue[str], deadline: float) -> dict[str, Any]:
    kind = None
    while True:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            return {"event": kind, **json.loads(line.removeprefix("data: "))}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_events_reach_a_viewer_on_another_server_within_a_second(
    kind: str, request: pytest.FixtureRequest, seeded_database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review_api, "KEEPALIVE_SECONDS", 0.5)  # a quiet stream says so every 15 s; here sooner
    writer_platform = _platform(kind, request, seeded_database, tmp_path / "data")
    if kind == "sqlite":  # the second process opens the same database file
        reader_platform = Platform(
            writer_platform.settings, _engine=make_engine(writer_platform.settings.effective_database_url)
        )
    else:
        reader_platform = _platform(kind, request, seeded_database, tmp_path / "data")
    writer, reader = Server(writer_platform), Server(reader_platform)
    stop = threading.Event()
    try:
        case = make_web_case(writer_platform)
        lines: queue.Queue[str] = queue.Queue()
        viewer_cookie, _ = session_cookie(reader_platform, "airdef.reviewer")
        listener = threading.Thread(
            target=_listen,
            args=(f"{reader.url}{API}/sheet-revisions/{case.revision_id}/events", viewer_cookie, lines, stop),
            daemon=True,
        )
        listener.start()
        assert lines.get(timeout=START_SECONDS) == "status 200 text/event-stream; charset=utf-8"
        while lines.get(timeout=START_SECONDS) != ": connected":
            pass

        cookie, token = session_cookie(writer_platform, "fire.reviewer")
        with httpx.Client(
            base_url=writer.url, cookies={COOKIE_NAME: cookie}, headers={"X-CSRF-Token": token}
        ) as client:
            created = client.post(
                f"{API}/sheet-revisions/{case.revision_id}/markups", json={"track": FIRE, "markup": RECT}
            )
            assert created.status_code == 201, created.text
            event = _next_event(lines, time.monotonic() + LIVE_SECONDS)  # from the commit on
            assert event == {"event": "markup", "id": created.json()["liantu"]["id"], "version": 1, "change": "created"}

            comment = client.post(
                f"{API}/sheet-revisions/{case.revision_id}/comments",
                json={"track": FIRE, "severity": "general", "text": "x", "markup_ids": [event["id"]]},
            )
            assert comment.status_code == 201
            committed = time.monotonic()
            seen = [_next_event(lines, committed + LIVE_SECONDS) for _ in range(2)]
            assert {(e["event"], e["change"]) for e in seen} == {("markup", "updated"), ("comment", "created")}

        # A quiet stream sends keepalive comments.
        deadline = time.monotonic() + START_SECONDS
        while lines.get(timeout=max(0.0, deadline - time.monotonic())) != ": keepalive":
            pass

        # A stranger is not told the revision exists.
        stranger, _ = session_cookie(reader_platform, "clerk")
        with httpx.Client(cookies={COOKIE_NAME: stranger}) as client:
            assert client.get(f"{reader.url}{API}/sheet-revisions/{case.revision_id}/events").status_code == 404
    finally:
        stop.set()
        reader.stop()
        writer.stop()
        reader_platform.close()
        writer_platform.close()
