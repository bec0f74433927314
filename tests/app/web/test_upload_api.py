"""The upload API over HTTP: resumable chunks, resuming after a reload, integrity checks, CSRF, store down."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import ezdxf
import pymupdf
import pytest
from sqlalchemy import func, select

from app.identity import principal_for_user
from app.platform import Platform
from app.projects import create_project, open_submission, parse_project
from app.tasks.celery_app import build_celery, set_celery
from app.web.api import API_PREFIX
from storage.blobstore import S3BlobStore
from storage.db import transaction
from storage.models import DrawingFile, UploadChunk, UploadSession, UploadState, User
from tests.support.web import TestClient, csrf_token, sign_in

CHUNK = 4096


@pytest.fixture(autouse=True)
def memory_broker(web_platform: Platform) -> Iterator[None]:
    """Verification jobs go to an in-memory broker (the web settings' ``memory://``)."""
    set_celery(build_celery(web_platform.settings))
    yield
    set_celery(None)


PROJECT_FORM = {
    "name": "滨江实验小学",
    "code": "JC-2026-0101",
    "construction_unit": "南京市建邺区教育局",
    "address": "江苏省南京市建邺区",
    "building_use": "教育",
    "floors_above": "4",
    "floors_below": "1",
    "height_m": "18.6",
    "gross_floor_area_m2": "12500",
    "fire_resistance_rating": "二级",
    "civil_air_defence_area_m2": "2100",
}


def drawing_pdf(pages: int = 3) -> bytes:
    document = pymupdf.open()
    for number in range(pages):
        page = document.new_page()
        page.insert_text((72, 72), f"A-10{number} floor plan")
        for step in range(60):
            page.draw_line((50, 100 + step * 10), (500, 120 + step * 9))
    return document.tobytes()


def drawing_dxf() -> bytes:
    document = ezdxf.new("R2013")
    space = document.modelspace()
    for step in range(200):
        space.add_line((0, step), (100, step * 2))
    space.add_text("建施-01", dxfattribs={"height": 5}).set_placement((10, 10))
    stream = io.StringIO()
    document.write(stream)
    return stream.getvalue().encode("utf-8")


def new_submission(platform: Platform, username: str = "designer", code: str = "JC-2026-0101") -> int:
    with transaction(platform.sessions) as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        who = principal_for_user(db, user_id)
        assert who is not None
        project = create_project(db, who, parse_project({**PROJECT_FORM, "code": code}))
        return open_submission(db, who, project.id).id


def browser(client: TestClient, platform: Platform, username: str = "designer") -> dict[str, str]:
    sign_in(client, platform, username)
    return {"X-CSRF-Token": csrf_token(client, "/")}


def count(platform: Platform, model: type) -> int:
    with platform.sessions() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def start(client: TestClient, headers: dict[str, str], submission_id: int, content: bytes, **extra: object):  # type: ignore[no-untyped-def]
    body = {"file_name": "建施-01 平面图.pdf", "size": len(content), "chunk_size": CHUNK, **extra}
    return client.post(f"{API_PREFIX}/submissions/{submission_id}/uploads", json=body, headers=headers)


def parts(content: bytes) -> list[bytes]:
    return [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)]


def send(client: TestClient, headers: dict[str, str], upload_id: str, index: int, part: bytes, **extra: str):  # type: ignore[no-untyped-def]
    chunk_headers = {**headers, "X-Chunk-SHA256": hashlib.sha256(part).hexdigest(), **extra}
    return client.put(f"{API_PREFIX}/uploads/{upload_id}/chunks/{index}", content=part, headers=chunk_headers)


