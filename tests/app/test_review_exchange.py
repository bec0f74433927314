"""Exchange use cases on both databases: XFDF out and in, the annotated PDF, the comment list as CSV and XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pymupdf
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound
from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.review_desk.errors import Rejected
from app.review_desk.markups import stored_shape, value_of
from app.review_exchange import (
    CommentFilter,
    annotated_pdf,
    comment_lines,
    import_markups_xfdf,
    markups_xfdf,
    neutralise,
    table_csv,
    table_xlsx,
)
from app.tracks import CIVIL_AIR_DEFENCE, FIRE, ensure_tracks
from review.markups.geometry import validate_markup
from review.markups.model import Markup as Shape
from review.markups.model import MarkupKind, Rect
from review.markups.xfdf import read_xfdf
from storage.blobstore import LocalBlobStore
from storage.models import (
    AuditEvent,
    Comment,
    CommentEntry,
    Markup,
    OrgKind,
    Role,
    TrackReview,
    TrackReviewState,
)
from tests.app.intake.makers import PASSWORD_HASH
from tests.app.review_desk.makers import sheet_in_review

WIDTH, HEIGHT = 595.0, 420.0
SCRIPT = '<script>alert("x")</script>'

ACROBAT_XFDF = """<?xml version="1.0" encoding="UTF-8"?>
<xfdf xmlns="http://ns.adobe.com/xfdf/" xml:space="preserve">
  <annots>
    <square color="#FF0000" creationdate="D:20261120093000+08'00'" date="D:20261120093512+08'00'"
      flags="print" name="6f1c2d0e-1a2b-4c3d-8e9f-000000000001" page="0" rect="98.5,298.5,201.5,361.5"
      subject="Rectangle" title="赵磊" width="3" fringe="1.5,1.5,1.5,1.5">
      <contents>疏散距离不满足要求</contents>
      <popup flags="print,nozoom,norotate" open="no" page="0" rect="595,300,775,420"/>
    </square>
    <polygon color="#E60012" name="6f1c2d0e-1a2b-4c3d-8e9f-000000000002" page="0" rect="290,200,410,300"
      style="cloudy" intensity="1" width="1.5" subject="Cloud" title="赵磊">
      <vertices>300,210;400,210;400,290;300,290</vertices>
    </polygon>
    <ink color="#0000FF" name="6f1c2d0e-1a2b-4c3d-8e9f-000000000003" page="0" rect="40,40,120,90" width="2">
      <inklist><gesture>50,50;60,70;80,60;110,80</gesture></inklist>
    </ink>
    <freetext name="6f1c2d0e-1a2b-4c3d-8e9f-000000000004" page="0" rect="420,40,560,80"
      callout="380,120,420,60" intent="FreeTextCallout" head="OpenArrow" width="1" color="#E60012">
      <contents>防火门应为甲级 &lt;script&gt;</contents>
    </freetext>
    <text name="6f1c2d0e-1a2b-4c3d-8e9f-000000000005" page="0" rect="10,10,30,30" icon="Comment">
      <contents>便签</contents>
    </text>
    <square name="6f1c2d0e-1a2b-4c3d-8e9f-000000000006" page="0" rect="500,300,900,700" width="1"/>
    <circle name="6f1c2d0e-1a2b-4c3d-8e9f-000000000007" page="1" rect="10,10,60,60" width="1"/>
  </annots>
  <f href="建施-01.pdf"/>
