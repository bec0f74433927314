"""DWG originals: refused without a converter; with one, stored as uploaded and converted to DXF by the intake job.

The ODA File Converter is a program outside the platform and cannot be installed here, so each test writes a
stand-in executable that takes the same command line (input folder, output folder, version, type, recurse,
audit, filter) and writes a DXF made with ezdxf into the output folder, or fails, hangs, or writes nothing.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.drawings import add_original
from app.errors import Invalid
from app.intake.dwg import OUTPUT_VERSION, DwgConverter, dxf_key
from app.intake.pipeline import process_drawing_file, render_sheet_revision
from app.intake.steps_render import ViewOptions
from app.intake.tasks import dwg_converter
from app.settings import SettingsError, load_settings
from storage.blobstore import LocalBlobStore
from storage.db import transaction
from storage.models import DrawingFile, Sheet, SheetRevision
from tests.app.intake.makers import designer_and_submission, layout_dxf
from tests.support.workers import WorkerEnvironment, wait_for

FAST = ViewOptions(dpi=50, thumbnail_px=128)
# The leading bytes of an AutoCAD 2018 DWG; nothing past them is read by Liantu itself.
DWG = b"AC1032\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8

_CONVERTS = """
import pathlib, shutil, sys
source, target, version, kind, recurse, audit, pattern = sys.argv[1:8]
assert (version, kind, recurse, audit, pattern) == ("ACAD2018", "DXF", "0", "1", "*.DWG"), sys.argv
calls = pathlib.Path({calls!r})
calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
for dwg in pathlib.Path(source).glob("*.dwg"):
    assert dwg.read_bytes().startswith(b"AC1032")
    shutil.copyfile({dxf!r}, pathlib.Path(target) / (dwg.stem + ".dxf"))
