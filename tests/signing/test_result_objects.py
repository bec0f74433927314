"""The result's object structure is reduced for validation without changing what is drawn."""

from __future__ import annotations

import pymupdf

from signing.result.objects import one_content_stream_per_page, unwrap_placed_pages


def placed_source() -> pymupdf.Document:
    source = pymupdf.open()
    page = source.new_page(width=200, height=100)
    page.draw_line((10, 10), (190, 90), color=(0, 0, 1), width=2)
    page.draw_circle((100, 50), 30, color=(1, 0, 0))
    page.insert_text((20, 80), "fullpage", fontsize=12)
    return source


def composed(source: pymupdf.Document) -> pymupdf.Document:
    doc = pymupdf.open()
    for number in range(2):
        page = doc.new_page(width=595, height=842)
        page.draw_rect(pymupdf.Rect(40, 40, 555, 802), color=(0, 0, 0), width=1)
        page.show_pdf_page(page.rect, source, 0)  # same box as the placed page, identity matrix
        page.show_pdf_page(pymupdf.Rect(300, 600, 500, 700), source, 0)  # scaled and moved
        page.draw_rect(pymupdf.Rect(60, 60, 160 + number * 10, 120), color=(1, 0, 0), fill=(1, 1, 0.8))
        page.insert_text((70, 100), f"page {number + 1}", fontsize=14)
    return doc


def wrappers(doc: pymupdf.Document, page: pymupdf.Page) -> list[int]:
    return [xref for xref, _, _, _ in page.get_xobjects() if doc.xref_stream(xref).strip() == b"/fullpage Do"]


def test_pages_get_one_stream_and_lose_their_wrapper_forms_but_look_the_same() -> None:
    source = placed_source()
    doc = composed(source)
    before = pymupdf.open(stream=doc.tobytes(garbage=3), filetype="pdf")
    assert all(len(page.get_contents()) > 1 for page in before)
    assert all(len(wrappers(before, page)) == 2 for page in before)

    one_content_stream_per_page(doc)
    unwrap_placed_pages(doc)
    after = pymupdf.open(stream=doc.tobytes(garbage=3), filetype="pdf")

    assert after.xref_length() < before.xref_length()
    for old, new in zip(before, after, strict=True):
        assert len(new.get_contents()) == 1
        assert wrappers(after, new) == []
        assert new.get_pixmap(dpi=100).samples == old.get_pixmap(dpi=100).samples
        assert new.get_text() == old.get_text()