</xfdf>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xfdf [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xfdf xmlns="http://ns.adobe.com/xfdf/"><annots>
<square page="0" rect="10,10,50,50"><contents>&xxe;</contents></square></annots></xfdf>"""

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    )
    + b']>\n<xfdf xmlns="http://ns.adobe.com/xfdf/"><annots><square page="0" rect="1,1,9,9">'
    + b"<contents>&lol9;</contents></square></annots></xfdf>"
)


@dataclass(frozen=True)
class Case:
    """A submission in review with one sheet revision and the people around it."""

    submission_id: int
    round_id: int
    sheet_id: int
    revision_id: int
    designer: Principal
    fire: Principal
    airdef: Principal
    bureau: Principal
    outsider: Principal


def one_page_pdf(width: float = WIDTH, height: float = HEIGHT) -> bytes:
    document = pymupdf.open()
    page = document.new_page(width=width, height=height)
    page.insert_text((40, 200), "一层平面图", fontname="china-s", fontsize=14)
    return bytes(document.tobytes())


def _person(session: Session, org, username: str, role: Role, track: str | None = None) -> Principal:  # type: ignore[no-untyped-def]
    new = check_new_user(session, org, username, f"{username}-名", [(role, track)])
    return principal_from_user(insert_user(session, org, new, PASSWORD_HASH))


def make_case(session: Session, store: LocalBlobStore, tag: str, *, pdf: bytes | None = None) -> Case:
    """Organisations, people, a project whose submission is in review in round 1, one sheet revision."""
    ensure_tracks(session)
    institute = create_organization(session, f"设计院{tag}", OrgKind.DESIGN_INSTITUTE)
    agency = create_organization(session, f"审查中心{tag}", OrgKind.REVIEW_AGENCY)
    bureau_org = create_organization(session, f"住建局{tag}", OrgKind.BUREAU)
    other = create_organization(session, f"别的设计院{tag}", OrgKind.DESIGN_INSTITUTE)
    people = {
        "designer": _person(session, institute, f"d{tag}", Role.DESIGNER),
        "fire": _person(session, agency, f"f{tag}", Role.REVIEWER, FIRE),
        "airdef": _person(session, agency, f"a{tag}", Role.REVIEWER, CIVIL_AIR_DEFENCE),
        "bureau": _person(session, bureau_org, f"b{tag}", Role.BUREAU_OFFICER),
        "outsider": _person(session, other, f"o{tag}", Role.DESIGNER),
    }
    info = store.put_original(io.BytesIO(pdf or one_page_pdf()), content_type="application/pdf")
    ids = sheet_in_review(
        session,
        institute.id,
        f"JC-{tag}",
        f"SC-{tag}",
        original=(info.key, info.sha256 or "", info.size),
        pdf_key=info.key,
    )
    return Case(ids.submission_id, ids.round_id, ids.sheet_id, ids.revision_id, **people)


def add_markup(session: Session, case: Case, who: Principal, track: str, shape: Shape) -> int:
    valid = validate_markup(shape, WIDTH, HEIGHT)
    row = Markup(
        sheet_revision_id=case.revision_id,
        track_code=track,
        author_id=who.user_id,
        kind=valid.kind.value,
        shape=value_of(valid),
    )
    session.add(row)
    session.flush()
    return row.id


def issue(session: Session, case: Case, track: str) -> None:
    review = session.scalars(
        select(TrackReview).where(TrackReview.round_id == case.round_id, TrackReview.track_code == track)
    ).one()
    review.comments_issued_at = dt.datetime.now(dt.UTC)
    session.flush()


def flat(points: tuple[tuple[float, float], ...]) -> list[float]:
    return [v for point in points for v in point]


def count(session: Session, model: type, *where) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


@pytest.fixture
def case(session: Session, store: LocalBlobStore) -> Case:
    return make_case(session, store, "X1")


SHAPES = (
    Shape(MarkupKind.RECTANGLE, ((100, 60), (200, 120)), stroke_width=2),
    Shape(MarkupKind.CLOUD, ((300, 100), (400, 100), (400, 200), (300, 200)), cloud_arc=12),
    Shape(MarkupKind.ARROW, ((50, 300), (120, 250)), text="见大样 A"),
    Shape(MarkupKind.FREE_TEXT, ((450, 300),), text=f"甲级防火门 {SCRIPT}", box=Rect(430, 330, 580, 380)),
    Shape(MarkupKind.FREEHAND, ((20, 20), (40, 35), (60, 22), (80, 40))),
    Shape(MarkupKind.HIGHLIGHT, ((200, 250), (280, 270)), colour="#ffff00", opacity=0.35),
)


def test_xfdf_round_trip_keeps_every_shape(session: Session, case: Case) -> None:
    for shape in SHAPES:
        add_markup(session, case, case.fire, FIRE, shape)
    data, name = markups_xfdf(session, case.fire, case.revision_id)
    assert name == "建施-01.xfdf"
    report = read_xfdf(data, page_height=HEIGHT)
    assert report.findings == ()
    back = [validate_markup(item.markup, WIDTH, HEIGHT) for item in report.markups]
    assert [m.kind for m in back] == [s.kind for s in SHAPES]
    for original, read in zip(SHAPES, back, strict=True):
        expected = validate_markup(original, WIDTH, HEIGHT)
        assert flat(read.points) == pytest.approx(flat(expected.points), abs=0.01)
        assert read.text == expected.text
    assert {item.author for item in report.markups} == {case.fire.display_name}
    assert SCRIPT.encode() not in data  # escaped as XML text, never markup
    assert b"&lt;script&gt;" in data

    # The exported file imported again by the other track's reviewer: the same shapes, now theirs.
    outcome = import_markups_xfdf(session, case.airdef, case.revision_id, CIVIL_AIR_DEFENCE, data)
    assert len(outcome.markup_ids) == len(SHAPES)
    assert outcome.skipped == ()
    stored = session.scalars(select(Markup).where(Markup.id.in_(outcome.markup_ids)).order_by(Markup.id)).all()
    assert {m.track_code for m in stored} == {CIVIL_AIR_DEFENCE}
    assert {m.author_id for m in stored} == {case.airdef.user_id}
    free_text = next(m for m in stored if m.kind == "free_text")
    assert stored_shape(free_text).text == f"甲级防火门 {SCRIPT}"


def test_an_acrobat_file_is_imported_with_reasons_for_what_is_skipped(session: Session, case: Case) -> None:
    events_before = count(session, AuditEvent)
    outcome = import_markups_xfdf(session, case.fire, case.revision_id, FIRE, ACROBAT_XFDF.encode())
    stored = session.scalars(select(Markup).where(Markup.id.in_(outcome.markup_ids)).order_by(Markup.id)).all()
    assert [m.kind for m in stored] == ["rectangle", "cloud", "freehand", "free_text"]
    rectangle = stored_shape(stored[0])
    # Acrobat's rect encloses the 3 pt stroke; the fringe brings it back to the drawn square, y flipped.
    assert flat(rectangle.points) == pytest.approx([100.0, 60.0, 200.0, 120.0])
    cloud = stored_shape(stored[1])
    assert cloud.points[0] == pytest.approx((300.0, HEIGHT - 210))
    free_text = stored_shape(stored[3])
    assert free_text.text == "防火门应为甲级 <script>"
    assert dict(outcome.notes) == {stored[0].id: "疏散距离不满足要求"}
    codes = sorted(f.code for f in outcome.skipped)
    assert codes == ["MARKUP_OUTSIDE_SHEET", "XFDF_OTHER_PAGE", "XFDF_UNSUPPORTED_TYPE"]
    assert all(f.zh and f.en for f in outcome.skipped)
    assert count(session, AuditEvent) == events_before + 1


@pytest.mark.parametrize(("data", "code"), [(XXE, "XML_DOCTYPE_REFUSED"), (BILLION_LAUGHS, "XML_DOCTYPE_REFUSED")])
def test_hostile_xml_is_refused_and_nothing_stored(session: Session, case: Case, data: bytes, code: str) -> None:
    before = (count(session, Markup), count(session, AuditEvent))
    with pytest.raises(Rejected) as refused:
        import_markups_xfdf(session, case.fire, case.revision_id, FIRE, data)
    assert refused.value.code == code
    assert "拒收" in refused.value.zh
    assert (count(session, Markup), count(session, AuditEvent)) == before


def test_oversized_and_non_xfdf_files_are_refused(session: Session, case: Case) -> None:
    with pytest.raises(Rejected) as big:
        import_markups_xfdf(session, case.fire, case.revision_id, FIRE, b" " * 10_000_001)
    assert big.value.code == "XML_TOO_LARGE"
    with pytest.raises(Rejected) as other:
        import_markups_xfdf(session, case.fire, case.revision_id, FIRE, b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert other.value.code == "XFDF_NOT_XFDF"
    assert count(session, Markup) == 0


def test_who_may_import_and_when(session: Session, case: Case) -> None:
    data = ACROBAT_XFDF.encode()
    with pytest.raises(Forbidden):
        import_markups_xfdf(session, case.airdef, case.revision_id, FIRE, data)  # not their track
    with pytest.raises(Forbidden):
        import_markups_xfdf(session, case.designer, case.revision_id, FIRE, data)
    with pytest.raises(NotFound):
        import_markups_xfdf(session, case.outsider, case.revision_id, FIRE, data)
    review = session.scalars(
        select(TrackReview).where(TrackReview.round_id == case.round_id, TrackReview.track_code == FIRE)
    ).one()
    review.state = TrackReviewState.PASSED
    session.flush()
    with pytest.raises(Conflict):
        import_markups_xfdf(session, case.fire, case.revision_id, FIRE, data)
    assert count(session, Markup) == 0


def test_designers_read_a_track_once_it_issued_its_comments(session: Session, case: Case) -> None:
    add_markup(session, case, case.fire, FIRE, SHAPES[0])
    add_markup(session, case, case.airdef, CIVIL_AIR_DEFENCE, SHAPES[1])

    def kinds(who: Principal) -> list[str]:
        data, _ = markups_xfdf(session, who, case.revision_id)
        return [item.markup.kind.value for item in read_xfdf(data, page_height=HEIGHT).markups]

    assert kinds(case.fire) == ["rectangle", "cloud"]  # reviewers read every track
    assert kinds(case.bureau) == ["rectangle", "cloud"]
    assert kinds(case.designer) == []
    issue(session, case, FIRE)
    assert kinds(case.designer) == ["rectangle"]
    with pytest.raises(NotFound):
        markups_xfdf(session, case.outsider, case.revision_id)
    # A deleted markup is gone from every export.
    session.execute(Markup.__table__.update().values(deleted_at=dt.datetime.now(dt.UTC)))
    assert kinds(case.fire) == []


def test_the_annotated_pdf_holds_real_annotations(session: Session, case: Case, store: LocalBlobStore) -> None:
    for shape in SHAPES:
        add_markup(session, case, case.fire, FIRE, shape)
    data, name = annotated_pdf(session, store, case.bureau, case.revision_id)
    assert name == "建施-01-批注.pdf"
    with pymupdf.open(stream=data, filetype="pdf") as document:
        page = document[0]
        annots = list(page.annots())
        assert sorted(a.type[1] for a in annots) == sorted(
            ["Square", "Polygon", "Line", "FreeText", "Ink", "Highlight"]
        )
        free_text = next(a for a in annots if a.type[1] == "FreeText")
        assert free_text.info["content"] == f"甲级防火门 {SCRIPT}"
        assert {a.info["title"] for a in annots} == {case.fire.display_name}
        square = next(a for a in annots if a.type[1] == "Square")
        assert square.rect.x0 == pytest.approx(100, abs=3)
        assert "一层平面图" in page.get_text()  # the drawing itself is untouched
        assert document.page_count == 1
        # The script is a string in the annotation, not an action: the file has no JavaScript.
        assert all("JavaScript" not in document.xref_object(x) for x in range(1, document.xref_length()))


def _comment(session: Session, case: Case, track: str, author: Principal, text: str, **values) -> Comment:  # type: ignore[no-untyped-def]
    comment = Comment(
        submission_id=case.submission_id,
        round_id=case.round_id,
        track_code=track,
        sheet_id=case.sheet_id,
        sheet_revision_id=case.revision_id,
        author_id=author.user_id,
        severity=values.pop("severity", "general"),
        text=text,
        **values,
    )
    session.add(comment)
    session.flush()
    return comment


FORMULAS = ('=HYPERLINK("http://x")', "+1+2", "-3", "@SUM(A1)")


def test_comment_list_rows_csv_and_xlsx(session: Session, case: Case) -> None:
    mandatory = _comment(
        session,
        case,
        FIRE,
        case.fire,
        f"疏散楼梯间应采用防烟楼梯间 {SCRIPT}",
        severity="mandatory",
        clause_ids=["GB 50016-2014:5.5.17", "XX 1-2000:1.1"],
        status="answered",
    )
    mandatory.entries.append(
        CommentEntry(author_id=case.designer.user_id, role="designer", action="answer", text="已修改，见建施-01")
    )
    for formula in FORMULAS:
        _comment(session, case, CIVIL_AIR_DEFENCE, case.airdef, formula, severity="suggestion")
    session.flush()

    _, lines = comment_lines(session, case.fire, case.submission_id)
    assert [line.track_code for line in lines] == [FIRE] + [CIVIL_AIR_DEFENCE] * 4  # by track order
    first = lines[0]
    assert first.clauses[0].startswith("《建筑设计防火规范》GB 50016-2014")
    assert first.clauses[1] == "XX 1-2000:1.1"  # unknown ids are shown as stored
    assert first.entries[0].text == "已修改，见建施-01"
    assert first.entries[0].author == case.designer.display_name
    _, designer_lines = comment_lines(session, case.designer, case.submission_id)
    assert designer_lines == []
    issue(session, case, FIRE)
    _, designer_lines = comment_lines(session, case.designer, case.submission_id)
    assert [line.comment_id for line in designer_lines] == [mandatory.id]
    _, only_airdef = comment_lines(session, case.bureau, case.submission_id, CommentFilter(track=CIVIL_AIR_DEFENCE))
    assert len(only_airdef) == 4
    with pytest.raises(NotFound):
        comment_lines(session, case.outsider, case.submission_id)

    rows = [["序号", "意见"], *[[str(i), line.text] for i, line in enumerate(lines, 1)]]
    data = table_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert read[0] == ["序号", "意见"]
    assert read[1][1] == f"疏散楼梯间应采用防烟楼梯间 {SCRIPT}"
    assert [row[1] for row in read[2:]] == ["'" + f for f in FORMULAS]

    book = openpyxl.load_workbook(io.BytesIO(table_xlsx(rows, sheet_title="审查意见")))
    sheet = book["审查意见"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values == [[neutralise(v) for v in row] for row in rows]
    assert {cell.data_type for row in sheet.iter_rows() for cell in row} == {"s"}
    assert sheet.freeze_panes == "A2"


def test_an_xlsx_cell_stops_where_excel_does() -> None:
    long = "答" * 40_000
    book = openpyxl.load_workbook(io.BytesIO(table_xlsx([["意见"], [long]], sheet_title="审查意见")))
    value = book.active["A2"].value  # type: ignore[index]
    assert len(value) == 32_767
    assert value.endswith("…")
    assert table_csv([[long]]).decode("utf-8-sig").strip() == long  # the CSV keeps it whole


def test_neutralise() -> None:
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("\t=1") == "'\t=1"
    assert neutralise("消防 = 1") == "消防 = 1"
    assert neutralise("") == ""