"""
_FAILS = "import sys\nprint('ODA: file is damaged')\nsys.exit(3)\n"
_HANGS = "import time\ntime.sleep(60)\n"
_WRITES_NOTHING = "print('Error: unsupported file version')\n"


def _stand_in(folder: Path, body: str) -> Path:
    path = folder / "ODAFileConverter"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def converts(tmp_path: Path) -> Path:
    dxf = tmp_path / "made-by-ezdxf.dxf"
    dxf.write_bytes(layout_dxf("建施-03", "三层平面图"))
    return _stand_in(tmp_path, _CONVERTS.format(calls=str(tmp_path / "calls"), dxf=str(dxf)))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


# Settings ---------------------------------------------------------------------------------


def test_the_converter_setting_must_name_an_executable(tmp_path: Path, converts: Path) -> None:
    assert load_settings({}).oda_converter is None
    assert load_settings({"LIANTU_ODA_CONVERTER": ""}).oda_converter is None
    settings = load_settings({"LIANTU_ODA_CONVERTER": str(converts), "LIANTU_DWG_TIMEOUT_SECONDS": "45"})
    assert settings.oda_converter == converts
    assert dwg_converter(settings) == DwgConverter(converts, 45)
    assert dwg_converter(load_settings({})) is None

    with pytest.raises(SettingsError, match="LIANTU_ODA_CONVERTER") as missing:
        load_settings({"LIANTU_ODA_CONVERTER": str(tmp_path / "nowhere")})
    assert "不可执行" in str(missing.value)
    plain = tmp_path / "readme.txt"
    plain.write_text("not a program")
    with pytest.raises(SettingsError, match="LIANTU_ODA_CONVERTER"):
        load_settings({"LIANTU_ODA_CONVERTER": str(plain)})
    with pytest.raises(SettingsError, match="LIANTU_ODA_CONVERTER"):
        load_settings({"LIANTU_ODA_CONVERTER": str(tmp_path)})
    with pytest.raises(SettingsError, match="LIANTU_DWG_TIMEOUT_SECONDS"):
        load_settings({"LIANTU_DWG_TIMEOUT_SECONDS": "0"})


# Upload -----------------------------------------------------------------------------------


def test_a_dwg_is_refused_without_a_converter_and_kept_as_uploaded_with_one(
    session: Session, store: LocalBlobStore
) -> None:
    designer, submission_id = designer_and_submission(session, "JC-2026-0501")
    with pytest.raises(Invalid) as refused:
        add_original(session, store, designer, submission_id, io.BytesIO(DWG), file_name="总图.dwg", max_bytes=10**6)
    assert "DXF" in refused.value.zh
    assert "PDF" in refused.value.en
    assert list(store.iter_keys("originals/")) == []

    added = add_original(
        session, store, designer, submission_id, io.BytesIO(DWG), file_name="总图.dwg", max_bytes=10**6, accept_dwg=True
    )
    drawing = added.drawing_file
    assert drawing.findings == {"kind": "dwg"}
    assert drawing.media_type == "image/vnd.dwg"
    with store.open(drawing.object_key) as stream:
        assert stream.read() == DWG


# Conversion in the pipeline -----------------------------------------------------------------


@pytest.fixture
def submission_id(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session, session.begin():
        return designer_and_submission(session, "JC-2026-0502")[1]


def _stored_dwg(sessions: sessionmaker[Session], store: LocalBlobStore, submission_id: int) -> int:
    info = store.put_original(io.BytesIO(DWG), content_type="image/vnd.dwg")
    assert info.sha256 is not None
    with sessions() as session, session.begin():
        drawing = DrawingFile(
            submission_id=submission_id,
            sha256=info.sha256,
            size=info.size,
            original_name="建施-03.dwg",
            media_type="image/vnd.dwg",
            object_key=info.key,
            status="stored",
            findings={"kind": "dwg"},
        )
        session.add(drawing)
        session.flush()
        return drawing.id


def test_a_converted_dwg_becomes_a_ready_sheet_and_is_converted_once(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int, converts: Path
) -> None:
    converter = DwgConverter(converts, 30)
    file_id = _stored_dwg(session_factory, store, submission_id)
    outcome = process_drawing_file(session_factory, store, file_id, dwg=converter)
    assert not outcome.rejected, outcome.message
    [revision_id] = outcome.revision_ids
    render_sheet_revision(session_factory, store, revision_id, options=FAST, dwg=converter)

    with session_factory() as session:
        drawing = session.get_one(DrawingFile, file_id)
        assert drawing.status == "split"
        codes = [f["code"] for f in drawing.findings["intake"]]
        assert codes[0] == "DWG_CONVERTED"
        assert OUTPUT_VERSION in drawing.findings["intake"][0]["zh"]
        revision = session.get_one(SheetRevision, revision_id)
        assert revision.status == "ready"
        assert revision.sheet.number == "建施-03"
        assert revision.layout_name == "建施-03"
        original_key, sha256 = drawing.object_key, drawing.sha256
    with store.open(original_key) as stream:
        assert stream.read() == DWG
    key = dxf_key(sha256, converter.version)
    assert key.startswith(f"derived/dwg/{sha256}/")
    assert store.exists(key)

    # The stored DXF is reused: running the job again, or rebuilding a lost sheet PDF, converts nothing.
    again = process_drawing_file(session_factory, store, file_id, dwg=converter)
    assert again.revision_ids == outcome.revision_ids
    with session_factory() as session:
        pdf_key = session.get_one(SheetRevision, revision_id).pdf_key
    assert pdf_key is not None
    store.delete(pdf_key)
    render_sheet_revision(session_factory, store, revision_id, options=FAST, dwg=converter)
    assert store.exists(pdf_key)
    assert (converts.parent / "calls").read_text() == "x"


@pytest.mark.parametrize(
    ("body", "zh", "en"),
    [
        (_FAILS, "退出码 3", "exited with 3"),
        (_HANGS, "超过 1 秒", "longer than 1 s"),
        (_WRITES_NOTHING, "没有生成 DXF", "unsupported file version"),
    ],
    ids=["fails", "hangs", "writes-nothing"],
)
def test_a_failed_conversion_rejects_the_file(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    submission_id: int,
    tmp_path: Path,
    body: str,
    zh: str,
    en: str,
) -> None:
    converter = DwgConverter(_stand_in(tmp_path, body), 1)
    file_id = _stored_dwg(session_factory, store, submission_id)
    outcome = process_drawing_file(session_factory, store, file_id, dwg=converter)
    assert outcome.rejected
    assert zh in outcome.message
    assert en in outcome.message
    with session_factory() as session:
        drawing = session.get_one(DrawingFile, file_id)
        assert drawing.status == "rejected"
        [finding] = drawing.findings["intake"]
        assert finding["code"] == "FILE_UNREADABLE"
        assert finding["zh"].startswith("DWG 转换失败")
        assert "DXF" in finding["zh"]
        assert finding["en"].startswith("the DWG could not be converted")
    assert list(store.iter_keys("derived/")) == []


def test_a_stored_dwg_without_a_converter_is_rejected_with_the_export_hint(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = _stored_dwg(session_factory, store, submission_id)
    outcome = process_drawing_file(session_factory, store, file_id)
    assert outcome.rejected
    assert "另存为 DXF" in outcome.message
    assert "save the drawing as DXF" in outcome.message


# On a real worker -----------------------------------------------------------------------------


def test_an_uploaded_dwg_is_converted_by_the_worker(worker_environment: WorkerEnvironment, converts: Path) -> None:
    env = worker_environment
    env.environ["LIANTU_ODA_CONVERTER"] = str(converts)
    with transaction(env.sessions) as session:
        designer, submission_id = designer_and_submission(session, "JC-2026-0503")
        add_original(
            session,
            env.platform.store,
            designer,
            submission_id,
            io.BytesIO(DWG),
            file_name="建施-03.dwg",
            max_bytes=10**8,
            accept_dwg=True,
        )
    env.start_worker()

    def ready() -> str | None:
        with env.sessions() as session:
            row = session.execute(
                select(Sheet.number, SheetRevision.status)
                .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
                .where(Sheet.submission_id == submission_id)
            ).first()
        return str(row[0]) if row is not None and row[1] == "ready" else None

    assert wait_for(ready, timeout=60, what="the converted sheet to be ready") == "建施-03"
    assert os.path.exists(converts.parent / "calls")
