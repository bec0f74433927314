"""Drawing files made for the intake tests: PDF sheets and a DXF layout with Chinese title blocks."""

from __future__ import annotations

import io

import ezdxf
import pymupdf
from sqlalchemy.orm import Session, sessionmaker

from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.tracks import ensure_tracks
from storage.blobstore import LocalBlobStore
from storage.models import DrawingFile, OrgKind, Project, Role, Submission

SHEETS = (("建施-01", "一层平面图"), ("建施-02", "二层平面图"))
BODY_TEXT = "防火分区 消防车道"


def title_block_pdf(sheets: tuple[tuple[str, str], ...] = SHEETS, *, password: str | None = None) -> bytes:
    """An A3 landscape page per sheet, its number and title in a title block at the bottom right."""
    document = pymupdf.open()
    for number, title in sheets:
        page = document.new_page(width=1191, height=842)
        page.draw_rect(pymupdf.Rect(20, 20, 1171, 822))
        page.insert_text((100, 200), f"{title} 说明：{BODY_TEXT}", fontname="china-s", fontsize=14)
        page.draw_rect(pymupdf.Rect(880, 690, 1171, 822))
        for row, line in enumerate(("设计单位：联图建筑设计院", f"图名：{title}", f"图号：{number}", "比例：1:100")):
            page.insert_text((900, 720 + 25 * row), line, fontname="china-s", fontsize=9)
    if password is None:
        return bytes(document.tobytes())
    return bytes(document.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "!"))


def layout_dxf(number: str = "建施-03", title: str = "三层平面图") -> bytes:
    """A DXF with a floor outline in model space and one A3 paperspace layout holding a title block."""
    doc = ezdxf.new("R2010", setup=True)
    doc.header["$INSUNITS"] = 4
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (20000, 0), (20000, 12000), (0, 12000)], close=True)
    msp.add_text("客厅", height=500).set_placement((5000, 6000))
    layout = doc.layouts.new(number)
    layout.page_setup(size=(420, 297), margins=(0, 0, 0, 0), units="mm")
    layout.add_viewport(center=(200, 160), size=(360, 240), view_center_point=(10000, 6000), view_height=24000)
    layout.add_lwpolyline([(5, 5), (415, 5), (415, 292), (5, 292)], close=True)
    for row, line in enumerate(("设计单位：联图建筑设计院", f"图名：{title}", f"图号：{number}", "比例：1:100")):
        layout.add_text(line, height=3.5).set_placement((320, 40 - row * 8))
    text = io.StringIO()
    doc.write(text)
    return text.getvalue().encode()


def upload_original(
    sessions: sessionmaker[Session],
    store: LocalBlobStore,
    submission_id: int,
    data: bytes,
    name: str,
    media_type: str = "application/octet-stream",
) -> int:
    """Store ``data`` as an original and record its DrawingFile, as an upload would; returns its id."""
    info = store.put_original(io.BytesIO(data), content_type="application/octet-stream")
    assert info.sha256 is not None
    with sessions() as session, session.begin():
        drawing = DrawingFile(
            submission_id=submission_id,
            sha256=info.sha256,
            size=info.size,
            original_name=name,
            media_type=media_type,
            object_key=info.key,
            status="stored",
            findings={},
        )
        session.add(drawing)
        session.flush()
        return drawing.id


# A fixed hash: hashing a password is slow on purpose and not under test here.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"


def designer_and_submission(session: Session, code: str) -> tuple[Principal, int]:
    """A design institute with one designer, and a draft submission of a new project ``code``."""
    ensure_tracks(session)
    institute = create_organization(session, "联图测试设计院", OrgKind.DESIGN_INSTITUTE)
    new = check_new_user(session, institute, "d.zhao", "d.zhao", [(Role.DESIGNER, None)])
    designer = principal_from_user(insert_user(session, institute, new, PASSWORD_HASH))
    project = Project(organization_id=institute.id, code=code, name="滨江小学")
    session.add(project)
    session.flush()
    submission = Submission(project_id=project.id)
    session.add(submission)
    session.flush()
    return designer, submission.id
