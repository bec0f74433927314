"""The joint review result: certificate, manifest and stamped sheets, composed, sealed and verified."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest

from signing.compose import (
    ApprovedSheet,
    CertificateOverflow,
    ResultData,
    ResultInputInvalid,
    ResultLimits,
    SealSlot,
    SheetUnreadable,
    TrackConclusion,
    compose_and_prepare,
    compose_result,
    seal_slots,
)
from signing.qr import QUIET_ZONE, make_qr
from signing.result.manifest import ROWS_PER_PAGE, draw_manifest
from signing.result.typeset import Typesetter
from signing.sign import SignatureRole, sign
from signing.verify import verify
from tests.conftest import sample
from tests.support.pki import SigningPki

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
A1 = (2384.0, 1684.0)
A3 = (1191.0, 842.0)
A4 = (595.0, 842.0)
URL = "https://liantu.example.gov.cn/verify/LT-2026-000123?k=8f3a91c0"


def title_block(size: tuple[float, float]) -> pymupdf.Rect:
    """Bottom right, inside a 10 mm frame (A1) or 5 mm frame (A3/A4), as GB/T 50001 places it."""
    width, height = size
    margin = 28.0 if width > 1300 else 14.0
    return pymupdf.Rect(width - margin - 510, height - margin - 140, width - margin, height - margin)


def drawing(size: tuple[float, float], number: str, *, busy_top_right: bool = False) -> bytes:
    """A drawing sheet like a rendered DXF layout: frame, linework, title block with text."""
    width, height = size
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    margin = 28.0 if width > 1300 else 14.0
    page.draw_rect(pymupdf.Rect(71, margin, width - margin, height - margin), color=(0, 0, 0), width=1.5)
    for step in range(10):
        x = 120 + step * (width - 300) / 10
        page.draw_line((x, height * 0.3), (x, height * 0.7), color=(0, 0, 0), width=0.4)
        page.draw_line((120, height * (0.3 + step * 0.04)), (width - 180, height * (0.3 + step * 0.04)), width=0.4)
    block = title_block(size)
    page.draw_rect(block, color=(0, 0, 0), width=1.0)
    for row in range(1, 5):
        y = block.y0 + row * block.height / 5
        page.draw_line((block.x0, y), (block.x1, y), width=0.5)
    page.draw_line((block.x0 + 170, block.y0), (block.x0 + 170, block.y1), width=0.5)
    page.insert_text((block.x0 + 180, block.y0 + 20), "某建筑设计研究院有限公司", fontname="china-s", fontsize=12)
    page.insert_text((block.x0 + 180, block.y0 + 76), f"图号 {number}", fontname="china-s", fontsize=12)
    if busy_top_right:
        for offset in range(0, 240, 6):
            page.draw_line((width - 260 + offset, 20), (width - 260 + offset, 120), width=1.2)
    data = doc.tobytes()
    doc.close()
    return data


def approved(number: str, title: str, pdf: bytes, round_number: int = 1) -> ApprovedSheet:
    original = hashlib.sha256(f"original DXF of {number}".encode()).hexdigest()
    return ApprovedSheet(number, title, round_number, original, hashlib.sha256(pdf).hexdigest(), pdf)


def result_data(**changes: object) -> ResultData:
    day = dt.date(2026, 11, 20)
    tracks = (
        TrackConclusion("消防审查", "Fire protection", "合格", ("王建国", "李晓梅"), "张志强", day, 2),
        TrackConclusion("人防审查", "Civil air defence", "合格", ("陈立新",), "刘海燕", day, 1),
        TrackConclusion(
            "施工图审查", "Construction drawing review", "合格", ("赵明", "孙丽", "周伟"), "吴国平", day, 3
        ),
    )
    data = ResultData(
        project_name="某市第一中学新校区教学综合楼",
        project_code="2026-440300-47-01-000123",
        address="某市某区学府路 88 号",
        building_use="教育建筑（教学楼）",
        floors_above=6,
        floors_below=1,
        height_m=23.85,
        gross_floor_area_m2=18650.4,
        fire_resistance_rating="一级",
        civil_air_defence_area_m2=3120.0,
        review_number="LT-2026-000123",
        issued_on=dt.date(2026, 11, 27),
        construction_unit="某市教育局基建办公室",
        design_institute="某建筑设计研究院有限公司",
        tracks=tracks,
        verification_url=URL,
    )
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


SLOTS = seal_slots(
    [("fire", "某市消防救援支队"), ("civil_defence", "某市人民防空办公室"), ("construction", "某市住房和城乡建设局")]
)


@pytest.fixture(scope="module")
def sheets() -> list[ApprovedSheet]:
    return [
        approved("建施-01", "一层平面图", drawing(A1, "建施-01"), round_number=2),
        approved("建施-02", "立面图及剖面图", drawing(A3, "建施-02", busy_top_right=True)),
        approved("结施-01", "结构设计总说明", drawing(A4, "结施-01")),
    ]


@pytest.fixture(scope="module")
def composed(sheets: list[ApprovedSheet]) -> bytes:
    return compose_result(result_data(), sheets, SLOTS)


@pytest.fixture(scope="module")
def document(composed: bytes):
    doc = pymupdf.open(stream=composed, filetype="pdf")
    yield doc
    doc.close()


def test_pages_in_order_with_sheet_sizes_kept(document) -> None:
    assert document.page_count == 1 + 1 + 3
    assert document[0].rect == pymupdf.Rect(0, 0, *A4)
    assert document[1].rect == pymupdf.Rect(0, 0, *A4)
    assert [tuple(document[i].rect.br) for i in (2, 3, 4)] == [A1, A3, A4]


def test_certificate_carries_project_and_every_conclusion(document) -> None:
    text = document[0].get_text()
    assert "施工图联合审查合格书" in text
    assert "某市第一中学新校区教学综合楼" in text
    assert "LT-2026-000123" in text
    for track in result_data().tracks:
        assert track.name_zh in text
        assert track.lead in text
    assert text.count("合格") >= 4  # the title and three conclusions
    assert "结果互认" in text
    assert "2026年11月27日" in text
    assert URL in text.replace("\n", "")
    for slot in SLOTS:
        assert slot.department in text


def test_fonts_are_embedded_subsets(document) -> None:
    fonts = document[0].get_fonts()
    assert {font[3] for font in fonts} >= {"Noto Serif CJK SC Bold", "Noto Sans CJK SC Regular"}
    for xref, *_ in fonts:
        name, ext, _, content = document.extract_font(xref)
        assert ext in {"otf", "ttf", "cff"}, name
        assert 0 < len(content) < 200_000, name  # a subset, not the 16 MB face


def test_manifest_lists_both_digests_of_every_sheet(document, sheets: list[ApprovedSheet]) -> None:
    text = document[1].get_text()
    assert "图纸目录" in text
    assert "第 1 页 / 共 1 页" in text
    for sheet in sheets:
        assert sheet.number in text
        assert sheet.title in text
        assert sheet.original_sha256 in text
        assert sheet.sheet_sha256 in text


def test_long_manifest_repeats_its_header_and_numbers_pages(sheets: list[ApprovedSheet]) -> None:
    many = [dataclasses.replace(sheets[2], number=f"电施-{n:03d}") for n in range(1, ROWS_PER_PAGE * 2 + 3)]
    doc = pymupdf.open()
    typesetter = Typesetter()
    pages = draw_manifest(doc, typesetter, result_data(), many)
    typesetter.burn(doc)
    assert pages == doc.page_count == 3
    for number, page in enumerate(doc, start=1):
        text = page.get_text()
        assert "序号" in text
        assert "SHA-256" in text
        assert f"第 {number} 页 / 共 3 页" in text
    assert "电施-001" in doc[0].get_text()
    assert f"电施-{ROWS_PER_PAGE + 1:03d}" in doc[1].get_text()
    assert f"电施-{ROWS_PER_PAGE * 2 + 2:03d}" in doc[2].get_text()
    doc.close()


def test_every_sheet_is_stamped_clear_of_its_title_block(document) -> None:
    for index, size in zip((2, 3, 4), (A1, A3, A4), strict=True):
        page = document[index]
        text = page.get_text()
        assert "审查合格" in text
        assert "LT-2026-000123" in text
        assert "2026年11月27日" in text
        stamp = page.search_for("审查合格")[0]
        assert not stamp.intersects(title_block(size))
    # The A3 sheet's top right is full of linework: the stamp moved to the next free corner.
    a3_stamp = document[3].search_for("审查合格")[0]
    assert a3_stamp.x1 < A3[0] / 2
    assert a3_stamp.y0 > A3[1] / 2
    a1_stamp = document[2].search_for("审查合格")[0]
    assert a1_stamp.x0 > A1[0] / 2
    assert a1_stamp.y1 < A1[1] / 2


def test_sheet_linework_is_vector_not_an_image(document) -> None:
    page = document[2]
    assert page.get_images() == []
    assert "某建筑设计研究院有限公司" in page.get_text()


def qr_modules_as_drawn(page: pymupdf.Page, size: int, zoom: float) -> list[list[bool]]:
    """Sample the centre of every module of the black-filled QR path on the rendered page."""
    qr_paths = [d for d in page.get_drawings() if d.get("fill") == (0.0, 0.0, 0.0) and len(d["items"]) > 20]
    box = qr_paths[0]["rect"]
    module = box.width / size
    assert box.height == pytest.approx(box.width)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False, clip=box)
    rows = []
    for row in range(size):
        cells = []
        for column in range(size):
            x = int((box.x0 + (column + 0.5) * module) * zoom)
            y = int((box.y0 + (row + 0.5) * module) * zoom)
            cells.append(pix.samples[(y - pix.y) * pix.stride + x - pix.x] < 128)
        rows.append(cells)
    return rows


@pytest.mark.parametrize("page_index", [0, 3])
def test_qr_code_drawn_equals_the_encoded_matrix(document, page_index: int) -> None:
    code = make_qr(URL)
    drawn = qr_modules_as_drawn(document[page_index], code.size, zoom=4)
    assert drawn == [list(row) for row in code.modules]
    assert QUIET_ZONE == 4


def test_no_annotations_and_metadata_set(document) -> None:
    assert all(page.first_annot is None and page.first_widget is None for page in document)
    meta = document.metadata
    assert meta["creator"] == "联图 Liantu"
    assert "施工图联合审查合格书" in meta["title"]
    assert "某市第一中学新校区教学综合楼" in meta["subject"]


def test_screenshots_for_inspection(document) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    document[0].get_pixmap(dpi=110).save(SCREENSHOTS / "result-certificate.png")
    document[1].get_pixmap(dpi=110).save(SCREENSHOTS / "result-manifest.png")
    document[2].get_pixmap(dpi=40).save(SCREENSHOTS / "result-sheet-a1.png")
    document[3].get_pixmap(dpi=60).save(SCREENSHOTS / "result-sheet-a3.png")
    assert (SCREENSHOTS / "result-certificate.png").stat().st_size > 10_000


def test_three_departments_seal_the_composed_result(sheets: list[ApprovedSheet], test_pki: SigningPki) -> None:
    pdf = compose_and_prepare(result_data(), sheets, SLOTS)
    roles = [SignatureRole.FIRST_CERTIFY, SignatureRole.APPROVE, SignatureRole.LAST_LOCK]
    for index, (slot, role) in enumerate(zip(SLOTS, roles, strict=True)):
        pdf = sign(
            pdf,
            field_name=slot.field_name,
            signer=test_pki.signer(slot.field_name),
            seal_png=test_pki.seal(slot.field_name),
            role=role,
            timestamper_url=None if index == 0 else test_pki.timestamp_url,
            trust_roots=test_pki.trust_roots,
        )
    verdict = verify(pdf, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    assert [s.field for s in verdict.signatures[:3]] == ["fire", "civil_defence", "construction"]
    assert verdict.unsigned_fields == ()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with pymupdf.open(stream=pdf, filetype="pdf") as sealed:
        sealed[0].get_pixmap(dpi=110).save(SCREENSHOTS / "result-certificate-sealed.png")


def test_seal_fields_sit_on_the_drawn_boxes(sheets: list[ApprovedSheet]) -> None:
    pdf = compose_and_prepare(result_data(), sheets[2:], SLOTS)
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        widgets = {w.field_name: w.rect for w in doc[0].widgets()}
        assert set(widgets) == {"fire", "civil_defence", "construction"}
        for slot in SLOTS:
            x0, y0, x1, y1 = slot.box
            assert widgets[slot.field_name] == pymupdf.Rect(x0, A4[1] - y1, x1, A4[1] - y0)
        assert all(page.first_annot is None for page in list(doc)[1:])


def test_a_changed_sheet_pdf_is_refused(sheets: list[ApprovedSheet]) -> None:
    tampered = dataclasses.replace(sheets[2], sheet_pdf=sheets[2].sheet_pdf + b"\n%")
    with pytest.raises(SheetUnreadable) as info:
        compose_result(result_data(), [tampered], SLOTS)
    assert "SHA-256" in info.value.zh
    assert "SHA-256" in info.value.en


def test_garbage_and_missing_pages_are_refused(sheets: list[ApprovedSheet]) -> None:
    garbage = approved("建施-09", "损坏图纸", b"not a pdf at all")
    with pytest.raises(SheetUnreadable):
        compose_result(result_data(), [garbage], SLOTS)
    with pytest.raises(SheetUnreadable, match="outside its PDF"):
        compose_result(result_data(), [dataclasses.replace(sheets[2], page_index=3)], SLOTS)


def test_tiny_pages_are_refused() -> None:
    doc = pymupdf.open()
    doc.new_page(width=50, height=50)
    tiny = approved("建施-10", "缩略图", doc.tobytes())
    with pytest.raises(SheetUnreadable, match="page size"):
        compose_result(result_data(), [tiny], SLOTS)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project_name": " "}, "project name"),
        ({"verification_url": "ftp://x"}, "verification URL"),
        ({"tracks": ()}, "At least one review track"),
        ({"height_m": 0.0}, "height"),
    ],
)
def test_bad_data_is_refused(sheets: list[ApprovedSheet], changes: dict[str, object], message: str) -> None:
    with pytest.raises(ResultInputInvalid, match=message):
        compose_result(result_data(**changes), sheets[2:], SLOTS)


def test_a_track_that_did_not_pass_cannot_be_certified(sheets: list[ApprovedSheet]) -> None:
    failed = dataclasses.replace(result_data().tracks[0], conclusion="不合格")
    with pytest.raises(ResultInputInvalid) as info:
        compose_result(result_data(tracks=(failed,)), sheets[2:], SLOTS)
    assert "合格" in info.value.zh
    assert "passed" in info.value.en


def test_sheet_list_problems_are_refused(sheets: list[ApprovedSheet]) -> None:
    with pytest.raises(ResultInputInvalid, match="Too many sheets"):
        compose_result(result_data(), sheets, SLOTS, ResultLimits(max_sheets=2))
    with pytest.raises(ResultInputInvalid, match="Duplicate sheet number"):
        compose_result(result_data(), [sheets[2], sheets[2]], SLOTS)
    with pytest.raises(ResultInputInvalid, match="hex"):
        compose_result(result_data(), [dataclasses.replace(sheets[2], original_sha256="ABC")], SLOTS)


def test_bad_seal_slots_are_refused(sheets: list[ApprovedSheet]) -> None:
    overlapping = (SLOTS[0], dataclasses.replace(SLOTS[1], box=SLOTS[0].box, field_name="other"))
    with pytest.raises(ResultInputInvalid, match="overlap"):
        compose_result(result_data(), sheets[2:], overlapping)
    with pytest.raises(ResultInputInvalid, match="unique"):
        compose_result(result_data(), sheets[2:], (SLOTS[0], SLOTS[0]))
    with pytest.raises(ResultInputInvalid, match="outside"):
        compose_result(result_data(), sheets[2:], (SealSlot("某部门", "x", (500, 700, 700, 900)),))
    high = (SealSlot("某部门", "x", (60, 500, 200, 640)),)
    with pytest.raises(CertificateOverflow):
        compose_result(result_data(), sheets[2:], high)


def test_rotated_sheet_appears_as_viewed_and_its_annotations_stay_out() -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=842, height=1191)
    page.draw_rect(pymupdf.Rect(50, 50, 300, 600), color=(0, 0, 0), width=5)
    page.set_rotation(90)
    page.add_freetext_annot(pymupdf.Rect(400, 400, 600, 500), "设计说明批注")
    sheet = approved("建施-11", "旋转存储的横向图纸", doc.tobytes())
    doc.close()
    with pymupdf.open(stream=compose_result(result_data(), [sheet], SLOTS), filetype="pdf") as result:
        composed_page = result[-1]
        assert tuple(composed_page.rect.br) == (1191.0, 842.0)
        assert composed_page.rotation == 0
        assert composed_page.first_annot is None
        assert "设计说明批注" not in composed_page.get_text()
        # The rectangle stored at (50, 50)-(300, 600) of the portrait page shows top right, turned.
        frames = [d["rect"] for d in composed_page.get_drawings() if d.get("width") == pytest.approx(5)]
        assert len(frames) == 1
        assert tuple(round(v) for v in frames[0]) == (591, 50, 1141, 300)


def test_certificate_limits_are_stated_not_overdrawn(sheets: list[ApprovedSheet]) -> None:
    five = tuple(dataclasses.replace(result_data().tracks[i % 3], name_zh=f"专项审查{i}") for i in range(5))
    four_seals = seal_slots([(f"dept{i}", f"某市第{i}审查部门") for i in range(4)])
    pdf = compose_result(result_data(tracks=five), sheets[2:], four_seals)
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        text = doc[0].get_text()
        assert all(f"专项审查{i}" in text for i in range(5))
        assert "某市第3审查部门" in text
    with pytest.raises(ResultInputInvalid, match="Too many review tracks"):
        compose_result(result_data(tracks=(*five, five[0])), sheets[2:], four_seals)
    with pytest.raises(CertificateOverflow, match="1 to 4 seals"):
        seal_slots([(f"dept{i}", "某部门") for i in range(5)])


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils not installed")
def test_poppler_sees_embedded_fonts_and_the_chinese_text(composed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "result.pdf"
    path.write_bytes(composed)
    fonts = subprocess.run(["pdffonts", "-l", "2", str(path)], capture_output=True, text=True, check=True).stdout
    noto = [line for line in fonts.splitlines() if line.startswith("Noto")]
    assert len(noto) == 5
    assert all(" yes " in line for line in noto)  # embedded
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "2", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "施工图联合审查合格书" in text
    assert "图纸目录" in text


def test_real_drawing_sets_keep_their_sheets_and_get_stamped() -> None:
    farmhouse = sample("pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf").read_bytes()
    survey = sample("pdf_drawings/pdfjs_A0_survey_sheet.pdf").read_bytes()
    sheets = [approved(f"A-{index + 1:02d}", f"农舍施工图 {index + 1}", farmhouse) for index in range(6)]
    sheets = [dataclasses.replace(sheet, page_index=index) for index, sheet in enumerate(sheets)]
    sheets.append(approved("测-01", "地形测量图", survey))
    pdf = compose_result(result_data(), sheets, SLOTS)
    with (
        pymupdf.open(stream=pdf, filetype="pdf") as result,
        pymupdf.open(stream=farmhouse, filetype="pdf") as source_set,
        pymupdf.open(stream=survey, filetype="pdf") as source_survey,
    ):
        expected = [source_set[index].rect for index in range(6)] + [source_survey[0].rect]
        stamped = [result[index] for index in range(2, result.page_count)]
        assert [page.rect for page in stamped] == expected
        assert all(page.search_for("审查合格") for page in stamped)
        assert all(page.first_annot is None for page in result)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        stamped[0].get_pixmap(dpi=40).save(SCREENSHOTS / "result-sheet-farmhouse.png")
        stamped[-1].get_pixmap(dpi=20).save(SCREENSHOTS / "result-sheet-survey-a0.png")


def test_pages_carry_one_content_stream_and_no_wrapper_forms(document) -> None:
    # Fewer objects for pyHanko's difference analysis to walk at every revision (issue #5).
    for page in document:
        assert len(page.get_contents()) == 1
        assert all(document.xref_stream(xref).strip() != b"/fullpage Do" for xref, *_ in page.get_xobjects())