def test_chunks_out_of_order_and_resent_make_one_drawing_file(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    submission_id = new_submission(web_platform)
    content = drawing_pdf()
    pieces = parts(content)
    assert len(pieces) >= 3
    created = start(client, headers, submission_id, content, sha256=hashlib.sha256(content).hexdigest())
    assert created.status_code == 201, created.text
    upload_id = created.json()["upload_id"]
    assert created.json()["chunk_count"] == len(pieces)

    for index in reversed(range(len(pieces))):
        assert send(client, headers, upload_id, index, pieces[index]).status_code == 200
    assert send(client, headers, upload_id, 1, pieces[1]).status_code == 200  # sent again: fine
    assert count(web_platform, UploadChunk) == len(pieces)

    done = client.post(f"{API_PREFIX}/uploads/{upload_id}/complete", headers=headers)
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["kind"] == "pdf"
    assert body["duplicate"] is False
    assert count(web_platform, UploadChunk) == 0
    assert not list(web_platform.store.iter_keys("uploads/"))
    status = client.get(f"{API_PREFIX}/uploads/{upload_id}").json()
    assert status["state"] == "completed"
    assert status["drawing_file_id"] == body["id"]

    # The same file again is recognised, not stored twice.
    again = start(client, headers, submission_id, content).json()["upload_id"]
    for index, part in enumerate(pieces):
        send(client, headers, again, index, part)
    duplicate = client.post(f"{API_PREFIX}/uploads/{again}/complete", headers=headers)
    assert duplicate.status_code == 200
    assert duplicate.json()["duplicate"] is True
    assert duplicate.json()["id"] == body["id"]
    assert count(web_platform, DrawingFile) == 1
    # A completed upload takes no more chunks.
    assert send(client, headers, upload_id, 0, pieces[0]).status_code == 409


def test_resume_after_a_reload(web_app, web_platform) -> None:  # type: ignore[no-untyped-def]
    submission_id = new_submission(web_platform)
    content = drawing_dxf()
    pieces = parts(content)
    assert len(pieces) >= 4
    with TestClient(web_app, follow_redirects=False) as first:
        headers = browser(first, web_platform)
        cookie = dict(first.cookies)
        upload_id = start(first, headers, submission_id, content).json()["upload_id"]
        for index in (0, 1):
            assert send(first, headers, upload_id, index, pieces[index]).status_code == 200

    with TestClient(web_app, follow_redirects=False, cookies=cookie) as second:  # the page was reloaded
        status = second.get(f"{API_PREFIX}/uploads/{upload_id}")
        assert status.status_code == 200
        assert status.json()["received"] == [0, 1]
        for index in range(2, len(pieces)):
            assert send(second, headers, upload_id, index, pieces[index]).status_code == 200
        done = second.post(f"{API_PREFIX}/uploads/{upload_id}/complete", headers=headers)
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert done.json()["kind"] == "dxf"
    with web_platform.sessions() as db:
        stored = db.scalars(select(DrawingFile)).one()
        assert stored.sha256 == hashlib.sha256(content).hexdigest()
        assert stored.original_name == "建施-01 平面图.pdf"


def test_a_chunk_with_a_wrong_hash_is_refused_and_not_recorded(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    content = drawing_pdf()
    upload_id = start(client, headers, new_submission(web_platform), content).json()["upload_id"]
    wrong = send(client, headers, upload_id, 0, parts(content)[0], **{"X-Chunk-SHA256": "0" * 64})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message_zh"]
    assert count(web_platform, UploadChunk) == 0
    assert not list(web_platform.store.iter_keys("uploads/"))
    too_long = send(client, headers, upload_id, 0, parts(content)[0] + b"x")
    assert too_long.status_code == 400
    assert client.get(f"{API_PREFIX}/uploads/{upload_id}").json()["received"] == []


def test_completing_with_a_missing_chunk_is_a_conflict(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    content = drawing_pdf()
    upload_id = start(client, headers, new_submission(web_platform), content).json()["upload_id"]
    send(client, headers, upload_id, 0, parts(content)[0])
    done = client.post(f"{API_PREFIX}/uploads/{upload_id}/complete", headers=headers)
    assert done.status_code == 409
    assert "1" in done.json()["error"]["message_en"]
    assert count(web_platform, DrawingFile) == 0


def test_a_declared_hash_that_does_not_match_stores_nothing(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    content = drawing_pdf()
    upload_id = start(client, headers, new_submission(web_platform), content, sha256="ab" * 32).json()["upload_id"]
    for index, part in enumerate(parts(content)):
        send(client, headers, upload_id, index, part)
    done = client.post(f"{API_PREFIX}/uploads/{upload_id}/complete", headers=headers)
    assert done.status_code == 400
    assert count(web_platform, DrawingFile) == 0
    assert not list(web_platform.store.iter_keys("originals/"))


def test_limits_kinds_and_other_organisations(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    submission_id = new_submission(web_platform)
    too_big = start(client, headers, submission_id, b"", size=web_platform.settings.max_upload_bytes + 1)
    assert too_big.status_code == 413
    assert "MB" in too_big.json()["error"]["message_zh"]

    html = client.post(
        f"{API_PREFIX}/submissions/{submission_id}/files?name=page.pdf", content=b"<html></html>", headers=headers
    )
    assert html.status_code == 400
    assert "无法识别" in html.json()["error"]["message_zh"]

    sign_in(client, web_platform, "fire.reviewer")  # not a designer of this project: it does not exist for them
    other = client.post(
        f"{API_PREFIX}/submissions/{submission_id}/uploads",
        json={"file_name": "a.pdf", "size": 10},
        headers={"X-CSRF-Token": csrf_token(client, "/")},
    )
    assert other.status_code == 404


def test_browser_uploads_need_the_csrf_token_and_tokens_do_not(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    from app.identity import create_api_token

    sign_in(client, web_platform, "designer")
    submission_id = new_submission(web_platform)
    content = drawing_pdf(1)
    refused = client.post(f"{API_PREFIX}/submissions/{submission_id}/files?name=a.pdf", content=content)
    assert refused.status_code == 403
    assert count(web_platform, DrawingFile) == 0

    with transaction(web_platform.sessions) as db:
        user = db.scalars(select(User).where(User.username == "designer")).one()
        plain = create_api_token(db, user.id, "script")
    client.cookies.clear()
    answer = client.post(
        f"{API_PREFIX}/submissions/{submission_id}/files?name=一层平面.pdf",
        content=content,
        headers={"Authorization": f"Bearer {plain}"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["original_name"] == "一层平面.pdf"
    listed = client.get(f"{API_PREFIX}/submissions/{submission_id}/files", headers={"Authorization": f"Bearer {plain}"})
    assert [row["sha256"] for row in listed.json()["files"]] == [hashlib.sha256(content).hexdigest()]


def test_aborting_deletes_the_chunks(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    content = drawing_pdf()
    upload_id = start(client, headers, new_submission(web_platform), content).json()["upload_id"]
    send(client, headers, upload_id, 0, parts(content)[0])
    assert list(web_platform.store.iter_keys("uploads/"))
    assert client.delete(f"{API_PREFIX}/uploads/{upload_id}", headers=headers).status_code == 200
    assert not list(web_platform.store.iter_keys("uploads/"))
    with web_platform.sessions() as db:
        assert db.get(UploadSession, upload_id).state is UploadState.ABORTED  # type: ignore[union-attr]
    assert send(client, headers, upload_id, 1, parts(content)[1]).status_code == 409


def test_store_down_answers_503_and_records_nothing(client, web_platform, dead_s3_endpoint) -> None:  # type: ignore[no-untyped-def]
    headers = browser(client, web_platform)
    submission_id = new_submission(web_platform)
    content = drawing_pdf()
    pieces = parts(content)
    upload_id = start(client, headers, submission_id, content).json()["upload_id"]
    for index, part in enumerate(pieces):
        send(client, headers, upload_id, index, part)

    dead = S3BlobStore(endpoint=dead_s3_endpoint, access_key="nobody-here", secret_key="nothing-secret", bucket="gone")
    web_platform.__dict__["store"] = dead  # the store goes down between the chunks and the completion
    done = client.post(f"{API_PREFIX}/uploads/{upload_id}/complete", headers=headers)
    assert done.status_code == 503, done.text
    assert done.json()["error"]["message_en"]
    one_shot = client.post(
        f"{API_PREFIX}/submissions/{submission_id}/files?name=a.pdf", content=content, headers=headers
    )
    assert one_shot.status_code == 503
    chunk = send(client, headers, upload_id, 0, pieces[0])
    assert chunk.status_code == 503
    assert count(web_platform, DrawingFile) == 0
    assert client.get(f"{API_PREFIX}/uploads/{upload_id}").json()["state"] == "open"


def test_a_write_from_an_overtaken_sqlite_snapshot_is_repeated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from app.web.uploads import retry_outdated_snapshot
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    with engine.begin() as setup:
        setup.execute(text("CREATE TABLE t (n INTEGER)"))
    attempts = []

    def work() -> int:
        attempts.append(1)
        with engine.begin() as reader:
            reader.execute(text("SELECT count(*) FROM t")).scalar_one()
            if len(attempts) == 1:  # another writer commits between our read and our write
                with engine.begin() as other:
                    other.execute(text("INSERT INTO t VALUES (1)"))
            reader.execute(text("INSERT INTO t VALUES (2)"))
        return len(attempts)

    assert retry_outdated_snapshot(work) == 2
    with engine.connect() as check:
        assert check.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    engine.dispose()
