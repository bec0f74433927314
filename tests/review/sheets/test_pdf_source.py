from __future__ import annotations

import pymupdf
import pytest

from review.errors import UnreadableDrawing
from review.sheets.pdf_source import PdfOptions, open_pdf
from tests.conftest import sample

# A syntactically complete PDF whose page tree is empty.
EMPTY_PAGE_TREE = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R/Size 3>>\n%%EOF\n"
)


def make_pdf(*sizes: tuple[float, float]) -> pymupdf.Document:
    document = pymupdf.open()
    for width, height in sizes:
        page = document.new_page(width=width, height=height)
        page.draw_line((10, 10), (width - 10, height - 10))
    return document


def test_page_facts() -> None:
    document = make_pdf((2383.94, 1683.78), (841.89, 1190.55), (1000, 1000))
    document[2].set_rotation(90)
    source = open_pdf(document.tobytes())
    assert source.page_count == 3
    assert source.findings == ()
    first, second, third = source.pages
    assert first.paper == "A1"
    assert first.width_mm == pytest.approx(841, abs=0.5)
    assert first.height_mm == pytest.approx(594, abs=0.5)
    assert second.paper == "A3"
    assert third.paper is None
    assert third.rotation == 90
    assert all(p.renderable for p in source.pages)


def test_lengthened_and_us_sizes() -> None:
    source = open_pdf(make_pdf((4768.0, 1683.78), (1728, 2592)).tobytes())
    assert [p.paper for p in source.pages] == ["A1+1", "ARCH D"]


def test_encrypted_with_password_is_refused() -> None:
    data = make_pdf((595, 842)).tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    with pytest.raises(UnreadableDrawing, match="密码") as raised:
        open_pdf(data)
    assert "password" in str(raised.value)


def test_permissions_only_is_readable_with_a_finding() -> None:
    data = make_pdf((595, 842)).tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", permissions=0)
    source = open_pdf(data)
    assert [f.code for f in source.findings] == ["PDF_RESTRICTED"]


def test_truncated_file_is_repaired_with_a_finding() -> None:
    data = make_pdf((595, 842), (595, 842), (595, 842)).tobytes()
    source = open_pdf(data[: int(len(data) * 0.9)])
    assert source.repaired
    assert "PDF_REPAIRED" in [f.code for f in source.findings]
    assert source.page_count >= 1


@pytest.mark.parametrize("data", [b"", b"hello, not a pdf", b"%PDF-1.7\n%%EOF\n", EMPTY_PAGE_TREE])
def test_unreadable_or_empty(data: bytes) -> None:
    with pytest.raises(UnreadableDrawing) as raised:
        open_pdf(data)
    message = str(raised.value)
    assert " / " in message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message)


def test_too_many_pages() -> None:
    with pytest.raises(UnreadableDrawing, match="limit of 2"):
        open_pdf(make_pdf((595, 842), (595, 842), (595, 842)).tobytes(), PdfOptions(max_pages=2))


def test_page_too_large_is_kept_but_not_renderable() -> None:
    source = open_pdf(make_pdf((595, 842), (14500, 800)).tobytes())
    assert [p.renderable for p in source.pages] == [True, False]
    (finding,) = source.findings
    assert (finding.code, finding.page) == ("PAGE_TOO_LARGE", 1)


def test_samples() -> None:
    farmhouse = open_pdf(sample("pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf").read_bytes())
    assert farmhouse.page_count == 25
    assert farmhouse.pages[0].rotation == 270
    assert (farmhouse.pages[0].width_pt, farmhouse.pages[0].height_pt) == (1224, 792)
    assert farmhouse.pages[0].paper == "ANSI B"
    survey = open_pdf(sample("pdf_drawings/pdfjs_A0_survey_sheet.pdf").read_bytes())
    assert survey.pages[0].paper == "A0"
